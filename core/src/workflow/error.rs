//! [`WorkflowError`]: why a workflow could not be built.

use std::fmt;

use crate::address::Address;

use super::names::{MAX_NAME_BYTES, forbidden};

/// Why a workflow could not be built, from [`Workflow::try_new`](crate::Workflow::try_new)
/// (and the panic message of [`Workflow::new`](crate::Workflow::new)).
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
/// use waypost::workflow::{NameOf, NameProblem, WorkflowError};
///
/// let error = Workflow::try_new("orders", 1, pass("", |x: u32| x)).unwrap_err();
/// assert!(matches!(
///     &error,
///     WorkflowError::InvalidName { what: NameOf::Step, problem: NameProblem::Empty, .. }
/// ));
/// assert_eq!(
///     error.to_string(),
///     "invalid step name \"\" at `0.`: it is empty (a name is 1 to 256 bytes with no \
///      control characters, line or paragraph separators, or bidirectional formatting \
///      characters)"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkflowError {
    /// A name breaks the rule of [`check_name`](super::check_name).
    #[non_exhaustive]
    InvalidName {
        /// What the name names.
        what: NameOf,
        /// The name as given.
        name: String,
        /// Where it is: the address of the state with that name, label or error name
        /// (the root, `""`, for the workflow's own name).
        address: Address,
        /// What is wrong with it.
        problem: NameProblem,
    },
    /// A state's settings are invalid: a concurrency limit of 0, a tolerated failure
    /// percentage over 100 or not a number, a min successful of 0 or over the number
    /// of branches of a parallel.
    #[non_exhaustive]
    InvalidSettings {
        /// The state's name.
        name: String,
        /// Its address.
        address: Address,
        /// What is wrong.
        problem: String,
    },
}

impl fmt::Display for WorkflowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkflowError::InvalidName {
                what,
                name,
                address,
                problem,
            } => {
                let at = shown_address(address);
                let name = shown(name);
                match what {
                    NameOf::Workflow => write!(f, "invalid workflow name {name}")?,
                    NameOf::Step => write!(f, "invalid step name {name} at {at}")?,
                    NameOf::ChoiceLabel => {
                        write!(f, "invalid choice label {name} of the choice at {at}")?;
                    }
                    NameOf::BranchLabel => {
                        write!(f, "invalid branch label {name} of the state at {at}")?;
                    }
                    NameOf::RetryError => {
                        write!(f, "invalid error name {name} in a retry policy at {at}")?;
                    }
                    NameOf::CatchError => {
                        write!(f, "invalid error name {name} in a catch at {at}")?;
                    }
                    NameOf::FailError => {
                        write!(f, "invalid error name {name} of the fail state at {at}")?;
                    }
                }
                write!(
                    f,
                    ": {problem} (a name is 1 to {MAX_NAME_BYTES} bytes with no control \
                     characters, line or paragraph separators, or bidirectional formatting \
                     characters)"
                )
            }
            WorkflowError::InvalidSettings {
                name,
                address,
                problem,
            } => write!(
                f,
                "invalid settings of state {} at {}: {problem}",
                shown(name),
                shown_address(address)
            ),
        }
    }
}

impl std::error::Error for WorkflowError {}

/// What a name in a [`WorkflowError::InvalidName`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NameOf {
    /// The workflow itself.
    Workflow,
    /// A step, that is a state: `#[step]`, `step_fn`, `sync_step_fn`, `pass`, `.named(..)`.
    Step,
    /// A rule of a choice: `when(label, ..)`.
    ChoiceLabel,
    /// A branch of another state, from a hand-written [`Step::describe`](crate::Step::describe).
    BranchLabel,
    /// An error name a retry policy matches.
    RetryError,
    /// An error name a catch matches.
    CatchError,
    /// The error name a fail state raises: `fail(name, ..)`.
    FailError,
}

/// What is wrong with a name; see [`check_name`](super::check_name).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameProblem {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_NAME_BYTES`](super::MAX_NAME_BYTES).
    TooLong {
        /// Its length in bytes.
        bytes: usize,
    },
    /// The name holds a character that names cannot hold.
    Forbidden {
        /// The first such character.
        character: char,
        /// Its byte offset in the name.
        at: usize,
    },
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameProblem::Empty => f.write_str("it is empty"),
            NameProblem::TooLong { bytes } => {
                write!(
                    f,
                    "it is {bytes} bytes long, over the limit of {MAX_NAME_BYTES}"
                )
            }
            NameProblem::Forbidden { character, at } => write!(
                f,
                "it holds U+{:04X}, {}, at byte {at}",
                u32::from(*character),
                forbidden(*character).unwrap_or("a forbidden character")
            ),
        }
    }
}

impl std::error::Error for NameProblem {}

/// How many characters of a name or address a message shows.
const SHOWN: usize = 48;

/// `name` quoted and escaped as Rust would write it, cut short when long.
fn shown(name: &str) -> String {
    match name.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{:?}…", &name[..cut]),
        None => format!("{name:?}"),
    }
}

/// `address` in backticks, cut short when long (it holds the names above it), with the
/// characters names cannot hold written as `\u{…}`.
fn shown_address(address: &Address) -> String {
    let text = address.as_str();
    let (head, cut) = match text.char_indices().nth(2 * SHOWN) {
        Some((cut, _)) => (&text[..cut], "…"),
        None => (text, ""),
    };
    let mut out = String::from("`");
    for c in head.chars() {
        match forbidden(c) {
            Some(_) => out.extend(c.escape_unicode()),
            None => out.push(c),
        }
    }
    out.push_str(cut);
    out.push('`');
    out
}
