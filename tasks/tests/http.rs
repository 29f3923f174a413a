//! The HTTP task against a real server on loopback: statuses and their names, retries
//! (counted by the server) with `Retry-After` honoured, timeouts, connection failures,
//! cancellation, idempotency keys, and secrets kept out of the store.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpListener;
use waypost::prelude::*;
use waypost::tasks::{HttpConfig, HttpRequest, Secret, http};
use waypost::{EventKind, MemoryStore, SqliteStore};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Charge {
    cents: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Receipt {
    cents: u64,
    key: String,
}

/// Hits per route, and the `Authorization` headers seen.
#[derive(Default)]
struct Seen {
    busy: AtomicU32,
    broken: AtomicU32,
    /// When `/later` and `/past` were hit.
    later: std::sync::Mutex<Vec<Instant>>,
    past: AtomicU32,
    auth: std::sync::Mutex<Vec<String>>,
}

async fn charge(headers: HeaderMap, Json(charge): Json<Charge>) -> Json<Receipt> {
    let key = headers
        .get("idempotency-key")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    Json(Receipt {
        cents: charge.cents,
        key,
    })
}

/// 429 with `Retry-After: 1` on the first hit, then 200.
async fn busy(State(seen): State<Arc<Seen>>) -> Response {
    if seen.busy.fetch_add(1, Ordering::SeqCst) == 0 {
        (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            "slow down",
        )
            .into_response()
    } else {
        Json(7u32).into_response()
    }
}

/// 503 with a `Retry-After` date 3 s ahead on the first hit, then 200.
async fn later(State(seen): State<Arc<Seen>>) -> Response {
    let mut hits = seen.later.lock().unwrap();
    hits.push(Instant::now());
    if hits.len() == 1 {
        let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3));
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", date)],
            "later",
        )
            .into_response()
    } else {
        Json(8u32).into_response()
    }
}

/// 503 with a `Retry-After` date long past on the first hit, then 200.
async fn past(State(seen): State<Arc<Seen>>) -> Response {
    if seen.past.fetch_add(1, Ordering::SeqCst) == 0 {
        let date = "Wed, 21 Oct 2015 07:28:00 GMT";
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", date)],
            "past",
        )
            .into_response()
    } else {
        Json(9u32).into_response()
    }
}

async fn broken(State(seen): State<Arc<Seen>>) -> (StatusCode, &'static str) {
    seen.broken.fetch_add(1, Ordering::SeqCst);
    (StatusCode::INTERNAL_SERVER_ERROR, "database on fire")
}

async fn secured(State(seen): State<Arc<Seen>>, headers: HeaderMap) -> Json<bool> {
    let auth = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    seen.auth.lock().unwrap().push(auth);
    Json(true)
}

