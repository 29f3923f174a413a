//! Names: every kind of invalid name is refused when the workflow is built, with a
//! message naming it and where it is; every valid name, however hostile to the export
//! formats, draws into exports that parse (ASL as JSON, DOT by Graphviz, Mermaid by its
//! quoting rules) and show the name as written.

#[path = "support/export.rs"]
mod export;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use waypost::export as draw;
use waypost::prelude::*;
use waypost::workflow::{MAX_NAME_BYTES, NameOf, NameProblem, WorkflowError};

/// Valid names that mean something in DOT, Mermaid, HTML, Markdown, JSON or an address.
fn hostile() -> Vec<String> {
    let mut names: Vec<String> = [
        "say \"hi\"",
        r"back\slash\",
        r"\N \n \l \G \E",
        "<b>bold</b> & <i>it</i> &amp; &#35;",
        "{braces} | pipes [brackets] (parens)",
        "#quot; #35; # #x",
        "semi;colon; --> n0 -- edge",
        "`tick` **markdown**",
        "style:#fff; color:red;",
        "classDef x fill:#f00;",
        "end",
        "start",
        "subgraph",
        "%% a comment",
        "%%{init: {\"theme\": \"dark\"}}%%",
        "a/b/0.c#2~x",
        "ümlaut 🚚 中文 עברית مرحبا",
        "a (0.a)",
        " ",
    ]
    .map(str::to_owned)
    .into();
    // The longest name: 256 bytes, a multi-byte character at its end.
    names.push(format!("{}é", "n".repeat(MAX_NAME_BYTES - 2)));
    names
}

#[step(name = "quote \" backslash \\ <tag> {x} | #35; ; `md` end")]
async fn literal(x: u64) -> u64 {
    x
}

/// A workflow with `name` everywhere a name goes: the workflow, steps of every kind, a
/// choice label, a parallel, maps, a fail state's error, retry and catch error names.
fn everywhere(name: &str) -> Workflow<u64, u64> {
    let n = || name.to_owned();
    let policy = RetryPolicy::builder()
        .errors([n()])
        .interval(Duration::from_millis(100))
        .build();
    let route = choice()
        .named(n())
        .when(n(), |x: &u64| *x > 10, pass(n(), |x: u64| x))
        .when("never", |x: &u64| *x == 7, fail(n(), "seven is right out"))
        .otherwise(sync_step_fn(n(), |x: u64| Ok(x)));
    let n2 = n();
    let root = step_fn(n(), |x: u64| async move { Ok(x) })
        .then(literal)
        .then(route)
        .then(parallel((pass(n(), |x: u64| x), literal.retry(policy))).named(n()))
        .then(pass(n(), |(a, b): (u64, u64)| vec![a, b]))
        .then(map(pass(n(), |x: u64| x)).named(n()))
        .then(par_map(sync_step_fn(n(), |x: u64| Ok(x))).named(n()))
        .then(pass(n(), |v: Vec<u64>| v.iter().sum::<u64>()))
        .catch(
            [n(), "States.ALL".to_owned()],
            pass(n2, |(x, _): (u64, Error)| x),
        );
    Workflow::new(name.to_owned(), 1, root)
}

#[test]
fn hostile_names_draw_into_exports_that_parse_and_show_them_as_written() {
    for name in hostile() {
        let wf = everywhere(&name);
        assert_eq!(wf.name(), name);
        let graph = wf.graph();
        let asl = draw::asl(graph);
        let drawings = export::check_exports(&draw::mermaid(graph), &draw::dot(graph), &asl);
        // The ASL names every state; a state named `name` is drawn as `name` or, where
        // states share it, as `name (address)`.
        let states = export::check_asl(&asl);
        assert_eq!(states.len(), graph.nodes().len(), "{name:?}: {states:?}");
        for node in graph.nodes() {
            let own = format!("{} ({})", node.name, node.address);
            assert!(
                states.contains_key(&node.name) || states.contains_key(&own),
                "{name:?}: no ASL state for {:?} at {}",
                node.name,
                node.address
            );
        }
        // Labels on edges come back as written: the choice rule and the caught errors.
        for drawn in &drawings {
            let labels: Vec<&str> = drawn.edges.iter().filter_map(|e| e.2.as_deref()).collect();
            assert!(labels.contains(&name.as_str()), "{name:?}: {labels:?}");
            let caught = format!("{name}, States.ALL");
            assert!(labels.contains(&caught.as_str()), "{name:?}: {labels:?}");
        }
        let text = serde_json::to_string(&asl).unwrap();
        assert!(text.contains(&serde_json::to_string(&name).unwrap()));
    }
}

/// One invalid name: the name, how messages show it (quoted and cut short, and inside
/// an address), and what is wrong with it.
struct Bad {
    name: String,
    quoted: String,
    in_address: String,
    problem: NameProblem,
    why: &'static str,
}

