// Every branch of a choice returns the same type: `count` returns a `usize` where the
// first branch fixed the output to `String`.
use waypost::prelude::*;

#[step]
fn echo(s: String) -> String {
    s
}

#[step]
fn count(s: String) -> usize {
    s.len()
}

fn main() {
    let _ = choice()
        .when("short", |s: &String| s.len() < 3, echo)
        .otherwise(count);
}
