//! Choice: ordered rules pick one branch, like the ASL `Choice` state.
//!
//! Rules are tried in the order they were added; the first whose predicate holds runs
//! its branch. With no match, the `otherwise` branch runs (ASL's `Default`), or the
//! choice fails with `States.NoChoiceMatched`. Every branch takes the choice's input
//! and returns the same output type, so the compiler checks all branches at once.
//!
//! # Examples
//!
//! ```
//! use waypost::prelude::*;
//!
//! #[step]
//! fn express(weight: u32) -> String { format!("express, {weight} kg") }
//! #[step]
//! fn freight(weight: u32) -> String { format!("freight, {weight} kg") }
//! #[step]
//! fn standard(weight: u32) -> String { format!("standard, {weight} kg") }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let shipping = choice()
//!     .when("light", |kg: &u32| *kg < 5, express)
//!     .when("heavy", |kg: &u32| *kg > 100, freight)
//!     .otherwise(standard);
//!
//! let wf = Workflow::new("shipping", 1, shipping);
//! let runtime = Runtime::new();
//! assert_eq!(runtime.run(&wf, 2).await.unwrap(), "express, 2 kg");
//! assert_eq!(runtime.run(&wf, 500).await.unwrap(), "freight, 500 kg");
//! assert_eq!(runtime.run(&wf, 20).await.unwrap(), "standard, 20 kg");
//! # }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::boxed::BoxStep;
use crate::context::Context;
use crate::error::{Error, names};
use crate::graph::{Describe, NodeKind};
use crate::history::{EventDetails, EventKind};
use crate::replay::Entry;
use crate::step::{Payload, Step};
use crate::store::CheckpointKind;

/// The label of the `otherwise` branch in addresses and graphs.
pub const OTHERWISE: &str = "otherwise";

type Predicate<I> = Box<dyn Fn(&I) -> bool + Send + Sync>;

/// A branch picked by a choice: its label and its step.
type Picked<'a, I, O> = (&'a str, &'a BoxStep<I, O>);

struct Rule<I, O> {
    label: String,
    predicate: Predicate<I>,
    branch: BoxStep<I, O>,
}

/// Starts a choice; add rules with [`ChoiceStart::when`].
pub fn choice() -> ChoiceStart {
    ChoiceStart {
        name: Cow::Borrowed("choice"),
    }
}

/// A choice with no rules yet; returned by [`choice`].
#[derive(Debug)]
#[must_use = "a choice needs at least one rule"]
pub struct ChoiceStart {
    name: Cow<'static, str>,
}

impl ChoiceStart {
    /// Names the choice state (default `"choice"`).
    pub fn named(self, name: impl Into<Cow<'static, str>>) -> Self {
        ChoiceStart { name: name.into() }
    }

    /// The first rule: when `predicate` holds for the input, run `branch`. Its input and
    /// output types become the choice's.
    pub fn when<S, P>(
        self,
        label: impl Into<String>,
        predicate: P,
        branch: S,
    ) -> Choice<S::Input, S::Output>
    where
        S: Step,
        P: Fn(&S::Input) -> bool + Send + Sync + 'static,
    {
        Choice {
            name: self.name,
            rules: Vec::new(),
            otherwise: None,
        }
        .when(label, predicate, branch)
    }
}

/// Step returned by [`choice`] after its first rule.
#[must_use = "steps do nothing until a runtime runs them"]
pub struct Choice<I, O> {
    name: Cow<'static, str>,
    rules: Vec<Rule<I, O>>,
    otherwise: Option<BoxStep<I, O>>,
}

impl<I: Payload, O: Payload> Choice<I, O> {
    /// Names the choice state (default `"choice"`).
    pub fn named(self, name: impl Into<Cow<'static, str>>) -> Self {
        Choice {
            name: name.into(),
            ..self
        }
    }

    /// Adds a rule, tried after the rules before it.
    ///
    /// # Panics
    ///
    /// When `label` is already used in this choice, or is `"otherwise"`.
    pub fn when<S, P>(mut self, label: impl Into<String>, predicate: P, branch: S) -> Self
    where
        S: Step<Input = I, Output = O>,
        P: Fn(&I) -> bool + Send + Sync + 'static,
    {
        let label = label.into();
        assert!(
            label != OTHERWISE && self.rules.iter().all(|r| r.label != label),
            "choice `{}` already has a branch labelled `{label}`",
            self.name
        );
        self.rules.push(Rule {
            label,
            predicate: Box::new(predicate),
            branch: BoxStep::new(branch),
        });
        self
    }

