//! Formatting shared by the commands: times, durations, tables, payloads and errors.
//!
//! Times are UTC, RFC 3339 to the second (`2025-01-02T03:04:05Z`); durations read
//! `0.012s`, `4m05s`, `2h03m`; offsets from an execution's first event read `+0.012s`.
//! Tables have no borders, columns two spaces apart and no trailing spaces, so that they
//! read well in a terminal and still go through `grep` and `awk`.
//!
//! Text from the store (ids, names, labels, errors, payloads) can hold control
//! characters and bidirectional overrides that a terminal would act on. Table cells
//! ([`add_row`]) and [`Fields`] values pass through
//! [`printable`](waypost_core::text::printable), which escapes them visibly; a command
//! that writes such text any other way escapes it itself. JSON goes out through
//! [`write_json`], which escapes the same characters as `\uXXXX`.

use std::borrow::Cow;
use std::io::{self, Write};

use comfy_table::{CellAlignment, Table, TableStyle};
use serde::Serialize;
use waypost_core::Error;
use waypost_core::store::{ExecutionRecord, ExecutionStatus};
use waypost_core::text::{is_unsafe, printable};

/// Milliseconds since the Unix epoch as an RFC 3339 UTC time, to the second.
/// The status column of an execution at `now_ms`: its status, and for a running one
/// that nobody runs, that it waits for a worker (or a `resume`), or until when it is
/// parked on a timer.
pub(crate) fn status(record: &ExecutionRecord, now_ms: u64) -> String {
    if record.status != ExecutionStatus::Running
        || record.lease.as_ref().is_some_and(|l| l.expires_ms > now_ms)
    {
        record.status.to_string()
    } else if record.wake_at_ms <= now_ms {
        "running (waiting for a worker)".to_owned()
    } else if record.wake_at_ms == u64::MAX {
        "running (parked)".to_owned()
    } else {
        format!("running (parked until {})", timestamp(record.wake_at_ms))
    }
}

/// Who runs a running execution now, for `show`: the lease holder and until when, or
/// why nobody does.
pub(crate) fn runner(record: &ExecutionRecord, now_ms: u64) -> String {
    match &record.lease {
        Some(lease) if lease.expires_ms > now_ms => format!(
            "{} (lease until {}, epoch {})",
            lease.owner,
            timestamp(lease.expires_ms),
            record.lease_epoch
        ),
        _ if record.wake_at_ms > now_ms => status(record, now_ms)
            .trim_start_matches("running (")
            .trim_end_matches(')')
            .to_owned(),
        Some(lease) => format!(
            "nobody: the lease of {} ran out at {}; waiting for a worker of workflow `{}` v{} (or a resume)",
            lease.owner,
            timestamp(lease.expires_ms),
            record.workflow,
            record.version
        ),
        None => format!(
            "nobody: waiting for a worker of workflow `{}` v{} (or a resume)",
            record.workflow, record.version
        ),
    }
}

pub(crate) fn timestamp(ms: u64) -> String {
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
pub(crate) fn duration(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0..60 => format!("{secs}.{:03}s", ms % 1000),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs / 60 % 60),
    }
}

/// The time between an execution's first event and another, in seconds: `+0.012s`.
pub(crate) fn offset(ms: u64) -> String {
    format!("+{}.{:03}s", ms / 1000, ms % 1000)
}

/// A table with the given column headers; columns listed in `right` are right-aligned
/// (numbers).
pub(crate) fn table(headers: &[&str], right: &[usize]) -> Table {
    let mut table = Table::new();
    table
        .load_style(TableStyle::new())
        .set_header(headers.to_vec());
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, 2));
        if right.contains(&i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

/// Adds a row to `table`, each cell made [`printable`]: a newline in a cell would split
/// the row, an escape sequence would reach the terminal.
pub(crate) fn add_row<S: AsRef<str>>(table: &mut Table, cells: impl IntoIterator<Item = S>) {
    table.add_row(
        cells
            .into_iter()
            .map(|cell| printable(cell.as_ref()).into_owned())
            .collect::<Vec<_>>(),
    );
}

/// The table as text, with a newline at the end and no trailing spaces.
pub(crate) fn render(table: &Table) -> String {
    let mut text = table.trim_fmt();
    text.push('\n');
    text
}

/// Aligned `label  value` lines under an optional indent, for `show`.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    rows: Vec<(String, String)>,
}

impl Fields {
    /// Adds a row of one line: the value is made [`printable`] (a newline in it shows
    /// as `\n`).
    pub(crate) fn add(&mut self, label: &str, value: impl AsRef<str>) -> &mut Self {
        let value = printable(value.as_ref()).into_owned();
        self.rows.push((label.to_owned(), value));
        self
    }

