//! The one error type a step returns, and the names that retry and catch match.
//!
//! An [`Error`] has a *name* (what [`RetryPolicy`](crate::retry::RetryPolicy) and
//! [`StepExt::catch`](crate::StepExt::catch) match, like `ErrorEquals` in Amazon States
//! Language), a message, a [`ErrorKind`], and an optional cause chain. It is serializable,
//! so a failed execution keeps its error in the store.
//!
//! Any `std::error::Error` converts into an [`Error`] (`?` works in steps), named by
//! the rule on [`Error`]: `Io.NotFound` for an I/O error, `serde_json::Error` for
//! another type. A type that wants another name per variant implements [`NamedError`];
//! the `#[step]` macro then uses that name.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::io;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Error names built into waypost, in the Amazon States Language namespace.
pub mod names {
    /// Matches every error in a retry or catch (except terminal errors in a retry).
    pub const ALL: &str = "States.ALL";
    /// A step or execution ran past its timeout.
    pub const TIMEOUT: &str = "States.Timeout";
    /// Matches every error except a timeout.
    pub const TASK_FAILED: &str = "States.TaskFailed";
    /// A step or callback that did not report a heartbeat in time.
    pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
    /// A step panicked.
    pub const PANIC: &str = "States.Panic";
    /// A choice had no matching rule and no `otherwise` branch.
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    /// A map failed more items than it tolerates.
    pub const EXCEED_TOLERATED_FAILURE: &str = "States.ExceedToleratedFailureThreshold";
    /// The execution was cancelled.
    pub const CANCELLED: &str = "States.Cancelled";
    /// The runtime failed (store, codec, ...), not the step.
    pub const RUNTIME: &str = "States.Runtime";
    /// A payload is larger than the configured limit.
    pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
    /// A value cannot be stored: its codec cannot write it so that it reads back (a
    /// non-finite float in JSON, a type whose `Deserialize` refuses what its
    /// `Serialize` wrote). The step that returned it fails; nothing is stored.
    pub const DATA_ENCODING_FAILED: &str = "States.DataEncodingFailed";
    /// An execution was taken over after a crash more often than the runtime allows
    /// (`RuntimeConfig::max_recoveries`): it is parked as failed instead of crashing the
    /// process again. Redriving it resets the count.
    pub const RECOVERY_LIMIT_EXCEEDED: &str = "States.RecoveryLimitExceeded";
    /// An at-most-once step was interrupted after it started (a crash) and before its
    /// result was recorded, so it was not run again.
    pub const STEP_INTERRUPTED: &str = "States.StepInterrupted";
    /// A [`wait_for_condition`](crate::condition::wait_for_condition) state made as many
    /// polls as its wait strategy allows and its check never said done; the message
    /// says how many polls ran.
    pub const CONDITION_NOT_MET: &str = "States.ConditionNotMet";
}

/// What kind of failure an [`Error`] stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A step returned an error.
    Task,
    /// A step or execution ran past its timeout.
    Timeout,
    /// A step panicked.
    Panic,
    /// A `fail` state ended the branch.
    Fail,
    /// The execution was cancelled.
    Cancelled,
    /// The runtime itself failed: store, codec, or bookkeeping.
    Runtime,
}

