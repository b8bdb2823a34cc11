//! `config path`, `config check`, `config example`.

use std::process::ExitCode;

use super::{Context, usage_error};
use crate::cli::ConfigCommand;
use crate::config::{self, Config, ResetStrategy};

pub async fn run(ctx: &mut Context, cmd: &ConfigCommand) -> ExitCode {
    match cmd {
        ConfigCommand::Path => path(ctx),
        ConfigCommand::Example => {
            print!("{}", config::EXAMPLE);
            ExitCode::SUCCESS
        }
        ConfigCommand::Check => check(ctx).await,
    }
}

/// Prints the path on standard output (alone, for scripts), where it came from and whether it
/// exists on standard error.
fn path(ctx: &Context) -> ExitCode {
    let (path, source) = config::config_path(ctx.config_flag.as_deref());
    println!("{}", path.display());
    let state = if path.is_file() {
        "exists"
    } else if path.exists() {
        "exists but is not a file"
    } else {
        "does not exist"
    };
    eprintln!("(from {}; {state})", source.describe());
    eprintln!("data dir: {}", ctx.data_dir.display());
    ExitCode::SUCCESS
}

async fn check(ctx: &mut Context) -> ExitCode {
    let config = match ctx.load_config() {
        Ok(c) => c.clone(),
        Err(e) => return usage_error(e),
    };
    if let Err(e) = config.require_api() {
        return usage_error(e);
    }
    if let Err(e) = config.require_main_app() {
        return usage_error(e);
    }
    let sync = config.require_sync_sso();
    if config.reset.strategy == ResetStrategy::SyncSso
        && let Err(e) = &sync
    {
        return usage_error(format!("{e} (reset.strategy is sync-sso)"));
    }
    println!("{}: OK", config.path.display());
    println!(
        "  discourse: {} as {}",
        config.discourse.url, config.discourse.api_username
    );
    match &sync {
        Ok((_, url)) => println!("  sync-sso: ready (default avatar {url})"),
        Err(e) => println!("  sync-sso: not available: {}", e.message),
    }
    match &config.main_app {
        Some(m) => println!("  main app: {}", m.flagged_url),
        None => println!("  main app: not configured (only Discourse's review queue is shown)"),
    }
    println!(
        "  reset: strategy {}, verify {}",
        config.reset.strategy.as_str(),
        if config.reset.verify {
            format!("on ({} s)", config.reset.verify_timeout_secs)
        } else {
            "off".to_string()
        }
    );
    check_remote(ctx, &config).await
}

/// HOOK (lead): ask the server whether the key works and acts as an admin, and whether
/// DiscourseConnect is on; print the findings and return the exit code (0 fine, 1 a problem,
/// 2 a configuration error). Called by `config check` after the file validated.
pub async fn check_remote(ctx: &Context, config: &Config) -> ExitCode {
    let _ = (ctx, config);
    println!("server check: not built yet");
    ExitCode::SUCCESS
}
