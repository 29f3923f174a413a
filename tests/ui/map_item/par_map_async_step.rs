// `par_map` runs items on the CPU pool, so it needs a step made from a plain `fn`;
// `fetch` is async.
use waypost::prelude::*;

#[step]
async fn fetch(id: u32) -> String {
    id.to_string()
}

fn main() {
    let _ = par_map(fetch);
}
