//! Shared by the example tests: the examples' binaries, built on demand.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

/// The binary of `examples/<name>.rs`, built now: `cargo test` builds the examples, but
/// `cargo test --test examples` does not, and an old binary would test old code. When
/// the build is up to date this costs a fraction of a second.
pub(crate) fn example_binary(name: &'static str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<&'static str, PathBuf>>> = OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap();
    built
        .entry(name)
        .or_insert_with(|| {
            let profile_dir = cargo_build(&["--example", name]);
            profile_dir
                .join("examples")
                .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
        })
        .clone()
}

/// Runs `cargo build` with `what` (such as `--example etl`) for the profile and target
/// directory this test was built with, and returns `target/<profile>`.
fn cargo_build(what: &[&str]) -> PathBuf {
    // This test runs as target/<profile>/deps/examples-<hash>.
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    let target_dir = profile_dir.parent().expect("the target directory");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet"])
        .args(what)
        .args(["--profile", profile])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build {what:?} failed");
    profile_dir.to_path_buf()
}

/// What a finished example printed on stdout.
pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The stdout of an example run that must have succeeded; its output and errors when
/// it did not.
pub(crate) fn expect_success(output: &Output) -> String {
    assert!(
        output.status.success(),
        "the example failed: {}\n{}\n{}",
        output.status,
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout(output)
}

/// The workflow graph an example prints with `--graph`, in every format, as snapshots.
pub(crate) fn snapshot_graphs(example: &'static str) {
    for format in ["mermaid", "dot", "asl"] {
        let output = Command::new(example_binary(example))
            .args(["--graph", format])
            .output()
            .expect("the example starts");
        insta::assert_snapshot!(format!("{example}_{format}"), expect_success(&output));
    }
}

/// The `waypost` CLI's binary (the `waypost-cli` package), built now like
/// [`example_binary`].
pub(crate) fn cli_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            cargo_build(&["-p", "waypost-cli", "--bin", "waypost"])
                .join(format!("waypost{}", std::env::consts::EXE_SUFFIX))
        })
        .clone()
}
