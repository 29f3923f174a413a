//! Corrupt payloads: every bit flip and every truncation of a stored payload, and huge
//! length prefixes, under the bincode and JSON codecs. A resume (or a decode) gives a
//! clear error naming the execution and the checkpoint, never a panic, and a corrupt
//! length prefix allocates little.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use waypost::codec::{decode, encode};
use waypost::prelude::*;
use waypost::store::{Checkpoint, ExecutionRecord, NewExecution, Store, Write};
use waypost::{BincodeCodec, Codec, JsonCodec, MemoryStore, RunError, SqliteStore};

use crate::support::panics;

const ID: &str = "order-7";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Order {
    id: u64,
    note: Option<String>,
    lines: Vec<(String, u64)>,
    tags: BTreeMap<String, i64>,
}

fn order(id: u64) -> Order {
    Order {
        id,
        note: Some(format!("order {id}, deliver before noon")),
        lines: vec![
            ("tea".into(), 350),
            ("scones".into(), 1200),
            ("jam".into(), 90),
        ],
        tags: [("priority".to_owned(), -3), ("region".to_owned(), 44)].into(),
    }
}

fn workflow(codec: &str) -> Workflow<u64, u64> {
    let make = step_fn("make", |id: u64| async move { Ok::<_, Error>(order(id)) });
    let names = step_fn("names", |o: Order| async move {
        Ok::<_, Error>(
            o.lines
                .into_iter()
                .map(|(name, _)| name)
                .collect::<Vec<_>>(),
        )
    });
    let count = step_fn("count", |names: Vec<String>| async move {
        Ok::<_, Error>(names.iter().map(|n| n.len() as u64).sum::<u64>())
    });
    let wf = Workflow::new("corrupt", 1, make.then(names).then(count));
    match codec {
        "json" => wf.with_codec(JsonCodec),
        _ => wf.with_codec(BincodeCodec),
    }
}

/// An execution interrupted after its last checkpoint: its record and checkpoints.
#[derive(Clone)]
struct Interrupted {
    record: ExecutionRecord,
    checkpoints: Vec<Checkpoint>,
}

async fn interrupted(codec: &str) -> Interrupted {
    let store = MemoryStore::new();
    let runtime = Runtime::builder().store(store.clone()).build();
    assert_eq!(runtime.start(&workflow(codec), ID, 7).await.unwrap(), 12);
    Interrupted {
        record: store.execution(ID).await.unwrap(),
        checkpoints: store.checkpoints(ID).await.unwrap(),
    }
}

/// What a corruption does to one stored payload.
#[derive(Clone, Debug)]
enum Damage {
    Flip(usize),
    Truncate(usize),
}

impl Damage {
    fn apply(&self, bytes: &mut Vec<u8>) {
        match *self {
            Damage::Flip(bit) => bytes[bit / 8] ^= 1 << (bit % 8),
            Damage::Truncate(len) => bytes.truncate(len),
        }
    }
}

/// Stores `base` into `store` as a running execution, with the payload at `target`
/// (a checkpoint's index, or `None` for the input) damaged by `damage`, if any;
/// `fix_checksum` recomputes a damaged checkpoint's checksum, as if the damage
/// happened before the checksum was taken.
async fn store_damaged(
    store: &dyn Store,
    base: &Interrupted,
    target: Option<usize>,
    damage: Option<&Damage>,
    fix_checksum: bool,
) {
    let mut input = base.record.input.clone();
    if let (None, Some(damage)) = (target, damage) {
        damage.apply(&mut input);
    }
    let new = NewExecution {
        id: base.record.id.clone(),
        workflow: base.record.workflow.clone(),
        version: base.record.version,
        fingerprint: base.record.fingerprint.clone(),
        codec: base.record.codec.clone(),
        input,
        graph: base.record.graph.clone(),
        created_ms: base.record.created_ms,
    };
    store.create(new).await.unwrap();
    let writes = base
        .checkpoints
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut c = Checkpoint {
                seq: 0,
                ..c.clone()
            };
            if let (true, Some(damage)) = (target == Some(i), damage) {
                damage.apply(&mut c.payload);
                if fix_checksum {
                    c.checksum = crc32fast::hash(&c.payload);
                }
            }
            Write::Checkpoint(c)
        })
        .collect();
    store
        .commit(ID, waypost::store::Fence::Unleased, writes)
        .await
        .unwrap();
}

