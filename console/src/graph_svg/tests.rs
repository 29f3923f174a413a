//! Tests of the SVG drawing: positions, colours, escaping, well-formedness, a snapshot.

use std::time::Duration;

use waypost::prelude::*;
use waypost_core::graph::Graph;

use super::layout::LEAF_MAX;
use super::*;

#[step]
async fn validate(order: u64) -> u64 {
    order
}
#[step]
async fn fraud_review(order: u64) -> u64 {
    order
}
#[step]
async fn express(order: u64) -> u64 {
    order
}
#[step]
async fn standard(order: u64) -> u64 {
    order
}
#[step]
async fn reserve_inventory(order: u64) -> u64 {
    order
}
#[step]
async fn charge_payment(order: u64) -> u64 {
    order
}
#[step]
async fn ship((reserved, _charged): (u64, u64)) -> u64 {
    reserved
}
#[step]
async fn notify_shipped(order: u64) -> u64 {
    order
}
#[step]
async fn release_inventory((order, _error): (u64, Error)) -> u64 {
    order
}
#[step]
async fn notify_declined(order: u64) -> u64 {
    order
}
#[step]
async fn notify_failed(order: u64) -> u64 {
    order
}
#[step]
async fn notify(item: u64) -> u64 {
    item
}

/// Like the order-processing example: a timeout, a choice, a parallel with a
/// retried branch, two catches around a sequence, a wait and a map.
fn orders() -> Workflow<u64, Vec<u64>> {
    let route = choice()
        .named("route")
        .when("fraud_review", |o: &u64| *o > 500, fraud_review)
        .when("express", |o: &u64| o.is_multiple_of(2), express)
        .otherwise(standard);
    let transient = RetryPolicy::builder()
        .errors(["Transient"])
        .max_attempts(4)
        .interval(Duration::from_millis(20))
        .backoff_rate(2.0)
        .jitter(Jitter::Full)
        .build();
    let fulfil = parallel((reserve_inventory, charge_payment.retry(transient))).named("fulfil");
    let shipped = fulfil
        .then(ship)
        .then(notify_shipped)
        .catch(["PaymentDeclined"], release_inventory.then(notify_declined))
        .catch(
            ["States.ALL"],
            release_inventory
                .then(notify_failed)
                .then(fail("PaymentFailed", "the payment did not go through")),
        );
    Workflow::new(
        "order-processing",
        1,
        validate
            .timeout(Duration::from_secs(5))
            .then(route)
            .then(shipped)
            .then(wait(Duration::from_secs(60)))
            .then(pass("fan_out", |x: u64| vec![x, x + 1]))
            .then(map(notify).max_concurrency(8).named("notify-all")),
    )
}

fn draw(graph: &Graph, status: &dyn Fn(&Node) -> Option<StateStatus>) -> String {
    render(graph, status, &|_| None).into_string()
}

/// A tag of the drawing: its name and attributes, and whether it opens, closes or
/// is empty (`<x/>`).
#[derive(Debug)]
struct Tag {
    name: String,
    attrs: Vec<(String, String)>,
    closing: bool,
    empty: bool,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn num(&self, name: &str) -> i32 {
        self.attr(name).unwrap().parse().unwrap()
    }
}

/// The tags of `svg`, checking that it is well-formed XML as far as the drawing
/// goes: tags balance, attributes are quoted and unique, `&` only starts an entity,
/// and no `<` or `>` stands in text or an attribute.
fn tags(svg: &str) -> Vec<Tag> {
    let mut out = Vec::new();
    let mut open: Vec<String> = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        check_text(&rest[..start]);
        let end = rest[start..].find('>').expect("unclosed tag") + start;
        let inner = &rest[start + 1..end];
        rest = &rest[end + 1..];
        let closing = inner.starts_with('/');
        let empty = inner.ends_with('/');
        let inner = inner.trim_start_matches('/').trim_end_matches('/');
        let (name, mut attrs_text) = inner.split_once(' ').unwrap_or((inner, ""));
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()),
            "bad tag name {name:?}"
        );
        let mut attrs: Vec<(String, String)> = Vec::new();
        while let Some(eq) = attrs_text.find("=\"") {
            let key = attrs_text[..eq].trim();
            let value_end = attrs_text[eq + 2..].find('"').expect("unquoted") + eq + 2;
            let value = &attrs_text[eq + 2..value_end];
            check_text(value);
            assert!(!attrs.iter().any(|(k, _)| k == key), "duplicate {key}");
            attrs.push((key.to_owned(), unescape(value)));
            attrs_text = &attrs_text[value_end + 1..];
        }
        assert!(attrs_text.trim().is_empty(), "stray {attrs_text:?}");
        if closing {
            assert_eq!(open.pop().as_deref(), Some(name), "unbalanced </{name}>");
        } else if !empty {
            open.push(name.to_owned());
        }
        out.push(Tag {
            name: name.to_owned(),
            attrs,
            closing,
            empty,
        });
    }
    check_text(rest);
    assert!(open.is_empty(), "unclosed {open:?}");
    assert_eq!(out.first().map(|t| t.name.as_str()), Some("svg"));
    out
}

