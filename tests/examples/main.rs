//! End-to-end tests of the examples: each runs as a real process on a store in a
//! temporary directory, and its output is checked against figures computed here.

mod big_map;
mod console;
mod etl;
mod order_processing;
mod support;