/// Checks how a resume over a damaged payload ended: an error that names the
/// execution and the damaged checkpoint (or the input); or, only when the damage kept
/// a valid checksum and still decodes, an output.
fn check_resume(
    result: &Result<u64, RunError>,
    base: &Interrupted,
    target: Option<usize>,
    detectable: bool,
) {
    let text = match result {
        Ok(output) => {
            assert!(
                !detectable,
                "damage with a stale checksum went unnoticed: output {output}"
            );
            return;
        }
        Err(error) => error.to_string(),
    };
    assert!(
        text.contains(&format!("`{ID}`")),
        "no execution id in: {text}"
    );
    let place = match target {
        Some(i) => format!("checkpoint `{}`", base.checkpoints[i].key),
        None => "the input".to_owned(),
    };
    assert!(text.contains(&place), "`{place}` not named in: {text}");
}

fn runtime_for(store: Arc<dyn Store>) -> Runtime {
    Runtime::builder().shared_store(store).build()
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// Every bit flip and every truncation of every payload (checkpoints and input), with
/// stale and recomputed checksums, on the memory store, for both codecs: exhaustive,
/// since each resume takes microseconds.
#[test]
fn every_bit_flip_and_truncation_of_a_stored_payload_is_a_clear_error() {
    let panics_before = panics();
    let mut resumes = 0;
    block_on(async {
        for codec in ["bincode", "json"] {
            let base = interrupted(codec).await;
            let targets = (0..base.checkpoints.len()).map(Some).chain([None]);
            for target in targets {
                let len = match target {
                    Some(i) => base.checkpoints[i].payload.len(),
                    None => base.record.input.len(),
                };
                let damages = (0..len * 8)
                    .map(Damage::Flip)
                    .chain((0..len).map(Damage::Truncate));
                for damage in damages {
                    for fix_checksum in [false, true] {
                        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
                        store_damaged(&*store, &base, target, Some(&damage), fix_checksum).await;
                        let result = runtime_for(store).resume(&workflow(codec), ID).await;
                        // A damaged input is stored with a checksum of its own (the
                        // store computes it on create): it may still decode.
                        let detectable = target.is_some() && !fix_checksum;
                        check_resume(&result, &base, target, detectable);
                        resumes += 1;
                    }
                }
            }
        }
    });
    println!("corrupt payloads: {resumes} damaged resumes");
    assert!(resumes > 2000, "{resumes} resumes");
    assert_eq!(
        panics(),
        panics_before,
        "a corrupt payload made something panic"
    );
}

/// Every bit flip and truncation at the codec layer: an error that says what failed
/// to decode, or (for a flip) another valid value; never a panic.
#[test]
fn every_bit_flip_and_truncation_decodes_or_fails_clearly() {
    let codecs: [Arc<dyn Codec>; 2] = [Arc::new(BincodeCodec), Arc::new(JsonCodec)];
    let what = format!("checkpoint `0.make` of execution `{ID}`");
    for codec in codecs {
        let bytes = encode(&*codec, &order(7), "order").unwrap();
        for len in 0..bytes.len() {
            let err = decode::<Order>(&*codec, &bytes[..len], &what).unwrap_err();
            assert!(
                err.message().starts_with(&format!("cannot decode {what}")),
                "{}: {err}",
                codec.name()
            );
        }
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            Damage::Flip(bit).apply(&mut damaged);
            if let Err(err) = decode::<Order>(&*codec, &damaged, &what) {
                assert!(
                    err.message().starts_with(&format!("cannot decode {what}")),
                    "{}: {err}",
                    codec.name()
                );
            }
        }
    }
}

