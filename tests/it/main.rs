//! One integration-test binary (one link step instead of one per file). Each module drives the
//! real code over loopback HTTP against the sandbox or a small test server.

mod cli;
mod client;
mod common;
mod faults;
mod oncall;
mod pictures;
mod props;
mod queue;
mod reset;
mod review;
mod sandbox_cmd;
mod trust;
mod tui;
