//! Workflows whose types do not line up, and misuses of `#[step]`, do not compile.
//! Each case under `tests/ui/` says what it shows; its `.stderr` is the message.
//! Regenerate with `TRYBUILD=overwrite cargo test --test compile_fail` and review.

#[test]
fn compile_fail() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*/*.rs");
}
