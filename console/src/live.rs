//! `/executions/{id}/live`: server-sent events that follow a running execution.
//!
//! Every half second while the execution runs, an `update` event carries its status,
//! each state's status (by address) and its maps' progress, as JSON; the page's script
//! recolours the graph and moves the progress bars. When the execution has ended, one
//! last `update` and an `end` event close the stream (the script then reloads the page
//! for the full history). Without JavaScript the page is still whole; it just does not
//! move.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde_json::json;

use crate::console::AppState;
use crate::error::PageError;
use crate::pages::status_class;
use crate::view::{ExecutionData, Summary, now_ms};

/// How often a running execution is read again.
const EVERY: Duration = Duration::from_millis(500);

pub(crate) async fn stream(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, PageError> {
    // An unknown id is a 404, not an empty stream.
    app.store().execution(&id).await?;
    let updates = futures::stream::unfold(Some((app, id, true)), |state| async move {
        let (app, id, first) = state?;
        if !first {
            tokio::time::sleep(EVERY).await;
        }
        let event = match ExecutionData::load_without_checkpoints(&app, &id).await {
            Ok(data) => {
                let finished = data.record.status.is_finished();
                let event = update(&data);
                if finished {
                    let events = vec![Ok(event), Ok(Event::default().event("end").data("end"))];
                    return Some((futures::stream::iter(events), None));
                }
                event
            }
            Err(error) => {
                let event = Event::default().event("problem").data(error.message());
                return Some((futures::stream::iter(vec![Ok(event)]), None));
            }
        };
        Some((
            futures::stream::iter(vec![Ok(event)]),
            Some((app, id, false)),
        ))
    });
    use futures::StreamExt as _;
    Ok(Sse::new(updates.flatten()).keep_alive(KeepAlive::default()))
}

fn update(data: &ExecutionData) -> Event {
    let summary = Summary::of(&data.record, now_ms());
    let states: BTreeMap<String, &str> = match (&data.graph, data.states()) {
        (Ok(graph), Some(states)) => graph
            .nodes()
            .iter()
            .map(|n| (n.address.to_string(), status_class(states.status(n))))
            .collect(),
        _ => BTreeMap::new(),
    };
    let body = json!({
        "status": summary.status.as_str(),
        "status_text": summary.status_text,
        "duration_ms": summary.duration_ms,
        "states": states,
        "maps": data.maps(),
        "events": data.history.len(),
    });
    Event::default().event("update").data(body.to_string())
}