/// Decoding limits follow the payload's size class: valid payloads on both sides of
/// every class boundary still decode, strings filling them whole.
#[test]
fn payloads_on_both_sides_of_every_size_class_boundary_decode() {
    let codec = BincodeCodec;
    for boundary in [0x1000usize, 0x1_0000, 0x10_0000, 0x100_0000] {
        for len in [
            boundary - 9,
            boundary - 1,
            boundary,
            boundary + 1,
            boundary + 64,
        ] {
            let text = "x".repeat(len);
            let bytes = encode(&codec, &(1u8, text.clone()), "a string").unwrap();
            let (_, back): (u8, String) = decode(&codec, &bytes, "a string").unwrap();
            assert_eq!(back.len(), len);
            let many: Vec<String> = vec!["ab".repeat(len / 64); 32];
            let bytes = encode(&codec, &many, "strings").unwrap();
            assert_eq!(
                decode::<Vec<String>>(&codec, &bytes, "strings").unwrap(),
                many
            );
        }
    }
}

/// A cause chain as deep as workflows build (and deeper) still round-trips; the
/// depth limit only stops chains past 64 causes.
#[test]
fn deep_cause_chains_round_trip_up_to_the_limit() {
    let chain = |depth: usize| {
        (0..depth).fold(Error::new("Leaf", "with \"quotes\" and \\"), |cause, i| {
            Error::new("Wrap", format!("level {i}")).caused_by(cause)
        })
    };
    for codec in [&BincodeCodec as &dyn Codec, &JsonCodec] {
        let error = chain(60);
        let bytes = encode(codec, &error, "an error").unwrap();
        assert_eq!(decode::<Error>(codec, &bytes, "an error").unwrap(), error);
        let bytes = encode(codec, &chain(70), "an error").unwrap();
        let refused = decode::<Error>(codec, &bytes, "an error").unwrap_err();
        assert!(refused.message().contains("deeper than 64"), "{refused}");
    }
}

/// A bincode length prefix (varint) claiming `len`.
fn varint(len: u64) -> Vec<u8> {
    match len {
        0..=250 => vec![len as u8],
        251..=0xFFFF => [vec![251], (len as u16).to_le_bytes().to_vec()].concat(),
        0x1_0000..=0xFFFF_FFFF => [vec![252], (len as u32).to_le_bytes().to_vec()].concat(),
        _ => [vec![253], len.to_le_bytes().to_vec()].concat(),
    }
}

