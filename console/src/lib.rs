//! The waypost web console: every execution of a store in a browser.
#![doc(test(attr(deny(warnings))))]

mod graph_svg;
