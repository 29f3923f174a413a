// Generic functions cannot be steps: the step's types must be known.
use waypost::prelude::*;

#[step]
fn identity<T>(x: T) -> T {
    x
}

fn main() {}