/// Text or an attribute value is well-formed: entities only, no markup, no control
/// characters.
fn check_text(text: &str) {
    assert!(!text.contains(['<', '>']), "markup in {text:?}");
    for (i, _) in text.match_indices('&') {
        let entity = &text[i..text[i..].find(';').map_or(text.len(), |e| i + e + 1)];
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&apos;"].contains(&entity),
            "bad entity in {text:?}"
        );
    }
    assert!(
        !text.contains(|c: char| c != '\n' && c.is_control()),
        "{text:?}"
    );
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The `<g>` of the state at `address` and the first `<rect>` after it.
fn state<'t>(tags: &'t [Tag], address: &str) -> (&'t Tag, &'t Tag) {
    let at = tags
        .iter()
        .position(|t| t.name == "g" && t.attr("data-address") == Some(address))
        .unwrap_or_else(|| panic!("no state at {address}"));
    let rect = tags[at..].iter().find(|t| t.name == "rect").unwrap();
    (&tags[at], rect)
}

fn addresses(graph: &Graph, name: &str) -> String {
    let node = graph.nodes().iter().find(|n| n.name == name).unwrap();
    node.address.as_str().to_owned()
}

#[test]
fn a_sequence_is_drawn_top_to_bottom_in_order() {
    let wf = Workflow::new("seq", 1, validate.then(express).then(standard));
    let svg = draw(wf.graph(), &|_| None);
    let tags = tags(&svg);
    let rects: Vec<&Tag> = ["validate", "express", "standard"]
        .iter()
        .map(|name| state(&tags, &addresses(wf.graph(), name)).1)
        .collect();
    for pair in rects.windows(2) {
        assert!(pair[0].num("y") + pair[0].num("height") < pair[1].num("y"));
        assert_eq!(
            pair[0].num("x") * 2 + pair[0].num("width"),
            pair[1].num("x") * 2 + pair[1].num("width"),
            "centred on one axis"
        );
    }
    // start, two arrows between the states, end.
    let arrows = tags
        .iter()
        .filter(|t| t.attr("marker-end").is_some())
        .count();
    assert_eq!(arrows, 4);
    let svg_tag = &tags[0];
    assert_eq!(svg_tag.attr("role"), Some("img"));
    let (w, h) = (svg_tag.num("width"), svg_tag.num("height"));
    assert_eq!(
        svg_tag.attr("viewBox"),
        Some(format!("0 0 {w} {h}").as_str())
    );
    assert!(svg_tag.attr("aria-label").unwrap().contains("3 states"));
    assert!(tags.iter().any(|t| t.name == "marker"));
}

#[test]
fn parallel_branches_stand_side_by_side_inside_the_frame() {
    let wf = Workflow::new(
        "par",
        1,
        parallel((reserve_inventory, charge_payment))
            .named("fulfil")
            .then(ship),
    );
    let graph = wf.graph();
    let svg = draw(graph, &|_| None);
    let tags = tags(&svg);
    let (_, frame) = state(&tags, &addresses(graph, "fulfil"));
    let (_, left) = state(&tags, &addresses(graph, "reserve_inventory"));
    let (_, right) = state(&tags, &addresses(graph, "charge_payment"));
    let (_, after) = state(&tags, &addresses(graph, "ship"));
    assert_eq!(left.num("y"), right.num("y"));
    assert!(left.num("x") + left.num("width") < right.num("x"));
    for inner in [left, right] {
        assert!(frame.num("x") < inner.num("x"));
        assert!(inner.num("x") + inner.num("width") < frame.num("x") + frame.num("width"));
        assert!(frame.num("y") < inner.num("y"));
        assert!(inner.num("y") + inner.num("height") < frame.num("y") + frame.num("height"));
    }
    assert_eq!(frame.attr("stroke-dasharray"), Some("6 4"));
    assert!(frame.num("y") + frame.num("height") < after.num("y"));
    assert!(svg.contains("branch 0") && svg.contains("branch 1"));
    assert!(svg.contains("Parallel · "));
}

#[test]
fn a_catch_handler_stands_right_of_the_state_it_protects() {
    let wf = Workflow::new(
        "catch",
        1,
        validate.catch(["Boom", "States.Timeout"], release_inventory),
    );
    let graph = wf.graph();
    let svg = draw(graph, &|_| None);
    let tags = tags(&svg);
    let (_, protected) = state(&tags, &addresses(graph, "validate"));
    let (_, handler) = state(&tags, &addresses(graph, "release_inventory"));
    assert!(protected.num("x") + protected.num("width") < handler.num("x"));
    assert!(protected.num("y") < handler.num("y"));
    assert!(svg.contains("catch: Boom, States.Timeout"));
}