fn bad_names() -> Vec<Bad> {
    let forbidden = |name: &str, quoted: &str, in_address: &str, character, at, why| Bad {
        name: name.to_owned(),
        quoted: quoted.to_owned(),
        in_address: in_address.to_owned(),
        problem: NameProblem::Forbidden { character, at },
        why,
    };
    vec![
        Bad {
            name: String::new(),
            quoted: "\"\"".into(),
            in_address: String::new(),
            problem: NameProblem::Empty,
            why: "it is empty",
        },
        Bad {
            name: "x".repeat(1 << 20),
            quoted: format!("\"{}\"…", "x".repeat(48)),
            in_address: format!("{}…", "x".repeat(94)),
            problem: NameProblem::TooLong { bytes: 1 << 20 },
            why: "it is 1048576 bytes long, over the limit of 256",
        },
        Bad {
            name: "y".repeat(MAX_NAME_BYTES + 1),
            quoted: format!("\"{}\"…", "y".repeat(48)),
            in_address: format!("{}…", "y".repeat(94)),
            problem: NameProblem::TooLong { bytes: 257 },
            why: "it is 257 bytes long, over the limit of 256",
        },
        forbidden(
            "a\0b",
            r#""a\0b""#,
            r"a\u{0}b",
            '\0',
            1,
            "it holds U+0000, a control character, at byte 1",
        ),
        forbidden(
            "tab\there",
            r#""tab\there""#,
            r"tab\u{9}here",
            '\t',
            3,
            "it holds U+0009, a control character, at byte 3",
        ),
        forbidden(
            "two\nlines",
            r#""two\nlines""#,
            r"two\u{a}lines",
            '\n',
            3,
            "it holds U+000A, a control character, at byte 3",
        ),
        forbidden(
            "cr\r",
            r#""cr\r""#,
            r"cr\u{d}",
            '\r',
            2,
            "it holds U+000D, a control character, at byte 2",
        ),
        forbidden(
            "del\u{7f}",
            r#""del\u{7f}""#,
            r"del\u{7f}",
            '\u{7f}',
            3,
            "it holds U+007F, a control character, at byte 3",
        ),
        forbidden(
            "c1\u{85}",
            r#""c1\u{85}""#,
            r"c1\u{85}",
            '\u{85}',
            2,
            "it holds U+0085, a control character, at byte 2",
        ),
        forbidden(
            "para\u{2029}graph",
            r#""para\u{2029}graph""#,
            r"para\u{2029}graph",
            '\u{2029}',
            4,
            "it holds U+2029, a line or paragraph separator, at byte 4",
        ),
        forbidden(
            "\u{202e}gnp.exe",
            r#""\u{202e}gnp.exe""#,
            r"\u{202e}gnp.exe",
            '\u{202e}',
            0,
            "it holds U+202E, a bidirectional formatting character, at byte 0",
        ),
        forbidden(
            "é\u{2066}iso",
            r#""é\u{2066}iso""#,
            r"é\u{2066}iso",
            '\u{2066}',
            2,
            "it holds U+2066, a bidirectional formatting character, at byte 2",
        ),
        forbidden(
            "mark\u{200f}",
            r#""mark\u{200f}""#,
            r"mark\u{200f}",
            '\u{200f}',
            4,
            "it holds U+200F, a bidirectional formatting character, at byte 4",
        ),
    ]
}

/// A place a name goes: what the message calls it, the state it is at (`None` for the
/// workflow's own name, `Some(None)` for the state named by it), and a workflow with
/// `name` there, as a workflow name and a root step.
struct Place {
    what: NameOf,
    called: &'static str,
    at: Option<Option<&'static str>>,
    build: fn(String) -> (String, BoxStep<u64, u64>),
}

fn first() -> impl Step<Input = u64, Output = u64> {
    pass("first", |x: u64| x)
}

