// `#[step]` is for free functions, not methods.
use waypost::prelude::*;

struct Pricing;

impl Pricing {
    #[step]
    fn price(&self, cents: u64) -> u64 {
        cents
    }
}

fn main() {}
