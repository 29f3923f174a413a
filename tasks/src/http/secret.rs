//! [`Secret`]: a header value that never reaches a history, a console or a log.

use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};

/// What a [`Secret`] prints as, in `Debug`, `Display` and `Serialize`.
pub const REDACTED: &str = "[redacted]";

/// A secret value, such as an API token, for a header of an [`HttpStep`](super::HttpStep).
///
/// It lives in the step's configuration ([`HttpConfig::secret_headers`](super::HttpConfig)),
/// never in its input, so it is not in any checkpoint; `Debug`, `Display` and
/// `Serialize` print `[redacted]`, so it is not in a log, an error or an event either.
/// The request marks the header sensitive, too. Only [`expose`](Self::expose) gives the
/// value. It has no `Deserialize`: a secret is never read back from stored data.
///
/// # Examples
///
/// ```
/// use waypost::tasks::Secret;
///
/// let token = Secret::new("sk_live_123");
/// assert_eq!(format!("{token:?} {token}"), "[redacted] [redacted]");
/// assert_eq!(serde_json::to_string(&token).unwrap(), "\"[redacted]\"");
/// assert_eq!(token.expose(), "sk_live_123");
/// assert!(Secret::from_env("WAYPOST_NO_SUCH_VARIABLE").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

/// A [`Secret`] could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The environment variable is not set, or not valid Unicode.
    #[error("environment variable `{name}` holding a secret is not set or not unicode")]
    MissingVariable {
        /// The variable's name.
        name: String,
    },
}

impl Secret {
    /// A secret with this value.
    pub fn new(value: impl Into<Arc<str>>) -> Self {
        Secret(value.into())
    }

    /// The value of the environment variable `name`.
    ///
    /// # Errors
    ///
    /// [`SecretError::MissingVariable`] when it is not set or not valid Unicode.
    pub fn from_env(name: &str) -> Result<Self, SecretError> {
        std::env::var(name)
            .map(Secret::new)
            .map_err(|_| SecretError::MissingVariable {
                name: name.to_owned(),
            })
    }

    /// The secret value itself: for the request, nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}
