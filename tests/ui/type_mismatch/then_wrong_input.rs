// `then` only compiles when the next step takes what the previous one returns:
// `parse` returns a `u32`, `shout` wants a `String`.
use waypost::prelude::*;

#[step]
fn parse(s: String) -> u32 {
    s.len() as u32
}

#[step]
fn shout(s: String) -> String {
    s.to_uppercase()
}

fn main() {
    let _ = parse.then(shout);
}
