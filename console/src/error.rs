//! What can go wrong serving a request, as an HTML page or as JSON.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use waypost_core::store::StoreError;
use waypost_runtime::RunError;

/// A request the console could not serve, with what and why.
#[derive(Debug)]
pub(crate) enum ConsoleError {
    /// No such execution, workflow or page.
    NotFound(String),
    /// The store could not be read or written.
    Store(StoreError),
    /// An action was refused (no token, a read-only console, another site's page).
    Refused(String),
    /// The request is malformed.
    BadRequest(String),
    /// The action does not fit the execution's state (redrive of a running one).
    Conflict(String),
}

impl ConsoleError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ConsoleError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsoleError::Store(StoreError::Locked { .. } | StoreError::Closed) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ConsoleError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            ConsoleError::Refused(_) => StatusCode::FORBIDDEN,
            ConsoleError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsoleError::Conflict(_) => StatusCode::CONFLICT,
        }
    }

    /// A one-line title for the error page.
    pub(crate) fn title(&self) -> &'static str {
        match self {
            ConsoleError::NotFound(_) => "Not found",
            ConsoleError::Store(_) => "The store cannot be read",
            ConsoleError::Refused(_) => "Refused",
            ConsoleError::BadRequest(_) => "Bad request",
            ConsoleError::Conflict(_) => "Not possible now",
        }
    }

    pub(crate) fn message(&self) -> String {
        match self {
            ConsoleError::NotFound(m)
            | ConsoleError::Refused(m)
            | ConsoleError::BadRequest(m)
            | ConsoleError::Conflict(m) => m.clone(),
            ConsoleError::Store(error) => error.to_string(),
        }
    }
}

impl From<StoreError> for ConsoleError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { id } => {
                ConsoleError::NotFound(format!("there is no execution `{id}` in this store"))
            }
            other => ConsoleError::Store(other),
        }
    }
}

impl From<RunError> for ConsoleError {
    fn from(error: RunError) -> Self {
        match error {
            RunError::Store(store) => store.into(),
            RunError::Finished { .. } | RunError::NotRedrivable { .. } => {
                ConsoleError::Conflict(error.to_string())
            }
            other => ConsoleError::Conflict(other.to_string()),
        }
    }
}

/// An error answered as an HTML page.
#[derive(Debug)]
pub(crate) struct PageError(pub(crate) ConsoleError);

impl<E: Into<ConsoleError>> From<E> for PageError {
    fn from(error: E) -> Self {
        PageError(error.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        (self.0.status(), crate::pages::error_page(&self.0)).into_response()
    }
}

/// An error answered as JSON: `{"error": "...", "status": 404}`.
#[derive(Debug)]
pub(crate) struct ApiError(pub(crate) ConsoleError);

impl<E: Into<ConsoleError>> From<E> for ApiError {
    fn from(error: E) -> Self {
        ApiError(error.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let body = serde_json::json!({
            "error": self.0.message(),
            "status": status.as_u16(),
        });
        (status, Json(body)).into_response()
    }
}

/// The query string of a request, parsed as `T`; a query that does not parse is the
/// console's 400 (a JSON error under `/api`, the error page elsewhere), not axum's
/// plain-text rejection.
#[derive(Debug)]
pub(crate) struct Params<T>(pub(crate) T);

impl<T, S> axum::extract::FromRequestParts<S> for Params<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Params(value)),
            Err(rejection) => {
                let error = ConsoleError::BadRequest(format!(
                    "the query `{}` is not understood: {}",
                    parts.uri.query().unwrap_or(""),
                    rejection.body_text()
                ));
                Err(if parts.uri.path().starts_with("/api/") {
                    ApiError(error).into_response()
                } else {
                    PageError(error).into_response()
                })
            }
        }
    }
}
