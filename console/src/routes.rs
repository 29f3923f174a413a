//! The console's routes, and what the pages and the API share: the list query, the
//! actions, the static files.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use waypost_core::store::{ExecutionRecord, ExecutionStatus, ListFilter};

use crate::auth;
use crate::console::AppState;
use crate::error::{ConsoleError, PageError, Params};
use crate::{actions, api, live, pages};

/// Every route of the console.
pub(crate) fn router(app: AppState) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/executions") }))
        .route("/executions", get(pages::executions::page))
        .route("/executions/{id}", get(pages::execution::page))
        .route("/executions/{id}/live", get(live::stream))
        .route("/executions/{id}/cancel", post(cancel_form))
        .route("/executions/{id}/redrive", post(redrive_form))
        .route("/workflows", get(pages::workflow::index))
        .route("/workflows/{name}", get(pages::workflow::page))
        .route(
            "/workflows/{name}/export/{file}",
            get(pages::workflow::export),
        )
        .route("/login", get(login))
        .route("/static/console.css", get(stylesheet))
        .route("/static/console.js", get(script))
        .route("/api/executions", get(api::executions))
        .route("/api/executions/{id}", get(api::execution))
        .route("/api/executions/{id}/history", get(api::history))
        .route("/api/executions/{id}/cancel", post(api::cancel))
        .route("/api/executions/{id}/redrive", post(api::redrive))
        .route("/api/executions/{id}/pause", post(actions::pause))
        .route("/api/executions/{id}/unpause", post(actions::unpause))
        .route("/api/callbacks/{action}", post(actions::callback))
        .route("/api/workflows/{name}", get(api::workflow))
        .fallback(not_found)
        .with_state(app)
}

/// Executions per page unless the query says otherwise.
pub(crate) const PER_PAGE: usize = 50;

/// The executions list's query: `?status=failed&workflow=orders&q=order-1&page=2`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    pub(crate) status: Option<String>,
    pub(crate) workflow: Option<String>,
    /// A part of the id.
    pub(crate) q: Option<String>,
    /// From 1.
    pub(crate) page: Option<usize>,
    pub(crate) per_page: Option<usize>,
}

/// One page of executions, newest first.
pub(crate) struct ListPage {
    pub(crate) records: Vec<ExecutionRecord>,
    pub(crate) page: usize,
    pub(crate) per_page: usize,
    pub(crate) has_next: bool,
}

impl ListQuery {
    /// A text field of a form: empty means "not set".
    fn field(value: &Option<String>) -> Option<String> {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    pub(crate) fn status(&self) -> Result<Option<ExecutionStatus>, ConsoleError> {
        Self::field(&self.status)
            .map(|s| {
                ExecutionStatus::parse(&s).ok_or_else(|| {
                    ConsoleError::BadRequest(format!(
                        "`{s}` is not a status (running, succeeded, failed or cancelled)"
                    ))
                })
            })
            .transpose()
    }

    pub(crate) fn workflow(&self) -> Option<String> {
        Self::field(&self.workflow)
    }

    pub(crate) fn search(&self) -> Option<String> {
        Self::field(&self.q)
    }

    /// Reads the page the query asks for.
    pub(crate) async fn load(&self, app: &AppState) -> Result<ListPage, ConsoleError> {
        let per_page = self.per_page.unwrap_or(PER_PAGE);
        if !(1..=1000).contains(&per_page) {
            return Err(ConsoleError::BadRequest(format!(
                "per_page must be from 1 to 1000, not {per_page}"
            )));
        }
        let page = self.page.unwrap_or(1);
        if page == 0 {
            return Err(ConsoleError::BadRequest("pages count from 1".to_owned()));
        }
        let filter = ListFilter {
            status: self.status()?,
            workflow: self.workflow(),
            id_contains: self.search(),
            offset: (page - 1).saturating_mul(per_page),
            // One more than a page tells whether there is a next one.
            limit: Some(per_page + 1),
        };
        let mut records = app.store().list(&filter).await?;
        let has_next = records.len() > per_page;
        records.truncate(per_page);
        Ok(ListPage {
            records,
            page,
            per_page,
            has_next,
        })
    }
}

/// Cancels the running execution `id`.
pub(crate) async fn cancel(
    app: &AppState,
    headers: &HeaderMap,
    id: &str,
) -> Result<(), ConsoleError> {
    auth::allow_action(app, headers)?;
    app.runtime().cancel(id).await?;
    Ok(())
}

/// Redrives the failed execution `id` in the background, once it is marked running.
pub(crate) async fn redrive(
    app: &AppState,
    headers: &HeaderMap,
    id: &str,
) -> Result<(), ConsoleError> {
    auth::allow_action(app, headers)?;
    let record = app.store().execution(id).await?;
    let Some(workflow) = app
        .registry()
        .get(&record.workflow, record.version)
        .cloned()
    else {
        return Err(ConsoleError::Conflict(format!(
            "redriving `{id}` needs the code of workflow `{}` v{}: open the console from \
             a program that registers it (`Console::register`)",
            record.workflow, record.version
        )));
    };
    if record.status != ExecutionStatus::Failed {
        return Err(ConsoleError::Conflict(format!(
            "execution `{id}` is {}: only a failed execution can be redriven",
            record.status
        )));
    }
    let run = workflow.redrive(app.runtime().clone(), id.to_owned());
    let id_owned = id.to_owned();
    tokio::spawn(async move {
        if let Err(error) = run.await {
            tracing::warn!(id = %id_owned, %error, "the redrive from the console failed");
        }
    });
    // Answer once the redrive is written, so that the page shows it running.
    for _ in 0..200 {
        let now = app.store().execution(id).await?;
        if now.redrives > record.redrives || now.status != ExecutionStatus::Failed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

async fn cancel_form(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Redirect, PageError> {
    cancel(&app, &headers, &id).await?;
    Ok(Redirect::to(&pages::execution_href(&id)))
}

async fn redrive_form(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Redirect, PageError> {
    redrive(&app, &headers, &id).await?;
    Ok(Redirect::to(&pages::execution_href(&id)))
}

#[derive(Deserialize)]
struct Login {
    token: String,
}

/// `/login?token=…`: sets the token cookie and goes to the executions.
async fn login(
    State(app): State<AppState>,
    Params(login): Params<Login>,
) -> Result<Response, PageError> {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        format!("Bearer {}", login.token)
            .parse()
            .map_err(|_| ConsoleError::Refused("that is not the console's token".to_owned()))?,
    );
    if !auth::signed_in(&app, &headers) {
        return Err(ConsoleError::Refused(
            "that is not the console's token (a read-only console has none)".to_owned(),
        )
        .into());
    }
    let cookie = format!(
        "{}={}; Path=/; HttpOnly; SameSite=Strict",
        auth::COOKIE,
        login.token
    );
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/executions")).into_response())
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/console.css"),
    )
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/console.js"),
    )
}

async fn not_found(State(app): State<AppState>) -> Response {
    let _ = app;
    (
        StatusCode::NOT_FOUND,
        pages::error_page(&ConsoleError::NotFound(
            "there is no such page in the console".to_owned(),
        )),
    )
        .into_response()
}
