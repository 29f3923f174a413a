//! How payloads become bytes in checkpoints: the [`Codec`] trait.
//!
//! A codec is chosen per workflow, so the trait is dyn-compatible: values cross it as
//! `erased_serde` trait objects. [`encode`] and [`decode`] are the typed entry points.
//! The runtime ships bincode (the default), JSON and raw-bytes codecs. One state may
//! store its output with another codec than its workflow's: see [`per_state`].

mod depth;
pub mod per_state;

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Error;

/// Turns payloads into bytes and back.
///
/// Implementations must be deterministic (the same value gives the same bytes, so a
/// re-written checkpoint can be compared with the stored one) and must fail, not panic
/// nor allocate without bound, on bytes they did not write.
pub trait Codec: Send + Sync + fmt::Debug + 'static {
    /// A short stable name stored with each execution, such as `"bincode"` or `"json"`.
    fn name(&self) -> &'static str;

    /// Encodes `value`.
    ///
    /// # Errors
    ///
    /// When the value cannot be represented in this format.
    fn encode_erased(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>, String>;

    /// Decodes `bytes` by handing a deserializer over them to `visit`.
    ///
    /// # Errors
    ///
    /// When the bytes are not a valid encoding, or `visit` fails.
    fn decode_erased(
        &self,
        bytes: &[u8],
        visit: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<(), String>,
    ) -> Result<(), String>;
}

/// Encodes `value` with `codec`.
///
/// # Errors
///
/// A runtime error naming what failed to encode.
pub fn encode<T: Serialize>(codec: &dyn Codec, value: &T, what: &str) -> Result<Vec<u8>, Error> {
    codec
        .encode_erased(&depth::Limited { value, depth: 0 })
        .map_err(|e| Error::runtime(format!("cannot encode {what} with {}: {e}", codec.name())))
}

/// Encodes `value` with `codec` and checks that the bytes decode back, so that nothing
/// is stored that cannot be read again: JSON writes a non-finite float as `null`, which
/// no `f64` reads back; a type's `Deserialize` may refuse what its `Serialize` wrote.
/// The check decodes each payload once more (about as long as encoding it).
///
/// # Errors
///
/// A [`DATA_ENCODING_FAILED`](crate::error::names::DATA_ENCODING_FAILED) error (a task
/// error, which retry and catch match) naming `what` and why.
///
/// ```
/// use waypost::codec::encode_checked;
/// use waypost::JsonCodec;
///
/// assert!(encode_checked(&JsonCodec, &1.5_f64, "x").is_ok());
/// let error = encode_checked(&JsonCodec, &f64::NAN, "the output of step `f`").unwrap_err();
/// assert_eq!(error.name(), "States.DataEncodingFailed");
/// assert!(error.message().contains("the output of step `f`"));
/// ```
pub fn encode_checked<T: Serialize + DeserializeOwned>(
    codec: &dyn Codec,
    value: &T,
    what: &str,
) -> Result<Vec<u8>, Error> {
    let failed = |why: String| {
        Error::with_kind(
            crate::ErrorKind::Task,
            crate::error::names::DATA_ENCODING_FAILED,
            format!("{what} cannot be stored with {}: {why}", codec.name()),
        )
    };
    let bytes = codec
        .encode_erased(&depth::Limited { value, depth: 0 })
        .map_err(failed)?;
    let mut back: Option<T> = None;
    codec
        .decode_erased(&bytes, &mut |de| {
            back = Some(erased_serde::deserialize::<T>(de).map_err(|e| e.to_string())?);
            Ok(())
        })
        .map_err(|e| {
            let hint = if codec.name() == "json" && e.contains("null") {
                " (JSON has no form for NaN or an infinite float)"
            } else {
                ""
            };
            failed(format!("what it writes does not read back: {e}{hint}"))
        })?;
    Ok(bytes)
}

/// Decodes a `T` from `bytes` with `codec`.
///
/// # Errors
///
/// A runtime error naming what failed to decode (say, `checkpoint 1.charge#1 of
/// execution order-42`) when the bytes are not a valid `T`.
pub fn decode<T: DeserializeOwned>(
    codec: &dyn Codec,
    bytes: &[u8],
    what: &str,
) -> Result<T, Error> {
    let mut out = None;
    codec
        .decode_erased(bytes, &mut |de| {
            out = Some(erased_serde::deserialize::<T>(de).map_err(|e| e.to_string())?);
            Ok(())
        })
        .map_err(|e| {
            Error::runtime(format!(
                "cannot decode {what} ({} bytes of {}): {e}",
                bytes.len(),
                codec.name()
            ))
        })?;
    out.ok_or_else(|| Error::runtime(format!("cannot decode {what}: the codec produced nothing")))
}
