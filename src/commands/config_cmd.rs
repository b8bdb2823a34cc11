//! `config path`, `config check`, `config example`, `config init`.

use std::process::ExitCode;

use super::{Context, failed, usage_error};
use crate::cli::ConfigCommand;
use crate::config::{self, Config, ResetStrategy};
use crate::discourse::client::ClientError;
use crate::session::Session;

pub async fn run(ctx: &mut Context, cmd: &ConfigCommand) -> ExitCode {
    if ctx.demo && matches!(cmd, ConfigCommand::Init) {
        return usage_error(
            "config init writes your own config file; --demo needs none (run it without --demo)",
        );
    }
    if ctx.demo && !matches!(cmd, ConfigCommand::Example) {
        return demo(ctx, cmd).await;
    }
    match cmd {
        ConfigCommand::Path => path(ctx),
        ConfigCommand::Example => {
            print!("{}", config::EXAMPLE);
            ExitCode::SUCCESS
        }
        ConfigCommand::Check => check(ctx).await,
        ConfigCommand::Init => init(ctx),
    }
}

/// `config init`: the example, at the path `config path` prints, readable by its owner only.
fn init(ctx: &Context) -> ExitCode {
    let (path, _) = config::config_path(ctx.config_flag.as_deref());
    if let Err(e) = config::init_file(&path) {
        return usage_error(e);
    }
    println!("{}", path.display());
    eprintln!(
        "wrote the example config (mode 0600). Next: set discourse.url and discourse.api_key \
         (or {}), then run `avatar-console config check`",
        config::ENV_API_KEY
    );
    ExitCode::SUCCESS
}

/// `--demo config path|check`: there is no file; the built-in sandbox's config is checked.
async fn demo(ctx: &mut Context, cmd: &ConfigCommand) -> ExitCode {
    let _sandbox = match super::start_demo(ctx).await {
        Ok(d) => d,
        Err(code) => return code,
    };
    let Some(config) = ctx.config.clone() else {
        return super::failed("--demo: no configuration");
    };
    match cmd {
        ConfigCommand::Path => {
            eprintln!("--demo uses the built-in sandbox's configuration: no file is read");
            eprintln!("data dir: {}", ctx.data_dir.display());
            ExitCode::SUCCESS
        }
        _ => {
            println!(
                "config: the built-in demo sandbox ({}): OK",
                config.discourse.url
            );
            check_remote(ctx, &config).await
        }
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
    // As ssh does of a private key: say so when others may read the secrets in the file.
    if let Ok(from_file) = Config::load_file(&config.path)
        && let Some(w) = config::exposed_secrets_warning(&config.path, &from_file)
    {
        eprintln!("warning: {w}");
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
    if let Some(w) = budget_warning(config.discourse.requests_per_minute) {
        eprintln!("warning: {w}");
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

/// Asks the server whether the key works and acts as an admin, and how DiscourseConnect is
/// set; prints the findings. Exit 0 when all is well; 1 when the server cannot be reached (the
/// file is valid, but the key could not be tried: a check that checked nothing is no pass),
/// refused the key, or is not Discourse's API.
pub async fn check_remote(ctx: &Context, config: &Config) -> ExitCode {
    let session = match Session::new(config, &ctx.data_dir) {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    let d = &session.discourse;
    let who = config.discourse.api_username.as_str();
    println!("server check: {}", config.discourse.url);

    // 1. Any valid key can read a user; a wrong key or unknown acting user is a 403 here.
    match d.user(who).await {
        Ok(u) => println!(
            "  key: works (acts as {})",
            crate::sanitize::clean(&u.username)
        ),
        // A 2xx answer in a shape we do not read (a plugin's, say): the key was accepted.
        Err(ClientError::Decode { .. }) => println!("  key: works (acts as {who})"),
        Err(ClientError::Network { message, .. }) => {
            println!("  server: not reachable ({message})");
            println!("  key: not checked");
            return failed(format!(
                "{} could not be reached ({message}): the file is valid, but the key could not be \
                 tried. Check discourse.url and this machine's network, then run `config check` again",
                config.discourse.url
            ));
        }
        Err(
            e @ (ClientError::InvalidAccess { .. }
            | ClientError::AdminNotFound { .. }
            | ClientError::NotFound { .. }),
        ) => {
            println!("  key: refused");
            return failed(e);
        }
        Err(e) => {
            println!("  key: not checked");
            return failed(e);
        }
    }

    // 2. Site settings are an admin-only route: reading them proves the key acts as an admin.
    let settings = match d.dc_settings().await {
        Ok(s) => s,
        Err(e) => {
            println!("  admin: no");
            return failed(format!(
                "{e}\n  (the key works for {who}, so {who} is probably not an admin or the key lacks a scope)"
            ));
        }
    };
    println!("  admin: yes (site settings readable)");
    let on_off = |v: Option<bool>| match v {
        Some(true) => "on",
        Some(false) => "off",
        None => "unknown",
    };
    println!(
        "  DiscourseConnect: {}; overrides avatar {}, groups {}, email {}",
        match settings.enabled() {
            Some(true) => "enabled",
            Some(false) => "DISABLED",
            None => "unknown",
        },
        on_off(settings.overrides_avatar()),
        on_off(settings.overrides_groups()),
        on_off(settings.overrides_email()),
    );
    if settings.overrides_avatar() == Some(true) {
        println!(
            "  note: with discourse_connect_overrides_avatar on, only sync-sso can reset an avatar"
        );
    }
    // Compare, never print, the secret.
    match (&settings.secret, &config.discourse.sso_secret) {
        (Some(server), Some(ours)) if server.expose() == ours.expose() => {
            println!("  sso_secret: matches the server's")
        }
        (Some(_), Some(_)) => {
            println!("  sso_secret: DIFFERS from the server's discourse_connect_secret");
            return failed(
                "discourse.sso_secret differs from the server's discourse_connect_secret: sync-sso payloads would be refused",
            );
        }
        _ => {}
    }
    if settings.enabled() == Some(false) {
        eprintln!(
            "warning: enable_discourse_connect is off on the server: sync-sso cannot work and users have no external ids"
        );
    }
    ExitCode::SUCCESS
}

/// Discourse's default admin API limit a minute (`max_admin_api_reqs_per_minute`,
/// `config/discourse_defaults.conf`; discourse-api.md §1).
const DISCOURSE_DEFAULT_ADMIN_RPM: u32 = 60;

/// A budget above Discourse's default only works where the site raised its own limit, which
/// the API cannot read (a global setting, not a site setting): said, never refused.
fn budget_warning(requests_per_minute: u32) -> Option<String> {
    (requests_per_minute > DISCOURSE_DEFAULT_ADMIN_RPM).then(|| {
        format!(
            "discourse.requests_per_minute = {requests_per_minute} is above Discourse's default of \
             {DISCOURSE_DEFAULT_ADMIN_RPM} admin requests a minute: the site must allow it with \
             max_admin_api_reqs_per_minute (discourse.conf or DISCOURSE_MAX_ADMIN_API_REQS_PER_MINUTE), \
             and that budget is shared by every admin API key of the site; else Discourse answers 429 \
             past {DISCOURSE_DEFAULT_ADMIN_RPM}"
        )
    })
}
