//! What each subcommand does, given the parsed command line. `main.rs` only parses, sets up
//! logging and calls [`dispatch`].
//!
//! Commands that talk to a server get a [`Context`] whose `config` is loaded and has an API
//! key ([`Config::require_api`]); `sso`, `config` and `sandbox` load what they need themselves.

pub mod check;
pub mod config_cmd;
pub mod console;
pub mod logging;
pub mod logs;
pub mod queue;
pub mod reset;
pub mod review;
pub mod sandbox_cmd;
pub mod sso;
pub mod undo;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::{
    CheckArgs, Cli, Command, GlobalArgs, LogsArgs, QueueArgs, ResetArgs, SandboxArgs,
};
use crate::config::{self, Config, ConfigError};

/// Exit code: the operation ran and failed (reset not verified, invalid signature, `check`
/// found a problem).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: usage or configuration error.
pub const EXIT_USAGE: u8 = 2;

/// Prints `error: {message}` on standard error and returns exit code 2.
pub fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!(
        "error: {}",
        crate::sanitize::clean_multiline(&message.to_string())
    );
    ExitCode::from(EXIT_USAGE)
}

/// Prints `error: {message}` on standard error and returns exit code 1.
pub fn failed(message: impl std::fmt::Display) -> ExitCode {
    eprintln!(
        "error: {}",
        crate::sanitize::clean_multiline(&message.to_string())
    );
    ExitCode::from(EXIT_FAILED)
}

/// What every command gets: the global flags, the data dir and (for commands that talk to a
/// server) the loaded configuration.
#[derive(Debug, Clone)]
pub struct Context {
    /// The loaded configuration. `None` for `sso`, `config` and `sandbox` (which load what they
    /// need), and under `--demo` until [`start_demo`] fills it from the sandbox.
    pub config: Option<Config>,
    /// The config file in use (`None` until loaded; under `--demo`, none is read).
    pub config_path: Option<PathBuf>,
    /// `--config FILE`, as given.
    pub config_flag: Option<PathBuf>,
    /// `--demo`: run against the in-process sandbox ([`start_demo`]).
    pub demo: bool,
    /// `--read-only`: send nothing that changes a server.
    pub read_only: bool,
    /// `--dry-run`: build changes, show and audit them, never send them.
    pub dry_run: bool,
    /// `--user USER`: the console opens on that user.
    pub user: Option<String>,
    /// Where `audit.jsonl` and `avatar-console.log` live.
    pub data_dir: PathBuf,
}

impl Context {
    /// A context with the global flags and the data dir; no configuration loaded.
    pub fn new(global: &GlobalArgs, data_dir: PathBuf) -> Context {
        Context {
            config: None,
            config_path: None,
            config_flag: global.config.clone(),
            demo: global.demo,
            read_only: global.read_only,
            dry_run: global.dry_run,
            user: global.user.clone(),
            data_dir,
        }
    }

    /// Loads the configuration (`--config`, `$AVATAR_CONSOLE_CONFIG`, default path) with the
    /// environment's secrets.
    pub fn load_config(&mut self) -> Result<&Config, ConfigError> {
        let (config, path) = Config::load(self.config_flag.as_deref())?;
        crate::secret::register(config.secrets());
        self.config_path = Some(path);
        Ok(self.config.insert(config))
    }

    /// The configuration of a server command. Only `None` if called outside [`dispatch`].
    pub fn config(&self) -> Option<&Config> {
        self.config.as_ref()
    }

    /// The audit log's path.
    pub fn audit_path(&self) -> PathBuf {
        self.data_dir.join("audit.jsonl")
    }
}

/// What keeps the `--demo` sandbox running while a command uses it.
pub struct DemoHandle {
    pub sandbox: discourse_sandbox::Sandbox,
    /// Held while the run uses `demo/audit.jsonl`, so that a second `--demo` started meanwhile
    /// neither moves that file from under it nor reads its lines.
    _audit_lock: Option<std::fs::File>,
}

