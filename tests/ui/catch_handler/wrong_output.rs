// A catch handler must return the protected step's output type: `charge` returns a
// `u64`, the handler a `String`.
use waypost::prelude::*;

#[step]
async fn charge(cents: u64) -> Result<u64, Error> {
    Ok(cents)
}

#[step]
async fn note((cents, _error): (u64, Error)) -> String {
    format!("not charged {cents}")
}

fn main() {
    let _ = charge.catch(["PaymentDeclined"], note);
}