/// The error of a step, a combinator or an execution.
///
/// # Names
///
/// Retry policies and `catch` match an error by its name, exactly (plus
/// [`names::ALL`] and [`names::TASK_FAILED`], as in Amazon States Language: a name is
/// never matched by a prefix). Names come from one of:
///
/// - [`Error::new`] and [`Error::terminal`]: the name given (`"PaymentDeclined"`);
/// - a type implementing [`NamedError`]: the name it chooses, per value;
/// - `std::io::Error`: `Io.` and its [`kind`](std::io::Error::kind) (`Io.NotFound`,
///   `Io.PermissionDenied`, `Io.TimedOut`, …; also in a `Box` or an `Arc`), since the
///   kind is what tells I/O failures apart;
/// - any other `std::error::Error` (converted by `?` or [`Error::from_std`]): its
///   crate's name and its type's name, joined by `::` — `serde_json::Error`,
///   `csv::Error`, `my_app::OrderError` — with the standard library's types under `std`
///   (`std::ParseIntError`, `std::Utf8Error`). Generic parameters are left out, and a
///   `Box` or `Arc` around an error is seen through (`Box<csv::Error>` is `csv::Error`).
///   The two segments tell apart the many types called `Error`; modules are left out
///   because they are often private (`serde_json::error::Error` is `serde_json::Error`
///   to its users). Two types of one name in different modules of one crate share a
///   name: give them their own with [`NamedError`], which is also the way to a name
///   that no refactoring of the type can change.
/// - waypost itself: `States.*` (see [`names`]) and `Store.*`.
///
/// An error's causes ([`source`](Self::source)) come from the `source()` chain of the
/// error it was converted from, each named `Cause`.
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
///
/// let err = Error::new("PaymentDeclined", "card ending 4242 was declined");
/// assert_eq!(err.name(), "PaymentDeclined");
/// assert!(err.matches("PaymentDeclined"));
/// assert!(err.matches(waypost::error::names::ALL));
/// assert!(!err.is_terminal());
///
/// let missing = std::fs::read("/no/such/file").map_err(Error::from).unwrap_err();
/// assert_eq!(missing.name(), "Io.NotFound");
/// let not_a_number: Error = "x".parse::<u32>().unwrap_err().into();
/// assert_eq!(not_a_number.name(), "std::ParseIntError");
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Error {
    name: Cow<'static, str>,
    message: String,
    kind: ErrorKind,
    terminal: bool,
    // No `skip_serializing_if`: errors are stored with non-self-describing codecs
    // (bincode), which need every field present.
    address: Option<String>,
    #[serde(deserialize_with = "cause::deserialize")]
    cause: Option<Box<Error>>,
    /// A hint from the failed call of how long to wait before the next attempt (an HTTP
    /// `Retry-After`). Not stored: the retry records the deadline it computed from it,
    /// so a resumed execution needs the hint no more, and stored errors keep their
    /// format. Kept as milliseconds + 1 (so that 0 ms fits a `NonZeroU32`, and the
    /// field fits in the padding after `kind` and `terminal`: every `Result` carrying
    /// an `Error` stays as small as it was).
    #[serde(skip)]
    retry_after: Option<NonZeroU32>,
}

