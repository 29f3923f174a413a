//! Text from a store made safe to show: [`printable`]; times and durations for people
//! ([`timestamp`], [`duration`]).
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

/// Milliseconds since the Unix epoch as an RFC 3339 UTC time, to the second.
///
/// ```
/// use waypost::text::timestamp;
///
/// assert_eq!(timestamp(1_735_787_045_000), "2025-01-02T03:04:05Z");
/// ```
pub fn timestamp(ms: u64) -> String {
    let secs = ms / 1000;
    let days = secs / 86_400;
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// The (year, month, day) of a day counted from 1970-01-01, in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01, so that a leap day ends each 4-year cycle.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// A duration in milliseconds for people: `0.012s`, `59.999s`, `4m05s`, `2h03m`.
///
/// ```
/// use waypost::text::duration;
///
/// assert_eq!(duration(245_000), "4m05s");
/// ```
pub fn duration(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0..60 => format!("{secs}.{:03}s", ms % 1000),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs / 60 % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_to_the_second() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(951_782_400_999), "2000-02-29T00:00:00Z");
        assert_eq!(timestamp(1_735_787_045_678), "2025-01-02T03:04:05Z");
        assert_eq!(timestamp(4_107_542_399_000), "2100-02-28T23:59:59Z");
        assert_eq!(timestamp(4_107_542_400_000), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn every_day_of_a_leap_cycle_follows_the_previous_one() {
        let mut previous = civil_from_days(0);
        for day in 1..(400 * 366) {
            let (y, m, d) = civil_from_days(day);
            let (py, pm, pd) = previous;
            let next_day = (y, m, d) == (py, pm, pd + 1);
            let next_month = (y, m, d) == (py, pm + 1, 1);
            let next_year = (y, m, d) == (py + 1, 1, 1) && (pm, pd) == (12, 31);
            assert!(
                next_day || next_month || next_year,
                "{previous:?} -> {:?}",
                (y, m, d)
            );
            previous = (y, m, d);
        }
    }

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(0), "0.000s");
        assert_eq!(duration(12), "0.012s");
        assert_eq!(duration(59_999), "59.999s");
        assert_eq!(duration(245_000), "4m05s");
        assert_eq!(duration(7_380_000), "2h03m");
    }

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
