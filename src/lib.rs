//! busbar: a self-hosted event router that matches events against Amazon
//! EventBridge event patterns.
//!
//! # Layout
//!
//! - [`pattern`]: the pattern language, JSON text → typed, `$or`-expanded AST.
//! - [`engine`]: AST set → one immutable automaton (`Send + Sync`), searched
//!   with a per-worker [`engine::Cache`]; also the naive reference matcher
//!   that tests use as an oracle.
//! - [`flatten`]: event bytes → the (path, value) leaves the automaton asks
//!   for, skipping every field no rule mentions.
//! - [`bench`]: the deterministic citylots-like data set and the rule sets
//!   the benchmarks use.
//! - `cli` (binary only): the `busbar` subcommands.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod bench;
pub mod engine;
pub mod flatten;
pub mod pattern;
