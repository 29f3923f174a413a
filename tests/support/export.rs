//! Checks shared by the export tests (`graph_export.rs`, `export_examples.rs`,
//! `export_names.rs`). Each export is parsed by the rules of its format — ASL as JSON,
//! DOT by Graphviz itself, Mermaid by the flowchart syntax the export relies on — and
//! its flow is checked: every state is reachable from the start and reaches an end.
#![allow(dead_code, reason = "each test file uses its own part of the helpers")]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::Value;

/// Checks the three exports of one workflow, and that they draw the same states: the
/// labels of the Mermaid and DOT nodes, unescaped, are the ASL state names. Returns the
/// drawings as parsed: the Mermaid one, and the DOT one unless Graphviz is missing.
pub(crate) fn check_exports(mermaid: &str, dot: &str, asl: &Value) -> Vec<Drawn> {
    let states = check_asl(asl);
    let fails: HashSet<String> = states
        .iter()
        .filter(|(_, kind)| *kind == "Fail")
        .map(|(name, _)| name.clone())
        .collect();
    let names: BTreeSet<&String> = states.keys().collect();

    let mut drawings = vec![parse_mermaid(mermaid)];
    check_drawing("mermaid", &drawings[0], "start", "finish", &names, &fails);
    if let Some(drawn) = graphviz(dot) {
        check_drawing("dot", &drawn, "start", "end", &names, &fails);
        drawings.push(drawn);
    }
    drawings
}

// ---------------------------------------------------------------------------------------
// Amazon States Language

/// Checks an ASL state machine and every machine nested in it (parallel branches, map
/// item processors): `StartAt` and every `Next`, `Default`, `Choices` and `Catch`
/// target name a state of the same machine; every state is reachable from `StartAt` and
/// reaches a terminal state (`End`, `Succeed`, `Fail`); state names are unique across
/// the whole machine; numbers are in the ranges ASL allows. Returns every state's name
/// and `Type`.
pub(crate) fn check_asl(machine: &Value) -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    check_machine(machine, "the machine", &mut all);
    all
}

fn check_machine(machine: &Value, at: &str, all: &mut BTreeMap<String, String>) {
    let states = machine["States"]
        .as_object()
        .unwrap_or_else(|| panic!("{at}: `States` is not an object"));
    let start = machine["StartAt"]
        .as_str()
        .unwrap_or_else(|| panic!("{at}: `StartAt` is not a string"));
    assert!(
        states.contains_key(start),
        "{at}: StartAt `{start}` is not a state"
    );
    let mut next: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut terminal = HashSet::new();
    for (name, state) in states {
        let kind = state["Type"]
            .as_str()
            .unwrap_or_else(|| panic!("`{name}` has no `Type`"));
        let previous = all.insert(name.clone(), kind.to_owned());
        assert!(previous.is_none(), "two states are named `{name}`");
        // Every state this one can go to.
        let mut targets: Vec<&Value> = Vec::new();
        let ends = state.get("End") == Some(&Value::Bool(true));
        match kind {
            "Choice" => {
                let rules = state["Choices"]
                    .as_array()
                    .unwrap_or_else(|| panic!("choice `{name}` has no `Choices`"));
                targets.extend(rules.iter().map(|rule| &rule["Next"]));
                targets.extend(state.get("Default"));
                assert!(
                    state.get("Next").is_none() && !ends,
                    "choice `{name}` has `Next` or `End`"
                );
            }
            "Succeed" | "Fail" => {
                assert!(
                    state.get("Next").is_none() && state.get("End").is_none(),
                    "`{name}` is terminal but has `Next` or `End`"
                );
                terminal.insert(name.as_str());
            }
            "Task" | "Pass" | "Wait" | "Parallel" | "Map" => match state.get("Next") {
                Some(to) => {
                    assert!(!ends, "`{name}` has both `Next` and `End`");
                    targets.push(to);
                }
                None => {
                    assert!(ends, "`{name}` neither goes on nor ends");
                    terminal.insert(name.as_str());
                }
            },
            other => panic!("`{name}` has the unknown type `{other}`"),
        }
        for catcher in array(state, "Catch") {
            targets.push(&catcher["Next"]);
            assert!(
                catcher["ResultPath"].is_string(),
                "a catch of `{name}` has no `ResultPath`"
            );
            assert_error_names(name, catcher);
        }
        for retrier in array(state, "Retry") {
            assert_error_names(name, retrier);
            assert_whole(name, retrier, "IntervalSeconds", 1);
            assert_whole(name, retrier, "MaxDelaySeconds", 1);
            let attempts = retrier["MaxAttempts"].as_u64();
            assert!(
                attempts.is_some_and(|n| n <= 99_999_999),
                "`{name}` has a bad `MaxAttempts`: {retrier}"
            );
            let rate = retrier["BackoffRate"].as_f64();
            assert!(
                rate.is_some_and(|r| r >= 1.0),
                "`{name}` has a bad `BackoffRate`: {retrier}"
            );
        }
        for value in targets {
            let to = value
                .as_str()
                .unwrap_or_else(|| panic!("`{name}` goes to {value}, not a state name"));
            assert!(
                states.contains_key(to),
                "`{name}` goes to `{to}`, which is not a state of {at}"
            );
            next.entry(name.as_str()).or_default().push(to);
        }
        assert_whole(name, state, "TimeoutSeconds", 1);
        if kind == "Wait" {
            assert_whole(name, state, "Seconds", 0);
            // A growing delay (a condition's backoff) is read from the input.
            assert!(
                state["Seconds"].is_u64() != state["SecondsPath"].is_string(),
                "wait `{name}` has no `Seconds` or `SecondsPath`, or both"
            );
        }
        for (i, branch) in array(state, "Branches").iter().enumerate() {
            check_machine(branch, &format!("branch {i} of `{name}`"), all);
        }
        if kind == "Parallel" {
            assert!(
                !array(state, "Branches").is_empty(),
                "parallel `{name}` has no branches"
            );
        }
        if kind == "Map" {
            let processor = state
                .get("ItemProcessor")
                .unwrap_or_else(|| panic!("map `{name}` has no `ItemProcessor`"));
            check_machine(processor, &format!("the item processor of `{name}`"), all);
        }
    }
    let forward = reach(&next, [start]);
    let unreached: Vec<&String> = states
        .keys()
        .filter(|name| !forward.contains(name.as_str()))
        .collect();
    assert!(
        unreached.is_empty(),
        "{at}: {unreached:?} cannot be reached from `{start}`"
    );
    let backward = reach(&reverse(&next), terminal.iter().copied());
    let stuck: Vec<&String> = states
        .keys()
        .filter(|name| !backward.contains(name.as_str()))
        .collect();
    assert!(stuck.is_empty(), "{at}: {stuck:?} never reach an end");
}

