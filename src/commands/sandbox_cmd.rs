//! `avatar-console sandbox [--port N] [--flagged N] [--seed N] [--plus-bug on|off]
//! [--hide-admin-emails] [--admin-rpm N]`: runs the `discourse-sandbox` crate on a loopback port
//! in the modes asked for, writes a ready config file for it into the data dir and prints its
//! path, then serves until Ctrl-C.

use std::io::Write;
use std::path::Path;

use discourse_sandbox::{Sandbox, Scenario};

use crate::cli::{OnOff, SandboxArgs};

/// The demo scenario with the command line's data and modes.
pub fn scenario(args: &SandboxArgs) -> Scenario {
    Scenario {
        seed: args.seed,
        flagged: args.flagged,
        plus_bug: args.plus_bug == OnOff::On,
        hide_admin_emails: args.hide_admin_emails,
        admin_rate_limit: args.admin_rpm,
        ..Scenario::demo()
    }
}

pub async fn run(data_dir: &Path, args: &SandboxArgs) -> Result<(), String> {
    // main.rs restores the default SIGPIPE so that `queue | head` ends quietly; a server must
    // not die because whoever read its first line went away.
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to "ignore" installs no handler code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let scenario = scenario(args);
    let started = std::time::Instant::now();
    let sb = Sandbox::start_on(args.port.unwrap_or(0), scenario)
        .await
        .map_err(|e| format!("cannot start the sandbox: {e}"))?;
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let path = data_dir.join("sandbox-config.toml");
    write_private(&path, &sb.config_toml())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    // A reader that stops early (`sandbox | head -1`) must not end the server: write errors on
    // these lines are ignored where `println!` would panic on the closed pipe.
    {
        let mut out = std::io::stdout();
        let _ = writeln!(out, "sandbox listening on {}", sb.url());
        let _ = writeln!(out, "config written to {}", path.display());
        let _ = out.flush();
    }
    let rpm = match args.admin_rpm {
        0 => "no admin limit".to_string(),
        n => format!("{n} admin requests/min"),
    };
    // The count the queue will show: `--flagged` plus the demo's own cases (its outcome users
    // and a main-app flag for a user gone from the forum), not `--flagged` alone.
    let queued = sb.queue_size();
    let count = if queued > args.flagged {
        format!(
            "{queued} flagged users in the queue (--flagged {} plus {} demo cases; seed {})",
            args.flagged,
            queued - args.flagged,
            args.seed
        )
    } else {
        format!("{queued} flagged users in the queue (seed {})", args.seed)
    };
    let _ = writeln!(
        std::io::stderr(),
        "{count}, plus bug {}, admin emails {}, {rpm}; up in {} ms.\nTry: avatar-console --config {} queue\nPress Ctrl-C to stop.",
        if args.plus_bug == OnOff::On {
            "on"
        } else {
            "off"
        },
        if args.hide_admin_emails {
            "hidden"
        } else {
            "shown"
        },
        started.elapsed().as_millis(),
        path.display()
    );
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| format!("cannot wait for Ctrl-C: {e}"))?;
    sb.shutdown();
    Ok(())
}

/// The file holds the sandbox's API key and secret: owner-only, as a real config should be.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}
