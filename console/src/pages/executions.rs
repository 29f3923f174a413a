//! `/executions`: every execution, newest first, filtered by status and workflow,
//! searched by id, a page at a time.

use axum::extract::State;
use maud::{Markup, html};
use waypost_core::text::printable;

use super::{encode, execution_href, layout, status_badge, time, took, workflow_href};
use crate::console::AppState;
use crate::error::{PageError, Params};
use crate::routes::ListQuery;
use crate::view::{Summary, now_ms};

const STATUSES: [&str; 4] = ["running", "succeeded", "failed", "cancelled"];

pub(crate) async fn page(
    State(app): State<AppState>,
    Params(query): Params<ListQuery>,
) -> Result<Markup, PageError> {
    let list = query.load(&app).await?;
    let now = now_ms();
    let rows: Vec<Summary> = list.records.iter().map(|r| Summary::of(r, now)).collect();
    let status = query.status()?.map(|s| s.as_str());
    let workflow = query.workflow().unwrap_or_default();
    let search = query.search().unwrap_or_default();
    // The same filters on another page.
    let href = |page: usize| {
        let mut href = format!("/executions?page={page}");
        for (key, value) in [
            ("status", status.unwrap_or("")),
            ("workflow", &workflow),
            ("q", &search),
        ] {
            if !value.is_empty() {
                href.push_str(&format!("&{key}={}", encode(value)));
            }
        }
        if list.per_page != crate::routes::PER_PAGE {
            href.push_str(&format!("&per_page={}", list.per_page));
        }
        href
    };
    let body = html! {
        h1 { "Executions" }
        form.filters method="get" action="/executions" {
            label { "Status "
                select name="status" {
                    option value="" { "any" }
                    @for s in STATUSES {
                        option value=(s) selected[status == Some(s)] { (s) }
                    }
                }
            }
            label { "Workflow " input type="text" name="workflow" value=(workflow) placeholder="any"; }
            label { "Id contains " input type="search" name="q" value=(search) placeholder="order-"; }
            button type="submit" { "Filter" }
            @if status.is_some() || !workflow.is_empty() || !search.is_empty() {
                a.clear href="/executions" { "clear" }
            }
        }
        @if rows.is_empty() {
            p.empty {
                @if list.page > 1 { "No executions on this page." }
                @else { "No executions match." }
            }
        } @else {
            table.executions {
                thead { tr {
                    th { "Id" } th { "Workflow" } th { "Status" } th { "Started (UTC)" }
                    th.num { "Duration" } th.num { "Redrives" } th.num { "Recoveries" }
                } }
                tbody {
                    @for row in &rows {
                        tr data-id=(row.id) {
                            td.id { a href=(execution_href(&row.id)) { (printable(&row.id)) } }
                            td { a href=(workflow_href(&row.workflow, Some(row.version))) {
                                (printable(&row.workflow)) " v" (row.version)
                            } }
                            td { (status_badge(row.status, &row.status_text)) }
                            td { (time(row.started_ms)) }
                            td.num { (took(row.duration_ms)) }
                            td.num { (row.redrives) }
                            td.num { (row.recoveries) }
                        }
                    }
                }
            }
        }
        nav.pages {
            @if list.page > 1 { a rel="prev" href=(href(list.page - 1)) { "← newer" } }
            span { "page " (list.page) }
            @if list.has_next { a rel="next" href=(href(list.page + 1)) { "older →" } }
        }
    };
    Ok(layout("Executions", app.source(), &body))
}
