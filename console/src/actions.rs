//! The API's actions besides cancel and redrive: pause and unpause an execution, and
//! answer a callback state with its token.
//!
//! - `POST /api/executions/{id}/pause`, `POST /api/executions/{id}/unpause`:
//!   `{"id", "paused", "changed"}`.
//! - `POST /api/callbacks/succeed` with `{"token": "wpt1.…", "output": <JSON>}`,
//!   `POST /api/callbacks/fail` with `{"token", "error": "Rejected", "cause": "…"}`,
//!   `POST /api/callbacks/heartbeat` with `{"token"}`: `{"execution_id", "key",
//!   "message"}`. A malformed token is a 400, an unknown one a 404, a reused one (or one
//!   of an ended execution) a 409, each with the named error's message.
//!
//! Like every action, they need the console's token and are refused by a read-only
//! console.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use waypost_core::Error;
use waypost_core::callback::{Message, names};
use waypost_runtime::RunError;

use crate::auth;
use crate::console::AppState;
use crate::error::{ApiError, ConsoleError};

/// `POST /api/executions/{id}/pause`
pub(crate) async fn pause(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    auth::allow_action(&app, &headers)?;
    let changed = app.runtime().pause(&id).await?;
    Ok(Json(
        json!({ "id": id, "paused": true, "changed": changed }),
    ))
}

/// `POST /api/executions/{id}/unpause`
pub(crate) async fn unpause(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    auth::allow_action(&app, &headers)?;
    let changed = app.runtime().unpause(&id).await?;
    Ok(Json(
        json!({ "id": id, "paused": false, "changed": changed }),
    ))
}

/// The body of a callback action.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallbackBody {
    token: String,
    #[serde(default)]
    output: Option<Value>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    cause: Option<String>,
}

/// `POST /api/callbacks/{action}`: `succeed`, `fail` or `heartbeat`.
pub(crate) async fn callback(
    State(app): State<AppState>,
    Path(action): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    auth::allow_action(&app, &headers)?;
    let body: CallbackBody = serde_json::from_slice(&body).map_err(|e| {
        ConsoleError::BadRequest(format!(
            "the body is not a callback's JSON ({{\"token\": …, \"output\": …}}): {e}"
        ))
    })?;
    let message = match action.as_str() {
        "succeed" => Message::Success {
            output: body.output.ok_or_else(|| {
                ConsoleError::BadRequest("`succeed` needs an `output`".to_owned())
            })?,
        },
        "fail" => {
            let name = body.error.filter(|n| !n.trim().is_empty()).ok_or_else(|| {
                ConsoleError::BadRequest("`fail` needs an `error` name".to_owned())
            })?;
            Message::Failure {
                error: Error::new(name, body.cause.unwrap_or_default()),
            }
        }
        "heartbeat" => Message::Heartbeat,
        other => {
            return Err(ConsoleError::NotFound(format!(
                "`{other}` is not a callback action (succeed, fail or heartbeat)"
            ))
            .into());
        }
    };
    let delivered = app
        .runtime()
        .send_to_callback(&body.token, message)
        .await
        .map_err(refused)?;
    Ok(Json(json!({
        "execution_id": delivered.execution_id,
        "key": delivered.key,
        "message": delivered.number,
    })))
}

/// A callback error as the status it deserves.
fn refused(error: RunError) -> ConsoleError {
    match error {
        RunError::Callback { error } => match error.name() {
            names::INVALID_TOKEN => ConsoleError::BadRequest(error.message().to_owned()),
            names::UNKNOWN_TOKEN => ConsoleError::NotFound(error.message().to_owned()),
            names::ALREADY_COMPLETED | names::EXECUTION_ENDED => {
                ConsoleError::Conflict(error.message().to_owned())
            }
            _ => ConsoleError::Conflict(error.to_string()),
        },
        other => other.into(),
    }
}
