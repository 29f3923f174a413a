//! The layout: the size of every block and where its parts go, relative to its top
//! left corner, in whole pixels.
//!
//! Every block has a width `w`, a height `h` and an `axis`: the x at which control
//! enters it at the top and leaves it at the bottom. `continues` says whether control
//! leaves it at all (a branch that ends in a fail state does not). Text is measured
//! approximately, by a fixed advance per character.

use std::borrow::Cow;

use waypost_core::graph::{Node, NodeKind};
use waypost_core::text::printable;

/// Space around the drawing.
pub(super) const MARGIN: i32 = 24;
/// The narrowest drawing, so that `start` and `end` have room.
pub(super) const MIN_WIDTH: i32 = 160;
/// Radius of the start and end circles.
pub(super) const RADIUS: i32 = 7;
/// The arrow between two states of a sequence.
pub(super) const GAP: i32 = 30;
/// The height of an empty sequence (a branch with no states), drawn as a line.
pub(super) const EMPTY: i32 = 16;

/// A state box's width bounds, and its padding either side of the text.
pub(super) const LEAF_MIN: i32 = 120;
pub(super) const LEAF_MAX: i32 = 220;
pub(super) const LEAF_PAD: i32 = 12;
/// A state box's height with one line of text, and with a second, smaller line.
pub(super) const LEAF_H1: i32 = 34;
pub(super) const LEAF_H2: i32 = 48;

/// A frame's padding either side of its branches, and between two branches.
pub(super) const FRAME_PAD: i32 = 16;
pub(super) const COLUMN_GAP: i32 = 28;
/// A frame's header height with one line, and with a line of details.
pub(super) const HEADER_H1: i32 = 28;
pub(super) const HEADER_H2: i32 = 42;
/// Below the header: the drop to the split line, then the room for branch labels.
pub(super) const SPLIT: i32 = 10;
pub(super) const LABEL_ROOM: i32 = 24;
/// Below the tallest branch: the drop to the merge line, then to the frame's bottom.
pub(super) const MERGE: i32 = 14;
pub(super) const BOTTOM: i32 = 12;
/// The widest frame header, so that a long name cannot widen the whole drawing.
pub(super) const HEADER_MAX: i32 = 320;

/// From a state's right side to its first catch handler, and from the catch edge down
/// to the handler (room for its label).
pub(super) const CATCH_GAP: i32 = 36;
pub(super) const CATCH_DROP: i32 = 30;
/// Below a state with catch handlers: where the handlers' exits join its own.
pub(super) const JOIN: i32 = 16;
/// An edge label's distance from its edge, and its widest.
pub(super) const LABEL_OFFSET: i32 = 6;
pub(super) const LABEL_MAX: i32 = 240;

/// Approximate advance of a character, in tenths of a pixel: 12 px regular and bold,
/// and the 11 px of labels and second lines.
pub(super) const CHAR: i32 = 70;
pub(super) const CHAR_BOLD: i32 = 76;
pub(super) const CHAR_SMALL: i32 = 63;

/// A sequence of states, stacked, their axes lined up.
pub(super) struct Seq<'g> {
    /// Each state with its catch handlers, at `(x, y)` in the sequence.
    pub(super) units: Vec<(i32, i32, Unit<'g>)>,
    pub(super) w: i32,
    pub(super) h: i32,
    pub(super) axis: i32,
    /// Whether control can leave the sequence at its bottom (it does not end in a fail).
    pub(super) continues: bool,
}

impl<'g> Seq<'g> {
    pub(super) fn of(states: &'g [Node]) -> Self {
        let units: Vec<Unit<'g>> = states.iter().map(Unit::of).collect();
        let axis = units.iter().map(|u| u.axis).max().unwrap_or(0);
        let right = units.iter().map(|u| u.w - u.axis).max().unwrap_or(0);
        let continues = units.iter().all(|u| u.continues);
        let mut y = 0;
        let mut placed = Vec::with_capacity(units.len());
        for unit in units {
            let h = unit.h;
            placed.push((axis - unit.axis, y, unit));
            y += h + GAP;
        }
        let h = if placed.is_empty() { EMPTY } else { y - GAP };
        Seq {
            units: placed,
            w: axis + right,
            h,
            axis,
            continues,
        }
    }
}

/// A state and, to its right, the handlers of its catches.
pub(super) struct Unit<'g> {
    pub(super) state: State<'g>,
    pub(super) handlers: Vec<Handler<'g>>,
    pub(super) w: i32,
    pub(super) h: i32,
    pub(super) axis: i32,
    pub(super) continues: bool,
}

/// A catch handler: its label and its states, at `(x, y)` in its [`Unit`].
pub(super) struct Handler<'g> {
    pub(super) label: String,
    pub(super) seq: Seq<'g>,
    pub(super) x: i32,
    pub(super) y: i32,
}

