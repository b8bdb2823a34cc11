//! The terminal questions `ratatui-image` asks, made safe for a console that reads keys.
//!
//! Its query (`Picker::from_query_stdio`) reads stdin on a thread of its own until the terminal
//! answers a Device Status Report. When the terminal is silent past the timeout the query gives
//! up, but that thread stays blocked in `read` and would swallow the operator's first key.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long the terminal has to answer: a local terminal answers in a few milliseconds, one
/// over SSH in a few hundred.
pub const QUERY_TIMEOUT: Duration = Duration::from_millis(1000);

/// Whether this tmux pane passes graphics through to the outer terminal
/// (`allow-passthrough on` or `all`, tmux 3.3+). Asked with a deadline: a wedged tmux server
/// must not hold the console's start.
pub fn tmux_passthrough_on() -> bool {
    let Ok(mut child) = Command::new("tmux")
        .args(["show-options", "-pqv", "allow-passthrough"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let deadline = Instant::now() + Duration::from_millis(500);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
    }
    matches!(out.trim(), "on" | "all")
}

/// After a timed-out query: asks the terminal (tmux itself answers, passthrough or not) for a
/// status report, which ends the query thread's read, and gives it a moment to take the answer
/// before the event stream starts reading keys.
pub fn release_stdin_reader() {
    let mut out = std::io::stdout();
    let _ = out.write_all(b"\x1b[5n");
    let _ = out.flush();
    std::thread::sleep(Duration::from_millis(150));
}
