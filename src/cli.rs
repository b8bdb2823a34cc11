//! The command line (interface.md, "Command line"), as clap definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::ResetStrategy;

const AFTER_HELP: &str = "\
USER is a Discourse username (alice), an external id (external:684) or an email (anything with @).

Configuration: --config FILE, else $AVATAR_CONSOLE_CONFIG, else the file `avatar-console config path`
prints (`avatar-console config init` writes a commented one there). Secrets may come from
AVATAR_CONSOLE_API_KEY, AVATAR_CONSOLE_SSO_SECRET and AVATAR_CONSOLE_MAIN_APP_TOKEN, which win
over the file. Data (audit.jsonl, avatar-console.log):
$AVATAR_CONSOLE_DATA_DIR, else the project data dir.

Exit codes: 0 success; 1 the operation ran and failed (reset not verified, invalid signature,
check found a problem); 2 usage or configuration error.

New here? Try `avatar-console --demo`: a built-in sandbox forum, no config needed.";

/// avatar-console: reset flagged profile photos on a Discourse forum connected by
/// DiscourseConnect (SSO).
#[derive(Debug, Parser)]
#[command(
    name = "avatar-console",
    version,
    about = "Reset flagged profile photos on a Discourse forum connected by DiscourseConnect (SSO)",
    long_about = "Reset flagged profile photos on a Discourse forum connected by DiscourseConnect (SSO).\n\n\
        Without a subcommand, opens the console: a terminal UI listing the users flagged by the main \
        app and by Discourse's review queue, where a moderator checks a user and resets the photo.",
    after_help = AFTER_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The global flags (`[GLOBAL]` in interface.md).
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// Config file to use (else $AVATAR_CONSOLE_CONFIG, else the default location)
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Run against the built-in sandbox (a simulated forum and main app): no config, no server
    #[arg(long, global = true)]
    pub demo: bool,

    /// Send nothing that changes a server (resets, setting toggles)
    #[arg(long, global = true)]
    pub read_only: bool,

    /// Build changes, show and audit them as dry-run, but never send them
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// Open the console on this user (username, external:ID or email)
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the flagged users (main app and Discourse's review queue)
    Queue(QueueArgs),
    /// Show what a reset of USER would do, and any problem that would stop it
    Check(CheckArgs),
    /// Reset the profile photo of one or more users
    Reset(ResetArgs),
    /// Show Discourse's log messages (Logster): DiscourseConnect, avatar downloads, errors (--all: every one)
    Logs(LogsArgs),
    /// List USER's pending Discourse review items and their actions, or perform one
    Review(ReviewArgs),
    /// Put back the avatar the last verified reset of USER replaced
    Undo(UndoArgs),
    /// Sign or decode DiscourseConnect payloads (the secret comes from the config or the environment)
    #[command(subcommand)]
    Sso(SsoCommand),
    /// Run the sandbox (a simulated Discourse and main app) on a loopback port
    Sandbox(SandboxArgs),
    /// Show, check, print an example of, or write (init) the configuration
    #[command(subcommand)]
    Config(ConfigCommand),
}

impl Command {
    /// The subcommand's name, as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Queue(_) => "queue",
            Command::Check(_) => "check",
            Command::Reset(_) => "reset",
            Command::Logs(_) => "logs",
            Command::Review(_) => "review",
            Command::Undo(_) => "undo",
            Command::Sso(_) => "sso",
            Command::Sandbox(_) => "sandbox",
            Command::Config(_) => "config",
        }
    }
}

/// `queue --source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum SourceFilter {
    /// Only the main app's flagged-users endpoint
    App,
    /// Only Discourse's review queue
    Discourse,
    /// Both, merged
    #[default]
    All,
}

#[derive(Debug, Clone, Args)]
pub struct QueueArgs {
    /// Print one JSON array on standard output
    #[arg(long)]
    pub json: bool,

    /// Which flags to list
    #[arg(long, value_enum, default_value_t = SourceFilter::All)]
    pub source: SourceFilter,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The user: username, external:ID or email
    #[arg(value_name = "USER")]
    pub user: String,

    /// Print one JSON object on standard output
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Without --yes, asks for confirmation on a terminal and refuses (exit 2) when standard input \
                  is not a terminal. Under --read-only it refuses and sends nothing; under --dry-run it shows \
                  what would be sent."
)]
pub struct ResetArgs {
    /// The users: usernames, external:ID or emails
    #[arg(value_name = "USER", required_unless_present = "from")]
    pub users: Vec<String>,

