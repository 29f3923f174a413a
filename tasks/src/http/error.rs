//! How an HTTP call's failures are named, for retry and catch to match.
//!
//! | failure | name | notes |
//! | --- | --- | --- |
//! | an answer with a status that is not 2xx | `Http.<status>`: `Http.404`, `Http.429`, `Http.500`, `Http.503` | a `Retry-After` sets the next retry's delay ([`Error::retry_after`]): whole seconds, or an HTTP date (a date already past is no delay) |
//! | no connection, or the connection closed or reset before a whole answer | `Http.ConnectionFailed` | |
//! | the call took longer than [`HttpConfig::timeout`](super::HttpConfig) | `Http.Timeout` | a waypost [`timeout`](waypost_core::StepExt::timeout) around the step is `States.Timeout` |
//! | a 2xx answer whose body is not the step's output type | `Http.BadResponse` | |
//! | a request that cannot be made (bad URL or method, a header that is not valid) | `Http.InvalidRequest` | terminal: retrying cannot help |
//! | an answer whose body is longer than [`HttpConfig::max_response`](super::HttpConfig) (16 MiB by default) | `Http.ResponseTooLarge` | the connection is closed as soon as the body passes the limit |
//! | a redirect to another origin from a step with secret headers | `Http.<status>` of the redirect (`Http.302`) | not followed, so the secrets never reach another host; redirects within the origin are followed |
//!
//! Whether a status is worth retrying is the retry policy's choice, so none of them is
//! terminal: `RetryPolicy::builder().errors(["Http.429", "Http.503"])` retries those.

use std::time::{Duration, SystemTime};

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
/// `Http.ResponseTooLarge`: the answer's body is longer than the step keeps.
pub const RESPONSE_TOO_LARGE: &str = "Http.ResponseTooLarge";

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
/// in the message and its `Retry-After` as the retry hint, a date taken relative to
/// `now` (the step's clock).
pub(crate) fn status_error(
    what: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Error {
    let text = String::from_utf8_lossy(&body[..body.len().min(BODY_QUOTED)]);
    let cut = if body.len() > BODY_QUOTED { "…" } else { "" };
    let error = Error::new(
        status_name(status.as_u16()),
        format!("{what} answered {status}: {text}{cut}"),
    );
    let hint = headers
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| retry_after(value, now));
    match hint {
        Some(delay) => error.with_retry_after(delay),
        None => error,
    }
}

/// The error of a redirect to another origin that a step with secret headers did not
/// follow: named by its status, as any answer that is not 2xx.
pub(crate) fn cross_origin_redirect(
    what: &str,
    status: StatusCode,
    location: &reqwest::header::HeaderValue,
) -> Error {
    let to = String::from_utf8_lossy(location.as_bytes());
    Error::new(
        status_name(status.as_u16()),
        format!(
            "{what} answered {status}, a redirect to `{to}`: not followed, since it leaves \
             the request's origin and the step sends secret headers"
        ),
    )
}

/// The delay a `Retry-After` value asks for (RFC 9110, section 10.2.3), as of `now`:
/// whole seconds (`120`), or an HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`, or the
/// obsolete forms `httpdate` reads), zero when that date is past. `None` for anything
/// else: the retry policy's own delay applies then.
fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is a delay longer than any policy allows anyway.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The error of a call that got no whole answer.
pub(crate) fn transport_error(what: &str, error: &reqwest::Error) -> Error {
    let name = if error.is_timeout() {
        TIMEOUT
    } else if error.is_builder() {
        return Error::terminal(INVALID_REQUEST, format!("{what}: {}", chain(error)));
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

    /// `Wed, 21 Oct 2015 07:28:00 GMT`.
    fn oct_21() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480)
    }

    fn with_retry_after(value: &str, now: SystemTime) -> Error {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        status_error(
            "GET /x",
            StatusCode::SERVICE_UNAVAILABLE,
            &headers,
            b"",
            now,
        )
    }

    #[test]
    fn statuses_are_named_by_number_and_keep_retry_after() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        let error = status_error(
            "GET /x",
            StatusCode::TOO_MANY_REQUESTS,
            &headers,
            b"slow",
            SystemTime::now(),
        );
        assert_eq!(error.name(), "Http.429");
        assert_eq!(
            error.message(),
            "GET /x answered 429 Too Many Requests: slow"
        );
        assert_eq!(error.retry_after(), Some(Duration::from_secs(3)));
        assert!(!error.is_terminal());
    }

    #[test]
    fn a_retry_after_date_is_a_delay_from_the_steps_clock() {
        let now = oct_21() - Duration::from_secs(90);
        for value in [
            "Wed, 21 Oct 2015 07:28:00 GMT",
            // The obsolete forms RFC 9110 still asks recipients to read.
            "Wednesday, 21-Oct-15 07:28:00 GMT",
            "Wed Oct 21 07:28:00 2015",
        ] {
            let error = with_retry_after(value, now);
            assert_eq!(
                error.retry_after(),
                Some(Duration::from_secs(90)),
                "{value}"
            );
        }
    }

    #[test]
    fn a_retry_after_date_in_the_past_is_no_delay() {
        let now = oct_21() + Duration::from_secs(3600);
        let error = with_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now);
        assert_eq!(error.retry_after(), Some(Duration::ZERO));
        // The same instant: no delay either.
        let error = with_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", oct_21());
        assert_eq!(error.retry_after(), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_seconds_allow_spaces_and_no_sign() {
        assert_eq!(
            with_retry_after(" 120 ", oct_21()).retry_after(),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            with_retry_after("0", oct_21()).retry_after(),
            Some(Duration::ZERO)
        );
        // Longer than u64 seconds: the longest delay there is (the policy caps it).
        assert!(
            with_retry_after("99999999999999999999999", oct_21())
                .retry_after()
                .is_some_and(|d| d >= Duration::from_secs(u64::from(u32::MAX) / 1000))
        );
    }

    #[test]
    fn garbage_retry_after_gives_no_hint() {
        for value in [
            "soon",
            "-1",
            "+5",
            "1.5",
            "",
            "Wed, 21 Oct 2015",
            "Wed, 32 Oct 2015 07:28:00 GMT",
            "Wed, 21 Oct 2015 07:28:00 PST",
        ] {
            let error = with_retry_after(value, oct_21());
            assert_eq!(error.retry_after(), None, "{value:?}");
        }
    }

    #[test]
    fn long_bodies_are_cut_in_messages() {
        let body = vec![b'x'; 2000];
        let error = status_error(
            "GET /x",
            StatusCode::NOT_FOUND,
            &HeaderMap::new(),
            &body,
            SystemTime::now(),
        );
        assert!(error.message().ends_with('…'));
        assert!(error.message().len() < 600);
    }
}
