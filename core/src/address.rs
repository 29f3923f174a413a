//! [`Address`]: the stable position of a step in a workflow.

use std::cell::RefCell;
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
        // Written into a buffer the thread keeps, then copied once into the `Arc`: one
        // allocation per address (a map makes one per item) instead of a growing
        // `String` and its copy. A segment whose `Display` makes an address itself
        // finds the buffer taken and gets a buffer of its own.
        thread_local! {
            static BUFFER: RefCell<String> = const { RefCell::new(String::new()) };
        }
        let write = |text: &mut String| {
            text.clear();
            if !self.0.is_empty() {
                text.push_str(&self.0);
                text.push('/');
            }
            // Writing to a `String` fails only if a `Display` impl does; what it wrote
            // is kept, as `format!` would panic instead.
            let _ = fmt::Write::write_fmt(text, segment);
            Address(Arc::from(text.as_str()))
        };
        BUFFER.with(|buffer| match buffer.try_borrow_mut() {
            Ok(mut text) => write(&mut text),
            Err(_) => write(&mut String::new()),
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A segment whose `Display` builds an address of its own while the outer one is
    /// being written.
    struct Nested;

    impl fmt::Display for Nested {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let inner = Address::root().step(1, "inner");
            write!(f, "[{inner}]")
        }
    }

    #[test]
    fn addresses_join_their_segments() {
        let at = Address::root().step(0, "map").branch(7).step(2, "ship");
        assert_eq!(at.as_str(), "0.map/7/2.ship");
    }

    #[test]
    fn a_segment_that_makes_an_address_itself_gets_its_own_buffer() {
        let at = Address::root().step(0, "map").branch(Nested);
        assert_eq!(at.as_str(), "0.map/[1.inner]");
        // The thread's buffer is free again afterwards.
        assert_eq!(at.branch(3).as_str(), "0.map/[1.inner]/3");
    }
}