/// Decoding a cause chain from bytes that may be damaged: bounded depth (no stack
/// overflow on a deep chain) and bounded error messages. Codecs such as bincode quote
/// the message of the failure below at every level, which doubles its backslashes: a
/// chain cut short 100 levels down would build a message of 2^100 bytes. So the
/// deepest failure's message is kept once and handed up unchanged.
mod cause {
    use std::cell::{Cell, RefCell};

    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer};

    use super::Error;

    /// The deepest cause chain that decodes; far beyond what a workflow builds.
    const MAX_DEPTH: u32 = 64;
    /// The longest failure message kept, in bytes.
    const MAX_MESSAGE: usize = 512;

    thread_local! {
        static DEPTH: Cell<u32> = const { Cell::new(0) };
        /// The message of the failure at the deepest level, while it travels up.
        static FAILURE: RefCell<Option<String>> = const { RefCell::new(None) };
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Box<Error>>, D::Error> {
        let depth = DEPTH.get();
        let cause = if depth >= MAX_DEPTH {
            Err(D::Error::custom(format!(
                "error cause chain deeper than {MAX_DEPTH}"
            )))
        } else {
            DEPTH.set(depth + 1);
            let cause = Option::<Box<Error>>::deserialize(deserializer);
            DEPTH.set(depth);
            cause
        };
        cause.map_err(|error| {
            let message = FAILURE.with_borrow_mut(|failure| {
                failure
                    .get_or_insert_with(|| truncated(error.to_string()))
                    .clone()
            });
            // The outermost cause: the failure leaves the chain here.
            if depth == 0 {
                FAILURE.take();
            }
            D::Error::custom(message)
        })
    }

    fn truncated(mut message: String) -> String {
        if message.len() > MAX_MESSAGE {
            let mut end = MAX_MESSAGE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        message
    }
}

impl Error {
    /// A task error with a name (matched by retry and catch) and a message.
    pub fn new(name: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::with_kind(ErrorKind::Task, name, message)
    }

    /// An error of the given kind.
    pub fn with_kind(
        kind: ErrorKind,
        name: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Error {
            name: name.into(),
            message: message.into(),
            kind,
            terminal: false,
            address: None,
            cause: None,
            retry_after: None,
        }
    }

    /// A terminal error: retry policies skip it, `catch` still sees it.
    pub fn terminal(name: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(name, message).into_terminal()
    }

    /// A timeout error.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::with_kind(ErrorKind::Timeout, names::TIMEOUT, message)
    }

    /// A runtime error (store, codec, bookkeeping). Terminal: retrying the step cannot help.
    pub fn runtime(message: impl Into<String>) -> Self {
        Self::with_kind(ErrorKind::Runtime, names::RUNTIME, message).into_terminal()
    }

    /// Turns a caught panic payload into an error naming the step and where it ran.
    pub fn from_panic(step: &str, address: &str, payload: &(dyn std::any::Any + Send)) -> Self {
        let text = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "a non-string payload".to_owned()
        };
        let message = format!("step `{step}` at `{address}` panicked with message {text:?}");
        Self::with_kind(ErrorKind::Panic, names::PANIC, message).at(address)
    }

    /// Wraps any `std::error::Error`, keeping its `source()` chain as causes. It is
    /// named by the rule under [Names](Error#names): `Io.NotFound` for an I/O error,
    /// `std::ParseIntError`, `serde_json::Error`.
    ///
    /// # Examples
    ///
    /// ```
    /// use waypost::prelude::*;
    ///
    /// let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
    /// assert_eq!(Error::from_std(denied).name(), "Io.PermissionDenied");
    /// let bad_json = serde_json::from_str::<u32>("{").unwrap_err();
    /// assert_eq!(Error::from_std(bad_json).name(), "serde_json::Error");
    /// ```
    pub fn from_std<E>(err: E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        Self::from_std_named(foreign_name(&err), &err)
    }

    fn from_std_named(name: impl Into<Cow<'static, str>>, err: &dyn std::error::Error) -> Self {
        let mut error = Error::new(name, err.to_string());
        error.cause = err
            .source()
            .map(|s| Box::new(Error::from_std_named("Cause", s)));
        error
    }

    /// Marks this error terminal: retry policies skip it.
    #[must_use]
    pub fn into_terminal(mut self) -> Self {
        self.terminal = true;
        self
    }

    /// Adds a cause.
    #[must_use]
    pub fn caused_by(mut self, cause: Error) -> Self {
        self.cause = Some(Box::new(cause));
        self
    }

    /// Asks the enclosing [`retry`](crate::StepExt::retry) to wait `delay` before the
    /// next attempt, instead of the delay its policy computes: the way a step hands on
    /// a server's `Retry-After`. The policy still decides *whether* to retry, and its
    /// [`max_delay`](crate::retry::RetryPolicy::delay_after), when set, caps the hint;
    /// no jitter is added to it. It is kept in whole milliseconds, up to about 49 days.
    /// The hint is not stored with the error: the retry
    /// records the deadline it computed, which is what a resumed execution waits for.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use waypost::prelude::*;
    ///
    /// let busy = Error::new("Http.429", "too many requests")
    ///     .with_retry_after(Duration::from_secs(2));
    /// assert_eq!(busy.retry_after(), Some(Duration::from_secs(2)));
    /// let policy = RetryPolicy::builder().errors(["Http.429"]).build();
    /// assert_eq!(policy.delay_for(&busy, 1), Duration::from_secs(2));
    /// ```
    #[must_use]
    pub fn with_retry_after(mut self, delay: Duration) -> Self {
        let millis = u32::try_from(delay.as_millis()).unwrap_or(u32::MAX - 1);
        self.retry_after = NonZeroU32::new(millis.min(u32::MAX - 1) + 1);
        self
    }

    /// The delay before the next attempt that the failed call asked for, if any (see
    /// [`with_retry_after`](Self::with_retry_after)).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
            .map(|stored| Duration::from_millis(u64::from(stored.get() - 1)))
    }

    /// Records the address where the error happened, if none is recorded yet.
    #[must_use]
    pub fn at(mut self, address: &str) -> Self {
        if self.address.is_none() {
            self.address = Some(address.to_owned());
        }
        self
    }

    /// The name retry and catch match, such as `"PaymentDeclined"` or `"States.Timeout"`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The address of the step that failed, when known.
    pub fn address(&self) -> Option<&str> {
        self.address.as_deref()
    }

    /// The error that caused this one.
    pub fn source(&self) -> Option<&Error> {
        self.cause.as_deref()
    }

    /// Whether retry policies skip this error.
    pub fn is_terminal(&self) -> bool {
        self.terminal
    }

    /// Whether this is a timeout.
    pub fn is_timeout(&self) -> bool {
        self.kind == ErrorKind::Timeout
    }

    /// Whether a step panicked.
    pub fn is_panic(&self) -> bool {
        self.kind == ErrorKind::Panic
    }

    /// Whether an `ErrorEquals`-style name matches this error: the exact name,
    /// [`names::ALL`], or [`names::TASK_FAILED`] for anything but a timeout.
    /// Runtime errors match only their own name.
    pub fn matches(&self, name: &str) -> bool {
        if name == self.name {
            return true;
        }
        if self.kind == ErrorKind::Runtime {
            return false;
        }
        match name {
            names::ALL => true,
            names::TASK_FAILED => self.kind != ErrorKind::Timeout,
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.message)?;
        if let Some(cause) = &self.cause {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("name", &self.name)
            .field("message", &self.message)
            .field("kind", &self.kind);
        if self.terminal {
            d.field("terminal", &true);
        }
        if let Some(address) = &self.address {
            d.field("address", address);
        }
        if let Some(cause) = &self.cause {
            d.field("cause", cause);
        }
        if let Some(retry_after) = self.retry_after() {
            d.field("retry_after", &retry_after);
        }
        d.finish()
    }
}

