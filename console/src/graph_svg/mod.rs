//! The workflow graph drawn as SVG, each state coloured by its status.
//!
//! A workflow's graph is a tree of series-parallel parts, so it is laid out by a plain
//! recursive box layout, deterministic and with no layout engine: a sequence stacks its
//! states top to bottom, joined by arrows; a choice, parallel, map or group is a dashed
//! frame with a header and its branches side by side inside; the handlers of a state's
//! catches stand to its right, reached by an edge labelled with the errors they catch.
//! Every block has an axis, the x at which control enters it at the top and leaves it at
//! the bottom, and a sequence lines up the axes of its states.
//!
//! Names, labels and details are user text: they go through [`printable`] and are
//! written only by maud's `html!`, which escapes them.

use std::fmt::Write as _;

use maud::{Markup, html};
use waypost_core::export::StateStatus;
use waypost_core::graph::{Graph, Node};
use waypost_core::text::printable;

use layout::{
    Frame, GAP, LABEL_OFFSET, Leaf, MARGIN, MIN_WIDTH, RADIUS, SPLIT, Seq, State, Unit, kind_name,
};

mod layout;
#[cfg(test)]
mod tests;

/// The font of every text.
const FONT: &str = "-apple-system, BlinkMacSystemFont, Segoe UI, Helvetica, Arial, sans-serif";
/// The colour of edges and of the start and end circles.
const EDGE: &str = "#687078";
/// The colour of labels and second lines.
const LABEL: &str = "#545b64";
/// The id of the arrow head marker.
const ARROW_ID: &str = "waypost-graph-arrow";

