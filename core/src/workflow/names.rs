//! The rule every name in a workflow follows, and the check of a workflow's names when
//! it is built.

use crate::address::Address;
use crate::graph::{Graph, INVALID, Node, NodeKind};

use super::error::{NameOf, NameProblem, WorkflowError};

/// The longest name, in bytes of UTF-8: see [`check_name`].
pub const MAX_NAME_BYTES: usize = 256;

/// Checks `name` against the rule that every name in a workflow follows: the workflow's
/// own name, step names (`#[step]`, [`step_fn`](crate::step_fn()),
/// [`sync_step_fn`](crate::sync_step_fn), [`pass`](crate::pass()), `.named(..)`), choice
/// labels, and the error names of [`fail`](crate::fail()), retry policies and catches.
/// [`Workflow::new`](crate::Workflow::new) checks every one of them.
///
/// A name is 1 to [`MAX_NAME_BYTES`] (256) bytes of text with none of these:
///
/// - control characters: C0 (`U+0000`–`U+001F`), DEL (`U+007F`) and C1
///   (`U+0080`–`U+009F`). Newlines, tabs and NULs have no place in a one-line name,
///   and Graphviz rejects a NUL;
/// - the line and paragraph separators `U+2028` and `U+2029`, which break lines as
///   newlines do;
/// - bidirectional formatting characters (`U+061C`, `U+200E`, `U+200F`,
///   `U+202A`–`U+202E`, `U+2066`–`U+2069`), which display text in another order than it
///   is stored, so that one name can pass for another ("Trojan Source").
///
/// Everything else is allowed: spaces, punctuation, quotes, backslashes, `<>{}|#;`, any
/// script, emoji. The exports escape whatever their format gives a meaning to.
///
/// Why 256 bytes: a name is part of the address of every state below it, and so of
/// every checkpoint key and history event there; the limit keeps those bounded and is
/// far above the names people write. Step Functions allows 80 characters in a state
/// name, but waypost's Amazon States Language export describes a workflow rather than
/// deploys one (its tasks are Rust functions), so names are not held to that.
///
/// # Errors
///
/// What breaks the rule, and where: the first character that is not allowed, by its
/// byte offset.
///
/// # Examples
///
/// ```
/// use waypost::workflow::{NameProblem, check_name};
///
/// assert_eq!(check_name("charge card «express» #2"), Ok(()));
/// assert_eq!(check_name(""), Err(NameProblem::Empty));
/// assert_eq!(
///     check_name("a\nb"),
///     Err(NameProblem::Forbidden { character: '\n', at: 1 })
/// );
/// assert_eq!(
///     check_name("\u{202e}txt.exe"),
///     Err(NameProblem::Forbidden { character: '\u{202e}', at: 0 })
/// );
/// assert_eq!(
///     check_name(&"x".repeat(257)).unwrap_err().to_string(),
///     "it is 257 bytes long, over the limit of 256"
/// );
/// ```
pub fn check_name(name: &str) -> Result<(), NameProblem> {
    if name.is_empty() {
        return Err(NameProblem::Empty);
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(NameProblem::TooLong { bytes: name.len() });
    }
    match name.char_indices().find(|(_, c)| forbidden(*c).is_some()) {
        Some((at, character)) => Err(NameProblem::Forbidden { character, at }),
        None => Ok(()),
    }
}

/// What kind of forbidden character `c` is, if it is one.
pub(crate) fn forbidden(c: char) -> Option<&'static str> {
    match c {
        c if c.is_control() => Some("a control character"),
        '\u{2028}' | '\u{2029}' => Some("a line or paragraph separator"),
        '\u{061c}'
        | '\u{200e}'
        | '\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}' => Some("a bidirectional formatting character"),
        _ => None,
    }
}

/// Checks the workflow's name and every name in its graph, in flow order.
pub(crate) fn check_workflow(name: &str, graph: &Graph) -> Result<(), WorkflowError> {
    check(NameOf::Workflow, name, &Address::root())?;
    check_states(graph.states())
}

fn check_states(states: &[Node]) -> Result<(), WorkflowError> {
    for node in states {
        let at = &node.address;
        check(NameOf::Step, &node.name, at)?;
        if let Some((_, problem)) = node.details.iter().find(|(key, _)| key == INVALID) {
            return Err(WorkflowError::InvalidSettings {
                name: node.name.clone(),
                address: at.clone(),
                problem: problem.clone(),
            });
        }
        if node.kind == NodeKind::Fail
            && let Some((_, error)) = node.details.iter().find(|(key, _)| key == "error")
        {
            check(NameOf::FailError, error, at)?;
        }
        for spec in &node.retry {
            for error in &spec.errors {
                check(NameOf::RetryError, error, at)?;
            }
        }
        for branch in &node.branches {
            let what = match node.kind {
                NodeKind::Choice => NameOf::ChoiceLabel,
                _ => NameOf::BranchLabel,
            };
            check(what, &branch.label, at)?;
            check_states(&branch.states)?;
        }
        for catch in &node.catch {
            for error in &catch.errors {
                check(NameOf::CatchError, error, at)?;
            }
            check_states(&catch.handler)?;
        }
    }
    Ok(())
}

fn check(what: NameOf, name: &str, address: &Address) -> Result<(), WorkflowError> {
    check_name(name).map_err(|problem| WorkflowError::InvalidName {
        what,
        name: name.to_owned(),
        address: address.clone(),
        problem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forbidden_characters_are_exactly_the_listed_ones() {
        let forbidden_ranges = [
            0x00..=0x1f,
            0x7f..=0x9f,
            0x061c..=0x061c,
            0x200e..=0x200f,
            0x2028..=0x202e,
            0x2066..=0x2069,
        ];
        for code in (0..=0x3000).chain([0xfeff, 0x1f69a, 0x10ffff]) {
            let Some(c) = char::from_u32(code) else {
                continue;
            };
            let listed = forbidden_ranges.iter().any(|r| r.contains(&code));
            assert_eq!(
                check_name(&format!("a{c}")).is_err(),
                listed,
                "U+{code:04X}"
            );
        }
    }

    #[test]
    fn the_length_limit_counts_bytes() {
        assert_eq!(check_name(&"é".repeat(128)), Ok(()));
        assert_eq!(
            check_name(&format!("{}x", "é".repeat(128))),
            Err(NameProblem::TooLong { bytes: 257 })
        );
        assert_eq!(check_name("x"), Ok(()));
    }

    #[test]
    fn the_first_forbidden_character_is_reported_by_its_byte_offset() {
        assert_eq!(
            check_name("é\u{2067}\0"),
            Err(NameProblem::Forbidden {
                character: '\u{2067}',
                at: 2
            })
        );
    }
}