/// `--demo`: start the sandbox in-process and point the command at it, with no config file.
/// Demo runs keep their audit log apart (`<data dir>/demo/`) so they never mix with real resets.
pub async fn start_demo(ctx: &mut Context) -> Result<DemoHandle, ExitCode> {
    let sandbox = discourse_sandbox::Sandbox::start(discourse_sandbox::Scenario::demo())
        .await
        .map_err(|e| failed(format!("--demo: could not start the sandbox: {e}")))?;
    let config = Config::from_toml_str(
        &sandbox.config_toml(),
        std::path::Path::new("<demo sandbox>"),
    )
    .map_err(|e| failed(format!("--demo: the sandbox's config is invalid: {e}")))?;
    crate::secret::register(config.secrets());
    ctx.config = Some(config);
    ctx.config_path = None;
    let demo = demo_dir(&ctx.data_dir);
    let _ = std::fs::create_dir_all(&demo);
    let now = chrono::Utc::now();
    // Every `--demo` command gets a fresh sandbox, so an earlier run's audit lines describe
    // users that no longer exist: `check` would show them as current and `undo` would act on
    // them. They are moved aside, not deleted. While another demo run still uses the file, it
    // is left alone and this run keeps its audit in a directory of its own.
    let audit_lock = match lock_demo_audit(&demo) {
        DemoLock::Busy => {
            let own = demo.join(format!(
                "run-{}-{}",
                now.format("%Y%m%dT%H%M%SZ"),
                std::process::id()
            ));
            tracing::info!(dir = %own.display(), "another --demo run uses demo/audit.jsonl; this run's audit is kept apart");
            ctx.data_dir = own;
            None
        }
        lock => {
            if let Some(to) = archive_demo_audit(&demo, now) {
                tracing::info!(to = %to.display(), "the previous demo's audit log moved aside");
            }
            prune_demo_runs(&demo);
            ctx.data_dir = demo;
            match lock {
                DemoLock::Held(f) => Some(f),
                _ => None,
            }
        }
    };

    tracing::info!(url = %sandbox.url(), "demo sandbox started");
    Ok(DemoHandle {
        sandbox,
        _audit_lock: audit_lock,
    })
}

enum DemoLock {
    /// This run holds `demo/audit.lock` until it ends.
    Held(std::fs::File),
    /// Another demo run holds it.
    Busy,
    /// No lock on this platform or file system: runs are taken to be one at a time.
    Unavailable,
}

fn lock_demo_audit(demo: &std::path::Path) -> DemoLock {
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(demo.join("audit.lock"))
    else {
        return DemoLock::Unavailable;
    };
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor this File owns; released when the File is closed.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r == 0 {
            DemoLock::Held(file)
        } else if std::io::Error::last_os_error().raw_os_error() == Some(libc::EWOULDBLOCK) {
            DemoLock::Busy
        } else {
            DemoLock::Unavailable
        }
    }
    #[cfg(not(unix))]
    {
        drop(file);
        DemoLock::Unavailable
    }
}

/// The directories of demo runs that ran beside another (`run-<UTC time>-<pid>`): the newest
/// [`DEMO_AUDITS_KEPT`] are kept, like the archived audit files.
fn prune_demo_runs(demo: &std::path::Path) {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(demo)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("run-2"))
        })
        .collect();
    runs.sort();
    let excess = runs.len().saturating_sub(DEMO_AUDITS_KEPT);
    for old in &runs[..excess] {
        let _ = std::fs::remove_dir_all(old);
    }
}

/// Where `--demo` keeps its audit log and application log: `<data dir>/demo`.
pub fn demo_dir(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("demo")
}

/// Audit files of earlier demo consoles kept beside the current one (`audit.<UTC time>.jsonl`).
pub const DEMO_AUDITS_KEPT: usize = 10;

