//! The codecs that ship with waypost: [`BincodeCodec`] (the default) and [`JsonCodec`].

use std::sync::Arc;

use bincode::config::{Configuration, Limit, LittleEndian, Varint};
use waypost_core::store::ExecutionRecord;
use waypost_core::{Codec, Workflow};

use crate::error::RunError;

/// The most a payload may claim to allocate when it is encoded. Decoding uses the
/// limit of the payload's size class (see [`decode_limited`]).
const DECODE_LIMIT: usize = 1 << 30;

type Config = Configuration<LittleEndian, Varint, Limit<DECODE_LIMIT>>;

fn config() -> Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

/// Decodes `bytes` with a bincode limit of `LIMIT` bytes claimed.
///
/// In serde mode bincode claims only the lengths of strings and byte buffers, and
/// allocates a string's full claimed length before reading it: a valid payload claims
/// at most its own size, while a corrupt length prefix could claim (and allocate) up
/// to the limit. So the limit follows the payload's size.
fn decode_limited<const LIMIT: usize>(
    bytes: &[u8],
    visit: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<(), String>,
) -> Result<(), String> {
    let config = bincode::config::standard().with_limit::<LIMIT>();
    let mut decoder = bincode::serde::BorrowedSerdeDecoder::from_slice(bytes, config, ());
    let mut deserializer = <dyn erased_serde::Deserializer<'_>>::erase(decoder.as_deserializer());
    visit(&mut deserializer)
}

/// Compact binary payloads: bincode 2 in serde mode. The default codec.
#[derive(Clone, Copy, Debug, Default)]
pub struct BincodeCodec;

impl Codec for BincodeCodec {
    fn name(&self) -> &'static str {
        "bincode"
    }

    fn encode_erased(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>, String> {
        bincode::serde::encode_to_vec(value, config()).map_err(|e| e.to_string())
    }

    fn decode_erased(
        &self,
        bytes: &[u8],
        visit: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<(), String>,
    ) -> Result<(), String> {
        // Trailing bytes are not detected here; the checksum beside every stored
        // payload catches damage that still decodes. A corrupt length prefix allocates
        // at most 16 times the payload's size (64 KiB for small payloads).
        match bytes.len() {
            0..=0x1000 => decode_limited::<{ 1 << 16 }>(bytes, visit),
            0x1001..=0x1_0000 => decode_limited::<{ 1 << 20 }>(bytes, visit),
            0x1_0001..=0x10_0000 => decode_limited::<{ 1 << 24 }>(bytes, visit),
            0x10_0001..=0x100_0000 => decode_limited::<{ 1 << 28 }>(bytes, visit),
            _ => decode_limited::<DECODE_LIMIT>(bytes, visit),
        }
    }
}

/// Human-readable payloads: JSON. Choose it for workflows whose checkpoints people read
/// (with `sqlite3` or the CLI).
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonCodec;

impl Codec for JsonCodec {
    fn name(&self) -> &'static str {
        "json"
    }

    fn encode_erased(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>, String> {
        serde_json::to_vec(value).map_err(|e| e.to_string())
    }

    fn decode_erased(
        &self,
        bytes: &[u8],
        visit: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut json = serde_json::Deserializer::from_slice(bytes);
        visit(&mut <dyn erased_serde::Deserializer<'_>>::erase(&mut json))?;
        json.end().map_err(|e| e.to_string())
    }
}

/// The codec stored under `name`, for reading executions written by any workflow.
pub fn codec_named(name: &str) -> Option<Arc<dyn Codec>> {
    match name {
        "bincode" => Some(Arc::new(BincodeCodec)),
        "json" => Some(Arc::new(JsonCodec)),
        _ => None,
    }
}

pub(crate) fn codec_of<I, O>(workflow: &Workflow<I, O>) -> Arc<dyn Codec> {
    workflow
        .codec()
        .cloned()
        .unwrap_or_else(|| Arc::new(BincodeCodec))
}

/// The codec of a stored execution: the workflow's own when it has the stored name
/// (so custom codecs work), else one of the codecs waypost ships.
pub(crate) fn codec_for<I, O>(
    workflow: &Workflow<I, O>,
    record: &ExecutionRecord,
) -> Result<Arc<dyn Codec>, RunError> {
    match workflow.codec() {
        Some(codec) if codec.name() == record.codec => Ok(Arc::clone(codec)),
        _ => codec_by_name(record),
    }
}

pub(crate) fn codec_by_name(record: &ExecutionRecord) -> Result<Arc<dyn Codec>, RunError> {
    codec_named(&record.codec).ok_or_else(|| RunError::UnknownCodec {
        id: record.id.clone(),
        codec: record.codec.clone(),
    })
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};
    use waypost_core::Error;
    use waypost_core::codec::{decode, encode};

    use super::*;

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Order {
        id: u32,
        note: Option<String>,
        lines: Vec<(String, u64)>,
    }

    fn codecs() -> [Arc<dyn Codec>; 2] {
        [Arc::new(BincodeCodec), Arc::new(JsonCodec)]
    }

    #[test]
    fn values_and_errors_round_trip_through_every_codec() {
        let order = Order {
            id: 7,
            note: None,
            lines: vec![("tea".into(), 350)],
        };
        let error = Error::new("PaymentDeclined", "card declined")
            .caused_by(Error::timeout("gateway"))
            .at("2.charge");
        for codec in codecs() {
            let bytes = encode(&*codec, &order, "order").unwrap();
            assert_eq!(
                decode::<Order>(&*codec, &bytes, "order").unwrap(),
                order,
                "{}",
                codec.name()
            );
            let bytes = encode(&*codec, &error, "error").unwrap();
            assert_eq!(
                decode::<Error>(&*codec, &bytes, "error").unwrap(),
                error,
                "{}",
                codec.name()
            );
        }
    }

    #[test]
    fn garbage_and_huge_length_prefixes_are_errors_naming_what_failed() {
        for codec in codecs() {
            for bytes in [
                &b""[..],
                &[0xFF; 12],
                &[0xFB, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
            ] {
                let err = decode::<Order>(&*codec, bytes, "checkpoint `0.a` of execution `e`")
                    .unwrap_err();
                assert!(
                    err.message()
                        .starts_with("cannot decode checkpoint `0.a` of execution `e`"),
                    "{}: {err}",
                    codec.name()
                );
            }
        }
    }

    #[test]
    fn codecs_are_found_by_their_stored_name() {
        assert_eq!(codec_named("bincode").unwrap().name(), "bincode");
        assert_eq!(codec_named("json").unwrap().name(), "json");
        assert!(codec_named("xml").is_none());
    }
}
