//! [`CallbackToken`]: what a callback state hands out, and whoever completes it sends back.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// Error names of callback senders, matched like any other [`Error`] name.
pub mod names {
    /// The text is not a waypost callback token (cut, mistyped, or from elsewhere).
    pub const INVALID_TOKEN: &str = "Callback.InvalidToken";
    /// The token names no callback state waiting in this store: the execution does
    /// not exist here, its state issued no token, or the secret is not the one issued.
    pub const UNKNOWN_TOKEN: &str = "Callback.UnknownToken";
    /// The callback state already has its result (or one is on its way): a token
    /// completes its state once.
    pub const ALREADY_COMPLETED: &str = "Callback.AlreadyCompleted";
    /// The execution of the token has ended (succeeded, failed or was cancelled).
    pub const EXECUTION_ENDED: &str = "Callback.ExecutionEnded";
}

/// The format's tag, first in every token.
const TAG: &str = "wpt1";

/// A callback state's token: names its execution and state, and holds a secret of 128
/// random bits drawn from the operating system, so that it cannot be guessed.
///
/// It is text (`wpt1.…`, about 100 characters; serialized as that string) to send by
/// mail, a queue or an HTTP call; whoever holds it completes the state with
/// `Runtime::send_task_success` (or `send_task_failure`, `send_task_heartbeat`, or the
/// CLI's `waypost callback`). Whoever can read the store can read tokens too.
///
/// ```
/// use waypost::callback::CallbackToken;
///
/// let text = "wpt1.000102030405060708090a0b0c0d0e0f.6f726465722d31.302e617070726f7665";
/// let token: CallbackToken = text.parse().unwrap();
/// assert_eq!((token.execution_id(), token.key()), ("order-1", "0.approve"));
/// assert_eq!(token.to_string(), text);
/// assert!("wpt1.nonsense".parse::<CallbackToken>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CallbackToken {
    execution: String,
    key: String,
    secret: [u8; 16],
}

impl CallbackToken {
    /// A new token for the state at `key` of `execution`, with a fresh secret.
    pub(crate) fn issue(execution: &str, key: &str) -> Result<Self, Error> {
        let mut secret = [0u8; 16];
        getrandom::fill(&mut secret).map_err(|e| {
            Error::runtime(format!(
                "no random bytes from the operating system for the callback token of `{key}` \
                 in execution `{execution}`: {e}"
            ))
        })?;
        Ok(CallbackToken {
            execution: execution.to_owned(),
            key: key.to_owned(),
            secret,
        })
    }

    /// The token of `key` in `execution` with this `secret` (read back from the store).
    pub(crate) fn with_secret(execution: &str, key: &str, secret: [u8; 16]) -> Self {
        CallbackToken {
            execution: execution.to_owned(),
            key: key.to_owned(),
            secret,
        }
    }

    /// The execution whose state waits for this token.
    pub fn execution_id(&self) -> &str {
        &self.execution
    }

    /// The checkpoint key of the state that waits (its address, with `#n` inside a
    /// retry).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The secret.
    pub(crate) fn secret(&self) -> &[u8; 16] {
        &self.secret
    }

    /// Whether `stored` is this token's secret, compared in constant time.
    pub(crate) fn matches(&self, stored: &[u8]) -> bool {
        stored.len() == self.secret.len()
            && stored
                .iter()
                .zip(&self.secret)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of lowercase or uppercase hex `text`.
fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

impl fmt::Display for CallbackToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{TAG}.{}.{}.{}",
            hex(&self.secret),
            hex(self.execution.as_bytes()),
            hex(self.key.as_bytes())
        )
    }
}

/// Shows where the token points, never its secret.
impl fmt::Debug for CallbackToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackToken")
            .field("execution", &self.execution)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl FromStr for CallbackToken {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        let invalid = |why: &str| {
            let shown: String = text.chars().take(24).collect();
            let more = if text.chars().count() > 24 { "…" } else { "" };
            Error::new(
                names::INVALID_TOKEN,
                format!(
                    "`{}{more}` is not a waypost callback token ({why}); a token reads \
                     `{TAG}.` followed by three hex fields",
                    shown.escape_debug()
                ),
            )
        };
        let mut parts = text.split('.');
        if parts.next() != Some(TAG) {
            return Err(invalid("it does not start with `wpt1.`"));
        }
        let (Some(secret), Some(execution), Some(key), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("it does not have four parts"));
        };
        let secret: [u8; 16] = unhex(secret)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| invalid("its secret is not 32 hex digits"))?;
        let field = |hex: &str, what: &str| {
            unhex(hex)
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .filter(|s| !s.is_empty())
                .ok_or_else(|| invalid(&format!("its {what} is not hex of UTF-8 text")))
        };
        Ok(CallbackToken {
            execution: field(execution, "execution id")?,
            key: field(key, "state key")?,
            secret,
        })
    }
}

impl Serialize for CallbackToken {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CallbackToken {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_reads_back_as_itself_and_its_debug_hides_the_secret() {
        let token = CallbackToken::issue("order-7 ✓.x", "1.route/big/0.approve#2").unwrap();
        let again: CallbackToken = token.to_string().parse().unwrap();
        assert_eq!(again, token);
        assert!(!format!("{token:?}").contains(&hex(token.secret())));
        let json = serde_json::to_string(&token).unwrap();
        assert_eq!(serde_json::from_str::<CallbackToken>(&json).unwrap(), token);
    }

    #[test]
    fn two_tokens_of_one_state_differ() {
        let a = CallbackToken::issue("e", "0.a").unwrap();
        let b = CallbackToken::issue("e", "0.a").unwrap();
        assert_ne!(a.secret, b.secret);
        assert!(a.matches(&a.secret) && !a.matches(&b.secret) && !a.matches(&[]));
    }

    #[test]
    fn malformed_tokens_say_what_is_wrong() {
        let good = CallbackToken::issue("e", "0.a").unwrap().to_string();
        for (text, why) in [
            ("", "does not start"),
            ("token", "does not start"),
            ("wpt1.00", "four parts"),
            (&good[..good.len() - 1], "state key"),
            (&good.replacen("wpt1.", "wpt1.zz", 1), "secret"),
            (&format!("{good}.00"), "four parts"),
        ] {
            let error = text.parse::<CallbackToken>().unwrap_err();
            assert_eq!(error.name(), names::INVALID_TOKEN);
            assert!(error.message().contains(why), "{text:?}: {error}");
        }
    }
}
