//! `avatar-console undo USER [--yes] [--force] [--json]`.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use super::{Context, EXIT_FAILED, usage_error};
use crate::cli::UndoArgs;
use crate::model::Outcome;
use crate::sanitize;
use crate::session::Session;
use crate::undo::{UndoOptions, undo};

pub async fn run(ctx: &Context, args: &UndoArgs) -> ExitCode {
    if ctx.read_only {
        return usage_error("undo refuses under --read-only: nothing was sent");
    }
    let Some(config) = ctx.config() else {
        return usage_error("undo: no configuration loaded");
    };
    let session = match Session::new(config, &ctx.data_dir) {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    if let Err(e) = crate::reset::parse_user(&args.user) {
        return usage_error(e);
    }
    if !args.yes && !ctx.dry_run {
        if !std::io::stdin().is_terminal() {
            return usage_error(
                "undo needs --yes when standard input is not a terminal (nothing was sent)",
            );
        }
        eprint!(
            "Put back the avatar the last verified reset of {} replaced? [y/N] ",
            sanitize::clean(&args.user)
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("Nothing sent.");
            return ExitCode::from(EXIT_FAILED);
        }
    }
    let opts = UndoOptions {
        sso_secret: config.discourse.sso_secret.clone(),
        verify_timeout: Duration::from_secs(config.reset.verify_timeout_secs.max(1)),
        dry_run: ctx.dry_run,
        force: args.force,
    };
    let report = match undo(&session.discourse, &session.audit, &opts, &args.user).await {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    eprintln!(
        "{}",
        sanitize::clean(&format!(
            "{}: {} — {}",
            report.user,
            report.outcome.as_str(),
            report.message
        ))
    );
    if args.json {
        println!(
            "{}",
            crate::jsonfmt::to_string_pretty(&[&report]).unwrap_or_else(|_| "[]".into())
        );
    }
    if matches!(report.outcome, Outcome::Verified | Outcome::DryRun) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}