// `Error` deliberately does not implement `std::error::Error`: that is what lets every
// `std::error::Error` convert into it with `?` (as `anyhow::Error` does).
impl<E> From<E> for Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn from(err: E) -> Self {
        Error::from_std(err)
    }
}

/// A user error type that chooses the name retry and catch match, per value.
///
/// `#[step]` functions returning `Result<T, E>` with `E: NamedError` keep this name.
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
///
/// #[derive(Debug)]
/// enum PaymentError { Declined, Transient }
///
/// impl std::fmt::Display for PaymentError {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str(match self { Self::Declined => "card declined", Self::Transient => "gateway busy" })
///     }
/// }
/// impl std::error::Error for PaymentError {}
///
/// impl NamedError for PaymentError {
///     fn error_name(&self) -> &'static str {
///         match self { Self::Declined => "PaymentDeclined", Self::Transient => "Transient" }
///     }
/// }
///
/// let err = PaymentError::Declined.into_named_error();
/// assert_eq!(err.name(), "PaymentDeclined");
/// assert_eq!(err.message(), "card declined");
/// assert_eq!(PaymentError::Transient.into_named_error().name(), "Transient");
/// ```
pub trait NamedError: std::error::Error + Send + Sync + 'static {
    /// The name retry and catch match.
    fn error_name(&self) -> &'static str;

    /// Converts into an [`Error`] with [`error_name`](Self::error_name) as its name.
    fn into_named_error(self) -> Error
    where
        Self: Sized,
    {
        Error::from_std_named(self.error_name(), &self)
    }
}

/// The name of a foreign error (see [Names](Error#names)): `Io.<kind>` for an I/O
/// error, else [`type_path_name`].
fn foreign_name<E: std::error::Error + 'static>(err: &E) -> Cow<'static, str> {
    let any = err as &dyn Any;
    let io = any
        .downcast_ref::<io::Error>()
        .or_else(|| any.downcast_ref::<Box<io::Error>>().map(|e| &**e))
        .or_else(|| any.downcast_ref::<Arc<io::Error>>().map(|e| &**e));
    Cow::Owned(match io {
        Some(io) => format!("Io.{:?}", io.kind()),
        None => type_path_name(std::any::type_name::<E>()),
    })
}

