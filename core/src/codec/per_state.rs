//! A codec per state: one state stores its output with another codec than the
//! workflow's ([`StepExt::codec`](crate::StepExt::codec)).
//!
//! Amazon States Language has no such setting (Step Functions stores every payload as
//! JSON); AWS's durable execution SDKs take a serializer per step. Here a workflow picks
//! its codec ([`Workflow::with_codec`](crate::Workflow::with_codec), bincode by default)
//! and a state may override it: JSON for the one output people read, the runtime's
//! `RawBytes` for a large blob stored as it is, or a codec of your own.
//!
//! The override covers the state's output checkpoint — the record a resumed execution
//! replays instead of running the state again. Its codec's [`name`](Codec::name) is
//! recorded beside it (`{key}~codec`, in the same write), and a resumed execution
//! checks it: when the state's codec changed since the output was stored (an override
//! added, removed or replaced), replay fails with a runtime error naming the state, the
//! stored codec and the expected one, rather than decode bytes with the wrong codec.
//!
//! What the override does not cover:
//!
//! - the state's failure: an [`Error`] is stored with the workflow's
//!   codec (a raw-bytes codec cannot store one), and shown in the history anyway;
//! - states nested inside it (the items of a map, the branches of a parallel): they
//!   keep the workflow's codec unless they have their own override. A container has no
//!   output checkpoint of its own, so override the states inside it;
//! - a sequence (`a.then(b)`) has no checkpoint of its own either: override its states
//!   one by one.
//!
//! Without a durable store nothing is encoded, and the override changes nothing.
//!
//! # Examples
//!
//! JSON for one state of a bincode workflow:
//!
//! ```
//! use waypost::prelude::*;
//! use waypost::{JsonCodec, MemoryStore};
//! use waypost::store::Store as _;
//!
//! #[step]
//! async fn summary(x: u32) -> String { format!("{x} orders") }
//! #[step]
//! async fn count(text: String) -> usize { text.len() }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let wf = Workflow::new("report", 1, summary.codec(JsonCodec).then(count));
//! let store = MemoryStore::new();
//! let runtime = Runtime::builder().store(store.clone()).build();
//! assert_eq!(runtime.start(&wf, "r-1", 12).await.unwrap(), 9);
//!
//! let checkpoints = store.checkpoints("r-1").await.unwrap();
//! let stored = |key: &str| checkpoints.iter().find(|c| c.key == key).unwrap().payload.clone();
//! assert_eq!(stored("0.summary"), b"\"12 orders\"");
//! assert_eq!(stored("0.summary~codec"), b"json");
//! # }
//! ```
//!
//! A codec of your own (here: UTF-8 text, for `String` outputs only):
//!
//! ```
//! use waypost::prelude::*;
//! use waypost::{Codec, MemoryStore};
//! use waypost::store::Store as _;
//!
//! #[derive(Debug)]
//! struct Utf8;
//!
//! impl Codec for Utf8 {
//!     fn name(&self) -> &'static str {
//!         "utf8"
//!     }
//!     fn encode_erased(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>, String> {
//!         // Through JSON, which writes a string as "…": keep what is between the quotes.
//!         let json = serde_json::to_string(value).map_err(|e| e.to_string())?;
//!         let text: String = serde_json::from_str(&json).map_err(|_| "not a string".to_owned())?;
//!         Ok(text.into_bytes())
//!     }
//!     fn decode_erased(
//!         &self,
//!         bytes: &[u8],
//!         visit: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<(), String>,
//!     ) -> Result<(), String> {
//!         let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
//!         let json = serde_json::to_string(text).map_err(|e| e.to_string())?;
//!         let mut de = serde_json::Deserializer::from_str(&json);
//!         visit(&mut <dyn erased_serde::Deserializer<'_>>::erase(&mut de))
//!     }
//! }
//!
//! #[step]
//! async fn greet(name: String) -> String { format!("hello {name}") }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let wf = Workflow::new("greet", 1, greet.codec(Utf8));
//! let store = MemoryStore::new();
//! let runtime = Runtime::builder().store(store.clone()).build();
//! assert_eq!(runtime.start(&wf, "g-1", "ada".to_string()).await.unwrap(), "hello ada");
//! let checkpoints = store.checkpoints("g-1").await.unwrap();
//! let output = checkpoints.iter().find(|c| c.key == "0.greet").unwrap();
//! assert_eq!(output.payload, b"hello ada");
//! # }
//! ```

