//! `/executions/{id}`: one execution — its graph coloured by how each state went, map
//! progress, input and output, each state's data and errors, the timeline of its
//! attempts and its event history; cancel and redrive.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use maud::{Markup, html};
use waypost_core::export::StateStatus;
use waypost_core::store::ExecutionStatus;
use waypost_core::text::printable;

use super::{
    error_chain, execution_href, layout, payload, status_badge, status_class, time, took,
    workflow_href,
};
use crate::auth;
use crate::console::AppState;
use crate::error::PageError;
use crate::view::{Bar, ErrorView, ExecutionData, MapView, StateView, Summary, now_ms};

/// At most this many timeline bars and history rows are drawn.
const SHOWN: usize = 500;

/// At most this many child executions are linked.
const CHILDREN_SHOWN: usize = 20;

pub(crate) async fn page(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Markup, PageError> {
    let data = ExecutionData::load(&app, &id).await?;
    let now = now_ms();
    let record = &data.record;
    let mut summary = Summary::of(record, now);
    if waypost_core::inspect::paused(record, &data.history) {
        summary.status_text = format!("{}, paused", summary.status_text);
    }
    let states = data.state_views();
    let anchors: HashMap<&str, usize> = states
        .iter()
        .enumerate()
        .map(|(i, s)| (s.address.as_str(), i))
        .collect();
    let running = record.status == ExecutionStatus::Running;
    let live = running.then(|| format!("{}/live", execution_href(&record.id)));

    let graph = match (&data.graph, data.states()) {
        (Ok(graph), Some(statuses)) => {
            crate::graph_svg::render(graph, &|node| Some(statuses.status(node)), &|node| {
                anchors
                    .get(node.address.as_str())
                    .map(|i| format!("#state-{i}"))
            })
        }
        (Err(problem), _) => html! { p.problem { (printable(problem)) } },
        _ => html! {},
    };

    // Child workflows: who started it, and what it started.
    let family = waypost_core::inspect::Family::of(&data.checkpoints);
    let body = html! {
        div.execution data-live=[live] data-id=(record.id) {
            h1 { "Execution " code.id { (printable(&record.id)) } " " (status_badge(record.status, &summary.status_text)) }
            dl.facts {
                dt { "Workflow" }
                dd { a href=(workflow_href(&record.workflow, Some(record.version))) { (printable(&record.workflow)) } " v" (record.version) }
                dt { "Started" } dd { (time(record.created_ms)) }
                @if let Some(ended) = summary.ended_ms { dt { "Ended" } dd { (time(ended)) } }
                dt { "Duration" } dd.duration { (took(summary.duration_ms)) }
                @if let Some(parent) = &family.parent {
                    dt { "Parent" }
                    dd { a.parent href=(execution_href(&parent.id)) { code { (printable(&parent.id)) } } " (state " code { (printable(&parent.key)) } ")" }
                }
                @if !family.children.is_empty() {
                    dt { "Children" }
                    dd.children {
                        @for child in family.children.iter().take(CHILDREN_SHOWN) {
                            a href=(execution_href(child)) { code { (printable(child)) } } " "
                        }
                        @if family.children.len() > CHILDREN_SHOWN {
                            "and " (family.children.len() - CHILDREN_SHOWN) " more"
                        }
                    }
                }
                dt { "Redrives" } dd { (record.redrives) }
                dt { "Recoveries" } dd { (record.recoveries) }
                @if running { dt { "Runner" } dd { (printable(&waypost_core::inspect::runner(record, now))) } }
                dt { "Codec" } dd { (record.codec) }
                dt { "Fingerprint" } dd { code { (record.fingerprint) } }
            }
            (actions(&app, &headers, &data))
            @if let Some(error) = &record.error {
                section.error-box {
                    h2 { "Error" }
                    (error_chain(&ErrorView::from(error)))
                }
            }
            div.columns {
                section.graph {
                    h2 { "Graph" }
                    (legend())
                    div.svg-wrap { (graph) }
                }
                section.data {
                    @let maps = data.maps();
                    @if !maps.is_empty() {
                        h2 { "Map progress" }
                        @for map in &maps { (map_progress(map)) }
                    }
                    h2 { "Input" }
                    (payload(&data.input()))
                    @if let Some(output) = data.output() {
                        h2 { "Output" }
                        (payload(&output))
                    }
                }
            }
            section.states {
                h2 { "States" }
                @for (i, state) in states.iter().enumerate() { (state_details(i, state)) }
            }
            section.timeline {
                h2 { "Timeline" }
                (timeline(&data.bars(), now))
            }
            section.history {
                h2 { "Event history " span.count { "(" (data.history.len()) " events)" } }
                (history(&data))
            }
        }
    };
    Ok(layout(
        &format!("Execution {}", record.id),
        app.source(),
        &body,
    ))
}

/// Cancel for a running execution; redrive for a failed one this console knows the
/// code of; or why not.
fn actions(app: &AppState, headers: &HeaderMap, data: &ExecutionData) -> Markup {
    let record = &data.record;
    let href = execution_href(&record.id);
    if app.token().is_none() {
        return html! {};
    }
    let signed_in = auth::signed_in(app, headers);
    html! {
        div.actions {
            @match record.status {
                ExecutionStatus::Running if signed_in => {
                    form method="post" action=(format!("{href}/cancel")) {
                        button.danger type="submit" { "Cancel execution" }
                    }
                }
                ExecutionStatus::Failed if signed_in && data.typed.is_some() => {
                    form method="post" action=(format!("{href}/redrive")) {
                        button.primary type="submit" { "Redrive" }
                    }
                }
                ExecutionStatus::Failed if data.typed.is_none() => {
                    p.hint { "Redrive runs the workflow's code: open the console from the program that registers workflow "
                        code { (printable(&record.workflow)) } " v" (record.version) "." }
                }
                ExecutionStatus::Running | ExecutionStatus::Failed => {
                    p.hint { "To act on executions, open the login link the console printed when it started." }
                }
                _ => {}
            }
        }
    }
}

/// The colours of the state statuses.
fn legend() -> Markup {
    html! {
        ul.legend {
            @for status in StateStatus::ALL {
                li { span class={ "swatch status-" (status_class(status)) } {} (status.as_str()) }
            }
        }
    }
}

fn map_progress(map: &MapView) -> Markup {
    let total = map.total.unwrap_or(0);
    html! {
        div.map-progress data-map=(map.address) {
            div.map-title { strong { (printable(&map.name)) } " " code { (printable(&map.address)) } }
            progress max=(total.max(1)) value=(map.done) {}
            div.map-counts {
                span.done { (map.done) } " of "
                span.total { @if map.total.is_some() { (total) } @else { "?" } }
                " items finished, "
                span.failed { (map.failed) } " failed"
                @if map.committed_before > 0 { ", " (map.committed_before) " committed by an earlier run" }
                @if map.finished { " · finished" }
            }
        }
    }
}

fn state_details(index: usize, state: &StateView) -> Markup {
    let class = status_class(state.status);
    html! {
        details.state id=(format!("state-{index}")) data-address=(state.address) data-status=(class)
            open[state.status == StateStatus::Failed] {
            summary {
                span class={ "swatch status-" (class) } {}
                strong { (printable(&state.name)) }
                " " code { (printable(&state.address)) }
                " · " (class)
                @if state.attempts > 0 { " · " (state.attempts) " attempt" @if state.attempts != 1 { "s" } }
                @if state.retries > 0 { " · " (state.retries) " retr" @if state.retries == 1 { "y" } @else { "ies" } }
                @if state.reruns > 0 { " · " (state.reruns) " re-run after a crash" }
                @if state.duration_ms > 0 { " · " (took(state.duration_ms)) }
            }
            div.state-body {
                @if let Some(input) = &state.input { h4 { "Input" } (payload(input)) }
                @if let Some(output) = &state.output {
                    h4 { "Output" @if state.outputs > 1 { " (the last of " (state.outputs) ")" } }
                    (payload(output))
                }
                @if let Some(error) = &state.error { h4 { "Error" } (error_chain(error)) }
                @if state.input.is_none() && state.output.is_none() && state.error.is_none() {
                    p.meta { "Nothing stored for this state." }
                }
            }
        }
    }
}

/// A bar per attempt, placed on one time axis from the first start to the last end.
fn timeline(bars: &[Bar], now: u64) -> Markup {
    if bars.is_empty() {
        return html! { p.meta { "No step events recorded (the history level may be Errors or Off)." } };
    }
    let start = bars.iter().map(|b| b.start_ms).min().unwrap_or(0);
    let end = bars
        .iter()
        .map(|b| b.end_ms.unwrap_or(now))
        .max()
        .unwrap_or(start)
        .max(start + 1);
    let span = (end - start) as f64;
    let pct = |ms: u64| (ms.saturating_sub(start)) as f64 * 100.0 / span;
    html! {
        div.gantt {
            @for bar in bars.iter().take(SHOWN) {
                @let stop = bar.end_ms.unwrap_or(now);
                @let left = pct(bar.start_ms);
                @let width = (pct(stop) - left).max(0.3);
                div.row title=(format!("{} attempt {}: {}", printable(&bar.address), bar.attempt, bar.outcome)) {
                    div.label {
                        (printable(&bar.name))
                        @if bar.attempt > 1 { " #" (bar.attempt) }
                        @if bar.kind != "step" { " (" (bar.kind) ")" }
                    }
                    div.track {
                        div class={ "bar " (bar.kind) " outcome-" (bar.outcome) }
                            style=(format!("left:{left:.3}%;width:{width:.3}%")) {}
                    }
                    div.took { (took(stop.saturating_sub(bar.start_ms))) }
                }
            }
            @if bars.len() > SHOWN { p.meta { "… and " (bars.len() - SHOWN) " more (the API has them all)." } }
        }
    }
}

fn history(data: &ExecutionData) -> Markup {
    let first = data.history.first().map_or(0, |e| e.at_ms);
    html! {
        table.events {
            thead { tr { th.num { "#" } th { "Time" } th { "Event" } th { "Address" } th.num { "Attempt" } th.num { "Took" } th { "Details" } } }
            tbody {
                @for event in data.history.iter().take(SHOWN) {
                    tr class={ "event kind-" (event.kind.as_str()) } {
                        td.num { (event.seq) }
                        td { "+" (took(event.at_ms.saturating_sub(first))) }
                        td { (event.kind.as_str()) }
                        td { code { (printable(&event.address)) } }
                        td.num { (event.attempt) }
                        td.num { @if let Some(ms) = event.duration_ms { (took(ms)) } }
                        td.details { (printable(&event.summary())) }
                    }
                }
            }
        }
        @if data.history.len() > SHOWN {
            p.meta { "… and " (data.history.len() - SHOWN) " more: "
                a href=(format!("/api{}/history", execution_href(&data.record.id))) { "the whole history as JSON" } }
        }
    }
}
