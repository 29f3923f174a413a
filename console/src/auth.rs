//! Who may act: the console's token, from a cookie set by `/login` or an
//! `Authorization: Bearer` header, on requests that no other site's page made.
//!
//! A browser gets the cookie by opening the login link the console prints at start.
//! The cookie is `HttpOnly` and `SameSite=Strict`, so a page of another site cannot
//! send it with a form it posts here (cross-site request forgery); as a second guard,
//! a request whose `Origin` or `Sec-Fetch-Site` says another site made it is refused
//! whatever it carries.

use axum::http::{HeaderMap, header};

use crate::console::Console;
use crate::error::ConsoleError;

/// The name of the cookie that holds the token.
pub(crate) const COOKIE: &str = "waypost_console_token";

/// Whether `headers` carry the console's token, in a cookie or a bearer header.
pub(crate) fn signed_in(console: &Console, headers: &HeaderMap) -> bool {
    let Some(token) = console.token() else {
        return false;
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value);
    [bearer, cookie]
        .into_iter()
        .flatten()
        .any(|given| same(given.as_bytes(), token.as_bytes()))
}

/// Allows an action, or says why not.
pub(crate) fn allow_action(console: &Console, headers: &HeaderMap) -> Result<(), ConsoleError> {
    if console.token().is_none() {
        return Err(ConsoleError::Refused(
            "this console is read-only: it was started without actions".to_owned(),
        ));
    }
    if cross_site(headers) {
        return Err(ConsoleError::Refused(
            "a page of another site sent this request: actions are taken only from the \
             console's own pages"
                .to_owned(),
        ));
    }
    if !signed_in(console, headers) {
        return Err(ConsoleError::Refused(
            "this action needs the console's token: open the login link the console \
             printed when it started, or send `Authorization: Bearer TOKEN`"
                .to_owned(),
        ));
    }
    Ok(())
}

/// Whether the browser says another site's page made the request.
fn cross_site(headers: &HeaderMap) -> bool {
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|site| site == "cross-site" || site == "same-site");
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let foreign_origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|origin| {
            let authority = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            authority.is_none() || authority != host
        });
    fetch_site || foreign_origin
}

/// Compares in time that does not depend on where the bytes differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn a_request_from_another_site_is_cross_site() {
        assert!(!cross_site(&headers(&[("host", "127.0.0.1:7070")])));
        assert!(!cross_site(&headers(&[
            ("host", "127.0.0.1:7070"),
            ("origin", "http://127.0.0.1:7070"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(cross_site(&headers(&[
            ("host", "127.0.0.1:7070"),
            ("origin", "http://evil.example"),
        ])));
        assert!(cross_site(&headers(&[("origin", "null")])));
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
    }
}