use std::fmt;
use std::sync::Arc;

use super::Codec;
use crate::address::Address;
use crate::context::Context;
use crate::error::Error;
use crate::graph::Describe;
use crate::step::Step;

/// The suffix of the record beside a state's output that names the codec it was
/// written with: `{key}~codec`, its payload the codec's name (UTF-8).
pub const CODEC_SUFFIX: &str = "~codec";

/// Step returned by [`StepExt::codec`](crate::StepExt::codec): runs its step, whose
/// output checkpoint is written with its own codec. See [`per_state`](self).
#[must_use = "steps do nothing until a runtime runs them"]
pub struct WithCodec<S> {
    inner: S,
    codec: Arc<dyn Codec>,
}

impl<S: Step> WithCodec<S> {
    pub(crate) fn new(inner: S, codec: Arc<dyn Codec>) -> Self {
        WithCodec { inner, codec }
    }

    /// The codec this state's output is stored with.
    pub fn codec(&self) -> &dyn Codec {
        &*self.codec
    }
}

impl<S: fmt::Debug> fmt::Debug for WithCodec<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithCodec")
            .field("inner", &self.inner)
            .field("codec", &self.codec.name())
            .finish()
    }
}

impl<S: Step> Step for WithCodec<S> {
    type Input = S::Input;
    type Output = S::Output;

    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn run(&self, cx: &Context, input: S::Input) -> Result<S::Output, Error> {
        if cx.recorder().is_none() {
            return self.inner.run(cx, input).await;
        }
        let over = Override {
            address: cx.address(self.inner.name()),
            codec: Arc::clone(&self.codec),
        };
        self.inner.run(&cx.with_codec(Arc::new(over)), input).await
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        graph
            .decorated(&self.inner)
            .detail("codec", self.codec.name());
    }

    fn slots(&self) -> u32 {
        self.inner.slots()
    }
}

/// The codec one state's output is stored with, carried by its [`Context`].
#[derive(Debug)]
pub(crate) struct Override {
    /// The state's address.
    pub(crate) address: Address,
    pub(crate) codec: Arc<dyn Codec>,
}

impl Override {
    /// Whether the checkpoint at `key` is this state's result: its address, plus `#n`
    /// for each enclosing retry attempt.
    pub(crate) fn applies(&self, key: &str) -> bool {
        key.strip_prefix(self.address.as_str())
            .is_some_and(|rest| strip_attempts(rest).is_empty())
    }
}

/// `key` without its trailing `#n` retry attempts: the address of the state whose
/// result it holds.
pub(crate) fn strip_attempts(key: &str) -> &str {
    let mut rest = key;
    while let Some((head, n)) = rest.rsplit_once('#') {
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            break;
        }
        rest = head;
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Named;

    impl Codec for Named {
        fn name(&self) -> &'static str {
            "named"
        }
        fn encode_erased(&self, _: &dyn erased_serde::Serialize) -> Result<Vec<u8>, String> {
            Ok(Vec::new())
        }
        fn decode_erased(
            &self,
            _: &[u8],
            _: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<(), String>,
        ) -> Result<(), String> {
            Ok(())
        }
    }

    #[test]
    fn an_override_applies_to_its_state_and_its_retry_attempts_only() {
        let over = Override {
            address: Address::root().step(1, "charge"),
            codec: Arc::new(Named),
        };
        assert!(over.applies("1.charge"));
        assert!(over.applies("1.charge#2"));
        assert!(over.applies("1.charge#1#3"));
        assert!(!over.applies("1.charge~timeout"));
        assert!(!over.applies("1.charge#1~delay"));
        assert!(!over.applies("1.charge/0/0.inner"));
        assert!(!over.applies("1.charged"));
        assert!(!over.applies("2.charge"));
    }

    #[test]
    fn attempts_are_stripped_from_the_end_only() {
        assert_eq!(strip_attempts("0.a#1#2"), "0.a");
        assert_eq!(strip_attempts("0.a#b"), "0.a#b");
        assert_eq!(strip_attempts("0.a"), "0.a");
        assert_eq!(strip_attempts("0.map/3/0.f#2"), "0.map/3/0.f");
    }
}