fn array<'a>(state: &'a Value, key: &str) -> &'a [Value] {
    state
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn assert_error_names(name: &str, block: &Value) {
    let errors = block["ErrorEquals"]
        .as_array()
        .unwrap_or_else(|| panic!("a block of `{name}` has no `ErrorEquals`: {block}"));
    assert!(
        !errors.is_empty() && errors.iter().all(Value::is_string),
        "a block of `{name}` has a bad `ErrorEquals`: {block}"
    );
}

/// `object[key]`, if present, is a whole number of at least `min`.
fn assert_whole(name: &str, object: &Value, key: &str, min: u64) {
    if let Some(value) = object.get(key) {
        assert!(
            value.as_u64().is_some_and(|n| n >= min),
            "`{name}` has {key} {value}; ASL takes whole numbers of at least {min}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Drawings: Mermaid and DOT

/// A drawing as parsed: node ids with their labels (unescaped), and edges.
#[derive(Debug, Default)]
pub(crate) struct Drawn {
    /// Label by node id.
    pub(crate) nodes: BTreeMap<String, String>,
    /// `(from, to, label)` by node id.
    pub(crate) edges: Vec<(String, String, Option<String>)>,
}

/// Checks a drawing: its states are `names` (the start and end nodes aside); every node
/// is reachable from `start`, and reaches `end` or a fail state.
fn check_drawing(
    format: &str,
    drawn: &Drawn,
    start: &str,
    end: &str,
    names: &BTreeSet<&String>,
    fails: &HashSet<String>,
) {
    assert_eq!(drawn.nodes.get(start).map(String::as_str), Some("start"));
    assert_eq!(drawn.nodes.get(end).map(String::as_str), Some("end"));
    let labels: BTreeSet<&String> = drawn
        .nodes
        .iter()
        .filter(|(id, _)| *id != start && *id != end)
        .map(|(_, label)| label)
        .collect();
    assert_eq!(
        labels, *names,
        "{format}: the states drawn are not the ASL states"
    );
    assert_eq!(
        labels.len() + 2,
        drawn.nodes.len(),
        "{format}: two nodes have one label"
    );
    let mut next: HashMap<&str, Vec<&str>> = HashMap::new();
    for (from, to, _) in &drawn.edges {
        for id in [from, to] {
            assert!(
                drawn.nodes.contains_key(id),
                "{format}: an edge ends at `{id}`, which is not a node"
            );
        }
        next.entry(from).or_default().push(to);
    }
    assert!(
        !next.contains_key(end),
        "{format}: an edge leaves the end node"
    );
    let forward = reach(&next, [start]);
    let ends = drawn
        .nodes
        .iter()
        .filter(|(id, label)| *id == end || fails.contains(*label))
        .map(|(id, _)| id.as_str());
    let backward = reach(&reverse(&next), ends);
    for (id, label) in &drawn.nodes {
        assert!(
            forward.contains(id.as_str()),
            "{format}: `{label}` ({id}) cannot be reached from the start"
        );
        assert!(
            backward.contains(id.as_str()),
            "{format}: `{label}` ({id}) never reaches the end or a fail state"
        );
    }
}

/// Parses a flowchart as `export::mermaid` writes it, by the rules of Mermaid's syntax
/// that matter for names: ids are generated identifiers; labels are `"…"` quoted, hold
/// no quote, and escape with entities (`#quot;`, `#35;`, …) everything else Mermaid
/// would read into them (`#`, HTML's `<>&`, Markdown's backtick, `%` of `%%{…}%%`
/// directives, `:`, which with `style` or `classDef` on a line makes Mermaid drop a `;`,
/// and the spaces around a label, which it trims); no line holds a control character.
/// Panics naming the line that breaks a rule.
pub(crate) fn parse_mermaid(text: &str) -> Drawn {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("flowchart TD"));
    let mut drawn = Drawn::default();
    for line in lines {
        let fail = |why: &str| -> ! { panic!("mermaid: {why} in line {line:?}") };
        let body = line
            .strip_prefix("    ")
            .unwrap_or_else(|| fail("no indent"));
        if body.starts_with("classDef ") || body.starts_with("class ") {
            assert!(
                body.chars().all(|c| c.is_ascii_graphic() || c == ' '),
                "mermaid: odd style line {line:?}"
            );
            continue;
        }
        let (id, rest) = identifier(body).unwrap_or_else(|| fail("no node id"));
        if let Some(edge) = rest.strip_prefix(" -->") {
            let (label, target) = match edge.strip_prefix("|\"") {
                Some(labelled) => {
                    let (label, target) = labelled
                        .split_once("\"| ")
                        .unwrap_or_else(|| fail("an unclosed edge label"));
                    (Some(unescape_mermaid(label, line)), target)
                }
                None => (
                    None,
                    edge.strip_prefix(' ')
                        .unwrap_or_else(|| fail("no edge target")),
                ),
            };
            match identifier(target) {
                Some((to, "")) => drawn.edges.push((id.to_owned(), to.to_owned(), label)),
                _ => fail("a bad edge target"),
            }
            continue;
        }
        let shapes = [
            ("[[\"", "\"]]"),
            ("([\"", "\"])"),
            ("((\"", "\"))"),
            ("[/\"", "\"/]"),
            ("[\"", "\"]"),
            ("{\"", "\"}"),
            ("(\"", "\")"),
        ];
        let label = shapes
            .iter()
            .find_map(|(open, close)| rest.strip_prefix(open)?.strip_suffix(close))
            .unwrap_or_else(|| fail("not a node, edge or style"));
        let previous = drawn
            .nodes
            .insert(id.to_owned(), unescape_mermaid(label, line));
        assert!(previous.is_none(), "mermaid: node `{id}` is declared twice");
    }
    drawn
}

/// A Mermaid node id at the start of `text`, and the rest: a letter, then letters,
/// digits and `_`; never a word Mermaid reserves.
fn identifier(text: &str) -> Option<(&str, &str)> {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    let id = &text[..end];
    let reserved = [
        "end",
        "graph",
        "flowchart",
        "subgraph",
        "style",
        "class",
        "classDef",
        "click",
        "linkStyle",
        "direction",
        "default",
    ];
    (id.starts_with(|c: char| c.is_ascii_alphabetic()) && !reserved.contains(&id))
        .then(|| (id, &text[end..]))
}

/// The text a quoted Mermaid label shows, by Mermaid's entity rules; panics when the
/// label holds what Mermaid would read into it.
fn unescape_mermaid(label: &str, line: &str) -> String {
    if let Some(bad) = label.chars().find(|c| {
        matches!(
            c,
            '"' | '<' | '>' | '&' | '`' | ':' | '%' | '\u{2028}' | '\u{2029}'
        ) || c.is_control()
    }) {
        panic!("mermaid: {bad:?} unescaped in line {line:?}");
    }
    assert_eq!(
        label.trim(),
        label,
        "mermaid: spaces around a label, which Mermaid trims, in line {line:?}"
    );
    let mut out = String::new();
    let mut rest = label;
    while let Some(at) = rest.find('#') {
        out.push_str(&rest[..at]);
        let entity = &rest[at + 1..];
        let end = entity
            .find(';')
            .filter(|end| {
                *end > 0
                    && entity[..*end]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_')
            })
            .unwrap_or_else(|| panic!("mermaid: a `#` that is no entity in line {line:?}"));
        let decoded = match &entity[..end] {
            "quot" => '"',
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            code => code
                .parse::<u32>()
                .ok()
                .and_then(char::from_u32)
                .unwrap_or_else(|| panic!("mermaid: unknown entity `#{code};` in {line:?}")),
        };
        out.push(decoded);
        rest = &entity[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Whether `dot` can run here. In CI (`CI` set) Graphviz must be installed (`.ci/run`
/// installs it); elsewhere a test without it says so and skips the DOT checks.
pub(crate) fn graphviz_installed() -> bool {
    let found = Command::new("dot")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "graphviz `dot` is not installed; CI must have it (see .ci/run)"
        );
        eprintln!("skipped the DOT checks: graphviz `dot` is not installed (CI installs it)");
    }
    found
}

/// Runs `dot -T<format>` on `text` and returns its output; panics with Graphviz's
/// complaint when it rejects the input.
pub(crate) fn run_dot(text: &str, format: &str) -> Vec<u8> {
    let mut child = Command::new("dot")
        .arg(format!("-T{format}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dot starts");
    let mut stdin = child.stdin.take().expect("piped");
    let input = text.to_owned();
    // Written from another thread: dot may fill its stdout before reading all input.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("dot runs");
    writer.join().unwrap().expect("dot reads its input");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "dot -T{format} rejected the graph: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Renders a DOT graph to SVG with Graphviz, then reads back the graph Graphviz parsed
/// (`-Tjson`): its nodes with their labels as drawn, and its edges. `None`, after
/// saying so, when Graphviz is not installed outside CI.
pub(crate) fn graphviz(text: &str) -> Option<Drawn> {
    if !graphviz_installed() {
        return None;
    }
    let svg = String::from_utf8(run_dot(text, "svg")).expect("SVG is UTF-8");
    assert!(svg.contains("<svg"), "dot -Tsvg drew no SVG");
    let json: Value = serde_json::from_slice(&run_dot(text, "json")).expect("dot -Tjson");
    let objects = json["objects"].as_array().expect("objects");
    let mut drawn = Drawn::default();
    for object in objects {
        let id = object["name"].as_str().expect("a node name");
        let label = object["label"].as_str().expect("a node label");
        drawn.nodes.insert(id.to_owned(), unescape_dot(label));
    }
    for edge in json["edges"].as_array().map_or(&[][..], Vec::as_slice) {
        let end = |key: &str| {
            let index = edge[key].as_u64().expect("an edge end") as usize;
            objects[index]["name"].as_str().unwrap().to_owned()
        };
        let label = edge.get("label").and_then(Value::as_str).map(unescape_dot);
        drawn.edges.push((end("tail"), end("head"), label));
    }
    Some(drawn)
}

/// The text Graphviz draws for a label it parsed: `\\` is a backslash. Any other
/// backslash escape (`\N`, `\n`, `\l`, …) would draw something else than the name, so
/// the export must never leave one.
fn unescape_dot(label: &str) -> String {
    let mut out = String::new();
    let mut chars = label.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('\\') => out.push('\\'),
                other => panic!("dot: the label {label:?} holds the escape \\{other:?}"),
            }
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Reachability

/// The nodes reachable from `from` along `next`, `from` included.
fn reach<'a>(
    next: &HashMap<&'a str, Vec<&'a str>>,
    from: impl IntoIterator<Item = &'a str>,
) -> HashSet<&'a str> {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut queue: VecDeque<&str> = from.into_iter().collect();
    while let Some(node) = queue.pop_front() {
        if seen.insert(node) {
            queue.extend(next.get(node).into_iter().flatten().copied());
        }
    }
    seen
}

fn reverse<'a>(next: &HashMap<&'a str, Vec<&'a str>>) -> HashMap<&'a str, Vec<&'a str>> {
    let mut back: HashMap<&str, Vec<&str>> = HashMap::new();
    for (from, tos) in next {
        for to in tos {
            back.entry(to).or_default().push(from);
        }
    }
    back
}