impl<'g> Unit<'g> {
    pub(super) fn of(node: &'g Node) -> Self {
        let state = State::of(node);
        let y = state.anchor() + CATCH_DROP;
        let mut x = state.w() + CATCH_GAP;
        let mut bottom = state.h();
        let mut continues = state.continues();
        let mut handlers = Vec::with_capacity(node.catch.len());
        for catch in &node.catch {
            let errors = printable(&catch.errors.join(", ")).into_owned();
            let label = clip(&format!("catch: {errors}"), LABEL_MAX, CHAR_SMALL).into_owned();
            let seq = Seq::of(&catch.handler);
            let w = seq
                .w
                .max(seq.axis + LABEL_OFFSET + width(&label, CHAR_SMALL));
            bottom = bottom.max(y + seq.h);
            continues |= seq.continues;
            handlers.push(Handler { label, seq, x, y });
            x += w + COLUMN_GAP;
        }
        let (w, h) = match handlers.is_empty() {
            true => (state.w(), bottom),
            false => (x - COLUMN_GAP, bottom + JOIN),
        };
        Unit {
            axis: state.axis(),
            state,
            handlers,
            w,
            h,
            continues,
        }
    }
}

/// One state: a box, or a frame around branches.
pub(super) enum State<'g> {
    Leaf(Leaf<'g>),
    Frame(Frame<'g>),
}

impl<'g> State<'g> {
    pub(super) fn of(node: &'g Node) -> Self {
        let container = matches!(
            node.kind,
            NodeKind::Choice | NodeKind::Parallel | NodeKind::Map | NodeKind::Group
        );
        if container || !node.branches.is_empty() {
            State::Frame(Frame::of(node))
        } else {
            State::Leaf(Leaf::of(node))
        }
    }

    pub(super) fn w(&self) -> i32 {
        match self {
            State::Leaf(leaf) => leaf.w,
            State::Frame(frame) => frame.w,
        }
    }

    pub(super) fn h(&self) -> i32 {
        match self {
            State::Leaf(leaf) => leaf.h,
            State::Frame(frame) => frame.h,
        }
    }

    pub(super) fn axis(&self) -> i32 {
        match self {
            State::Leaf(leaf) => leaf.w / 2,
            State::Frame(frame) => frame.axis,
        }
    }

    /// Where catch edges leave the state's right side: its middle, or a frame's header.
    pub(super) fn anchor(&self) -> i32 {
        match self {
            State::Leaf(leaf) => leaf.h / 2,
            State::Frame(frame) => frame.header_h / 2,
        }
    }

    pub(super) fn continues(&self) -> bool {
        match self {
            State::Leaf(leaf) => leaf.node.kind != NodeKind::Fail,
            State::Frame(frame) => {
                frame.columns.is_empty() || frame.columns.iter().any(|c| c.seq.continues)
            }
        }
    }
}

/// A task, pass, wait, succeed or fail state: a rounded box with its name and, below,
/// what it does besides (retry, timeout, wait time, error).
pub(super) struct Leaf<'g> {
    pub(super) node: &'g Node,
    pub(super) name: String,
    pub(super) sub: Option<String>,
    pub(super) w: i32,
    pub(super) h: i32,
}

impl<'g> Leaf<'g> {
    pub(super) fn of(node: &'g Node) -> Self {
        let room = LEAF_MAX - 2 * LEAF_PAD;
        let name = clip(&printable(&node.name), room, CHAR).into_owned();
        let sub = subtitle(node).map(|sub| clip(&sub, room, CHAR_SMALL).into_owned());
        let text = width(&name, CHAR).max(sub.as_deref().map_or(0, |s| width(s, CHAR_SMALL)));
        Leaf {
            node,
            name,
            h: if sub.is_some() { LEAF_H2 } else { LEAF_H1 },
            sub,
            w: (text + 2 * LEAF_PAD).clamp(LEAF_MIN, LEAF_MAX),
        }
    }
}

/// A choice, parallel, map or group: a dashed frame with a header, its branches side by
/// side inside.
pub(super) struct Frame<'g> {
    pub(super) node: &'g Node,
    pub(super) kind: String,
    pub(super) name: String,
    pub(super) sub: Option<String>,
    pub(super) columns: Vec<Column<'g>>,
    pub(super) w: i32,
    pub(super) h: i32,
    pub(super) axis: i32,
    pub(super) header_h: i32,
    /// The top of the branches, below their labels.
    pub(super) top: i32,
    /// Where the branches' exits join.
    pub(super) merge: i32,
}

/// A branch of a frame: its label and states, at `x` in the frame.
pub(super) struct Column<'g> {
    pub(super) label: Option<String>,
    pub(super) seq: Seq<'g>,
    pub(super) x: i32,
}

