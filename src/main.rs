//! avatar-console: parse the command line, send logging to the data dir, dispatch.

use std::process::ExitCode;

use clap::Parser;

use avatar_console::cli::Cli;
use avatar_console::commands;
use avatar_console::config;

#[tokio::main]
async fn main() -> ExitCode {
    // `avatar-console queue | head` must end quietly like any Unix tool, not panic on a closed
    // pipe: restore the default SIGPIPE action that Rust's runtime turns off.
    #[cfg(unix)]
    // SAFETY: called first thing, before any other thread exists; SIG_DFL is always valid.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // clap exits itself: 0 for --help/--version, 2 for usage errors.
    let cli = Cli::parse();
    // Logging goes to a file, never to the terminal; if the file cannot be opened, it is off.
    // Demo runs log apart (`<data dir>/demo/`), so they never mix with real work.
    let log_dir = if cli.global.demo {
        commands::demo_dir(&config::data_dir())
    } else {
        config::data_dir()
    };
    if cli.global.demo {
        commands::logging::rotate_if_over(&log_dir, commands::logging::DEMO_LOG_MAX);
    }
    if let Err(e) = commands::logging::init(&log_dir) {
        eprintln!("warning: no log file in {}: {e}", log_dir.display());
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        command = cli.command.as_ref().map_or("console", |c| c.name()),
        "start"
    );
    let code = commands::dispatch(cli).await;
    tracing::info!(?code, "exit");
    code
}