    /// Read more users from FILE, one a line (blank lines and # comments skipped; - is standard input)
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,

    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// How to reset (default: reset.strategy from the config, else auto)
    #[arg(long, value_enum)]
    pub strategy: Option<ResetStrategy>,

    /// Do not wait for the new avatar to show (outcome `applied`)
    #[arg(long)]
    pub no_verify: bool,

    /// Print one JSON array on standard output
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "The actions are the ones each item offers (its bundled_actions): they differ by item type, \
                  Discourse version and acting user. --perform ACTION runs it on every pending item of USER \
                  that offers it, sending the item's version; an action no item offers is refused (exit 2) \
                  without a request. Without --yes, asks on a terminal and refuses (exit 2) otherwise. \
                  Refused under --read-only; shown and audited as dry-run under --dry-run."
)]
pub struct ReviewArgs {
    /// The user: username, external:ID or email
    #[arg(value_name = "USER")]
    pub user: String,

    /// Perform this action (an id `review USER` lists, e.g. remove_avatar, approve_user)
    #[arg(long, value_name = "ACTION")]
    pub perform: Option<String>,

    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Print one JSON array on standard output
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Restores the `before` the audit log recorded for USER's last verified reset: with \
                  DiscourseConnect overriding avatars, a sync with the old external avatar URL; otherwise the \
                  old upload picked again. Refused (exit 2) when there is nothing to undo, or when the avatar \
                  changed since the reset (someone else acted) unless --force."
)]
pub struct UndoArgs {
    /// The user: username, external:ID or email
    #[arg(value_name = "USER")]
    pub user: String,

    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Undo even when the avatar changed since the reset
    #[arg(long)]
    pub force: bool,

    /// Print one JSON array on standard output (the shape of reset --json)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// Only messages that mention USER
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    /// Keep polling for new messages (within the request budget)
    #[arg(long, short = 'f')]
    pub follow: bool,

    /// Print JSON (one array; with --follow, one object a line)
    #[arg(long)]
    pub json: bool,

    /// Every message, not only SSO, upload and error (job exception) lines
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Clone, Subcommand)]
pub enum SsoCommand {
    /// Sign a payload: prints `sso=<percent-encoded base64>&sig=<hex>`
    #[command(
        after_help = "Example: avatar-console sso sign external_id=684 email=alice@example.com \
                      avatar_url=https://cdn.example.com/default.png avatar_force_update=true\n\n\
                      Keys are DiscourseConnect fields (external_id, email, avatar_url, groups, …) or \
                      custom.NAME. Booleans are true/false; groups one comma-separated string. The secret \
                      comes from discourse.sso_secret or AVATAR_CONSOLE_SSO_SECRET, never the command line."
    )]
    Sign {
        /// Fields as KEY=VALUE
        #[arg(value_name = "KEY=VALUE", required = true)]
        fields: Vec<String>,
    },
    /// Decode a payload and check its signature
    #[command(
        after_help = "PAYLOAD is `sso=…&sig=…`, a URL that holds them, or bare Base64. Prints each field as \
                      key=value, then `signature: valid`, `signature: INVALID` (exit 1) or `signature: not \
                      checked` (no secret, or no sig)."
    )]
    Decode {
        /// `sso=…&sig=…`, a URL holding them, or bare Base64
        #[arg(value_name = "PAYLOAD")]
        payload: String,
    },
}

