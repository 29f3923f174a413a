//! The task runner keeps a sync step inside its `tracing` span on the CPU pool.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

use super::run_sync_task;
use crate::context::{Context, Host};
use crate::error::Error;
use crate::step_fn::sync_step_fn;

/// Spans and events as the tests see them: each event with the span it happened in.
#[derive(Default)]
struct Spans {
    next: AtomicU64,
    /// `kind(name)` of each span, by id: `step(traced)`.
    spans: Mutex<HashMap<u64, String>>,
    /// Each event's message, the span it happened in, and the thread.
    events: Mutex<Vec<(String, Option<String>, ThreadId)>>,
}

thread_local! {
    /// The spans entered on this thread, innermost last.
    static ENTERED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// One field's value, as text.
struct FieldText<'a>(&'a str, Option<String>);

impl Visit for FieldText<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == self.0 {
            self.1 = Some(value.to_owned());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == self.0 {
            self.1 = Some(format!("{value:?}"));
        }
    }
}

/// The subscriber of this test binary (a `tracing` global: installed once).
struct Global(&'static Spans);

impl Subscriber for Global {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.0.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut name = FieldText("name", None);
        span.record(&mut name);
        let text = format!("{}({})", span.metadata().name(), name.1.unwrap_or_default());
        self.0.spans.lock().unwrap().insert(id, text);
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut message = FieldText("message", None);
        event.record(&mut message);
        let inside = ENTERED.with_borrow(|entered| entered.last().copied());
        let span = inside.and_then(|id| self.0.spans.lock().unwrap().get(&id).cloned());
        self.0.events.lock().unwrap().push((
            message.1.unwrap_or_default(),
            span,
            thread::current().id(),
        ));
    }
    fn enter(&self, span: &Id) {
        ENTERED.with_borrow_mut(|entered| entered.push(span.into_u64()));
    }
    fn exit(&self, span: &Id) {
        ENTERED.with_borrow_mut(|entered| {
            if let Some(at) = entered.iter().rposition(|&id| id == span.into_u64()) {
                entered.remove(at);
            }
        });
    }
}

fn spans() -> &'static Spans {
    static SPANS: LazyLock<&'static Spans> = LazyLock::new(|| {
        let spans: &'static Spans = Box::leak(Box::default());
        tracing::subscriber::set_global_default(Global(spans))
            .expect("no other global subscriber in this test binary");
        spans
    });
    *SPANS
}

/// Timers from tokio, CPU work on rayon's global pool: what the runtime's host does.
#[derive(Debug)]
struct RayonHost;

impl Host for RayonHost {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        tokio::time::sleep(duration).boxed()
    }
    fn spawn_blocking(&self, job: Box<dyn FnOnce() + Send>) {
        rayon::spawn(job);
    }
}

#[tokio::test]
async fn a_sync_step_runs_on_the_pool_inside_its_span() {
    let spans = spans();
    let traced = sync_step_fn("traced", |x: u32| {
        tracing::info!("traced works on {x}");
        Ok::<_, Error>(x + 1)
    });
    let cx = Context::new(Arc::new(RayonHost), "exec-1");
    assert_eq!(run_sync_task(&traced, &cx, 41).await.unwrap(), 42);

    let events = spans.events.lock().unwrap();
    let (_, span, thread) = events
        .iter()
        .find(|(message, ..)| message == "traced works on 41")
        .expect("the step's event was recorded");
    assert_eq!(span.as_deref(), Some("step(traced)"));
    assert_ne!(
        *thread,
        thread::current().id(),
        "the step ran on the test's thread"
    );
}
