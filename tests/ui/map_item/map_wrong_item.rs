// `map(step)` takes a `Vec` of the step's input: `split` returns `Vec<String>`, but
// `square` takes `u64` items, so the map wants a `Vec<u64>`.
use waypost::prelude::*;

#[step]
fn split(s: String) -> Vec<String> {
    s.split(',').map(str::to_owned).collect()
}

#[step]
fn square(x: u64) -> u64 {
    x * x
}

fn main() {
    let _ = split.then(map(square));
}
