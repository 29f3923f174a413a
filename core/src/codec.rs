//! How payloads become bytes in checkpoints: the [`Codec`] trait.
//!
//! A codec is chosen per workflow, so the trait is dyn-compatible: values cross it as
//! `erased_serde` trait objects. [`encode`] and [`decode`] are the typed entry points.
//! The runtime ships bincode (the default) and JSON codecs.

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
        .encode_erased(value)
        .map_err(|e| Error::runtime(format!("cannot encode {what} with {}: {e}", codec.name())))
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
