//! Text from a store made safe to show: [`printable`].
//!
//! Execution ids, workflow and step names, branch labels, error names and messages are
//! chosen by users (or by whoever feeds a workflow its input), and a store keeps them as
//! they came. Written raw to a terminal, a control character can clear the screen, set
//! the window title, move the cursor or ring the bell; a newline splits a table row in
//! two; a bidirectional override makes `evil.exe\u{202e}fdp.txt` read as a PDF. Every
//! human-readable view of a store (the CLI, a console) passes such text through
//! [`printable`]; machine-readable views (JSON) escape the same characters
//! ([`is_unsafe`]) their own way.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with every character a terminal would act on instead of showing replaced by
/// a visible escape; the text itself when it has none (no allocation).
///
/// - `\n`, `\r`, `\t`, `\0` and ESC (`\e`) by those two-character escapes;
/// - any other control character (C0, DEL, C1), bidirectional control (U+061C,
///   U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) or line and paragraph separator
///   (U+2028, U+2029) as `\u{…}`, its code point in lowercase hex.
///
/// The escapes are for people to read, not a format to parse back: a backslash is
/// left as it is.
///
/// # Examples
///
/// ```
/// use waypost::text::printable;
///
/// assert_eq!(printable("charge"), "charge");
/// assert_eq!(printable("a\nb\tc"), "a\\nb\\tc");
/// assert_eq!(printable("\u{1b}]0;pwned\u{7}"), "\\e]0;pwned\\u{7}");
/// assert_eq!(printable("invoice\u{202e}fdp.exe"), "invoice\\u{202e}fdp.exe");
/// ```
pub fn printable(text: &str) -> Cow<'_, str> {
    let Some(first) = text.find(is_unsafe) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            '\u{1b}' => out.push_str("\\e"),
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Whether a terminal may act on `c` instead of showing it: a control character (C0,
/// DEL, C1), a bidirectional control, or a line or paragraph separator. These are
/// the characters [`printable`] escapes.
///
/// # Examples
///
/// ```
/// use waypost::text::is_unsafe;
///
/// assert!(is_unsafe('\u{1b}') && is_unsafe('\u{9b}') && is_unsafe('\u{2066}'));
/// assert!(!is_unsafe('é') && !is_unsafe(' ') && !is_unsafe('\\'));
/// ```
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_text_is_borrowed() {
        for text in [
            "",
            "order-42",
            "1.map/3/0.charge#2",
            "naïve café ✓ 東京",
            "C:\\tmp",
        ] {
            assert!(matches!(printable(text), Cow::Borrowed(t) if t == text));
        }
    }

    #[test]
    fn every_unsafe_character_is_escaped_visibly() {
        let cases = [
            ("\n", "\\n"),
            ("\r", "\\r"),
            ("\t", "\\t"),
            ("\0", "\\0"),
            ("\u{1b}[2J", "\\e[2J"),
            ("\u{7}", "\\u{7}"),
            ("\u{7f}", "\\u{7f}"),
            ("\u{9b}31m", "\\u{9b}31m"),
            ("\u{61c}", "\\u{61c}"),
            ("\u{200e}\u{200f}", "\\u{200e}\\u{200f}"),
            ("\u{202a}\u{202e}", "\\u{202a}\\u{202e}"),
            ("\u{2066}\u{2069}", "\\u{2066}\\u{2069}"),
            ("\u{2028}\u{2029}", "\\u{2028}\\u{2029}"),
            ("ok \u{1b}]0;title\u{7} ok", "ok \\e]0;title\\u{7} ok"),
        ];
        for (text, escaped) in cases {
            assert_eq!(printable(text), escaped, "{text:?}");
        }
    }

    #[test]
    fn nothing_unsafe_is_left_in_any_character() {
        // Every Unicode scalar value, one at a time, in a string of its own.
        for c in (0..=0x10_ffff_u32).filter_map(char::from_u32) {
            let mut buffer = [0; 4];
            let shown = printable(c.encode_utf8(&mut buffer)).into_owned();
            assert!(!shown.contains(is_unsafe), "{c:?} -> {shown:?}");
            assert_eq!(
                shown.chars().count() > 1,
                is_unsafe(c),
                "{c:?} -> {shown:?}"
            );
        }
    }
}