/// A type's crate and name from its [`type_name`](std::any::type_name):
/// `serde_json::error::Error` -> `serde_json::Error`, `core::num::error::ParseIntError`
/// -> `std::ParseIntError`, `alloc::boxed::Box<csv::Error>` -> `csv::Error`,
/// `my_app::Wrapper<u32>` -> `my_app::Wrapper`.
fn type_path_name(mut full: &str) -> String {
    // A pointer to an error is that error, to whoever matches its name.
    while let Some(inner) = ["alloc::boxed::Box<", "alloc::sync::Arc<"]
        .iter()
        .find_map(|pointer| full.strip_prefix(pointer)?.strip_suffix('>'))
    {
        full = inner;
    }
    let path = full.split('<').next().unwrap_or(full);
    let name = path.rsplit("::").next().unwrap_or(path);
    match path.split("::").next() {
        // `std` re-exports what `core` and `alloc` define: users know them as `std`.
        Some("core" | "alloc" | "std") => format!("std::{name}"),
        Some(krate) if krate != name => format!("{krate}::{name}"),
        _ => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_errors_are_named_after_their_crate_and_type() {
        let err: Error = "x".parse::<u32>().unwrap_err().into();
        assert_eq!(err.name(), "std::ParseIntError");
        assert_eq!(err.message(), "invalid digit found in string");
        assert_eq!(err.kind(), ErrorKind::Task);
        let utf8: Error = String::from_utf8(vec![0xff]).unwrap_err().into();
        assert_eq!(utf8.name(), "std::FromUtf8Error");
        let json: Error = serde_json::from_str::<u32>("x").unwrap_err().into();
        assert_eq!(json.name(), "serde_json::Error");
    }

    #[test]
    fn io_errors_are_named_after_their_kind() {
        let names = [
            (io::ErrorKind::NotFound, "Io.NotFound"),
            (io::ErrorKind::PermissionDenied, "Io.PermissionDenied"),
            (io::ErrorKind::TimedOut, "Io.TimedOut"),
            (io::ErrorKind::UnexpectedEof, "Io.UnexpectedEof"),
        ];
        for (kind, name) in names {
            let err = Error::from(io::Error::new(kind, "x"));
            assert_eq!(err.name(), name);
            assert!(err.matches(name) && !err.matches("Io") && !err.matches("std::Error"));
        }
        // Behind a pointer, too.
        let boxed = Error::from(Box::new(io::Error::from(io::ErrorKind::NotFound)));
        assert_eq!(boxed.name(), "Io.NotFound");
        let shared = Error::from(Arc::new(io::Error::from(io::ErrorKind::TimedOut)));
        assert_eq!(shared.name(), "Io.TimedOut");
    }

    #[test]
    fn type_path_names_keep_the_crate_and_the_type() {
        let cases = [
            ("serde_json::error::Error", "serde_json::Error"),
            ("csv::error::Error", "csv::Error"),
            ("core::num::error::ParseIntError", "std::ParseIntError"),
            ("alloc::string::FromUtf8Error", "std::FromUtf8Error"),
            ("std::io::error::Error", "std::Error"),
            ("my_app::orders::OrderError", "my_app::OrderError"),
            ("my_app::Wrapper<alloc::string::String>", "my_app::Wrapper"),
            ("alloc::boxed::Box<csv::error::Error>", "csv::Error"),
            (
                "alloc::sync::Arc<alloc::boxed::Box<my_app::orders::OrderError>>",
                "my_app::OrderError",
            ),
            ("Local", "Local"),
        ];
        for (type_name, name) in cases {
            assert_eq!(type_path_name(type_name), name, "{type_name}");
        }
    }

    #[test]
    fn builtin_names_match_like_asl() {
        let task = Error::new("Boom", "x");
        let timeout = Error::timeout("slow");
        let runtime = Error::runtime("disk");
        assert!(task.matches(names::ALL) && task.matches(names::TASK_FAILED));
        assert!(timeout.matches(names::ALL) && !timeout.matches(names::TASK_FAILED));
        assert!(!runtime.matches(names::ALL) && runtime.matches(names::RUNTIME));
        assert!(!task.matches("Other"));
    }

    #[test]
    fn panic_payloads_become_messages() {
        let payload: Box<dyn std::any::Any + Send> = Box::new("oops");
        let err = Error::from_panic("charge", "2.charge", payload.as_ref());
        assert!(err.is_panic());
        assert_eq!(err.name(), names::PANIC);
        assert_eq!(
            err.message(),
            "step `charge` at `2.charge` panicked with message \"oops\""
        );
        assert_eq!(err.address(), Some("2.charge"));
    }

    #[test]
    fn errors_round_trip_through_serde() {
        let err = Error::new("A", "outer")
            .caused_by(Error::timeout("inner"))
            .at("1.x");
        let json = serde_json::to_string(&err).unwrap();
        let back: Error = serde_json::from_str(&json).unwrap();
        assert_eq!(back, err);
        assert_eq!(back.to_string(), "A: outer: States.Timeout: inner");
    }

    #[test]
    fn a_retry_hint_is_kept_in_memory_and_not_stored() {
        let err = Error::new("Http.429", "slow down").with_retry_after(Duration::from_secs(3));
        assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
        let plain = Error::new("Http.429", "slow down");
        // The stored form is the same with or without a hint.
        assert_eq!(
            serde_json::to_string(&err).unwrap(),
            serde_json::to_string(&plain).unwrap()
        );
        let back: Error = serde_json::from_str(&serde_json::to_string(&err).unwrap()).unwrap();
        assert_eq!(back.retry_after(), None);
        let now = Error::new("Http.503", "x").with_retry_after(Duration::ZERO);
        assert_eq!(now.retry_after(), Some(Duration::ZERO));
        // The hint costs no room: results carrying errors stay as small as they were.
        assert_eq!(std::mem::size_of::<Error>(), 88);
    }
}
