//! `/workflows` and `/workflows/{name}`: a workflow's graph, per-step statistics over
//! its newest executions, and its drawings to download (Mermaid, DOT, ASL).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use waypost_core::export;
use waypost_core::store::ListFilter;
use waypost_core::text::printable;

use super::{encode, layout, took, workflow_href};
use crate::console::AppState;
use crate::error::{ConsoleError, PageError, Params};
use crate::workflow::{SAMPLE, WorkflowData, WorkflowQuery};

/// How many of the newest executions the workflows index looks at.
const INDEX_SAMPLE: usize = 5000;

/// `/workflows`: the workflows this console knows and those of the newest executions.
pub(crate) async fn index(State(app): State<AppState>) -> Result<Markup, PageError> {
    let filter = ListFilter {
        limit: Some(INDEX_SAMPLE),
        ..ListFilter::default()
    };
    let records = app.store().list(&filter).await?;
    // Name → (versions, executions seen).
    let mut workflows: BTreeMap<String, (Vec<u32>, usize)> = BTreeMap::new();
    for record in &records {
        let entry = workflows.entry(record.workflow.clone()).or_default();
        entry.0.push(record.version);
        entry.1 += 1;
    }
    for (name, version) in app.registry().keys() {
        workflows.entry(name).or_default().0.push(version);
    }
    for (versions, _) in workflows.values_mut() {
        versions.sort_unstable();
        versions.dedup();
    }
    let body = html! {
        h1 { "Workflows" }
        @if workflows.is_empty() {
            p.empty { "No executions in this store yet." }
        } @else {
            table.workflows {
                thead { tr { th { "Workflow" } th { "Versions" } th.num { "Executions" } } }
                tbody {
                    @for (name, (versions, count)) in &workflows {
                        tr {
                            td { a href=(workflow_href(name, None)) { (printable(name)) } }
                            td { @for v in versions { a.version href=(workflow_href(name, Some(*v))) { "v" (v) } " " } }
                            td.num { (count) @if records.len() == INDEX_SAMPLE { "+" } }
                        }
                    }
                }
            }
        }
    };
    Ok(layout("Workflows", app.source(), &body))
}

/// `/workflows/{name}?version=N`
pub(crate) async fn page(
    State(app): State<AppState>,
    Path(name): Path<String>,
    Params(query): Params<WorkflowQuery>,
) -> Result<Markup, PageError> {
    let data = WorkflowData::load(&app, &name, query.version).await?;
    let svg = crate::graph_svg::render(&data.graph, &|_| None, &|_| None);
    let export_href = |file: &str| {
        format!(
            "/workflows/{}/export/{file}?version={}",
            encode(&data.name),
            data.version
        )
    };
    let body = html! {
        h1 { "Workflow " code { (printable(&data.name)) } " v" (data.version) }
        p.versions {
            "Versions: "
            @for v in &data.versions {
                @if *v == data.version { strong { "v" (v) } } @else { a href=(workflow_href(&data.name, Some(*v))) { "v" (v) } }
                " "
            }
            " · " a href=(format!("/executions?workflow={}", encode(&data.name))) { "its executions" }
        }
        div.columns {
            section.graph {
                h2 { "Graph" }
                div.svg-wrap { (svg) }
                p.meta {
                    @if data.registered { "Drawn from the program's code." }
                    @else { "Drawn from the graph stored with its newest execution of this version." }
                }
                p.downloads {
                    "Download: "
                    a href=(export_href("graph.mmd")) download { "Mermaid" } " · "
                    a href=(export_href("graph.dot")) download { "DOT" } " · "
                    a href=(export_href("asl.json")) download { "ASL (JSON)" }
                }
            }
            section.stats {
                h2 { "Statistics" }
                p {
                    (data.stats.executions) " execution" @if data.stats.executions != 1 { "s" }
                    @if data.stats.executions == SAMPLE { " (the newest " (SAMPLE) ")" }
                    @for (status, count) in sorted(&data.stats.statuses) { " · " (count) " " (status) }
                    @if data.stats.recoveries > 0 { " · recovered " (data.stats.recoveries) " times" }
                }
                @if data.stats.steps().is_empty() {
                    p.meta { "No step events recorded (the history level may be Errors or Off)." }
                } @else {
                    table.stats {
                        thead { tr {
                            th { "Step" } th.num { "Runs" } th.num { "Re-runs" } th.num { "Failures" }
                            th.num { "Retries" } th.num { "p50" } th.num { "p95" } th.num { "max" }
                        } }
                        tbody {
                            @for step in data.stats.steps() {
                                tr {
                                    td { (printable(&step.name)) }
                                    td.num { (step.runs) } td.num { (step.reruns) }
                                    td.num { (step.failures) } td.num { (step.retries) }
                                    @for p in [50, 95, 100] {
                                        td.num { @if let Some(ms) = step.duration_percentile(p) { (took(ms)) } @else { "–" } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout(
        &format!("Workflow {}", data.name),
        app.source(),
        &body,
    ))
}

fn sorted(
    statuses: &std::collections::HashMap<waypost_core::store::ExecutionStatus, usize>,
) -> Vec<(String, usize)> {
    let mut list: Vec<_> = statuses.iter().map(|(s, n)| (s.to_string(), *n)).collect();
    list.sort();
    list
}

/// `/workflows/{name}/export/{graph.mmd|graph.dot|asl.json}`
pub(crate) async fn export(
    State(app): State<AppState>,
    Path((name, file)): Path<(String, String)>,
    Params(query): Params<WorkflowQuery>,
) -> Result<Response, PageError> {
    let data = WorkflowData::load(&app, &name, query.version).await?;
    let (body, content_type) = match file.as_str() {
        "graph.mmd" => (export::mermaid(&data.graph), "text/plain; charset=utf-8"),
        "graph.dot" => (export::dot(&data.graph), "text/vnd.graphviz; charset=utf-8"),
        "asl.json" => (
            serde_json::to_string_pretty(&export::asl(&data.graph)).unwrap_or_default(),
            "application/json",
        ),
        other => {
            return Err(ConsoleError::NotFound(format!(
                "there is no export `{other}` (graph.mmd, graph.dot or asl.json)"
            ))
            .into());
        }
    };
    let download = format!(
        "attachment; filename=\"{}-v{}-{file}\"",
        encode(&data.name),
        data.version
    );
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, download),
        ],
        body,
    )
        .into_response())
}
