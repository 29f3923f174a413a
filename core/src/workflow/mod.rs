//! [`Workflow`]: a named, versioned root step and its graph; the rule its names follow
//! ([`check_name`]) and the error when they do not ([`WorkflowError`]).

mod error;
mod names;

pub use error::{NameOf, NameProblem, WorkflowError};
pub use names::{MAX_NAME_BYTES, check_name};

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::boxed::BoxStep;
use crate::codec::Codec;
use crate::graph::Graph;
use crate::step::{Payload, Step};

/// A named, versioned workflow from `I` to `O`.
///
/// The graph is computed once, when the workflow is built.
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
///
/// #[step]
/// fn shout(s: String) -> String { s.to_uppercase() }
///
/// let wf = Workflow::new("shout", 2, shout);
/// assert_eq!((wf.name(), wf.version()), ("shout", 2));
/// assert_eq!(wf.graph().nodes().len(), 1);
/// ```
pub struct Workflow<I, O> {
    name: Cow<'static, str>,
    version: u32,
    root: BoxStep<I, O>,
    graph: Arc<Graph>,
    /// The graph as JSON and its fingerprint, computed once.
    shape: Arc<(String, String)>,
    codec: Option<Arc<dyn Codec>>,
}

impl<I, O> Clone for Workflow<I, O> {
    fn clone(&self) -> Self {
        Workflow {
            name: self.name.clone(),
            version: self.version,
            root: self.root.clone(),
            graph: Arc::clone(&self.graph),
            shape: Arc::clone(&self.shape),
            codec: self.codec.clone(),
        }
    }
}

impl<I: Payload, O: Payload> Workflow<I, O> {
    /// A workflow named `name` at `version`, running `root`.
    ///
    /// # Panics
    ///
    /// When a name in the workflow breaks the rule of [`check_name`], or a state's
    /// settings are invalid, with the message of the [`WorkflowError`] that
    /// [`try_new`](Self::try_new) returns. Names are
    /// usually literals in the code, so a bad one is a bug found the first time the
    /// workflow is built, as with an invalid regex literal; use `try_new` for names that
    /// come from elsewhere.
    ///
    /// ```should_panic
    /// use waypost::prelude::*;
    ///
    /// // panics: "invalid step name \"a\\0b\" at `0.a\\u{0}b`: it holds U+0000, a control character, …"
    /// let _workflow = Workflow::new("orders", 1, pass("a\0b", |x: u32| x));
    /// ```
    #[track_caller]
    pub fn new<S>(name: impl Into<Cow<'static, str>>, version: u32, root: S) -> Self
    where
        S: Step<Input = I, Output = O>,
    {
        match Self::try_new(name, version, root) {
            Ok(workflow) => workflow,
            Err(error) => panic!("{error}"),
        }
    }

    /// A workflow named `name` at `version`, running `root`, or why it cannot be one.
    ///
    /// # Errors
    ///
    /// [`WorkflowError::InvalidName`] when the workflow's name or a name in its graph
    /// (a step name, a choice label, an error name of a fail state, retry policy or
    /// catch) breaks the rule of [`check_name`]: the first such name in flow order.
    ///
    /// [`WorkflowError::InvalidSettings`] when a state's settings are invalid: a
    /// concurrency limit of 0 on a map or parallel, a tolerated failure percentage over
    /// 100, negative or not a number, a min successful of 0 or over the branches of a
    /// parallel (see [`completion`](crate::completion)). [`new`](Self::new) panics with
    /// the same message:
    ///
    /// ```
    /// use waypost::prelude::*;
    ///
    /// #[step]
    /// async fn ping(x: u32) -> u32 { x }
    ///
    /// let error = Workflow::try_new("pings", 1, map(ping).max_concurrency(0)).unwrap_err();
    /// assert_eq!(
    ///     error.to_string(),
    ///     "invalid settings of state \"map\" at `0.map`: max concurrency is 0; it must be \
    ///      at least 1 (leave it out for no limit)"
    /// );
    /// ```
    ///
    /// # Examples
    ///
    /// ```
    /// use waypost::prelude::*;
    ///
    /// let label = "express\u{202e}"; // e.g. read from a configuration file
    /// let route = choice()
    ///     .when(label, |x: &u32| *x > 10, pass("fast", |x: u32| x))
    ///     .otherwise(pass("slow", |x: u32| x));
    /// let error = Workflow::try_new("route", 1, route).unwrap_err();
    /// assert!(error.to_string().starts_with(
    ///     "invalid choice label \"express\\u{202e}\" of the choice at `0.choice`: it holds \
    ///      U+202E, a bidirectional formatting character, at byte 7"
    /// ));
    /// ```
    pub fn try_new<S>(
        name: impl Into<Cow<'static, str>>,
        version: u32,
        root: S,
    ) -> Result<Self, WorkflowError>
    where
        S: Step<Input = I, Output = O>,
    {
        let name = name.into();
        let graph = Graph::of(&root);
        names::check_workflow(&name, &graph)?;
        let json = serde_json::to_string(&graph).expect("a graph serializes to JSON");
        let fingerprint = blake3::hash(json.as_bytes()).to_hex()[..16].to_owned();
        Ok(Workflow {
            name,
            version,
            root: BoxStep::new(root),
            graph: Arc::new(graph),
            shape: Arc::new((json, fingerprint)),
            codec: None,
        })
    }

    /// Stores this workflow's payloads with `codec` instead of the runtime's default
    /// (bincode), such as `waypost::JsonCodec` for checkpoints people read.
    #[must_use]
    pub fn with_codec(mut self, codec: impl Codec) -> Self {
        self.codec = Some(Arc::new(codec));
        self
    }
}

impl<I, O> Workflow<I, O> {
    /// The fingerprint of the workflow's structure: the first 16 hex digits of the
    /// BLAKE3 hash of its graph as JSON. Resuming an execution with a workflow of
    /// another fingerprint is refused.
    pub fn fingerprint(&self) -> &str {
        &self.shape.1
    }

    /// The workflow's graph as JSON, as stores keep it for tools without the code.
    pub fn graph_json(&self) -> &str {
        &self.shape.0
    }

    /// The codec chosen with [`with_codec`](Self::with_codec), if any.
    pub fn codec(&self) -> Option<&Arc<dyn Codec>> {
        self.codec.as_ref()
    }

    /// The workflow's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The workflow's version, as given by its author.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The root step.
    pub fn root(&self) -> &BoxStep<I, O> {
        &self.root
    }

    /// The states and flow of the workflow.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }
}

impl<I, O> fmt::Debug for Workflow<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Workflow")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("root", &self.root)
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}