#[test]
fn statuses_become_colours_classes_and_data_attributes() {
    let wf = orders();
    let graph = wf.graph();
    let status = |node: &Node| match node.name.as_str() {
        "validate" => Some(StateStatus::Succeeded),
        "charge_payment" => Some(StateStatus::Failed),
        "fulfil" => Some(StateStatus::Caught),
        "reserve_inventory" => Some(StateStatus::Cancelled),
        "release_inventory" => Some(StateStatus::Running),
        "ship" => Some(StateStatus::NotReached),
        _ => None,
    };
    let svg = draw(graph, &status);
    let tags = tags(&svg);
    for (name, slug, fill) in [
        ("validate", "succeeded", "#dff3df"),
        ("charge_payment", "failed", "#fde2e0"),
        ("fulfil", "caught", "#fff1d6"),
        ("reserve_inventory", "cancelled", "#d5dbdb"),
        ("ship", "not-reached", "#f2f3f3"),
    ] {
        let (group, rect) = state(&tags, &addresses(graph, name));
        assert_eq!(group.attr("data-status"), Some(slug), "{name}");
        assert!(
            group
                .attr("class")
                .unwrap()
                .contains(&format!("status-{slug}"))
        );
        assert_eq!(rect.attr("fill"), Some(fill), "{name}");
    }
    let running = tags
        .iter()
        .filter(|t| t.attr("data-status") == Some("running"))
        .count();
    assert_eq!(running, 2, "both release_inventory states");
    let (plain, rect) = state(&tags, &addresses(graph, "standard"));
    assert_eq!(plain.attr("data-status"), None);
    assert_eq!(plain.attr("class"), Some("state leaf task"));
    assert_eq!(rect.attr("fill"), Some("#ffffff"));
}

#[test]
fn a_state_with_a_link_is_wrapped_in_it() {
    let wf = Workflow::new("links", 1, validate.then(express));
    let href = |node: &Node| (node.name == "express").then(|| "/x?a=1&b=\"2\"".to_owned());
    let svg = render(wf.graph(), &|_| None, &href).into_string();
    let tags = tags(&svg);
    let links: Vec<&Tag> = tags
        .iter()
        .filter(|t| t.name == "a" && !t.closing)
        .collect();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].attr("href"), Some("/x?a=1&b=\"2\""));
    let at = tags.iter().position(|t| t.name == "a").unwrap();
    assert_eq!(tags[at - 1].attr("data-address"), Some("1.express"));
}

#[test]
fn hostile_names_are_escaped_and_control_characters_shown() {
    let names = [
        "<script>alert(1)</script>",
        "say \"hi\" & 'bye'",
        "bell\u{7}\u{1b}[2J",
        "invoice\u{202e}fdp.exe",
    ];
    let step = pass(names[0], |x: u64| x)
        .then(pass(names[1], |x: u64| x))
        .then(pass(names[2], |x: u64| x))
        .then(pass(names[3], |x: u64| x));
    let graph = Graph::of(
        &step
            .catch(
                ["<img src=x onerror=alert(1)>"],
                pass("&amp;", |(x, _): (u64, Error)| x),
            )
            .then(
                choice()
                    .named("</svg>")
                    .when("\"><script>", |_: &u64| true, pass("a", |x: u64| x))
                    .otherwise(pass("b", |x: u64| x)),
            ),
    );
    let svg = draw(&graph, &|_| Some(StateStatus::Running));
    tags(&svg);
    assert!(!svg.contains("<script"), "{svg}");
    assert!(!svg.contains("<img"));
    assert!(svg.contains("&quot;&gt;&lt;script&gt;"));
    assert!(
        !svg.chars()
            .any(|c| c != '\n' && waypost_core::text::is_unsafe(c))
    );
    assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(svg.contains("say &quot;hi&quot; &amp; 'bye'"));
    assert!(svg.contains(r"bell\u{7}\e[2J"));
    assert!(svg.contains(r"invoice\u{202e}fdp.exe"));
    assert!(svg.contains("&amp;amp;"));
}

#[test]
fn long_names_are_cut_with_the_whole_name_in_the_tooltip() {
    let long = "a_very_long_step_name_that_goes_on_and_on_and_on_forever";
    let graph = Graph::of(&pass(long, |x: u64| x));
    let svg = draw(&graph, &|_| None);
    let tags = tags(&svg);
    let (_, rect) = state(&tags, &addresses(&graph, long));
    assert_eq!(rect.num("width"), LEAF_MAX);
    assert!(svg.contains("a_very_long_step_name_that_…"));
    assert!(svg.contains(&format!("<title>{long}\n")));
}

