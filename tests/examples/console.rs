//! The web console in a real browser (Debian's `chromium`, headless, driven over the
//! DevTools protocol): the order-processing example writes a store with failed orders,
//! its `console` mode serves it (embedded: it decodes the orders and can redrive), and
//! the browser opens the executions, a failed order with its failed state coloured,
//! presses Redrive and watches the order succeed. The ETL example's execution is shown
//! too. Every page is saved as a screenshot into a folder the test prints, to look at.
//!
//! On CI (`CI` set) the browser must be there (`.ci/run` installs it); elsewhere the
//! test says it skipped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::page::ScreenshotParams;
use chromiumoxide::{Element, Page};
use futures::StreamExt;
use waypost::{ExecutionStatus, SqliteStore, Store};

use crate::support::{example_binary, expect_success};

const CHROMIUM: &str = "/usr/bin/chromium";

/// The browser, or `None` (saying so) where it is not installed; on CI it must be.
fn chromium() -> Option<&'static str> {
    if Path::new(CHROMIUM).exists() {
        return Some(CHROMIUM);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "the browser tests need {CHROMIUM} on CI (`.ci/run` installs it)"
    );
    println!("browser test skipped: {CHROMIUM} is not installed (apt-get install chromium)");
    None
}

/// Where the screenshots go: printed, kept after the test.
fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    println!("console screenshots: {}", dir.display());
    dir
}

/// An example process serving the console, killed when dropped.
struct Served {
    child: Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `command` and waits for the console address it prints
/// (`console: http://ADDR/executions`).
fn serve(mut command: Command) -> Served {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the example starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("the example printed the console's address")
            .unwrap();
        if let Some(rest) = line.strip_prefix("console: ") {
            break rest.trim_end_matches("/executions").to_owned();
        }
    };
    // Keep reading its output, so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Served { child, base }
}

/// Headless chromium with the flags this machine needs, and its event loop.
async fn browser() -> (Browser, tokio::task::JoinHandle<()>, tempfile::TempDir) {
    let profile = tempfile::tempdir().unwrap();
    let config = BrowserConfig::builder()
        .chrome_executable(CHROMIUM)
        .no_sandbox()
        .args([
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
        ])
        .user_data_dir(profile.path())
        .window_size(1400, 1000)
        .viewport(None)
        .build()
        .unwrap();
    let (browser, mut handler) = Browser::launch(config).await.expect("chromium starts");
    let events = tokio::spawn(async move { while handler.next().await.is_some() {} });
    (browser, events, profile)
}

async fn shoot(page: &Page, dir: &Path, name: &str) {
    let params = ScreenshotParams::builder().full_page(true).build();
    let bytes = page
        .save_screenshot(params, dir.join(name))
        .await
        .expect("a screenshot");
    assert!(bytes.len() > 10_000, "{name} is an image of a page");
}