/// Peak virtual memory of this process, in KiB (Linux).
fn vm_peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmPeak:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Decodes payloads whose length prefix claims up to 2^63 bytes, as strings, byte
/// vectors and sequences, at the codec layer and through a resume. Run alone in a
/// child process by [`a_huge_length_prefix_allocates_little`], which reads its peak
/// memory.
#[test]
#[ignore = "run by a_huge_length_prefix_allocates_little in a child process"]
fn huge_length_prefix_child() {
    let before = vm_peak_kib().expect("/proc/self/status");
    let what = format!("checkpoint `0.make` of execution `{ID}`");
    let claims = [
        900 << 20,
        1 << 30,
        (1 << 30) + 1,
        1 << 40,
        u64::MAX >> 1,
        u64::MAX,
    ];
    let mut decoded = 0;
    for claim in claims {
        let mut payload = varint(claim);
        payload.extend_from_slice(b"abc");
        let codec = BincodeCodec;
        let errors = [
            decode::<String>(&codec, &payload, &what).map(drop),
            decode::<Vec<u8>>(&codec, &payload, &what).map(drop),
            decode::<Vec<u64>>(&codec, &payload, &what).map(drop),
            decode::<Vec<String>>(&codec, &payload, &what).map(drop),
            decode::<BTreeMap<String, i64>>(&codec, &payload, &what).map(drop),
            decode::<Order>(&codec, &[&[7][..], &[1][..], &payload].concat(), &what).map(drop),
        ];
        for error in errors {
            let error = error.unwrap_err();
            assert!(
                error
                    .message()
                    .starts_with(&format!("cannot decode {what}")),
                "{error}"
            );
            decoded += 1;
        }
    }
    // Through a resume: the `make` checkpoint (an `Order`) with its note's length
    // prefix claiming 900 MiB, checksum recomputed.
    block_on(async {
        let base = interrupted("bincode").await;
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let mut damaged = base.clone();
        let make = damaged
            .checkpoints
            .iter_mut()
            .find(|c| c.key.contains("make"))
            .unwrap();
        // id (varint 7), Some (1), then the note's length prefix.
        make.payload = [&[7u8, 1][..], &varint(900 << 20), b"order"].concat();
        make.checksum = crc32fast::hash(&make.payload);
        store_damaged(&*store, &damaged, None, None, false).await;
        let result = runtime_for(store).resume(&workflow("bincode"), ID).await;
        let target = damaged
            .checkpoints
            .iter()
            .position(|c| c.key.contains("make"));
        check_resume(&result, &damaged, target, true);
    });
    // Errors nested in errors (a failure checkpoint's cause chain), cut short: found by
    // the fuzz target. Each level used to quote the message of the level below, which
    // doubled its backslashes: 2^depth bytes.
    let level = [1u8, b'N', 1, b'm', 0, 0, 0, 1];
    for depth in [40, 100, 100_000] {
        let payload = level.repeat(depth);
        for codec in [&BincodeCodec as &dyn Codec, &JsonCodec] {
            let error = decode::<Error>(codec, &payload, &what).unwrap_err();
            assert!(
                error
                    .message()
                    .starts_with(&format!("cannot decode {what}")),
                "{error}"
            );
            assert!(
                error.message().len() < 4096,
                "{} bytes of message",
                error.message().len()
            );
            decoded += 1;
        }
    }
    let grown = vm_peak_kib().unwrap().saturating_sub(before);
    println!(
        "decoded {decoded} huge length prefixes and nested errors; peak virtual memory grew {grown} KiB"
    );
    assert!(
        grown < 64 << 10,
        "decoding huge length prefixes took {grown} KiB"
    );
}

#[test]
fn a_huge_length_prefix_allocates_little() {
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            "corrupt::huge_length_prefix_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A decode that blows up (memory, time) must fail the test, not hang the suite.
    // (The pipes hold the child's short output until it ends.)
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(60) {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("the child decoding huge length prefixes ran for over 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the child failed:\n{stdout}\n{stderr}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Damage written into the SQLite file itself (payload and checksum columns), read
    /// back by a freshly opened store.
    #[test]
    fn damage_in_the_sqlite_file_is_a_clear_error(
        json in any::<bool>(),
        target in 0usize..3,
        position in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
        fix_checksum in any::<bool>(),
    ) {
        let codec = if json { "json" } else { "bincode" };
        block_on(async {
            let base = interrupted(codec).await;
            let target = target % base.checkpoints.len();
            let key = base.checkpoints[target].key.clone();
            let len = base.checkpoints[target].payload.len();
            let damage = if truncate {
                Damage::Truncate(position.index(len))
            } else {
                Damage::Flip(position.index(len * 8))
            };
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("corrupt.db");
            let store = SqliteStore::open(&path).unwrap();
            store_damaged(&store, &base, None, None, false).await;
            store.close();

            let mut payload = base.checkpoints[target].payload.clone();
            damage.apply(&mut payload);
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute(
                "UPDATE checkpoints SET payload = ?1 WHERE execution_id = ?2 AND key = ?3",
                rusqlite::params![payload, ID, key],
            ).unwrap();
            if fix_checksum {
                conn.execute(
                    "UPDATE checkpoints SET checksum = ?1 WHERE execution_id = ?2 AND key = ?3",
                    rusqlite::params![crc32fast::hash(&payload), ID, key],
                ).unwrap();
            }
            drop(conn);

            let store = SqliteStore::open(&path).unwrap();
            let result = runtime_for(Arc::new(store.clone())).resume(&workflow(codec), ID).await;
            check_resume(&result, &base, Some(target), !fix_checksum);
            assert_eq!(store.integrity_check().unwrap(), "ok");
        });
    }
}