#[test]
fn an_empty_graph_goes_from_start_to_end() {
    let svg = draw(&Graph::from_states(Vec::new()), &|_| None);
    let tags = tags(&svg);
    assert_eq!(
        tags.iter()
            .filter(|t| t.name == "circle" && !t.closing)
            .count(),
        2
    );
    assert!(!tags.iter().any(|t| t.attr("data-address").is_some()));
}

#[test]
fn the_drawing_is_deterministic_and_well_formed() {
    let wf = orders();
    let one = draw(wf.graph(), &|_| None);
    assert_eq!(one, draw(orders().graph(), &|_| None));
    let tags = tags(&one);
    let states = tags
        .iter()
        .filter(|t| t.attr("data-address").is_some())
        .count();
    assert_eq!(states, wf.graph().nodes().len());
    for tag in tags.iter().filter(|t| t.name == "rect" && !t.closing) {
        assert!(!tag.empty);
        assert!(tag.num("width") > 0 && tag.num("height") > 0);
    }
}

#[test]
fn snapshot() {
    let wf = orders();
    let status = |node: &Node| match node.name.as_str() {
        "validate" | "route" | "express" => Some(StateStatus::Succeeded),
        "fulfil" | "charge_payment" => Some(StateStatus::Caught),
        "reserve_inventory" => Some(StateStatus::Cancelled),
        "release_inventory" | "notify_declined" => Some(StateStatus::Running),
        _ => Some(StateStatus::NotReached),
    };
    let href = |node: &Node| Some(format!("#state-{}", node.address));
    let svg = render(wf.graph(), &status, &href).into_string();
    insta::assert_snapshot!(svg.replace("><", ">\n<"));
}

/// Writes the order-processing-like graph to `target/graph-preview.svg` and an HTML
/// page around it, to look at in a browser:
/// `cargo test -p waypost-console graph_svg::tests::preview -- --ignored`.
#[test]
#[ignore = "writes a file to look at"]
fn preview() {
    let wf = orders();
    let status = |node: &Node| match node.name.as_str() {
        "validate" | "route" | "express" => Some(StateStatus::Succeeded),
        "fulfil" | "charge_payment" => Some(StateStatus::Caught),
        "reserve_inventory" => Some(StateStatus::Cancelled),
        "release_inventory" | "notify_declined" => Some(StateStatus::Running),
        "fraud_review" => Some(StateStatus::Failed),
        _ => None,
    };
    let svg = draw(wf.graph(), &status);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("graph-preview.svg"), &svg).unwrap();
    let page = format!("<!doctype html><meta charset=utf-8><body style=margin:0>{svg}");
    std::fs::write(dir.join("graph-preview.html"), page).unwrap();
}

#[step]
fn transform_chunk(chunk: u64) -> u64 {
    chunk
}

/// Like the ETL example, with odd corners: a `par_map` in a parallel branch, a long and
/// a hostile name, a choice with a failing branch, a retried sequence, a catch inside a
/// branch.
fn odd() -> Graph {
    let transform = parallel((
        pass("carry", |x: u64| x),
        pass("chunks", |x: u64| vec![x]).then(par_map(transform_chunk).named("map")),
    ))
    .named("transform");
    let check = choice()
        .named("check <quality> & \"gate\"")
        .when(
            "bad rows over 5% of the whole input",
            |x: &u64| *x > 5,
            fail::<u64, u64>("TooManyBadRows", "too many"),
        )
        .otherwise(pass("fine", |x: u64| x));
    let retry = RetryPolicy::builder().max_attempts(3).build();
    Graph::of(
        &validate
            .then(check)
            .then(transform)
            .then(pass("merge", |(x, _): (u64, Vec<u64>)| x))
            .then(
                express
                    .then(
                        pass("an_extremely_long_step_name_for_the_enrichment", |x: u64| x)
                            .catch(["Timeout"], release_inventory),
                    )
                    .retry(retry)
                    .timeout(Duration::from_millis(1500)),
            )
            .then(wait::<u64>(Duration::from_millis(2500))),
    )
}

/// Writes the ETL-like graph with odd corners to `target/graph-preview-more.html`.
#[test]
#[ignore = "writes a file to look at"]
fn preview_more() {
    let svg = draw(&odd(), &|node: &Node| {
        (node.name == "carry").then_some(StateStatus::Succeeded)
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    std::fs::create_dir_all(&dir).unwrap();
    let page = format!("<!doctype html><meta charset=utf-8><body style=margin:0>{svg}");
    std::fs::write(dir.join("graph-preview-more.html"), page).unwrap();
}
