//! How an HTTP call's failures are named, for retry and catch to match.
//!
//! | failure | name | notes |
//! | --- | --- | --- |
//! | an answer with a status that is not 2xx | `Http.<status>`: `Http.404`, `Http.429`, `Http.500`, `Http.503` | a `Retry-After` of whole seconds sets the next retry's delay ([`Error::retry_after`]) |
//! | no connection, or the connection closed or reset before a whole answer | `Http.ConnectionFailed` | |
//! | the call took longer than [`HttpConfig::timeout`](super::HttpConfig) | `Http.Timeout` | a waypost [`timeout`](waypost_core::StepExt::timeout) around the step is `States.Timeout` |
//! | a 2xx answer whose body is not the step's output type | `Http.BadResponse` | |
//! | a request that cannot be made (bad URL or method, a header that is not valid) | `Http.InvalidRequest` | terminal: retrying cannot help |
//!
//! Whether a status is worth retrying is the retry policy's choice, so none of them is
//! terminal: `RetryPolicy::builder().errors(["Http.429", "Http.503"])` retries those.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use waypost_core::Error;

/// `Http.ConnectionFailed`: no connection, or it closed before a whole answer.
pub const CONNECTION_FAILED: &str = "Http.ConnectionFailed";
/// `Http.Timeout`: the call took longer than its configured timeout.
pub const TIMEOUT: &str = "Http.Timeout";
/// `Http.BadResponse`: a successful answer whose body does not decode as the output.
pub const BAD_RESPONSE: &str = "Http.BadResponse";
/// `Http.InvalidRequest`: the request cannot be made (terminal).
pub const INVALID_REQUEST: &str = "Http.InvalidRequest";

/// How much of an error answer's body its error message quotes, in bytes.
const BODY_QUOTED: usize = 512;

/// The name of an answer with `status`: `Http.404`.
///
/// # Examples
///
/// ```
/// assert_eq!(waypost::tasks::http::error::status_name(429), "Http.429");
/// ```
pub fn status_name(status: u16) -> String {
    format!("Http.{status}")
}

/// The error of an answer with a status that is not 2xx, with the start of its `body`
/// in the message and its `Retry-After` (whole seconds) as the retry hint.
pub(crate) fn status_error(
    what: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Error {
    let text = String::from_utf8_lossy(&body[..body.len().min(BODY_QUOTED)]);
    let cut = if body.len() > BODY_QUOTED { "…" } else { "" };
    let error = Error::new(
        status_name(status.as_u16()),
        format!("{what} answered {status}: {text}{cut}"),
    );
    match retry_after(headers) {
        Some(delay) => error.with_retry_after(delay),
        None => error,
    }
}

/// A `Retry-After` of whole seconds. The HTTP-date form is not read: the retry policy's
/// own delay applies then.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The error of a call that got no whole answer.
pub(crate) fn transport_error(what: &str, error: &reqwest::Error) -> Error {
    let name = if error.is_timeout() {
        TIMEOUT
    } else if error.is_builder() {
        return Error::terminal(INVALID_REQUEST, format!("{what}: {error}"));
    } else {
        CONNECTION_FAILED
    };
    Error::new(name, format!("{what} failed: {}", chain(error)))
}

/// An error and its sources, joined by `: ` (reqwest's own message hides the cause).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn statuses_are_named_by_number_and_keep_retry_after() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        let error = status_error("GET /x", StatusCode::TOO_MANY_REQUESTS, &headers, b"slow");
        assert_eq!(error.name(), "Http.429");
        assert_eq!(
            error.message(),
            "GET /x answered 429 Too Many Requests: slow"
        );
        assert_eq!(error.retry_after(), Some(Duration::from_secs(3)));
        assert!(!error.is_terminal());
    }

    #[test]
    fn a_date_or_garbage_retry_after_gives_no_hint() {
        for value in ["Wed, 21 Oct 2015 07:28:00 GMT", "soon", "-1"] {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
            let error = status_error("GET /x", StatusCode::SERVICE_UNAVAILABLE, &headers, b"");
            assert_eq!(error.retry_after(), None, "{value}");
        }
    }

    #[test]
    fn long_bodies_are_cut_in_messages() {
        let body = vec![b'x'; 2000];
        let error = status_error("GET /x", StatusCode::NOT_FOUND, &HeaderMap::new(), &body);
        assert!(error.message().ends_with('…'));
        assert!(error.message().len() < 600);
    }
}
