//! [`Address`]: the stable position of a step in a workflow.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The stable position of a step in a workflow, such as `2.choice/express/0.ship`.
///
/// Segments are joined with `/`. A step in a sequence is `{slot}.{name}`; a branch of a
/// choice is its label, a branch of a parallel its index, a map item its index.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Address(Arc<str>);

impl Address {
    /// The root of a workflow: the empty address.
    pub fn root() -> Self {
        Address(Arc::from(""))
    }

    /// Builds an address from its text form.
    pub fn from_text(text: &str) -> Self {
        Address(Arc::from(text))
    }

    /// The address of the step named `name` at `slot` below this one.
    pub fn step(&self, slot: u32, name: &str) -> Self {
        self.join(format_args!("{slot}.{name}"))
    }

    /// The address of a branch, map item or other sub-position below this one.
    pub fn branch(&self, segment: impl fmt::Display) -> Self {
        self.join(format_args!("{segment}"))
    }

    fn join(&self, segment: fmt::Arguments<'_>) -> Self {
        if self.0.is_empty() {
            Address(Arc::from(segment.to_string()))
        } else {
            Address(Arc::from(format!("{}/{segment}", self.0)))
        }
    }

    /// The text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({:?})", &*self.0)
    }
}
