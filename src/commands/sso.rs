//! `sso sign KEY=VALUE...` and `sso decode PAYLOAD` (interface.md).
//!
//! The secret comes from `$AVATAR_CONSOLE_SSO_SECRET` or the config's `discourse.sso_secret`,
//! never from the command line. No config file is needed when the environment holds it, and
//! `decode` works with no secret at all (`signature: not checked`).

use std::process::ExitCode;

use super::{Context, EXIT_FAILED, usage_error};
use crate::cli::SsoCommand;
use crate::config::{self, Config, ConfigError, ConfigErrorKind, ENV_SSO_SECRET, PathSource};
use crate::discourse::sso::{self, Payload, SigCheck};
use crate::secret::Secret;

/// Where the secret came from, for messages.
struct FoundSecret {
    secret: Option<Secret>,
    /// The config file read, if any.
    file: Option<String>,
}

/// The environment first; then the config file, if one was named (`--config`,
/// `$AVATAR_CONSOLE_CONFIG`) or exists at the default place.
fn find_secret(ctx: &Context) -> Result<FoundSecret, ConfigError> {
    // Under --demo the configuration is the sandbox's.
    if ctx.demo
        && let Some(config) = ctx.config()
    {
        return Ok(FoundSecret {
            secret: config.discourse.sso_secret.clone(),
            file: Some("<demo sandbox>".into()),
        });
    }
    let config_flag = ctx.config_flag.as_deref();
    if let Some(v) = std::env::var(ENV_SSO_SECRET)
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        return Ok(FoundSecret {
            secret: Some(Secret::new(v)),
            file: None,
        });
    }
    let (path, source) = config::config_path(config_flag);
    if source == PathSource::Default && !path.exists() {
        return Ok(FoundSecret {
            secret: None,
            file: None,
        });
    }
    let config = Config::load_file(&path)?;
    // Whatever prints from here on is scrubbed of the file's secrets too (issue 10).
    crate::secret::register(config.secrets());
    Ok(FoundSecret {
        secret: config.discourse.sso_secret,
        file: Some(path.display().to_string()),
    })
}

/// Runs `sso sign` / `sso decode`.
pub fn run(ctx: &Context, cmd: &SsoCommand) -> ExitCode {
    match cmd {
        SsoCommand::Sign { fields } => sign(ctx, fields),
        SsoCommand::Decode { payload } => decode(ctx, payload),
    }
}

fn sign(ctx: &Context, args: &[String]) -> ExitCode {
    // Check the fields first: a typo is reported even without a secret.
    let mut payload = Payload::new();
    for arg in args {
        let Some((k, v)) = arg.split_once('=') else {
            return usage_error(format!(
                "\"{arg}\" is not KEY=VALUE (for example external_id=684)"
            ));
        };
        if let Err(e) = payload.set(k, v) {
            return usage_error(e);
        }
    }
    if payload.get("external_id").is_none() {
        eprintln!("warning: no external_id: Discourse's sync_sso refuses a payload without one");
    }
    let found = match find_secret(ctx) {
        Ok(f) => f,
        Err(e) => return usage_error(e),
    };
    let Some(secret) = found.secret else {
        let (path, _) = config::config_path(ctx.config_flag.as_deref());
        let file = found
            .file
            .clone()
            .unwrap_or_else(|| path.display().to_string());
        let exists = if found.file.is_some() {
            ""
        } else {
            " (the file does not exist)"
        };
        let e = ConfigError {
            kind: ConfigErrorKind::MissingKey,
            file,
            line: None,
            key: Some("discourse.sso_secret".into()),
            message: format!(
                "missing key discourse.sso_secret{exists} (or set {ENV_SSO_SECRET}); `sso sign` \
                 signs with the DiscourseConnect secret, never taken from the command line"
            ),
        };
        return usage_error(e);
    };
    match payload.sign(&secret) {
        Ok(signed) => {
            println!("{}", signed.form_body());
            ExitCode::SUCCESS
        }
        Err(e) => usage_error(e),
    }
}

/// Shows control characters and bidi overrides as escapes, so a field cannot play tricks on
/// the terminal or hide a line break.
fn display_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control()
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') =>
            {
                out.push_str(&format!("\\u{{{:04x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

fn decode(ctx: &Context, input: &str) -> ExitCode {
    let decoded = match sso::decode(input) {
        Ok(d) => d,
        Err(e) => return usage_error(e),
    };
    for (k, v) in &decoded.fields {
        println!("{}={}", display_value(k), display_value(v));
    }
    for note in &decoded.notes {
        eprintln!("note: {note}");
    }
    if !decoded.unknown_keys.is_empty() {
        let names: Vec<String> = decoded
            .unknown_keys
            .iter()
            .map(|k| display_value(k))
            .collect();
        let pad = if decoded.unknown_keys.iter().any(|k| k == sso::PAD_KEY) {
            " (pad is the throwaway key that keeps '+' out of the Base64)"
        } else {
            ""
        };
        eprintln!(
            "note: unknown keys, ignored by Discourse: {}{pad}",
            names.join(", ")
        );
    }
    if !decoded.repeated_keys.is_empty() {
        eprintln!(
            "note: keys given more than once (Discourse makes them lists and ignores them): {}",
            crate::sanitize::clean(&decoded.repeated_keys.join(", "))
        );
    }
    // Only look for a secret when there is a signature to check.
    let secret = if decoded.sig.is_some() {
        match find_secret(ctx) {
            Ok(f) => f.secret,
            Err(e) => return usage_error(e),
        }
    } else {
        None
    };
    match decoded.check(secret.as_ref()) {
        SigCheck::Valid => {
            println!("signature: valid");
            ExitCode::SUCCESS
        }
        SigCheck::Invalid(reason) => {
            println!("signature: INVALID");
            eprintln!("{reason}");
            ExitCode::from(EXIT_FAILED)
        }
        SigCheck::NotChecked(reason) => {
            println!("signature: not checked");
            eprintln!("note: {reason}");
            ExitCode::SUCCESS
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_value_escapes_controls() {
        assert_eq!(
            display_value("a\nb\u{1b}[31m\u{202E}x"),
            "a\\nb\\u{001b}[31m\\u{202e}x"
        );
        assert_eq!(display_value("Zoë 🙂"), "Zoë 🙂");
    }
}
