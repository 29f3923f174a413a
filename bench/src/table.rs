//! The report as a table on the terminal: `Display` for [`Report`].

use std::fmt;
use std::time::Duration;

use crate::report::Report;

impl fmt::Display for Report {
    /// One line per point, under the baselines:
    ///
    /// ```text
    /// map of `fetch` over 100 items; baseline: buffer_unordered
    /// concurrency  batch  store        items/s  vs baseline  overhead/item       p50       p95       p99  scaling
    ///           10      1  none         1000.0        1.00x        +0.0 ns   10.0 ms   10.0 ms   10.0 ms     1.00
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let axis = self.kind.axis();
        writeln!(
            f,
            "{} of `{}` over {} items; baseline: {}",
            self.kind.name(),
            self.step,
            self.items,
            self.kind.baseline()
        )?;
        for b in &self.baselines {
            writeln!(
                f,
                "  baseline at {axis} {:<4} {:>12.1} items/s  ({})",
                b.workers,
                b.throughput,
                duration(b.elapsed)
            )?;
        }
        writeln!(
            f,
            "{axis:>11}  {:>5}  {:<8} {:>12}  {:>11}  {:>13}  {:>8}  {:>8}  {:>8}  {:>7}",
            "batch",
            "store",
            "items/s",
            "vs baseline",
            "overhead/item",
            "p50",
            "p95",
            "p99",
            "scaling"
        )?;
        for p in &self.points {
            let scaling = p
                .scaling_efficiency
                .map_or_else(|| "-".to_owned(), |e| format!("{e:.2}"));
            writeln!(
                f,
                "{:>11}  {:>5}  {:<8} {:>12.1}  {:>10.2}x  {:>13}  {:>8}  {:>8}  {:>8}  {:>7}",
                p.workers,
                p.batch_size,
                p.store.to_string(),
                p.throughput,
                p.vs_baseline,
                signed_nanos(p.overhead_ns_per_item),
                duration(p.latency.p50),
                duration(p.latency.p95),
                duration(p.latency.p99),
                scaling,
            )?;
        }
        Ok(())
    }
}

/// `850 ns`, `12.3 µs`, `10.0 ms`, `1.25 s`.
pub(crate) fn duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos < 1_000 {
        format!("{nanos} ns")
    } else if nanos < 1_000_000 {
        format!("{:.1} µs", nanos as f64 / 1e3)
    } else if nanos < 1_000_000_000 {
        format!("{:.1} ms", nanos as f64 / 1e6)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

/// A signed duration in nanoseconds, with its sign: `+1.2 µs`, `-300.0 ns`.
fn signed_nanos(nanos: f64) -> String {
    let sign = if nanos < 0.0 { '-' } else { '+' };
    let size = nanos.abs();
    if size < 1e3 {
        format!("{sign}{size:.1} ns")
    } else if size < 1e6 {
        format!("{sign}{:.1} µs", size / 1e3)
    } else {
        format!("{sign}{:.1} ms", size / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_their_unit() {
        assert_eq!(duration(Duration::from_nanos(850)), "850 ns");
        assert_eq!(duration(Duration::from_nanos(12_300)), "12.3 µs");
        assert_eq!(duration(Duration::from_millis(10)), "10.0 ms");
        assert_eq!(duration(Duration::from_millis(1_250)), "1.25 s");
        assert_eq!(signed_nanos(-300.0), "-300.0 ns");
        assert_eq!(signed_nanos(1_200.0), "+1.2 µs");
    }
}