impl<'g> Frame<'g> {
    pub(super) fn of(node: &'g Node) -> Self {
        let kind = kind_name(node.kind);
        // A generated name (`group`) says no more than the kind.
        let (kind, name) = if node.name.eq_ignore_ascii_case(kind) {
            (kind.to_owned(), String::new())
        } else {
            let kind = format!("{kind} · ");
            let room = HEADER_MAX - width(&kind, CHAR);
            let name = clip(&printable(&node.name), room, CHAR_BOLD).into_owned();
            (kind, name)
        };
        let sub = subtitle(node).map(|sub| clip(&sub, HEADER_MAX, CHAR_SMALL).into_owned());
        let header_w = (width(&kind, CHAR) + width(&name, CHAR_BOLD))
            .max(sub.as_deref().map_or(0, |s| width(s, CHAR_SMALL)));
        let header_h = if sub.is_some() { HEADER_H2 } else { HEADER_H1 };
        let top = header_h + SPLIT + LABEL_ROOM;
        let mut columns = Vec::with_capacity(node.branches.len());
        let mut x = 0;
        for branch in &node.branches {
            let label = branch_label(node.kind, &branch.label);
            let seq = Seq::of(&branch.states);
            let need = label
                .as_deref()
                .map_or(0, |l| seq.axis + LABEL_OFFSET + width(l, CHAR_SMALL));
            let w = seq.w.max(need);
            columns.push(Column { label, seq, x });
            x += w + COLUMN_GAP;
        }
        let inner = (x - COLUMN_GAP).max(0);
        let w = inner.max(header_w) + 2 * FRAME_PAD;
        for column in &mut columns {
            column.x += (w - inner) / 2;
        }
        let tallest = columns.iter().map(|c| c.seq.h).max();
        let merge = tallest.map_or(header_h, |h| top + h + MERGE);
        let axis = match columns.as_slice() {
            [only] => only.x + only.seq.axis,
            _ => w / 2,
        };
        Frame {
            node,
            kind,
            name,
            sub,
            w,
            h: merge + BOTTOM,
            axis,
            header_h,
            top,
            merge,
            columns,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Text.

/// The kind of a state, as its header says.
pub(super) fn kind_name(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Task => "Task",
        NodeKind::Choice => "Choice",
        NodeKind::Parallel => "Parallel",
        NodeKind::Map => "Map",
        NodeKind::Wait => "Wait",
        NodeKind::Pass => "Pass",
        NodeKind::Succeed => "Succeed",
        NodeKind::Fail => "Fail",
        NodeKind::Group => "Group",
        NodeKind::Condition => "Condition",
        _ => "State",
    }
}

/// The label drawn on a branch: a choice's rule, `branch 0`, a map's `item`; a group's
/// one branch has none.
pub(super) fn branch_label(kind: NodeKind, label: &str) -> Option<String> {
    let label = printable(label);
    let text = match kind {
        NodeKind::Group => return None,
        NodeKind::Parallel => format!("branch {label}"),
        _ => label.into_owned(),
    };
    Some(clip(&text, LABEL_MAX, CHAR_SMALL).into_owned())
}

/// A state's second line: the kind where the name does not say it, the details, and
/// retry and timeout badges, or `None` when there is nothing to say.
pub(super) fn subtitle(node: &Node) -> Option<String> {
    let mut parts = Vec::new();
    let kind = match node.kind {
        NodeKind::Pass => "pass",
        NodeKind::Succeed => "succeed",
        _ => "",
    };
    if !kind.is_empty() && node.name != kind {
        parts.push(kind.to_owned());
    }
    for (key, value) in &node.details {
        let value = printable(value);
        match (node.kind, key.as_str()) {
            (NodeKind::Wait, "seconds") if node.name == "wait" => parts.push(format!("{value}s")),
            (NodeKind::Wait, "seconds") => parts.push(format!("wait {value}s")),
            (NodeKind::Fail, "cause") => {}
            (NodeKind::Fail, "error") => parts.push(format!("error: {value}")),
            (_, "max_concurrency") if value == "0" => {}
            (_, key) => parts.push(format!("{} {value}", printable(key).replace('_', " "))),
        }
    }
    if !node.retry.is_empty() {
        let attempts: Vec<String> = node
            .retry
            .iter()
            .map(|r| format!("×{}", r.max_attempts))
            .collect();
        parts.push(format!("retry {}", attempts.join(", ")));
    }
    if let Some(timeout) = node.timeout {
        parts.push(format!("timeout {timeout:?}"));
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

/// The tooltip of a state: its full name, kind, address, status, details, retries,
/// The approximate width of `text` in pixels, at `advance` tenths of a pixel a
/// character (twice that for wide characters: CJK, emoji).
pub(super) fn width(text: &str, advance: i32) -> i32 {
    let units: i32 = text
        .chars()
        .map(|c| if c >= '\u{2e80}' { 2 } else { 1 })
        .sum();
    (units * advance + 9) / 10
}

/// `text` cut to fit `max` pixels, with `…` where it was cut.
pub(super) fn clip(text: &str, max: i32, advance: i32) -> Cow<'_, str> {
    if width(text, advance) <= max {
        return Cow::Borrowed(text);
    }
    let mut out = String::new();
    for c in text.chars() {
        out.push(c);
        if width(&out, advance) + width("…", advance) > max {
            out.pop();
            break;
        }
    }
    out.push('…');
    Cow::Owned(out)
}
