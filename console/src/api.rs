//! The JSON API under the pages; see the crate docs for its routes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Serialize;
use serde_json::{Value, json};
use waypost_core::export;
use waypost_core::history::Event;

use crate::console::AppState;
use crate::error::{ApiError, Params};
use crate::routes::{self, ListQuery};
use crate::view::{ErrorView, ExecutionData, MapView, PayloadView, StateView, Summary, now_ms};
use crate::workflow::WorkflowData;

#[derive(Serialize)]
pub(crate) struct ListAnswer {
    executions: Vec<Summary>,
    page: usize,
    per_page: usize,
    has_next: bool,
}

/// `GET /api/executions`
pub(crate) async fn executions(
    State(app): State<AppState>,
    Params(query): Params<ListQuery>,
) -> Result<Json<ListAnswer>, ApiError> {
    let page = query.load(&app).await?;
    let now = now_ms();
    Ok(Json(ListAnswer {
        executions: page.records.iter().map(|r| Summary::of(r, now)).collect(),
        page: page.page,
        per_page: page.per_page,
        has_next: page.has_next,
    }))
}

#[derive(Serialize)]
pub(crate) struct ExecutionAnswer {
    #[serde(flatten)]
    summary: Summary,
    fingerprint: String,
    /// Who runs it now, in words.
    runner: Option<String>,
    input: PayloadView,
    output: Option<PayloadView>,
    error: Option<ErrorView>,
    states: Vec<StateView>,
    maps: Vec<MapView>,
    /// Whether this console knows the workflow's code (decodes, redrives).
    registered: bool,
}

/// `GET /api/executions/{id}`
pub(crate) async fn execution(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ExecutionAnswer>, ApiError> {
    let data = ExecutionData::load(&app, &id).await?;
    let now = now_ms();
    let record = &data.record;
    Ok(Json(ExecutionAnswer {
        summary: Summary::of(record, now),
        fingerprint: record.fingerprint.clone(),
        runner: (!record.status.is_finished()).then(|| waypost_core::inspect::runner(record, now)),
        input: data.input(),
        output: data.output(),
        error: record.error.as_ref().map(ErrorView::from),
        states: data.state_views(),
        maps: data.maps(),
        registered: data.typed.is_some(),
    }))
}

/// `GET /api/executions/{id}/history`
pub(crate) async fn history(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<Event>>, ApiError> {
    Ok(Json(
        app.store().history(&id).await.map_err(ApiError::from)?,
    ))
}

/// `POST /api/executions/{id}/cancel`
pub(crate) async fn cancel(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    routes::cancel(&app, &headers, &id).await?;
    Ok(Json(json!({ "id": id, "status": "cancelled" })))
}

/// `POST /api/executions/{id}/redrive`
pub(crate) async fn redrive(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    routes::redrive(&app, &headers, &id).await?;
    Ok(Json(json!({ "id": id, "status": "running" })))
}

/// `GET /api/workflows/{name}`
pub(crate) async fn workflow(
    State(app): State<AppState>,
    Path(name): Path<String>,
    Params(query): Params<crate::workflow::WorkflowQuery>,
) -> Result<Json<Value>, ApiError> {
    let data = WorkflowData::load(&app, &name, query.version).await?;
    let steps: Vec<Value> = data
        .stats
        .steps()
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "runs": s.runs,
                "reruns": s.reruns,
                "failures": s.failures,
                "retries": s.retries,
                "p50_ms": s.duration_percentile(50),
                "p95_ms": s.duration_percentile(95),
                "max_ms": s.duration_percentile(100),
            })
        })
        .collect();
    let mut statuses: Vec<(String, usize)> = data
        .stats
        .statuses
        .iter()
        .map(|(s, n)| (s.to_string(), *n))
        .collect();
    statuses.sort();
    Ok(Json(json!({
        "name": data.name,
        "version": data.version,
        "versions": data.versions,
        "executions": data.stats.executions,
        "statuses": statuses.into_iter().map(|(s, n)| (s, json!(n))).collect::<serde_json::Map<_, _>>(),
        "recoveries": data.stats.recoveries,
        "steps": steps,
        "asl": export::asl(&data.graph),
    })))
}
