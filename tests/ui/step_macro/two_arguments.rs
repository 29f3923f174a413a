// A step takes one input: two arguments are refused, pointing at the extra one.
use waypost::prelude::*;

#[step]
fn add(a: u32, b: u32) -> u32 {
    a + b
}

fn main() {}
