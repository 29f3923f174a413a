//! The console's HTML pages, written with maud (which escapes every value it is
//! given), and the pieces they share: the layout, links, statuses, payloads, errors.
//!
//! User text (ids, names, labels, messages, payloads) also goes through
//! [`printable`](waypost_core::text::printable) where it is shown as text, so control
//! characters and bidirectional overrides are visible escapes, as in the CLI.

pub(crate) mod execution;
pub(crate) mod executions;
pub(crate) mod workflow;

use maud::{DOCTYPE, Markup, html};
use waypost_core::export::StateStatus;
use waypost_core::store::ExecutionStatus;
use waypost_core::text::{duration, printable, timestamp};

use crate::error::ConsoleError;
use crate::view::{ErrorView, PayloadView};

/// A whole page: the header with the store's name and the navigation, then `body`.
pub(crate) fn layout(title: &str, source: &str, body: &Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (printable(title)) " · waypost" }
                link rel="stylesheet" href="/static/console.css";
                script src="/static/console.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/executions" { "waypost" }
                    nav {
                        a href="/executions" { "Executions" }
                        a href="/workflows" { "Workflows" }
                    }
                    span.source title="the store this console reads" { (printable(source)) }
                }
                main { (body) }
            }
        }
    }
}

/// The page of an error: what went wrong, and a way back.
pub(crate) fn error_page(error: &ConsoleError) -> Markup {
    layout(
        error.title(),
        "",
        &html! {
            section.error-page {
                h1 { (error.status().as_u16()) " · " (error.title()) }
                p.problem { (printable(&error.message())) }
                p { a href="/executions" { "Back to the executions" } }
            }
        },
    )
}

/// Percent-encodes `text` for a URL path segment or query value.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The page of execution `id`.
pub(crate) fn execution_href(id: &str) -> String {
    format!("/executions/{}", encode(id))
}

/// The page of workflow `name` (at `version`).
pub(crate) fn workflow_href(name: &str, version: Option<u32>) -> String {
    match version {
        Some(v) => format!("/workflows/{}?version={v}", encode(name)),
        None => format!("/workflows/{}", encode(name)),
    }
}

/// The CSS class (and `data-status`) of a state status.
pub(crate) fn status_class(status: StateStatus) -> &'static str {
    match status {
        StateStatus::Succeeded => "succeeded",
        StateStatus::Failed => "failed",
        StateStatus::Caught => "caught",
        StateStatus::Cancelled => "cancelled",
        StateStatus::Running => "running",
        _ => "not-reached",
    }
}

/// An execution's status as a coloured badge, with its words as the text.
pub(crate) fn status_badge(status: ExecutionStatus, text: &str) -> Markup {
    html! {
        span class={ "badge status-" (status.as_str()) } data-status=(status.as_str()) { (text) }
    }
}

/// A time for people, with the exact milliseconds on hover.
pub(crate) fn time(ms: u64) -> Markup {
    html! { time datetime=(timestamp(ms)) title=(format!("{ms} ms since the Unix epoch")) { (timestamp(ms)) } }
}

/// A duration for people.
pub(crate) fn took(ms: u64) -> String {
    duration(ms)
}

/// A stored value: pretty JSON when it could be decoded, else its size, codec and why.
pub(crate) fn payload(view: &PayloadView) -> Markup {
    let size = match view.bytes {
        1 => "1 byte".to_owned(),
        n => format!("{n} bytes"),
    };
    html! {
        div.payload {
            @if let Some(value) = &view.value {
                @let text = serde_json::to_string_pretty(value).unwrap_or_default();
                @let (shown, rest) = cut(&text, SHOWN_CHARS);
                pre.json { (lines(shown)) }
                @if rest > 0 { div.meta { "… " (rest) " more characters (the JSON API has it all)" } }
                div.meta { (size) ", " (view.codec) }
            } @else {
                div.meta.undecoded {
                    (size) ", " (view.codec)
                    @if let Some(problem) = &view.problem { ": " (printable(problem)) }
                }
            }
        }
    }
}

/// How much of a payload's JSON a page shows.
const SHOWN_CHARS: usize = 20_000;

/// The first `max` characters of `text` (whole), and how many characters follow.
fn cut(text: &str, max: usize) -> (&str, usize) {
    match text.char_indices().nth(max) {
        Some((at, _)) => (&text[..at], text[at..].chars().count()),
        None => (text, 0),
    }
}

/// Multi-line text with each line [`printable`] (its newlines kept).
fn lines(text: &str) -> String {
    text.lines().map(printable).collect::<Vec<_>>().join("\n")
}

/// An error and its causes, outermost first.
pub(crate) fn error_chain(error: &ErrorView) -> Markup {
    let mut chain = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        chain.push(e);
        next = e.cause.as_deref();
    }
    html! {
        ol.error-chain {
            @for e in chain {
                li {
                    strong.error-name { (printable(&e.name)) }
                    @if let Some(address) = &e.address { " at " code { (printable(address)) } }
                    div.error-message { (printable(&e.message)) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_percent_encoded_whole() {
        assert_eq!(encode("order-1_a.b~"), "order-1_a.b~");
        assert_eq!(encode("a/b c?d#e%"), "a%2Fb%20c%3Fd%23e%25");
        assert_eq!(encode("é"), "%C3%A9");
        assert_eq!(execution_href("x/../y"), "/executions/x%2F..%2Fy");
    }
}
