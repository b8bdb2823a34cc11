//! avatar-console: clear flagged profile photos from a DiscourseConnect-backed Discourse forum.
//!
//! Layers (see DESIGN.md): `discourse`, `main_app` talk to servers; `queue`, `reset`, `check`
//! decide; `tui` draws. The `discourse-sandbox` crate (`sandbox/`) plays a Discourse site and the main
//! app for `--demo` and the tests.

pub mod audit;
pub mod check;
pub mod cli;
pub mod commands;
pub mod config;
pub mod discourse;
pub mod images;
pub mod jsonfmt;
pub mod main_app;
pub mod model;
pub mod net;
pub mod queue;
pub mod reset;
pub mod review;
pub mod sanitize;
pub mod secret;
pub mod session;
pub mod sources;
pub mod tui;
pub mod undo;