/// Draws `graph` as an inline SVG element: `status` colours each state (`None`: no
/// colouring, as on a workflow page), `href` makes a state a link.
///
/// Each state is a `<g class="state status-…">` with `data-address` (its address) and,
/// when it has a status, `data-status` (`succeeded`, `failed`, `caught`, `cancelled`,
/// `running` or `not-reached`). Colours are inline attributes, so the drawing needs no
/// stylesheet, and the classes let one restyle it.
pub(crate) fn render(
    graph: &Graph,
    status: &dyn Fn(&Node) -> Option<StateStatus>,
    href: &dyn Fn(&Node) -> Option<String>,
) -> Markup {
    let seq = Seq::of(graph.states());
    let width = (seq.w + 2 * MARGIN).max(MIN_WIDTH);
    let x = (width - seq.w) / 2;
    let axis = x + seq.axis;
    let start_bottom = MARGIN + 2 * RADIUS;
    let seq_top = start_bottom + GAP;
    let end_top = seq_top + seq.h + GAP;
    let height = end_top + 2 * RADIUS + MARGIN;
    let states = graph.nodes().len();
    let label = format!(
        "workflow graph: {states} state{}",
        if states == 1 { "" } else { "s" }
    );
    let painter = Painter { status, href };
    html! {
        svg xmlns="http://www.w3.org/2000/svg" class="workflow-graph" role="img"
            aria-label=(label) width=(width) height=(height)
            viewBox=(format!("0 0 {width} {height}"))
            font-family=(FONT) font-size="12" {
            defs {
                marker id=(ARROW_ID) viewBox="0 0 10 10" refX="10" refY="5"
                    markerWidth="7" markerHeight="7" orient="auto-start-reverse" {
                    path d="M 0 0 L 10 5 L 0 10 z" fill=(EDGE) {}
                }
            }
            (terminal("start", axis, MARGIN + RADIUS))
            (edge(&[(axis, start_bottom), (axis, seq_top)], true))
            (painter.seq(&seq, x, seq_top))
            @if seq.continues {
                (edge(&[(axis, seq_top + seq.h), (axis, end_top)], true))
            }
            (terminal("end", axis, end_top + RADIUS))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Drawing: each block at an absolute position.

/// The tooltip of a state: its full name, kind, address, status, details, retries,
/// timeout and catches, a line each.
fn tooltip(node: &Node, status: Option<StateStatus>) -> String {
    let mut text = printable(&node.name).into_owned();
    let _ = write!(
        text,
        "\n{} at {}",
        kind_name(node.kind),
        printable(node.address.as_str())
    );
    if let Some(status) = status {
        let _ = write!(text, "\nstatus: {status}");
    }
    for (key, value) in &node.details {
        let _ = write!(text, "\n{}: {}", printable(key), printable(value));
    }
    for retry in &node.retry {
        let _ = write!(
            text,
            "\nretry {}: {} attempts, every {:?} ×{}",
            printable(&retry.errors.join(", ")),
            retry.max_attempts,
            retry.interval,
            retry.backoff_rate
        );
    }
    if let Some(timeout) = node.timeout {
        let _ = write!(text, "\ntimeout: {timeout:?}");
    }
    for catch in &node.catch {
        let _ = write!(text, "\ncatch: {}", printable(&catch.errors.join(", ")));
    }
    text
}

/// Fill, border and text colours of a state.
struct Look {
    fill: &'static str,
    stroke: &'static str,
    text: &'static str,
}

/// The colours of `status`: those of the exports (`waypost::export`), after the Step
/// Functions console's; white with a grey border when there is no status.
fn look(status: Option<StateStatus>) -> Look {
    let (fill, stroke, text) = match status {
        None => ("#ffffff", "#879596", "#16191f"),
        Some(StateStatus::Succeeded) => ("#dff3df", "#1d8102", "#16191f"),
        Some(StateStatus::Failed) => ("#fde2e0", "#d13212", "#16191f"),
        Some(StateStatus::Caught) => ("#fff1d6", "#ec7211", "#16191f"),
        Some(StateStatus::Cancelled) => ("#d5dbdb", "#545b64", "#16191f"),
        Some(StateStatus::Running) => ("#dcecfa", "#0073bb", "#16191f"),
        Some(_) => ("#f2f3f3", "#aab7b8", "#687078"),
    };
    Look { fill, stroke, text }
}

/// The status as a class and `data-status` value: `not-reached` for "not reached".
fn status_slug(status: StateStatus) -> String {
    status.as_str().replace(' ', "-")
}

/// Draws blocks with the caller's status and link for each state.
struct Painter<'a> {
    status: &'a dyn Fn(&Node) -> Option<StateStatus>,
    href: &'a dyn Fn(&Node) -> Option<String>,
}

impl Painter<'_> {
    fn seq(&self, seq: &Seq<'_>, x: i32, y: i32) -> Markup {
        let axis = x + seq.axis;
        if seq.units.is_empty() {
            return edge(&[(axis, y), (axis, y + seq.h)], false);
        }
        let last = seq.units.len() - 1;
        html! {
            @for (i, (dx, dy, unit)) in seq.units.iter().enumerate() {
                (self.unit(unit, x + dx, y + dy))
                @if i < last && unit.continues {
                    (edge(&[(axis, y + dy + unit.h), (axis, y + dy + unit.h + GAP)], true))
                }
            }
        }
    }

    /// A state, its catch edges and handlers, and the lines joining their exits below.
    fn unit(&self, unit: &Unit<'_>, x: i32, y: i32) -> Markup {
        let axis = x + unit.axis;
        let anchor = y + unit.state.anchor();
        let right = x + unit.state.w();
        let bottom = y + unit.h;
        html! {
            (self.state(&unit.state, x, y))
            @for handler in &unit.handlers {
                @let (hx, hy) = (x + handler.x, y + handler.y);
                @let hand = hx + handler.seq.axis;
                (edge(&[(right, anchor), (hand, anchor), (hand, hy)], true))
                (label(&handler.label, hand + LABEL_OFFSET, anchor + 16))
                (self.seq(&handler.seq, hx, hy))
                @if handler.seq.continues {
                    (edge(&[(hand, hy + handler.seq.h), (hand, bottom), (axis, bottom)], false))
                }
            }
            @if !unit.handlers.is_empty() && unit.state.continues() {
                (edge(&[(axis, y + unit.state.h()), (axis, bottom)], false))
            }
        }
    }

    fn state(&self, state: &State<'_>, x: i32, y: i32) -> Markup {
        match state {
            State::Leaf(leaf) => self.leaf(leaf, x, y),
            State::Frame(frame) => self.frame(frame, x, y),
        }
    }

    /// The `<g>` of a state, with its classes and data attributes, its shapes wrapped in
    /// a link when the state has one.
    fn group(&self, node: &Node, class: &str, shapes: &Markup) -> Markup {
        let status = (self.status)(node);
        let slug = status.map(status_slug);
        let class = match &slug {
            Some(slug) => format!("state {class} status-{slug}"),
            None => format!("state {class}"),
        };
        let shapes = html! { title { (tooltip(node, status)) } (shapes) };
        html! {
            g class=(class) data-address=(printable(node.address.as_str())) data-status=[slug] {
                @match (self.href)(node) {
                    Some(url) => a href=(url) { (shapes) },
                    None => (shapes),
                }
            }
        }
    }

    fn leaf(&self, leaf: &Leaf<'_>, x: i32, y: i32) -> Markup {
        let look = look((self.status)(leaf.node));
        let mid = x + leaf.w / 2;
        let name_y = if leaf.sub.is_some() { y + 20 } else { y + 21 };
        let shapes = html! {
            rect x=(x) y=(y) width=(leaf.w) height=(leaf.h) rx="6"
                fill=(look.fill) stroke=(look.stroke) stroke-width="1.5" {}
            text class="state-name" x=(mid) y=(name_y) text-anchor="middle" fill=(look.text) {
                (leaf.name)
            }
            @if let Some(sub) = &leaf.sub {
                text class="state-detail" x=(mid) y=(y + 37) text-anchor="middle"
                    font-size="11" fill=(LABEL) { (sub) }
            }
        };
        let class = format!("leaf {}", kind_name(leaf.node.kind).to_lowercase());
        self.group(leaf.node, &class, &shapes)
    }

    /// A frame and its header, then the edges fanning out to its branches, the
    /// branches, and the edges joining them at the bottom.
    fn frame(&self, frame: &Frame<'_>, x: i32, y: i32) -> Markup {
        let status = (self.status)(frame.node);
        let look = look(status);
        let (fill, opacity) = match status {
            Some(_) => (look.fill, "0.45"),
            None => ("#fafafa", "1"),
        };
        let mid = x + frame.w / 2;
        let shapes = html! {
            rect x=(x) y=(y) width=(frame.w) height=(frame.h) rx="10" fill=(fill)
                fill-opacity=(opacity) stroke=(look.stroke) stroke-width="1.5"
                stroke-dasharray="6 4" {}
            text class="state-name" x=(mid) y=(y + 18) text-anchor="middle" fill=(look.text) {
                tspan fill=(LABEL) { (frame.kind) }
                @if !frame.name.is_empty() {
                    tspan font-weight="600" { (frame.name) }
                }
            }
            @if let Some(sub) = &frame.sub {
                text class="state-detail" x=(mid) y=(y + 33) text-anchor="middle"
                    font-size="11" fill=(LABEL) { (sub) }
            }
        };
        let class = format!("container {}", kind_name(frame.node.kind).to_lowercase());
        let axis = x + frame.axis;
        let (split, top, merge) = (y + frame.header_h + SPLIT, y + frame.top, y + frame.merge);
        html! {
            (self.group(frame.node, &class, &shapes))
            @for column in &frame.columns {
                @let cx = x + column.x;
                @let caxis = cx + column.seq.axis;
                (edge(&[(axis, y + frame.header_h), (axis, split), (caxis, split), (caxis, top)], true))
                @if let Some(text) = &column.label {
                    (label(text, caxis + LABEL_OFFSET, top - 8))
                }
                (self.seq(&column.seq, cx, top))
                @if column.seq.continues {
                    (edge(&[(caxis, top + column.seq.h), (caxis, merge), (axis, merge), (axis, y + frame.h)], false))
                }
            }
        }
    }
}

/// An orthogonal edge through `points`, with an arrow head at its end if `arrow`.
fn edge(points: &[(i32, i32)], arrow: bool) -> Markup {
    let mut d = String::new();
    for (i, (x, y)) in points.iter().enumerate() {
        let _ = write!(d, "{}{x} {y}", if i == 0 { "M " } else { " L " });
    }
    let marker = arrow.then(|| format!("url(#{ARROW_ID})"));
    html! {
        path class="edge" d=(d) fill="none" stroke=(EDGE) stroke-width="1.5"
            marker-end=[marker] {}
    }
}

/// A small label beside an edge, its left end at `(x, y)`.
fn label(text: &str, x: i32, y: i32) -> Markup {
    html! {
        text class="edge-label" x=(x) y=(y) font-size="11" fill=(LABEL) { (text) }
    }
}

/// The start or end circle, centred at `(x, y)`, named beside it.
fn terminal(name: &str, x: i32, y: i32) -> Markup {
    let fill = if name == "start" { EDGE } else { "#ffffff" };
    html! {
        g class=(format!("terminal {name}")) {
            circle cx=(x) cy=(y) r=(RADIUS) fill=(fill) stroke=(EDGE) stroke-width="2" {}
            text x=(x + RADIUS + 6) y=(y + 4) font-size="11" fill=(LABEL) { (name) }
        }
    }
}
