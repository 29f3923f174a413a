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
use waypost_core::text::{is_unsafe, printable};

pub(crate) use waypost_core::inspect::{runner, status};
pub(crate) use waypost_core::text::{duration, timestamp};

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
    fn offsets_read_at_a_glance() {
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
