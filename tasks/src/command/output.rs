//! How a command's stdout becomes the step's output: JSON, or lines.

use waypost_core::{Error, Payload};

use super::BAD_OUTPUT;

/// How much of a stdout that does not parse its error message quotes, in bytes.
const QUOTED: usize = 256;

/// Parses `stdout` of `what` as JSON of type `O` (empty output as `null`).
pub(crate) fn json<O: Payload>(what: &str, stdout: &[u8]) -> Result<O, Error> {
    let trimmed = stdout.trim_ascii();
    let text: &[u8] = if trimmed.is_empty() { b"null" } else { trimmed };
    serde_json::from_slice(text).map_err(|e| {
        Error::new(
            BAD_OUTPUT,
            format!(
                "{what} printed what is not a `{}` in JSON ({e}): {}",
                std::any::type_name::<O>(),
                quoted(stdout)
            ),
        )
    })
}

/// Splits `stdout` into lines, without their line ends (`\n` or `\r\n`).
///
/// # Errors
///
/// `Command.BadOutput` when it is not UTF-8.
pub(crate) fn lines(what: &str, stdout: &[u8]) -> Result<Vec<String>, Error> {
    let text = std::str::from_utf8(stdout).map_err(|e| {
        Error::new(
            BAD_OUTPUT,
            format!("{what} printed what is not UTF-8 ({e}): {}", quoted(stdout)),
        )
    })?;
    Ok(text.lines().map(str::to_owned).collect())
}

/// `n` bytes for people: `16 MiB`, `64 KiB`, `1000 bytes`.
pub(crate) fn size(n: usize) -> String {
    const KIB: usize = 1 << 10;
    const MIB: usize = 1 << 20;
    match n {
        _ if n >= MIB && n.is_multiple_of(MIB) => format!("{} MiB", n / MIB),
        _ if n >= KIB && n.is_multiple_of(KIB) => format!("{} KiB", n / KIB),
        1 => "1 byte".to_owned(),
        _ => format!("{n} bytes"),
    }
}

/// The start of `bytes`, lossily as text, cut at [`QUOTED`] bytes.
fn quoted(bytes: &[u8]) -> String {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(QUOTED)]);
    let cut = if bytes.len() > QUOTED { "…" } else { "" };
    format!("{head:?}{cut}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_lines_parse_and_garbage_is_named() {
        assert_eq!(json::<Vec<u32>>("c", b" [1,2]\n").unwrap(), [1, 2]);
        assert_eq!(json::<()>("c", b"").unwrap(), ());
        let bad = json::<u32>("`sh`", b"hello").unwrap_err();
        assert_eq!(bad.name(), "Command.BadOutput");
        assert!(bad.message().contains("\"hello\""), "{}", bad.message());
        assert_eq!(lines("c", b"a\r\nb\n").unwrap(), ["a", "b"]);
        assert_eq!(lines("c", &[0xff]).unwrap_err().name(), "Command.BadOutput");
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(16 << 20), "16 MiB");
        assert_eq!(size(64 << 10), "64 KiB");
        assert_eq!(size(1000), "1000 bytes");
        assert_eq!(size(1), "1 byte");
        assert_eq!(size(0), "0 bytes");
    }
}