/// Starts the server on 127.0.0.1:0; returns its base URL and what it saw.
async fn server() -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route("/charge", post(charge))
        .route("/busy", get(busy))
        .route("/broken", get(broken))
        .route("/later", get(later))
        .route("/past", get(past))
        .route("/secured", post(secured))
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route("/garbage", get(|| async { "not json" }))
        .route("/slow", get(std::future::pending::<&'static str>))
        .with_state(Arc::clone(&seen));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

fn fast_retry(errors: &[&str], attempts: u32) -> RetryPolicy {
    RetryPolicy::builder()
        .errors(errors.iter().copied())
        .max_attempts(attempts)
        .interval(Duration::from_millis(1))
        .build()
}

#[tokio::test]
async fn a_200_answer_is_decoded_and_carries_the_idempotency_key() {
    let (base, _) = server().await;
    let step = http::post::<Charge, Receipt>("charge", format!("{base}/charge"));
    let wf = Workflow::new("pay", 1, step);
    let receipt = Runtime::new()
        .run(&wf, Charge { cents: 500 })
        .await
        .unwrap();
    assert_eq!(receipt.cents, 500);
    assert!(receipt.key.ends_with("/0.charge#1"), "{}", receipt.key);
}

#[tokio::test]
async fn a_404_is_named_and_caught() {
    let (base, _) = server().await;
    let lookup = http::get::<String>("lookup", format!("{base}/missing"));
    let error = Runtime::new()
        .run(
            &Workflow::new(
                "lookup",
                1,
                http::get::<String>("lookup", format!("{base}/missing")),
            ),
            (),
        )
        .await
        .unwrap_err();
    assert_eq!(error.name(), "Http.404");
    assert!(
        error.message().contains("404 Not Found"),
        "{}",
        error.message()
    );
    let caught = lookup.catch(
        ["Http.404"],
        pass("anonymous", |((), _): ((), Error)| "anonymous".to_owned()),
    );
    let out = Runtime::new()
        .run(&Workflow::new("lookup", 1, caught), ())
        .await
        .unwrap();
    assert_eq!(out, "anonymous");
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after() {
    let (base, seen) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::builder()
        .store(SqliteStore::open(dir.path().join("w.db")).unwrap())
        .build();
    // The policy's own delay is 1 ms: a delay of 1 s can only come from the header.
    let step = http::get::<u32>("busy", format!("{base}/busy")).retry(fast_retry(&["Http.429"], 3));
    let wf = Workflow::new("busy", 1, step);
    assert_eq!(runtime.start(&wf, "busy-1", ()).await.unwrap(), 7);
    assert_eq!(seen.busy.load(Ordering::SeqCst), 2);
    assert_eq!(
        retry_delays(&runtime, "busy-1").await,
        [(Some(1000), Some("Http.429".to_owned()))]
    );
}

/// The delays of the retries recorded in `id`'s history, with the errors they follow.
async fn retry_delays(runtime: &Runtime, id: &str) -> Vec<(Option<u64>, Option<String>)> {
    let history = runtime.history(id).await.unwrap();
    history
        .iter()
        .filter(|e| e.kind == EventKind::RetryScheduled)
        .map(|e| {
            (
                e.details.delay_ms,
                e.details.error.as_ref().map(|e| e.name.clone()),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_retry_after_date_sets_the_delay_until_that_date() {
    let (base, seen) = server().await;
    let runtime = Runtime::builder().store(MemoryStore::new()).build();
    let step =
        http::get::<u32>("later", format!("{base}/later")).retry(fast_retry(&["Http.503"], 3));
    let wf = Workflow::new("later", 1, step);
    assert_eq!(runtime.start(&wf, "later-1", ()).await.unwrap(), 8);
    let delays = retry_delays(&runtime, "later-1").await;
    assert_eq!(delays.len(), 1, "{delays:?}");
    // 3 s ahead in whole seconds, read a moment later: more than 1 s, at most 3 s (the
    // policy's own delay is 1 ms).
    let (delay, name) = &delays[0];
    assert_eq!(name.as_deref(), Some("Http.503"));
    assert!(
        delay.is_some_and(|ms| (1000..=3000).contains(&ms)),
        "{delay:?}"
    );
    // ...and honoured: the server saw the second call that much later.
    let hits = seen.later.lock().unwrap().clone();
    assert_eq!(hits.len(), 2);
    let waited = hits[1] - hits[0];
    assert!(
        waited >= Duration::from_millis(delay.unwrap()),
        "{waited:?} < {delay:?} ms"
    );
}

#[tokio::test]
async fn a_retry_after_date_in_the_past_retries_at_once() {
    let (base, seen) = server().await;
    let runtime = Runtime::builder().store(MemoryStore::new()).build();
    // The policy's own delay is 10 minutes: only the header can make it zero.
    let policy = RetryPolicy::builder()
        .errors(["Http.503"])
        .max_attempts(2)
        .interval(Duration::from_secs(600))
        .build();
    let step = http::get::<u32>("past", format!("{base}/past")).retry(policy);
    let wf = Workflow::new("past", 1, step);
    assert_eq!(runtime.start(&wf, "past-1", ()).await.unwrap(), 9);
    assert_eq!(seen.past.load(Ordering::SeqCst), 2);
    assert_eq!(
        retry_delays(&runtime, "past-1").await,
        [(Some(0), Some("Http.503".to_owned()))]
    );
}

#[tokio::test]
async fn a_500_is_retried_until_the_attempts_run_out() {
    let (base, seen) = server().await;
    let step =
        http::get::<u32>("broken", format!("{base}/broken")).retry(fast_retry(&["Http.500"], 3));
    let error = Runtime::new()
        .run(&Workflow::new("broken", 1, step), ())
        .await
        .unwrap_err();
    assert_eq!(error.name(), "Http.500");
    assert!(
        error.message().contains("database on fire"),
        "{}",
        error.message()
    );
    assert_eq!(seen.broken.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_body_that_is_not_the_output_type_is_a_bad_response() {
    let (base, _) = server().await;
    let step = http::get::<u32>("garbage", format!("{base}/garbage"));
    let error = Runtime::new()
        .run(&Workflow::new("garbage", 1, step), ())
        .await
        .unwrap_err();
    assert_eq!(error.name(), "Http.BadResponse");
}

#[tokio::test]
async fn a_slow_answer_is_a_timeout() {
    let (base, _) = server().await;
    let config = HttpConfig::builder()
        .timeout(Duration::from_millis(200))
        .build();
    let step = http::get::<u32>("slow", format!("{base}/slow")).config(config);
    let error = Runtime::new()
        .run(&Workflow::new("slow", 1, step), ())
        .await
        .unwrap_err();
    assert_eq!(error.name(), "Http.Timeout");
}

#[tokio::test]
async fn refused_and_reset_connections_are_connection_failures() {
    // Nobody listens on a port just freed.
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refused = format!("http://{}/", free.local_addr().unwrap());
    drop(free);
    let step = http::get::<u32>("refused", refused);
    let error = Runtime::new()
        .run(&Workflow::new("refused", 1, step), ())
        .await
        .unwrap_err();
    assert_eq!(error.name(), "Http.ConnectionFailed");

    // A server that reads the request and resets the connection.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buffer = [0u8; 1024];
        let _ = socket.read(&mut buffer).await;
        socket.set_zero_linger().unwrap();
        drop(socket);
    });
    let step = http::get::<u32>("reset", url);
    let error = Runtime::new()
        .run(&Workflow::new("reset", 1, step), ())
        .await
        .unwrap_err();
    assert_eq!(error.name(), "Http.ConnectionFailed", "{error}");
}

#[tokio::test]
async fn a_dropped_step_closes_its_connection() {
    // A server that never answers, and reports when the client hangs up.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let (hung_up, closed) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buffer = [0u8; 1024];
        // The request, then nothing until the client closes (0) or resets (an error).
        let _ = socket.read(&mut buffer).await;
        let end = socket.read(&mut buffer).await;
        let _ = hung_up.send(matches!(end, Ok(0) | Err(_)));
    });
    // The waypost timeout drops the step's future (as a cancel or a lost lease does).
    let step = http::get::<u32>("hang", url).timeout(Duration::from_millis(100));
    let error = Runtime::new()
        .run(&Workflow::new("hang", 1, step), ())
        .await
        .unwrap_err();
    assert!(error.is_timeout());
    // A guard against a hang, not a measure of speed.
    let closed = tokio::time::timeout(Duration::from_secs(30), closed).await;
    assert_eq!(closed.map(Result::ok), Ok(Some(true)));
}

#[tokio::test]
async fn secret_headers_reach_the_server_and_never_the_store() {
    let (base, seen) = server().await;
    let secret = "sk_live_7f3a9c1d-never-stored";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret.db");
    let runtime = Runtime::builder()
        .store(SqliteStore::open(&path).unwrap())
        .build();
    let config = HttpConfig::builder()
        .secret_headers([("Authorization", Secret::new(format!("Bearer {secret}")))])
        .build();
    let url = format!("{base}/secured");
    let call = http::call("secured", move |charge: Charge| {
        HttpRequest::post(url.clone()).json(&charge)
    })
    .config(config.clone());
    // The secret is in neither the step's nor its configuration's printed forms.
    assert!(!format!("{call:?}").contains(secret));
    let ok: bool = runtime
        .start(
            &Workflow::new("secured", 1, call),
            "secret-1",
            Charge { cents: 1 },
        )
        .await
        .unwrap();
    assert!(ok);
    assert_eq!(*seen.auth.lock().unwrap(), [format!("Bearer {secret}")]);
    // A failing call with the secret: its error is stored too.
    let failing = http::get::<u32>("failing", format!("{base}/broken")).config(config);
    let error = runtime
        .start(&Workflow::new("failing", 1, failing), "secret-2", ())
        .await
        .unwrap_err();
    assert!(!format!("{error:?} {error}").contains(secret));
    drop(runtime);
    let mut files = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        files += 1;
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is in the store"
        );
    }
    assert!(files >= 1);
    // ...while what the store holds is there: the check can fail.
    let stored: Vec<u8> = std::fs::read_dir(dir.path())
        .unwrap()
        .flat_map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert!(
        stored
            .windows(b"database on fire".len())
            .any(|w| w == b"database on fire")
    );
}

#[tokio::test]
async fn an_invalid_request_is_terminal_and_says_what_is_wrong() {
    let (base, _) = server().await;
    let retry_all = fast_retry(&["States.ALL"], 3);
    let secret = Secret::new("line\nbreak-sk_live_never-shown");
    let cases: [(HttpRequest, HttpConfig, &str); 4] = [
        (
            HttpRequest::get("no-scheme/x"),
            HttpConfig::default(),
            "`no-scheme/x` is not a URL",
        ),
        (
            HttpRequest::get(format!("{base}/charge")).header("bad name", "x"),
            HttpConfig::default(),
            "`bad name` is not a header name",
        ),
        (
            HttpRequest::get(format!("{base}/charge")).header("X-Ok", "a\nb"),
            HttpConfig::default(),
            "the value of header `X-Ok` is not a valid header value",
        ),
        (
            HttpRequest::get(format!("{base}/charge")),
            HttpConfig::builder()
                .secret_headers([("Authorization", secret)])
                .build(),
            "the value of secret header `Authorization` is not a valid header value",
        ),
    ];
    for (request, config, expected) in cases {
        let step = http::call::<(), u32>("bad", move |()| Ok(request.clone()))
            .config(config)
            .retry(retry_all.clone());
        let error = Runtime::new()
            .run(&Workflow::new("bad", 1, step), ())
            .await
            .unwrap_err();
        assert_eq!(error.name(), "Http.InvalidRequest", "{error}");
        assert!(error.is_terminal());
        assert!(error.message().contains(expected), "{}", error.message());
        assert!(
            !error.message().contains("never-shown"),
            "{}",
            error.message()
        );
    }
}

/// A `tracing` subscriber that writes every span's and event's fields, at every level
/// from every crate that logs through `tracing`, into one text.
#[derive(Clone, Default)]
struct Everything(Arc<std::sync::Mutex<String>>);

impl tracing::field::Visit for Everything {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let line = format!("{}={value:?}\n", field.name());
        self.0.lock().unwrap().push_str(&line);
    }
}

impl tracing::Subscriber for Everything {
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::always()
    }
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        span.record(&mut self.clone());
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        values.record(&mut self.clone());
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        event.record(&mut self.clone());
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test(flavor = "current_thread")]
async fn secret_headers_never_reach_the_logs() {
    let logs = Everything::default();
    // Everything below runs on this thread (a current-thread runtime), so it all logs here.
    let _guard = tracing::subscriber::set_default(logs.clone());
    let (base, seen) = server().await;
    let secret = "sk_live_2b8e-never-logged";
    let config = HttpConfig::builder()
        .secret_headers([("Authorization", Secret::new(format!("Bearer {secret}")))])
        .build();
    let runtime = Runtime::builder().store(MemoryStore::new()).build();
    let url = format!("{base}/secured");
    let ok = http::call::<Charge, bool>("secured", move |charge: Charge| {
        HttpRequest::post(url.clone()).json(&charge)
    })
    .config(config.clone());
    assert!(
        runtime
            .start(
                &Workflow::new("secured", 1, ok),
                "log-1",
                Charge { cents: 1 }
            )
            .await
            .unwrap()
    );
    assert_eq!(*seen.auth.lock().unwrap(), [format!("Bearer {secret}")]);
    let failing = http::get::<u32>("failing", format!("{base}/broken")).config(config);
    let error = runtime
        .start(&Workflow::new("failing", 1, failing), "log-2", ())
        .await
        .unwrap_err();
    assert!(format!("{error}").contains("Http.500"), "{error}");
    let logs = logs.0.lock().unwrap().clone();
    assert!(!logs.contains(secret), "the secret is in the logs:\n{logs}");
    // ...while the logs hold what was logged: the check can fail.
    assert!(logs.contains("log-2"), "{logs}");
    assert!(logs.contains("Http.500"), "{logs}");
}

/// A server with `/big/{n}` (a JSON string of `n` bytes, with its length declared),
/// `/stream/{n}` (the same in chunks, length not declared), `/here` (a redirect within
/// the origin), `/away` (a redirect to `elsewhere`) and `/key` (the `X-Api-Key` seen).
async fn redirecting_server(elsewhere: &str) -> String {
    async fn big(axum::extract::Path(n): axum::extract::Path<usize>) -> String {
        format!("\"{}\"", "x".repeat(n))
    }
    async fn stream(axum::extract::Path(n): axum::extract::Path<usize>) -> Response {
        let chunks = (0..n / 1024).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 1024]));
        axum::body::Body::from_stream(futures::stream::iter(chunks)).into_response()
    }
    async fn key(headers: HeaderMap) -> Json<String> {
        let key = headers.get("x-api-key").map(|v| v.to_str().unwrap());
        Json(key.unwrap_or("none").to_owned())
    }
    let away = format!("{elsewhere}/key");
    let app = Router::new()
        .route("/big/{n}", get(big))
        .route("/stream/{n}", get(stream))
        .route("/key", get(key))
        .route(
            "/here",
            get(|| async { axum::response::Redirect::temporary("/key") }),
        )
        .route(
            "/away",
            get(move || async move { axum::response::Redirect::temporary(&away) }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[tokio::test]
async fn an_answer_longer_than_the_limit_is_refused_declared_or_streamed() {
    let base = redirecting_server("http://127.0.0.1:9").await;
    let config = HttpConfig::builder().max_response(10_000).build();
    let runtime = Runtime::new();
    // Within the limit: decoded.
    let fits = http::get::<String>("fits", format!("{base}/big/9000")).config(config.clone());
    let text = runtime
        .run(&Workflow::new("fits", 1, fits), ())
        .await
        .unwrap();
    assert_eq!(text.len(), 9000);
    for path in ["big/20000", "stream/65536"] {
        let step = http::get::<String>("huge", format!("{base}/{path}")).config(config.clone());
        let error = runtime
            .run(&Workflow::new("huge", 1, step), ())
            .await
            .unwrap_err();
        assert_eq!(error.name(), "Http.ResponseTooLarge", "{path}: {error}");
        assert!(
            error
                .message()
                .contains("longer than 10000 bytes, the step's limit"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn secret_headers_never_follow_a_redirect_to_another_origin() {
    let other = redirecting_server("http://127.0.0.1:9").await;
    let base = redirecting_server(&other).await;
    let runtime = Runtime::new();
    let with_key = HttpConfig::builder()
        .secret_headers([("X-Api-Key", Secret::new("k-123"))])
        .build();
    // Within the origin the redirect is followed, with the secret.
    let here = http::get::<String>("here", format!("{base}/here")).config(with_key.clone());
    let seen = runtime
        .run(&Workflow::new("here", 1, here), ())
        .await
        .unwrap();
    assert_eq!(seen, "k-123");
    // To another origin it is not: the step fails, named by the redirect's status.
    let away = http::get::<String>("away", format!("{base}/away")).config(with_key);
    let error = runtime
        .run(&Workflow::new("away", 1, away), ())
        .await
        .unwrap_err();
    assert_eq!(error.name(), "Http.307", "{error}");
    assert!(
        error
            .message()
            .contains(&format!("a redirect to `{other}/key`: not followed")),
        "{error}"
    );
    assert!(!error.message().contains("k-123"));
    // Without secrets the same redirect is followed.
    let plain = http::get::<String>("plain", format!("{base}/away"));
    let seen = runtime
        .run(&Workflow::new("plain", 1, plain), ())
        .await
        .unwrap();
    assert_eq!(seen, "none");
}