    /// The rows, labels padded to the widest, each line starting with `indent`.
    pub(crate) fn render(&self, indent: &str) -> String {
        let width = self
            .rows
            .iter()
            .map(|(label, _)| label.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for (label, value) in &self.rows {
            out.push_str(format!("{indent}{label:<width$}  {value}").trim_end());
            out.push('\n');
        }
        out
    }
}

/// A payload for people: pretty JSON for the `json` codec; otherwise its size and codec,
/// since a binary payload cannot be decoded without the workflow's types. Each line is
/// [`printable`] (JSON escapes control characters in its strings, but not DEL, C1
/// controls or bidirectional overrides).
pub(crate) fn payload(codec: &str, bytes: &[u8]) -> String {
    let size = bytes_text(bytes.len());
    let text = if codec == "json" {
        match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(value) => serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string()),
            Err(err) => format!("({size} of json that does not parse: {err})"),
        }
    } else {
        format!("({size}, {codec}: decoding it needs the workflow's types)")
    };
    text.lines()
        .map(printable)
        .collect::<Vec<Cow<'_, str>>>()
        .join("\n")
}

/// Writes `value` as one line of JSON, with the characters a terminal would act on
/// ([`is_unsafe`]) escaped as `\uXXXX`: serde_json escapes the control characters
/// below U+0020, and this the rest (DEL, C1 controls, bidirectional overrides, line
/// separators). The JSON means the same; only its spelling is safer to print.
pub(crate) fn write_json(out: &mut dyn Write, value: &impl Serialize) -> io::Result<()> {
    let mut serializer = serde_json::Serializer::with_formatter(&mut *out, SafeJson);
    value.serialize(&mut serializer).map_err(io::Error::from)?;
    out.write_all(b"\n")
}

/// The JSON formatter of [`write_json`].
struct SafeJson;

impl serde_json::ser::Formatter for SafeJson {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut rest = fragment;
        while let Some(at) = rest.find(is_unsafe) {
            writer.write_all(&rest.as_bytes()[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            let mut units = [0; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            rest = &rest[at + c.len_utf8()..];
        }
        writer.write_all(rest.as_bytes())
    }
}

/// `1 byte`, `12 bytes`.
pub(crate) fn bytes_text(len: usize) -> String {
    if len == 1 {
        "1 byte".to_owned()
    } else {
        format!("{len} bytes")
    }
}

/// An error as `show` prints it: name, message, then each cause on a line of its own.
pub(crate) fn error_fields(error: &Error, fields: &mut Fields) {
    fields.add("error", error.name());
    fields.add("message", error.message());
    let mut cause = error.source();
    while let Some(inner) = cause {
        fields.add(
            "caused by",
            format!("{}: {}", inner.name(), inner.message()),
        );
        cause = inner.source();
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
        assert_eq!(offset(1_012), "+1.012s");
    }

    #[test]
    fn payloads_are_pretty_json_or_their_size() {
        assert_eq!(
            payload("json", br#"{"a":[1]}"#),
            "{\n  \"a\": [\n    1\n  ]\n}"
        );
        assert_eq!(
            payload("bincode", &[1, 2, 3]),
            "(3 bytes, bincode: decoding it needs the workflow's types)"
        );
        assert!(payload("json", b"{").starts_with("(1 byte of json that does not parse"));
    }

    #[test]
    fn fields_align_and_keep_each_value_on_its_line() {
        let mut fields = Fields::default();
        fields
            .add("status", "failed")
            .add("message", "two\nlines \u{1b}[2J");
        assert_eq!(
            fields.render("  "),
            "  status   failed\n  message  two\\nlines \\e[2J\n"
        );
    }

    #[test]
    fn table_cells_stay_on_their_row() {
        let mut table = table(&["ID", "NAME"], &[]);
        add_row(&mut table, ["a\nb", "\u{202e}x"]);
        assert_eq!(render(&table), "ID    NAME\na\\nb  \\u{202e}x\n");
    }

    #[test]
    fn payload_lines_are_printable() {
        let json = "{\"a\":\"\u{202e}\u{7f}\\u001b\"}".as_bytes();
        assert_eq!(
            payload("json", json),
            "{\n  \"a\": \"\\u{202e}\\u{7f}\\u001b\"\n}"
        );
    }

    #[test]
    fn json_escapes_what_a_terminal_acts_on() {
        let mut out = Vec::new();
        write_json(&mut out, &["\u{1b}[2J\u{7}", "\u{202e}é\u{9b}", "ok"]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "[\"\\u001b[2J\\u0007\",\"\\u202eé\\u009b\",\"ok\"]\n");
        let back: Vec<String> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, ["\u{1b}[2J\u{7}", "\u{202e}é\u{9b}", "ok"]);
    }
}
