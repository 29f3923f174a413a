//! The report as a plot: throughput and median item latency against the worker count,
//! one line per batch size, one row of two charts per store; SVG drawn with plotters
//! (its SVG backend only: text stays text, no fonts or system libraries needed).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use std::time::Duration;

use crate::error::BenchError;
use crate::report::{Point, Report};
use crate::store::BenchStore;
use crate::table::duration;

/// What a chart shows of each point.
type Figure = fn(&Point) -> f64;

/// How a chart labels its values.
type Format = fn(f64) -> String;

/// Pixels of one chart.
const CHART: (u32, u32) = (560, 340);

/// The lines' colours, one per batch size (Tableau 10: distinct, readable on white).
const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

impl Report {
    /// Draws throughput (items/s) and the median item latency (ms) against the
    /// concurrency or thread count, one line per batch size, as an SVG file: a row of
    /// two charts per store. The throughput charts also draw the baseline (grey). The
    /// worker axis is logarithmic.
    ///
    /// # Errors
    ///
    /// [`BenchError::Write`] naming the file when it cannot be drawn or written.
    pub fn write_svg(&self, path: impl AsRef<Path>) -> Result<(), BenchError> {
        let path = path.as_ref();
        let failed = |e: &dyn std::fmt::Display| BenchError::write("plot", path, e);
        let stores = self.stores();
        let rows = u32::try_from(stores.len().max(1)).unwrap_or(1);
        let root = SVGBackend::new(path, (2 * CHART.0, rows * CHART.1)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| failed(&e))?;
        let areas = root.split_evenly((rows as usize, 2));
        for (store, pair) in stores.iter().zip(areas.chunks(2)) {
            // Label, figure, value labels, whether the baselines are drawn too.
            let charts: [(&str, Figure, Format, bool); 2] = [
                ("throughput (items/s)", |p| p.throughput, si, true),
                (
                    "item latency p50",
                    |p| p.latency.p50.as_nanos() as f64,
                    |ns| duration(Duration::from_nanos(ns as u64)),
                    false,
                ),
            ];
            for ((label, y, format, baseline), area) in charts.into_iter().zip(pair) {
                self.chart(area, store, label, y, format, baseline)
                    .map_err(|e| failed(&e))?;
            }
        }
        root.present().map_err(|e| failed(&e))
    }

    /// One chart: `y` of each point of `store` against the worker count, a line per
    /// batch size; values labelled by `format`; with `baseline`, the baselines'
    /// throughput too.
    fn chart(
        &self,
        area: &DrawingArea<SVGBackend<'_>, Shift>,
        store: &BenchStore,
        label: &str,
        y: Figure,
        format: Format,
        baseline: bool,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let points: Vec<&Point> = self.points.iter().filter(|p| p.store == *store).collect();
        let workers = || points.iter().map(|p| p.workers as f64);
        let (low, high) = (
            workers().fold(f64::INFINITY, f64::min),
            workers().fold(0.0, f64::max),
        );
        // One worker count alone gets some room around it.
        let (low, high) = if high > low {
            (low, high)
        } else {
            (low / 2.0, high * 2.0)
        };
        let finite_max = |values: &mut dyn Iterator<Item = f64>| {
            values.filter(|v| v.is_finite()).fold(0.0, f64::max)
        };
        let lines_top = finite_max(&mut points.iter().map(|p| y(p)));
        let baseline_top = finite_max(&mut self.baselines.iter().map(|b| b.throughput));
        // A baseline far above the lines would flatten them: it is named in the title
        // instead.
        let off_chart = baseline && baseline_top > 3.0 * lines_top;
        let baseline = baseline && !off_chart;
        let top = if baseline {
            lines_top.max(baseline_top)
        } else {
            lines_top
        };
        // Room above the lines for the legend.
        let top = if top > 0.0 { top * 1.5 } else { 1.0 };
        let mut title = format!(
            "{} of `{}`, store {store}: {label}",
            self.kind.name(),
            self.step
        );
        if off_chart {
            title.push_str(&format!(" (baseline {} items/s, above)", si(baseline_top)));
        }
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 15))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d((low..high).log_scale(), 0.0..top)?;
        let y_label = |v: &f64| format(*v);
        chart
            .configure_mesh()
            .x_desc(self.kind.axis())
            .y_desc(label)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&y_label)
            .light_line_style(RGBColor(240, 240, 240))
            .draw()?;
        if baseline {
            // The raw baseline at each worker count, grey and wider than the lines.
            let grey = RGBColor(150, 150, 150);
            let mut line: Vec<(f64, f64)> = self
                .baselines
                .iter()
                .map(|b| (b.workers as f64, b.throughput))
                .filter(|(_, v)| v.is_finite())
                .collect();
            line.sort_by(|a, b| a.0.total_cmp(&b.0));
            chart
                .draw_series(LineSeries::new(line, grey.stroke_width(3)))?
                .label(format!("baseline ({})", self.kind.baseline()))
                .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 16, y + 4)], grey.filled()));
        }
        for (index, batch) in self.batch_sizes().into_iter().enumerate() {
            let color = COLOURS[index % COLOURS.len()];
            let mut line: Vec<(f64, f64)> = points
                .iter()
                .filter(|p| p.batch_size == batch)
                .map(|p| (p.workers as f64, y(p)))
                .filter(|(_, v)| v.is_finite())
                .collect();
            line.sort_by(|a, b| a.0.total_cmp(&b.0));
            chart
                .draw_series(LineSeries::new(line, color.stroke_width(2)))?
                .label(format!("batch {batch}"))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 4), (x + 16, y + 4)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    }
}

/// `950`, `12.5k`, `4.2M`: a rate in few characters.
fn si(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.1}M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.1}k", value / 1e3)
    } else {
        format!("{value:.0}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rates_are_short() {
        assert_eq!(super::si(950.0), "950");
        assert_eq!(super::si(12_500.0), "12.5k");
        assert_eq!(super::si(4_200_000.0), "4.2M");
    }
}