/// Each `--demo` run (console or command) is a new sandbox forum, whose users must not show
/// the audit lines of an earlier demo as if they had been touched: the current `audit.jsonl`
/// is moved aside as `audit.<UTC time>.jsonl`, and only the newest [`DEMO_AUDITS_KEPT`] of
/// those are kept.
/// Returns the file it was moved to, to say so.
pub fn archive_demo_audit(
    demo_dir: &std::path::Path,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<PathBuf> {
    let audit = demo_dir.join("audit.jsonl");
    let moved = if std::fs::metadata(&audit).is_ok_and(|m| m.len() > 0) {
        let mut to = demo_dir.join(format!("audit.{}.jsonl", now.format("%Y%m%dT%H%M%SZ")));
        let mut n = 1;
        while to.exists() {
            n += 1;
            to = demo_dir.join(format!("audit.{}-{n}.jsonl", now.format("%Y%m%dT%H%M%SZ")));
        }
        std::fs::rename(&audit, &to).ok().map(|()| to)
    } else {
        None
    };
    // The names sort by time; the oldest beyond the limit go.
    let mut archives: Vec<PathBuf> = std::fs::read_dir(demo_dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("audit.2") && n.ends_with(".jsonl"))
        })
        .collect();
    archives.sort();
    // The file that older versions kept (one run back) is an archive like the others.
    let legacy = demo_dir.join("audit.previous-demo.jsonl");
    if legacy.exists() {
        archives.insert(0, legacy);
    }
    let excess = archives.len().saturating_sub(DEMO_AUDITS_KEPT);
    for old in &archives[..excess] {
        let _ = std::fs::remove_file(old);
    }
    moved
}

/// Gets a server command's configuration ready: the sandbox under `--demo`, else the config
/// file with an API key. Errors are printed; the caller returns the exit code.
async fn prepare_server(ctx: &mut Context) -> Result<Option<DemoHandle>, ExitCode> {
    if ctx.demo {
        return start_demo(ctx).await.map(Some);
    }
    let config = ctx.load_config().map_err(usage_error)?;
    config.require_api().map_err(usage_error)?;
    if let Err(e) = config.require_main_app() {
        return Err(usage_error(e));
    }
    tracing::info!(
        config = %ctx.config_path.as_deref().unwrap_or(std::path::Path::new("")).display(),
        read_only = ctx.read_only,
        dry_run = ctx.dry_run,
        "configuration loaded"
    );
    Ok(None)
}

/// Runs the parsed command line.
pub async fn dispatch(cli: Cli) -> ExitCode {
    // Secrets from the environment are known before anything can print them.
    let from_env: Vec<crate::secret::Secret> = [
        config::ENV_API_KEY,
        config::ENV_SSO_SECRET,
        config::ENV_MAIN_APP_TOKEN,
    ]
    .iter()
    .filter_map(|k| std::env::var(k).ok())
    .map(crate::secret::Secret::new)
    .collect();
    crate::secret::register(&from_env);
    let mut ctx = Context::new(&cli.global, config::data_dir());
    match cli.command {
        None => {
            let _demo = match prepare_server(&mut ctx).await {
                Ok(d) => d,
                Err(code) => return code,
            };
            run_console(&ctx).await
        }
        Some(Command::Sso(cmd)) => {
            // `--demo sso decode …` checks signatures with the demo sandbox's secret.
            let _demo = if ctx.demo {
                match start_demo(&mut ctx).await {
                    Ok(d) => Some(d),
                    Err(code) => return code,
                }
            } else {
                None
            };
            sso::run(&ctx, &cmd)
        }
        Some(Command::Config(cmd)) => config_cmd::run(&mut ctx, &cmd).await,
        Some(Command::Sandbox(args)) => run_sandbox(&ctx, &args).await,
        Some(cmd) => {
            // The CLI says each rate-limit wait as it starts (the console shows it in its header).
            crate::discourse::client::announce_waits_on_stderr(true);
            let _demo = match prepare_server(&mut ctx).await {
                Ok(d) => d,
                Err(code) => return code,
            };
            match cmd {
                Command::Queue(args) => run_queue(&ctx, &args).await,
                Command::Check(args) => run_check(&ctx, &args).await,
                Command::Reset(args) => run_reset(&ctx, &args).await,
                Command::Review(args) => review::run(&ctx, &args).await,
                Command::Undo(args) => undo::run(&ctx, &args).await,
                Command::Logs(mut args) => {
                    // `avatar-console --user bob logs` means the same as `logs --user bob`.
                    if args.user.is_none() {
                        args.user = ctx.user.clone();
                    }
                    run_logs(&ctx, &args).await
                }
                Command::Sso(_) | Command::Config(_) | Command::Sandbox(_) => {
                    unreachable!("handled above")
                }
            }
        }
    }
}

