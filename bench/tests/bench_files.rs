//! The report's files: CSV, JSON and a well-formed SVG plot with one line per batch
//! size in each chart.

use std::path::Path;

use waypost::bench::{BenchError, BenchStore, MapBench, Report};
use waypost::prelude::*;

#[step]
fn square(x: u64) -> u64 {
    x * x
}

async fn report(stores: Vec<BenchStore>) -> Report {
    MapBench::par_map(square)
        .items(0..100)
        .threads([1, 2])
        .batch_sizes([1, 5, 20])
        .stores(stores)
        .progress(false)
        .run()
        .await
        .unwrap()
}

/// The data lines of the SVG at `path`, which must parse as XML: the polylines drawn
/// 2 pixels wide (axes and grid are 1 pixel), and how many colours they have.
fn lines(path: &Path) -> (usize, usize) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(!text.is_empty());
    let svg = roxmltree::Document::parse(&text).unwrap();
    assert_eq!(svg.root_element().tag_name().name(), "svg");
    let lines: Vec<_> = svg
        .descendants()
        .filter(|n| n.tag_name().name() == "polyline" && n.attribute("stroke-width") == Some("2"))
        .collect();
    let mut colours: Vec<&str> = lines.iter().filter_map(|n| n.attribute("stroke")).collect();
    colours.sort_unstable();
    colours.dedup();
    (lines.len(), colours.len())
}

#[tokio::test]
async fn the_plot_has_one_line_per_batch_size_in_each_chart() {
    let dir = tempfile::tempdir().unwrap();
    let one_store = dir.path().join("one.svg");
    report(vec![BenchStore::None])
        .await
        .write_svg(&one_store)
        .unwrap();
    // Two charts (throughput, latency), three batch sizes.
    assert_eq!(lines(&one_store), (2 * 3, 3));
    let two_stores = dir.path().join("two.svg");
    let report = report(vec![BenchStore::None, BenchStore::Memory]).await;
    report.write_svg(&two_stores).unwrap();
    assert_eq!(lines(&two_stores), (2 * 2 * 3, 3));
    let text = std::fs::read_to_string(&two_stores).unwrap();
    // The baselines, wider and grey, in each throughput chart, or in its title when
    // far above its lines.
    let drawn = text.matches(r#"stroke-width="3""#).count();
    let named = text.matches("items/s, above)").count();
    assert_eq!(drawn + named, 2, "{text}");
    for label in ["batch 1", "batch 5", "batch 20", "store memory", "threads"] {
        assert!(text.contains(label), "no `{label}` in the plot");
    }
}

#[tokio::test]
async fn csv_and_json_hold_every_point() {
    let report = report(vec![BenchStore::None]).await;
    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("report.csv");
    report.write_csv(&csv_path).unwrap();
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "form,step,workers,batch_size,store,items,elapsed_s,items_per_s,p50_us,p95_us,p99_us,\
         baseline_items_per_s,overhead_ns_per_item,vs_baseline,scaling_efficiency"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 6);
    assert!(
        rows[0].starts_with("par_map,square,1,1,none,100,"),
        "{}",
        rows[0]
    );

    let json_path = dir.path().join("report.json");
    report.write_json(&json_path).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(json["form"], "par_map");
    assert_eq!(json["workers"], "threads");
    assert_eq!(json["baselines"].as_array().unwrap().len(), 2);
    let points = json["points"].as_array().unwrap();
    assert_eq!(points.len(), 6);
    assert!(points.iter().all(|p| p["items"] == 100));
    assert_eq!(points[0]["scaling_efficiency"], 1.0);

    let table = report.to_string();
    assert!(table.starts_with("par_map of `square` over 100 items; baseline: par_iter\n"));
    assert_eq!(table.lines().count(), 1 + 2 + 1 + 6);
}

#[tokio::test]
async fn an_unwritable_file_names_its_path() {
    let report = report(vec![BenchStore::None]).await;
    let path = Path::new("/nonexistent-waypost-dir/report.csv");
    let error = report.write_csv(path).unwrap_err();
    assert!(matches!(
        error,
        BenchError::Write {
            what: "CSV report",
            ..
        }
    ));
    assert!(
        error
            .to_string()
            .starts_with("cannot write the CSV report to /nonexistent-waypost-dir/report.csv: "),
        "{error}"
    );
    assert!(
        report
            .write_svg("/nonexistent-waypost-dir/plot.svg")
            .is_err()
    );
    assert!(
        report
            .write_json("/nonexistent-waypost-dir/r.json")
            .is_err()
    );
}