#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Port on 127.0.0.1 (default: a free port, printed at start)
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,

    /// How many flagged users to invent
    #[arg(long, value_name = "N", default_value_t = 60)]
    pub flagged: usize,

    /// Seed for the invented data (same seed, same data)
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,

    /// on: play servers before mid-2026 that turn a `+` in the SSO payload into a space and
    /// refuse it; off: play the fixed ones
    #[arg(long, value_enum, value_name = "on|off", default_value_t = OnOff::On)]
    pub plus_bug: OnOff,

    /// Play the newer admin serializer that leaves `email` out of /admin/users/{id}.json
    #[arg(long)]
    pub hide_admin_emails: bool,

    /// Admin API requests per minute the sandbox allows, shared by every request made with the
    /// API key (Discourse's max_admin_api_reqs_per_minute; 0: no limit)
    #[arg(long, value_name = "N", default_value_t = 60)]
    pub admin_rpm: u32,

    // The global flags mean nothing for the sandbox (it is the demo, sends nothing anywhere and
    // writes its own config): the same ids, hidden, keep them out of `sandbox --help` (clap
    // does not propagate a global arg to a subcommand that has its own of that id), and their
    // values still reach the global ones, so `sandbox --demo` is refused (exit 2) as before.
    #[arg(long = "config", id = "config", value_name = "FILE", hide = true)]
    pub config_here: Option<PathBuf>,
    #[arg(long = "demo", id = "demo", hide = true)]
    pub demo_here: bool,
    #[arg(long = "read-only", id = "read_only", hide = true)]
    pub read_only_here: bool,
    #[arg(long = "dry-run", id = "dry_run", hide = true)]
    pub dry_run_here: bool,
}

/// A switch given as `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ConfigCommand {
    /// Print the config file in use, and whether it exists
    Path,
    /// Validate the config (exit 2 naming file, line and key), then try the server
    Check,
    /// Print an example config file
    Example,
    /// Write the example to the config path (creating its folder, mode 0600); never overwrites
    Init,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_the_interface_lines() {
        let p = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("avatar-console").chain(args.iter().copied()))
        };
        let c = p(&[]).unwrap();
        assert!(c.command.is_none());
        let c = p(&["--demo", "--user", "alice"]).unwrap();
        assert!(c.global.demo);
        assert_eq!(c.global.user.as_deref(), Some("alice"));
        let c = p(&["queue", "--json", "--source", "app", "--config", "x.toml"]).unwrap();
        assert!(matches!(
            c.command,
            Some(Command::Queue(QueueArgs {
                json: true,
                source: SourceFilter::App
            }))
        ));
        assert_eq!(c.global.config, Some(PathBuf::from("x.toml")));
        let c = p(&[
            "--read-only",
            "reset",
            "a",
            "external:5",
            "b@x.org",
            "--yes",
            "--strategy",
            "sync-sso",
            "--no-verify",
            "--json",
            "--dry-run",
        ])
        .unwrap();
        assert!(c.global.read_only && c.global.dry_run);
        let Some(Command::Reset(r)) = c.command else {
            panic!()
        };
        assert_eq!(r.users, ["a", "external:5", "b@x.org"]);
        assert_eq!(r.strategy, Some(ResetStrategy::SyncSso));
        assert!(r.yes && r.no_verify && r.json);
        assert!(p(&["reset"]).is_err());
        assert!(p(&["reset", "--from", "list.txt"]).is_ok());
        let c = p(&["logs", "--user", "bob", "--follow", "--json"]).unwrap();
        assert!(matches!(
            c.command,
            Some(Command::Logs(LogsArgs {
                follow: true,
                json: true,
                ..
            }))
        ));
        let c = p(&["sso", "sign", "external_id=1", "email=a@b.c"]).unwrap();
        assert!(
            matches!(c.command, Some(Command::Sso(SsoCommand::Sign { fields })) if fields.len() == 2)
        );
        assert!(p(&["sso", "sign"]).is_err());
        assert!(p(&["sso", "decode", "abc"]).is_ok());
        let c = p(&["sandbox"]).unwrap();
        let Some(Command::Sandbox(s)) = c.command else {
            panic!()
        };
        assert_eq!((s.port, s.flagged, s.seed), (None, 60, 1));
        for sub in ["path", "check", "example"] {
            assert!(p(&["config", sub]).is_ok(), "{sub}");
        }
        assert!(p(&["check"]).is_err());
        assert!(p(&["check", "alice", "--json"]).is_ok());
        let c = p(&[
            "review",
            "alice",
            "--perform",
            "remove_avatar",
            "--yes",
            "--json",
        ])
        .unwrap();
        let Some(Command::Review(r)) = c.command else {
            panic!()
        };
        assert_eq!(r.perform.as_deref(), Some("remove_avatar"));
        assert!(r.yes && r.json);
        assert!(p(&["review"]).is_err());
        let c = p(&["undo", "external:684", "--yes", "--force", "--json"]).unwrap();
        assert!(matches!(
            c.command,
            Some(Command::Undo(UndoArgs {
                yes: true,
                force: true,
                json: true,
                ..
            }))
        ));
    }
}