/// The console (terminal UI). `ctx.user` is the user to open on.
pub async fn run_console(ctx: &Context) -> ExitCode {
    console::run(ctx).await
}

/// `queue [--json] [--source app|discourse|all]`.
pub async fn run_queue(ctx: &Context, args: &QueueArgs) -> ExitCode {
    queue::run(ctx, args).await
}

/// `check USER [--json]`.
pub async fn run_check(ctx: &Context, args: &CheckArgs) -> ExitCode {
    check::run(ctx, args).await
}

/// `reset USER... [--from FILE] [--yes] [--strategy …] [--no-verify] [--json]`.
pub async fn run_reset(ctx: &Context, args: &ResetArgs) -> ExitCode {
    reset::run(ctx, args).await
}

/// `logs [--user USER] [--follow] [--json]` (`args.user` already falls back to `--user`).
pub async fn run_logs(ctx: &Context, args: &LogsArgs) -> ExitCode {
    logs::run(ctx, args).await
}

/// `sandbox [--port N] [--flagged N] [--seed N] [--plus-bug on|off] [--hide-admin-emails]
/// [--admin-rpm N]`. The global `--demo`, `--read-only`, `--dry-run` and `--config` mean
/// nothing for a server that is itself the demo, sends nothing anywhere and writes its own
/// config: refused rather than ignored (and hidden from `sandbox --help`).
pub async fn run_sandbox(ctx: &Context, args: &SandboxArgs) -> ExitCode {
    let meaningless: Vec<&str> = [
        (ctx.demo || args.demo_here, "--demo"),
        (ctx.read_only || args.read_only_here, "--read-only"),
        (ctx.dry_run || args.dry_run_here, "--dry-run"),
        (
            ctx.config_flag.is_some() || args.config_here.is_some(),
            "--config",
        ),
    ]
    .into_iter()
    .filter_map(|(on, flag)| on.then_some(flag))
    .collect();
    if !meaningless.is_empty() {
        return usage_error(format!(
            "`sandbox` does not take {}: it runs the simulated forum itself, changes nothing \
             elsewhere and writes its own config file. Run `avatar-console sandbox` alone, or \
             `avatar-console --demo <command>` to run a command against a built-in sandbox.",
            meaningless.join(", ")
        ));
    }
    match sandbox_cmd::run(&ctx.data_dir, args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => failed(e),
    }
}

#[cfg(test)]
mod demo_tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn demo_audits_are_moved_aside_and_the_newest_ten_kept() {
        let dir = std::env::temp_dir().join(format!("ac-demo-audit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("audit.previous-demo.jsonl"), "{}\n").unwrap();
        let t = |i: u32| chrono::Utc.with_ymd_and_hms(2026, 12, 1, 10, i, 0).unwrap();
        // Nothing to move: no file yet, or an empty one.
        assert_eq!(archive_demo_audit(&dir, t(0)), None);
        std::fs::write(dir.join("audit.jsonl"), "").unwrap();
        assert_eq!(archive_demo_audit(&dir, t(0)), None);
        for i in 1..=12 {
            std::fs::write(dir.join("audit.jsonl"), format!("{{\"run\":{i}}}\n")).unwrap();
            let to = archive_demo_audit(&dir, t(i)).unwrap();
            assert!(
                to.ends_with(format!("audit.20261201T10{i:02}00Z.jsonl")),
                "{to:?}"
            );
            assert!(!dir.join("audit.jsonl").exists());
        }
        let mut kept: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        kept.sort();
        assert_eq!(kept.len(), DEMO_AUDITS_KEPT, "{kept:?}");
        assert_eq!(kept[0], "audit.20261201T100300Z.jsonl");
        assert!(kept.last().unwrap().contains("T101200Z"));
        // Two starts in one second do not overwrite each other.
        std::fs::write(dir.join("audit.jsonl"), "x\n").unwrap();
        let a = archive_demo_audit(&dir, t(12)).unwrap();
        assert!(a.to_string_lossy().ends_with("-2.jsonl"), "{a:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