fn places() -> Vec<Place> {
    fn item(x: u64) -> u64 {
        x
    }
    vec![
        Place {
            what: NameOf::Workflow,
            called: "workflow name",
            at: None,
            build: |name| (name, first().boxed()),
        },
        Place {
            what: NameOf::Step,
            called: "step name",
            at: Some(None),
            build: |name| {
                let root = first().then(step_fn(name, |x: u64| async move { Ok(x) }));
                ("w".into(), root.boxed())
            },
        },
        Place {
            what: NameOf::Step,
            called: "step name",
            at: Some(None),
            build: |name| {
                let root = first().then(sync_step_fn(name, |x: u64| Ok(x)));
                ("w".into(), root.boxed())
            },
        },
        Place {
            what: NameOf::Step,
            called: "step name",
            at: Some(None),
            build: |name| ("w".into(), first().then(pass(name, item)).boxed()),
        },
        Place {
            what: NameOf::Step,
            called: "step name",
            at: Some(None),
            build: |name| {
                let route = choice()
                    .named(name)
                    .when("big", |x: &u64| *x > 1, pass("a", item))
                    .otherwise(pass("b", item));
                ("w".into(), first().then(route).boxed())
            },
        },
        Place {
            what: NameOf::Step,
            called: "step name",
            at: Some(None),
            build: |name| {
                let both = parallel((pass("a", item), pass("b", item))).named(name);
                let root = first()
                    .then(both)
                    .then(pass("sum", |(a, b): (u64, u64)| a + b));
                ("w".into(), root.boxed())
            },
        },
        Place {
            what: NameOf::Step,
            called: "step name",
            at: Some(None),
            build: |name| {
                let root = pass("first", |x: u64| vec![x])
                    .then(map(pass("item", item)).named(name))
                    .then(pass("sum", |v: Vec<u64>| v.iter().sum::<u64>()));
                ("w".into(), root.boxed())
            },
        },
        Place {
            what: NameOf::Step,
            called: "step name",
            at: Some(None),
            build: |name| {
                let root = pass("first", |x: u64| vec![x])
                    .then(par_map(sync_step_fn("item", |x: u64| Ok(x))).named(name))
                    .then(pass("sum", |v: Vec<u64>| v.iter().sum::<u64>()));
                ("w".into(), root.boxed())
            },
        },
        Place {
            what: NameOf::ChoiceLabel,
            called: "choice label",
            at: Some(Some("1.choice")),
            build: |name| {
                let route = choice()
                    .when(name, |x: &u64| *x > 1, pass("a", item))
                    .otherwise(pass("b", item));
                ("w".into(), first().then(route).boxed())
            },
        },
        Place {
            what: NameOf::FailError,
            called: "error name",
            at: Some(Some("1.fail")),
            build: |name| ("w".into(), first().then(fail(name, "cause")).boxed()),
        },
        Place {
            what: NameOf::RetryError,
            called: "error name",
            at: Some(Some("1.p")),
            build: |name| {
                let policy = RetryPolicy::builder().errors([name]).build();
                (
                    "w".into(),
                    first().then(pass("p", item).retry(policy)).boxed(),
                )
            },
        },
        Place {
            what: NameOf::CatchError,
            called: "error name",
            at: Some(Some("1.p")),
            build: |name| {
                let handler = pass("h", |(x, _): (u64, Error)| x);
                let root = first().then(pass("p", item).catch([name], handler));
                ("w".into(), root.boxed())
            },
        },
    ]
}

/// The rule, as every message about a name ends.
const RULE: &str = "(a name is 1 to 256 bytes with no control characters, line or \
                    paragraph separators, or bidirectional formatting characters)";

#[test]
fn every_kind_of_invalid_name_is_refused_with_a_message_naming_it_and_where_it_is() {
    for place in places() {
        for bad in bad_names() {
            let (name, root) = (place.build)(bad.name.clone());
            let error = Workflow::try_new(name.clone(), 1, root.clone())
                .expect_err("an invalid name is refused");
            let WorkflowError::InvalidName {
                what,
                name: given,
                address,
                problem,
                ..
            } = &error
            else {
                panic!("not an invalid name: {error:?}");
            };
            assert_eq!(
                (*what, given, problem),
                (place.what, &bad.name, &bad.problem)
            );
            let (expected_address, at) = match place.at {
                None => (String::new(), String::new()),
                Some(None) => (
                    format!("1.{}", bad.name),
                    format!(" at `1.{}`", bad.in_address),
                ),
                Some(Some(state)) => (state.to_owned(), format!(" at `{state}`")),
            };
            assert_eq!(address.as_str(), expected_address);
            let placed = match place.what {
                NameOf::ChoiceLabel => format!(" of the choice{at}"),
                NameOf::FailError => format!(" of the fail state{at}"),
                NameOf::RetryError => format!(" in a retry policy{at}"),
                NameOf::CatchError => format!(" in a catch{at}"),
                _ => at,
            };
            let message = format!(
                "invalid {} {}{placed}: {} {RULE}",
                place.called, bad.quoted, bad.why
            );
            assert_eq!(error.to_string(), message);

            // `Workflow::new` panics with the same message.
            let panic = catch_unwind(AssertUnwindSafe(|| Workflow::new(name, 1, root)))
                .expect_err("Workflow::new panics on an invalid name");
            assert_eq!(panic.downcast_ref::<String>(), Some(&message));
        }
    }
}

#[step(name = "evil\u{202e}")]
async fn evil(x: u64) -> u64 {
    x
}

#[test]
fn a_step_macro_name_is_checked_too() {
    let error = Workflow::try_new("w", 1, first().then(evil)).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "invalid step name \"evil\\u{{202e}}\" at `1.evil\\u{{202e}}`: it holds U+202E, \
             a bidirectional formatting character, at byte 4 {RULE}"
        )
    );
}

#[test]
fn names_deep_in_the_graph_are_checked_with_their_address() {
    let inner = choice()
        .named("route")
        .when("ok", |x: &u64| *x > 1, pass("fine", |x: u64| x))
        .otherwise(pass("bad\u{7}bell", |x: u64| x));
    let root = pass("first", |x: u64| vec![x])
        .then(map(parallel((inner, pass("other", |x: u64| x)))).named("each"))
        .then(pass("flatten", |v: Vec<(u64, u64)>| v.len() as u64));
    let error = Workflow::try_new("deep", 1, root).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "invalid step name \"bad\\u{{7}}bell\" at \
             `1.each/item/0.parallel/0/0.route/otherwise/0.bad\\u{{7}}bell`: it holds U+0007, \
             a control character, at byte 3 {RULE}"
        )
    );
}
