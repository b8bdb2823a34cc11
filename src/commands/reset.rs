//! `avatar-console reset USER... [--from FILE] [--yes] [--strategy …] [--no-verify] [--json]`.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};

use super::{Context, EXIT_FAILED, EXIT_USAGE, usage_error};
use crate::cli::ResetArgs;
use crate::model::{Outcome, ResetReport, Strategy};
use crate::reset::{CancelToken, Progress, Stage, Target};
use crate::session::Session;

fn read_targets(args: &ResetArgs) -> Result<Vec<String>, String> {
    let mut users = args.users.clone();
    if let Some(path) = &args.from {
        // `-` is standard input, as the help says.
        let text = if path.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin()).map_err(|e| format!("--from -: {e}"))?
        } else {
            std::fs::read_to_string(path).map_err(|e| format!("--from {}: {e}", path.display()))?
        };
        users.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    if users.is_empty() {
        return Err(
            "reset: give at least one USER (username, external:ID or email) or --from FILE".into(),
        );
    }
    Ok(users)
}

pub async fn run(ctx: &Context, args: &ResetArgs) -> ExitCode {
    if ctx.read_only {
        return usage_error("reset refuses under --read-only: nothing was sent");
    }
    let from_stdin = args.from.as_ref().is_some_and(|p| p.as_os_str() == "-");
    if from_stdin && !args.yes && !ctx.dry_run {
        return usage_error(
            "reset --from - reads the users from standard input, so it cannot ask for confirmation there: add --yes (nothing was sent)",
        );
    }
    let inputs = match read_targets(args) {
        Ok(u) => u,
        Err(e) => return usage_error(e),
    };
    let mut targets = Vec::new();
    for input in &inputs {
        match Target::from_input(input) {
            Ok(t) => targets.push(t),
            Err(e) => return usage_error(e),
        }
    }
    let Some(config) = ctx.config() else {
        return usage_error("reset: no configuration loaded");
    };
    let session = match Session::new(config, &ctx.data_dir) {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    let opts = Session::reset_options(config, args.strategy, args.no_verify, ctx.dry_run);
    let engine = session.engine(opts);
    let decision = engine.decision().await;
    if decision.strategy == Strategy::SyncSso
        && let Err(e) = config.require_sync_sso()
    {
        return usage_error(format!("reset would use {decision}: {e}"));
    }
    if !args.yes && !ctx.dry_run {
        if !std::io::stdin().is_terminal() {
            return usage_error(
                "reset needs --yes when standard input is not a terminal (nothing was sent)",
            );
        }
        let names = inputs
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let more = if inputs.len() > 10 {
            format!(" and {} more", inputs.len() - 10)
        } else {
            String::new()
        };
        eprint!(
            "Reset the avatar of {} user(s) ({names}{more}) with {decision}? [y/N] ",
            inputs.len()
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("Nothing sent.");
            return ExitCode::from(EXIT_FAILED);
        }
    }
    let cancel = CancelToken::default();
    {
        // First Ctrl-C (or SIGTERM/SIGHUP: a closed terminal, a stopped service): nothing new
        // leaves, not even resets waiting for the budget; those in flight verify and write their
        // outcome. Second: stop verifying too (outcomes say `unverified`, with what to run next).
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if let Some(what) = stop_signal().await {
                eprintln!(
                    "\n{what}: nothing new is sent; verifying those in flight ({what} again to stop waiting)…"
                );
                cancel.cancel();
            }
            if let Some(what) = stop_signal().await {
                eprintln!("\n{what}: writing the outcomes now, unverified…");
                cancel.hurry();
            }
        });
    }
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = ProgressBar::new(targets.len() as u64);
        b.set_style(
            ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    });
    let progress = {
        let bar = bar.clone();
        let json = args.json;
        Arc::new(move |p: Progress| {
            let line = match &p.stage {
                Stage::Done(r) => Some(format!(
                    "{}: {} — {}",
                    r.user,
                    r.outcome.as_str(),
                    r.message
                )),
                Stage::Note(n) => Some(format!("{}: {n}", p.input)),
                _ => None,
            }
            // Inputs can come from a --from file and reports carry server text: clean both.
            .map(|l| crate::sanitize::clean(&l));
            if let Some(b) = &bar {
                if let Stage::Done(_) = p.stage {
                    b.inc(1);
                }
                if let Some(l) = line {
                    b.println(l);
                }
                b.set_message(p.input.clone());
            } else if let Some(l) = line {
                // Without a terminal the lines are the progress; under --json stdout stays clean.
                let _ = json;
                eprintln!("{l}");
            }
        })
    };
    eprintln!("Strategy: {decision}");
    if decision.strategy == Strategy::SyncSso {
        for w in engine.preflight_warnings().await {
            eprintln!("warning: {w}");
        }
    }
    let before = session.discourse.requests_sent();
    let started = std::time::Instant::now();
    let reports = engine.run(targets, cancel.clone(), Some(progress)).await;
    engine.finish(std::time::Duration::from_secs(10)).await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let requests = session.discourse.requests_sent() - before;
    summarize(&reports, requests, started.elapsed(), cancel.is_cancelled());
    if args.json {
        println!(
            "{}",
            crate::jsonfmt::to_string_pretty(&reports).unwrap_or_else(|_| "[]".into())
        );
    }
    let ok = !cancel.is_cancelled()
        && reports.iter().all(|r| {
            matches!(
                r.outcome,
                Outcome::Verified | Outcome::Skipped | Outcome::DryRun
            ) || (r.outcome == Outcome::Applied && args.no_verify)
        });
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

/// The next Ctrl-C, SIGTERM or SIGHUP, by name; None if none can be listened for.
async fn stop_signal() -> Option<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            return tokio::signal::ctrl_c().await.ok().map(|_| "Ctrl-C");
        };
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.ok().map(|_| "Ctrl-C"),
            _ = term.recv() => Some("SIGTERM"),
            _ = hup.recv() => Some("SIGHUP"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.ok().map(|_| "Ctrl-C")
    }
}

fn summarize(
    reports: &[ResetReport],
    requests: u64,
    elapsed: std::time::Duration,
    cancelled: bool,
) {
    let count = |o: Outcome| reports.iter().filter(|r| r.outcome == o).count();
    let mut parts = Vec::new();
    for o in [
        Outcome::Verified,
        Outcome::Applied,
        Outcome::Unverified,
        Outcome::Failed,
        Outcome::Skipped,
        Outcome::DryRun,
    ] {
        let n = count(o);
        if n > 0 {
            parts.push(format!("{n} {}", o.as_str()));
        }
    }
    let acted = reports
        .iter()
        .filter(|r| !matches!(r.outcome, Outcome::Skipped))
        .count()
        .max(1);
    eprintln!(
        "{}{} in {:.1}s; {requests} Discourse request{}, {:.2} per reset",
        if cancelled { "Cancelled. " } else { "" },
        parts.join(", "),
        elapsed.as_secs_f64(),
        if requests == 1 { "" } else { "s" },
        requests as f64 / acted as f64
    );
    let _ = EXIT_USAGE;
}
