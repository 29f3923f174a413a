//! The report as files: CSV (one row per point) and JSON (the baselines and the rows).

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;

use serde::Serialize;

use crate::error::BenchError;
use crate::report::{Point, Report};
use crate::setting::FormKind;

/// A point as a row of plain numbers, with units in the names.
#[derive(Serialize)]
struct Row<'a> {
    form: &'static str,
    step: &'a str,
    workers: usize,
    batch_size: usize,
    store: String,
    items: usize,
    elapsed_s: f64,
    items_per_s: f64,
    p50_us: f64,
    p95_us: f64,
    p99_us: f64,
    baseline_items_per_s: f64,
    overhead_ns_per_item: f64,
    vs_baseline: f64,
    scaling_efficiency: Option<f64>,
}

impl<'a> Row<'a> {
    fn of(report: &'a Report, p: &Point) -> Self {
        let micros = |d: std::time::Duration| d.as_nanos() as f64 / 1e3;
        Row {
            form: report.kind.name(),
            step: &report.step,
            workers: p.workers,
            batch_size: p.batch_size,
            store: p.store.to_string(),
            items: p.items,
            elapsed_s: p.elapsed.as_secs_f64(),
            items_per_s: p.throughput,
            p50_us: micros(p.latency.p50),
            p95_us: micros(p.latency.p95),
            p99_us: micros(p.latency.p99),
            baseline_items_per_s: p.baseline.throughput,
            overhead_ns_per_item: p.overhead_ns_per_item,
            vs_baseline: p.vs_baseline,
            scaling_efficiency: p.scaling_efficiency,
        }
    }
}

#[derive(Serialize)]
struct BaselineRow {
    workers: usize,
    items: usize,
    elapsed_s: f64,
    items_per_s: f64,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    form: FormKind,
    step: &'a str,
    /// `concurrency` or `threads`: what `workers` counts.
    workers: &'static str,
    baseline: &'static str,
    items: usize,
    baselines: Vec<BaselineRow>,
    points: Vec<Row<'a>>,
}

impl Report {
    /// Writes one CSV row per point (a header first): `form, step, workers, batch_size,
    /// store, items, elapsed_s, items_per_s, p50_us, p95_us, p99_us,
    /// baseline_items_per_s, overhead_ns_per_item, vs_baseline, scaling_efficiency`.
    ///
    /// # Errors
    ///
    /// [`BenchError::Write`] naming the file when it cannot be written.
    pub fn write_csv(&self, path: impl AsRef<Path>) -> Result<(), BenchError> {
        let path = path.as_ref();
        let failed = |e: &dyn std::fmt::Display| BenchError::write("CSV report", path, e);
        let mut csv = csv::Writer::from_path(path).map_err(|e| failed(&e))?;
        for point in &self.points {
            csv.serialize(Row::of(self, point))
                .map_err(|e| failed(&e))?;
        }
        csv.flush().map_err(|e| failed(&e))
    }

    /// Writes the report as JSON: the step, the baselines, and the rows of
    /// [`write_csv`](Self::write_csv) (a figure that is not finite is `null`).
    ///
    /// # Errors
    ///
    /// [`BenchError::Write`] naming the file when it cannot be written.
    pub fn write_json(&self, path: impl AsRef<Path>) -> Result<(), BenchError> {
        let path = path.as_ref();
        let failed = |e: &dyn std::fmt::Display| BenchError::write("JSON report", path, e);
        let report = JsonReport {
            form: self.kind,
            step: &self.step,
            workers: self.kind.axis(),
            baseline: self.kind.baseline(),
            items: self.items,
            baselines: self
                .baselines
                .iter()
                .map(|b| BaselineRow {
                    workers: b.workers,
                    items: b.items,
                    elapsed_s: b.elapsed.as_secs_f64(),
                    items_per_s: b.throughput,
                })
                .collect(),
            points: self.points.iter().map(|p| Row::of(self, p)).collect(),
        };
        let mut file = BufWriter::new(File::create(path).map_err(|e| failed(&e))?);
        serde_json::to_writer_pretty(&mut file, &report).map_err(|e| failed(&e))?;
        writeln!(file).map_err(|e| failed(&e))?;
        file.flush().map_err(|e| failed(&e))
    }
}
