//! Feeds arbitrary bytes to what reads stored payloads: both codecs decoding the
//! shapes workflows store (numbers, strings, sequences, maps, options, enums, errors),
//! and the replay journal loading them as checkpoints.
//!
//! Decoding may fail, never panic, hang or allocate without bound (run with
//! `-rss_limit_mb`); a failure names what failed to decode.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};
use waypost::codec::decode;
use waypost::replay::{Journal, checksum};
use waypost::store::{Checkpoint, CheckpointKind};
use waypost::{BincodeCodec, Codec, Error, JsonCodec};

#[derive(Debug, Serialize, Deserialize)]
enum Shape {
    Unit,
    Pair(i64, String),
    Record { bytes: Vec<u8>, tags: BTreeMap<String, u32> },
}

#[derive(Debug, Serialize, Deserialize)]
struct Order {
    id: u64,
    note: Option<String>,
    lines: Vec<(String, u64)>,
    shapes: Vec<Shape>,
    ratio: f64,
}

const WHAT: &str = "checkpoint `0.fuzz` of execution `fuzz`";

fn check<T: for<'de> Deserialize<'de>>(codec: &dyn Codec, bytes: &[u8]) {
    if let Err(error) = decode::<T>(codec, bytes, WHAT) {
        assert!(
            error.message().starts_with(&format!("cannot decode {WHAT}")),
            "{error}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let codec: &dyn Codec = if selector & 1 == 0 {
        &BincodeCodec
    } else {
        &JsonCodec
    };
    match (selector >> 1) % 6 {
        0 => check::<Order>(codec, bytes),
        1 => check::<String>(codec, bytes),
        2 => check::<Vec<Vec<String>>>(codec, bytes),
        3 => check::<BTreeMap<String, Shape>>(codec, bytes),
        4 => check::<Error>(codec, bytes),
        _ => {
            // As checkpoints: the journal checks kinds, keys and checksums.
            let kind = CheckpointKind::from_code(selector >> 4).unwrap_or(CheckpointKind::Output);
            let checkpoints = bytes
                .chunks(17)
                .enumerate()
                .map(|(seq, chunk)| Checkpoint {
                    seq: seq as u64 + 1,
                    key: String::from_utf8_lossy(&chunk[..chunk.len().min(5)]).into_owned(),
                    kind,
                    payload: chunk.to_vec(),
                    checksum: if seq % 3 == 0 { 0 } else { checksum(chunk) },
                })
                .collect();
            let _ = Journal::load("fuzz".to_owned(), checkpoints);
        }
    }
});