    /// The branch that runs when no rule matches (ASL's `Default`).
    pub fn otherwise<S>(mut self, branch: S) -> Self
    where
        S: Step<Input = I, Output = O>,
    {
        self.otherwise = Some(BoxStep::new(branch));
        self
    }

    /// The branch a replayed decision names.
    fn recorded(
        &self,
        cx: &Context,
        key: &str,
        entry: &Entry,
    ) -> Result<(&str, &BoxStep<I, O>), Error> {
        let label = std::str::from_utf8(&entry.payload)
            .ok()
            .filter(|_| entry.kind == CheckpointKind::Decision);
        let branch = label.and_then(|label| {
            self.rules
                .iter()
                .find(|rule| rule.label == label)
                .map(|rule| (rule.label.as_str(), &rule.branch))
                .or_else(|| {
                    (label == OTHERWISE)
                        .then_some(())
                        .and(self.otherwise.as_ref())
                        .map(|b| (OTHERWISE, b))
                })
        });
        branch.ok_or_else(|| {
            Error::runtime(format!(
                "choice `{key}` of execution `{}` recorded branch {:?}, which this choice does not have; was the workflow changed?",
                cx.execution_id(),
                String::from_utf8_lossy(&entry.payload)
            ))
        })
    }

    /// [`pick`](Self::pick), with a panicking predicate turned into an error.
    fn guarded_pick(&self, cx: &Context, input: &I) -> Result<Option<Picked<'_, I, O>>, Error> {
        catch_unwind(AssertUnwindSafe(|| self.pick(input))).map_err(|payload| {
            Error::from_panic(
                &self.name,
                cx.address(&self.name).as_str(),
                payload.as_ref(),
            )
        })
    }

    /// The label and branch for `input`: the first matching rule, else `otherwise`.
    fn pick(&self, input: &I) -> Option<(&str, &BoxStep<I, O>)> {
        self.rules
            .iter()
            .find(|rule| (rule.predicate)(input))
            .map(|rule| (rule.label.as_str(), &rule.branch))
            .or_else(|| self.otherwise.as_ref().map(|b| (OTHERWISE, b)))
    }
}

impl<I: Payload, O: Payload> Step for Choice<I, O> {
    type Input = I;
    type Output = O;

    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, cx: &Context, input: I) -> Result<O, Error> {
        let address = cx.address(&self.name);
        let picked = match cx.recorder() {
            None => self.guarded_pick(cx, &input)?,
            // Durable: the branch taken is recorded, so a resumed execution takes the
            // same branch even if the rules would now pick another.
            Some(recorder) => {
                let key = cx.key(&self.name);
                match recorder.replay(&key) {
                    Some(entry) => Some(self.recorded(cx, &key, &entry)?),
                    None => {
                        let picked = self.guarded_pick(cx, &input)?;
                        if let Some((label, _)) = picked {
                            let record = (key, CheckpointKind::Decision, label.as_bytes().to_vec());
                            recorder.record(vec![record]).await?;
                        }
                        picked
                    }
                }
            }
        };
        let Some((label, branch)) = picked else {
            let labels: Vec<_> = self.rules.iter().map(|r| r.label.as_str()).collect();
            return Err(Error::new(
                names::NO_CHOICE_MATCHED,
                format!(
                    "no rule of choice `{}` matched (tried {}) and it has no `otherwise` branch",
                    self.name,
                    labels.join(", ")
                ),
            )
            .at(address.as_str()));
        };
        cx.emit(
            EventKind::BranchChosen,
            address.as_str(),
            None,
            EventDetails {
                branch: Some(label.to_owned()),
                ..EventDetails::default()
            },
        );
        branch.run(&cx.nested(address.branch(label)), input).await
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        graph.container(NodeKind::Choice, &self.name, |branches| {
            for rule in &self.rules {
                branches.branch(&rule.label, &rule.branch);
            }
            if let Some(otherwise) = &self.otherwise {
                branches.branch(OTHERWISE, otherwise);
            }
        });
    }
}

impl<I, O> fmt::Debug for Choice<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Choice")
            .field("name", &self.name)
            .field(
                "rules",
                &self.rules.iter().map(|r| &r.label).collect::<Vec<_>>(),
            )
            .field("otherwise", &self.otherwise)
            .finish()
    }
}