/// The first element matching `selector`, waiting for it to appear.
async fn wait_for(page: &Page, selector: &str, within: Duration) -> Element {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(element) = page.find_element(selector).await {
            return element;
        }
        assert!(
            Instant::now() < deadline,
            "`{selector}` did not appear on {:?}",
            page.url().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The element's text; empty when it cannot be read, as when the page reloads under
/// it (a followed execution reloads its page when it ends): callers that poll read
/// again, and assertions on it fail.
async fn text(element: &Element) -> String {
    element
        .inner_text()
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_a_failed_order_and_redrives_it_in_a_browser() {
    if chromium().is_none() {
        return;
    }
    let shots = screenshots();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("orders.db");
    // Every order over $300 goes to fraud review, which rejects them all: some fail.
    let orders = ["--orders", "12", "--latency-ms", "1", "--seed", "7"];
    let run = Command::new(example_binary("order_processing"))
        .arg("--store")
        .arg(&store)
        .args(orders)
        .args(["--review-over", "300", "--fraud-rate", "1"])
        .output()
        .unwrap();
    let summary = expect_success(&run);
    assert!(summary.contains("FraudSuspected"), "{summary}");

    // The console of the example, where fraud review now passes everything.
    let mut command = Command::new(example_binary("order_processing"));
    command
        .arg("console")
        .arg("--store")
        .arg(&store)
        .args(orders)
        .args(["--review-over", "300", "--fraud-rate", "0"])
        .args(["--addr", "127.0.0.1:0", "--token", "browser-test"]);
    let console = serve(command);

    let (mut browser, events, _profile) = browser().await;
    let page = browser
        .new_page(format!("{}/login?token=browser-test", console.base))
        .await
        .unwrap();
    wait_for(&page, "table.executions", Duration::from_secs(20)).await;
    assert!(page.url().await.unwrap().unwrap().ends_with("/executions"));
    shoot(&page, &shots, "orders-executions.png").await;

    // The newest failed order.
    let failed = wait_for(
        &page,
        "tr:has(.badge.status-failed) td.id a",
        Duration::from_secs(5),
    )
    .await;
    let id = text(&failed).await;
    failed.click().await.unwrap();
    wait_for(&page, "svg[role=img]", Duration::from_secs(20)).await;
    assert_eq!(
        text(&page.find_element("h1 .badge").await.unwrap()).await,
        "failed"
    );
    let failed_state = page
        .find_element("svg [data-status=failed]")
        .await
        .expect("the failed state is coloured");
    let address = failed_state
        .attribute("data-address")
        .await
        .unwrap()
        .unwrap();
    assert!(address.contains("fraud_review"), "{address}");
    // The order itself, decoded from bincode: this console has the workflow's types.
    let input = text(&page.find_element("section.data pre.json").await.unwrap()).await;
    assert!(input.contains(&format!("\"id\": \"{id}\"")), "{input}");
    let error = text(&page.find_element(".error-box").await.unwrap()).await;
    assert!(error.contains("FraudSuspected"), "{error}");
    shoot(&page, &shots, "order-failed.png").await;

    // Redrive, and watch it succeed: the page follows the execution and reloads when
    // it ends.
    page.find_element("button.primary")
        .await
        .expect("a Redrive button")
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(badge) = page.find_element("h1 .badge").await
            && text(&badge).await == "succeeded"
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the redriven order did not succeed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_for(&page, "svg [data-status=succeeded]", Duration::from_secs(5)).await;
    let redrives = text(&page.find_element("dl.facts").await.unwrap()).await;
    assert!(
        redrives.contains("Redrives\n1") || redrives.contains("Redrives\t1"),
        "{redrives}"
    );
    shoot(&page, &shots, "order-redriven.png").await;

    // The workflow: its graph and per-step statistics.
    page.goto(format!("{}/workflows/order-processing", console.base))
        .await
        .unwrap();
    wait_for(&page, "table.stats", Duration::from_secs(20)).await;
    shoot(&page, &shots, "orders-workflow.png").await;

    browser.close().await.unwrap();
    let _ = browser.wait().await;
    events.abort();
    drop(console);

    // The store agrees.
    let store = SqliteStore::open_read_only(&store).unwrap();
    let record = store.execution(&id).await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    assert_eq!(record.redrives, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_the_etl_execution_with_its_data_in_a_browser() {
    if chromium().is_none() {
        return;
    }
    let shots = screenshots();
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(example_binary("etl"));
    command
        .arg("--store")
        .arg(dir.path().join("etl.db"))
        .arg("--out")
        .arg(dir.path().join("report.json"))
        .args(["--console", "127.0.0.1:0"]);
    let console = serve(command);

    let (mut browser, events, _profile) = browser().await;
    let page = browser
        .new_page(format!("{}/executions/etl", console.base))
        .await
        .unwrap();
    wait_for(&page, "svg[role=img]", Duration::from_secs(30)).await;
    assert_eq!(
        text(&page.find_element("h1 .badge").await.unwrap()).await,
        "succeeded"
    );
    // Every step of the job ran and is drawn so; its map's progress is complete.
    let states = page.find_elements("svg .leaf[data-status]").await.unwrap();
    assert!(states.len() >= 6, "{} states drawn", states.len());
    for state in &states {
        let status = state.attribute("data-status").await.unwrap().unwrap();
        assert_eq!(status, "succeeded");
    }
    let counts = text(&wait_for(&page, ".map-counts", Duration::from_secs(5)).await).await;
    assert!(counts.contains(" 0 failed"), "{counts}");
    // The timeline has a bar per step, and the job's input is decoded.
    assert!(page.find_elements(".gantt .row").await.unwrap().len() >= 6);
    let input = text(&page.find_element("section.data pre.json").await.unwrap()).await;
    assert!(input.contains("\"scale\": 1"), "{input}");
    shoot(&page, &shots, "etl-execution.png").await;

    browser.close().await.unwrap();
    let _ = browser.wait().await;
    events.abort();
}
