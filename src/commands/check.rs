//! `avatar-console check USER [--json]`: the doctor for one user and the setup.
//!
//! With `--json`, exactly one JSON object on standard output ([`crate::check::Report`]);
//! otherwise a readable report on standard output. Exit 1 when the report lists a problem.

use std::fmt::Write as _;
use std::process::ExitCode;

use super::{Context, EXIT_FAILED, usage_error};
use crate::check::{self, CheckInput, KeyStatus, Report, SecretStatus};
use crate::cli::CheckArgs;
use crate::sanitize::clean;
use crate::session::Session;

pub async fn run(ctx: &Context, args: &CheckArgs) -> ExitCode {
    if let Err(e) = crate::reset::parse_user(&args.user) {
        return usage_error(e);
    }
    let Some(config) = ctx.config() else {
        return usage_error("check: no configuration loaded");
    };
    let session = match Session::new(config, &ctx.data_dir) {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    if !args.json {
        eprintln!(
            "Checking {} on {} …",
            clean(&args.user),
            session.discourse.base_url()
        );
    }
    let report = check::gather(CheckInput {
        client: &session.discourse,
        config,
        user: args.user.clone(),
        audit_path: ctx.audit_path(),
        probe: true,
    })
    .await;
    if args.json {
        match crate::jsonfmt::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => return super::failed(format!("check: cannot encode the report: {e}")),
        }
    } else {
        print!("{}", render(&report));
    }
    if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

fn requests_text(n: u64) -> String {
    format!("{n} Discourse request{}", if n == 1 { "" } else { "s" })
}

fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "on",
        Some(false) => "off",
        None => "unknown",
    }
}

/// The human report. Every value from a server goes through [`clean`].
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let s = &r.site;
    let _ = writeln!(o, "check {}", clean(&r.input));
    let _ = writeln!(o);
    let _ = writeln!(o, "Site and key");
    let reach = match s.reachable {
        Some(true) => "reachable",
        Some(false) => "NOT reachable",
        None => "not tried",
    };
    let _ = writeln!(o, "  Discourse:        {} ({reach})", clean(&s.url));
    let key = match s.key {
        KeyStatus::ValidAdmin => "ok",
        KeyStatus::Invalid => "INVALID",
        KeyStatus::NotAdmin => "NOT ADMIN",
        KeyStatus::Unknown => "unknown",
    };
    let _ = writeln!(
        o,
        "  API key:          {key}, as {}: {}",
        clean(&s.api_username),
        clean(&s.key_detail)
    );
    if s.key == KeyStatus::ValidAdmin {
        let _ = writeln!(
            o,
            "  DiscourseConnect: {}",
            match s.discourse_connect_enabled {
                Some(true) => "enabled",
                Some(false) => "DISABLED",
                None => "unknown",
            }
        );
        let _ = writeln!(
            o,
            "  Overrides:        avatar {}, groups {}, email {}",
            yes_no(s.overrides_avatar),
            yes_no(s.overrides_groups),
            yes_no(s.overrides_email)
        );
        let _ = writeln!(
            o,
            "  Verbose logging:  DiscourseConnect {}, uploads {}",
            yes_no(s.verbose_discourse_connect_logging),
            yes_no(s.verbose_upload_logging)
        );
        let _ = writeln!(
            o,
            "  Images:           max_image_size_kb {}, allowed_internal_hosts {}",
            s.max_image_size_kb
                .map_or("unknown".to_string(), |k| k.to_string()),
            if s.allowed_internal_hosts.is_empty() {
                "(none)".to_string()
            } else {
                clean(&s.allowed_internal_hosts.join(", "))
            }
        );
        for (new, old) in &r.legacy_setting_names {
            let _ = writeln!(o, "  (this server calls {new} by its old name {old})");
        }
    }
    let secret = match r.secret {
        SecretStatus::Match => "matches the server's discourse_connect_secret",
        SecretStatus::Mismatch => "DOES NOT MATCH the server's discourse_connect_secret",
        SecretStatus::MismatchWhitespace => {
            "DOES NOT MATCH the server's discourse_connect_secret (differs by surrounding whitespace)"
        }
        SecretStatus::NotRevealed => "not compared (the server does not show its secret)",
        SecretStatus::NotConfigured => "none configured (discourse.sso_secret)",
        SecretStatus::NotRead => "not compared (the site settings could not be read)",
    };
    let _ = writeln!(o, "  SSO secret:       {secret}");
    let _ = writeln!(
        o,
        "  Strategy:         {} ({})",
        r.strategy.as_str(),
        clean(&r.strategy_reason)
    );

    let _ = writeln!(o);
    let _ = writeln!(o, "User");
    match &r.user {
        None => {
            let _ = writeln!(o, "  (not read)");
        }
        Some(u) => {
            let _ = writeln!(
                o,
                "  {} (id {}){}",
                clean(&u.username),
                u.id,
                u.name
                    .as_deref()
                    .filter(|n| !n.is_empty())
                    .map(|n| format!(", {}", clean(&crate::sanitize::truncate(n, 60))))
                    .unwrap_or_default()
            );
            let _ = writeln!(
                o,
                "  external id:      {}",
                u.external_id.as_deref().map_or("(none)".into(), clean)
            );
            let _ = writeln!(
                o,
                "  email:            {}",
                u.email.as_deref().map_or("(not readable)".into(), clean)
            );
            let _ = writeln!(
                o,
                "  active:           {}",
                match u.active {
                    Some(true) => "yes",
                    Some(false) => "NO",
                    None => "unknown",
                }
            );
            let groups: Vec<String> = u
                .groups
                .iter()
                .map(|g| {
                    format!(
                        "{}{}",
                        clean(&g.name),
                        if g.automatic { " (automatic)" } else { "" }
                    )
                })
                .collect();
            let _ = writeln!(
                o,
                "  groups:           {}",
                if groups.is_empty() {
                    "(none)".to_string()
                } else {
                    groups.join(", ")
                }
            );
            let _ = writeln!(
                o,
                "  avatar:           {}{}",
                if u.default_image {
                    "default image"
                } else {
                    u.avatar.as_str()
                },
                match u.uploaded_avatar_id {
                    Some(i) if u.default_image => {
                        format!(" (upload {i}, put in place by a verified reset)")
                    }
                    Some(i) => format!(" (upload {i})"),
                    None => String::new(),
                }
            );
            match &u.sso_record {
                None => {
                    let _ = writeln!(o, "  SSO record:       (none)");
                }
                Some(rec) => {
                    let _ = writeln!(
                        o,
                        "  SSO record:       external id {}, external_avatar_url {}",
                        clean(&rec.external_id),
                        rec.external_avatar_url
                            .as_deref()
                            .map_or("(none)".into(), clean)
                    );
                    match (&rec.last_payload_fields, &rec.last_payload) {
                        (Some(fields), _) => {
                            let _ = writeln!(
                                o,
                                "  last payload ({}):",
                                rec.last_payload_source.as_deref().unwrap_or("record")
                            );
                            for (k, v) in fields {
                                let _ = writeln!(
                                    o,
                                    "    {} = {}",
                                    clean(k),
                                    clean(&crate::sanitize::truncate(v, 120))
                                );
                            }
                        }
                        (None, Some(raw)) => {
                            let _ = writeln!(
                                o,
                                "  last payload:     {} (not decodable)",
                                clean(&crate::sanitize::truncate(raw, 120))
                            );
                        }
                        (None, None) => {
                            let _ = writeln!(o, "  last payload:     (not available)");
                        }
                    }
                }
            }
        }
    }

    let _ = writeln!(o);
    let _ = writeln!(o, "Default avatar URL");
    match &r.default_avatar_url {
        None => {
            let _ = writeln!(o, "  (not configured: discourse.default_avatar_url)");
        }
        Some(a) => {
            let _ = writeln!(o, "  {}", clean(&a.url));
            let allowed = a
                .allowed_internal
                .map(|why| format!(", allowed ({why})"))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "  host {} is {}{allowed}; {}",
                clean(&a.host),
                match a.host_class {
                    "name" => "a host name (not resolved to decide)",
                    "loopback" => "a LOOPBACK address",
                    "private" => "a PRIVATE address",
                    _ => "a public IP literal",
                },
                if a.https { "https" } else { "plain http" }
            );
            match &a.probe {
                None => {
                    let _ = writeln!(o, "  not fetched from here");
                }
                Some(p) => {
                    if let Some(e) = &p.error {
                        let _ = writeln!(o, "  {} from here: {}", p.method, clean(e));
                    } else {
                        let _ = writeln!(
                            o,
                            "  {} from here: HTTP {}, {}, {}",
                            p.method,
                            p.status.map_or("?".into(), |s| s.to_string()),
                            p.content_type
                                .as_deref()
                                .map_or("no content type".into(), clean),
                            p.bytes.map_or("size unknown".into(), |b| format!(
                                "{}{} bytes",
                                if p.truncated { "at least " } else { "" },
                                b
                            ))
                        );
                    }
                }
            }
        }
    }

    if r.user.is_some() {
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "Audit log (last {} lines about the user)",
            check::AUDIT_LINES
        );
        if r.audit.is_empty() {
            let _ = writeln!(o, "  (none)");
        }
        for e in &r.audit {
            let _ = writeln!(
                o,
                "  {} {:?} {} {}{}{}",
                e.at.format("%Y-%m-%d %H:%M:%S"),
                e.phase,
                clean(&e.action),
                e.strategy.map(|s| s.as_str()).unwrap_or("-"),
                e.outcome
                    .map(|x| format!(" → {}", x.as_str()))
                    .unwrap_or_default(),
                if e.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", clean(&crate::sanitize::truncate(&e.message, 100)))
                }
            );
        }
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "Discourse logs (last {} lines mentioning the user)",
            check::LOG_LINES
        );
        if r.logs.is_empty() {
            let _ = writeln!(o, "  (none)");
        }
        for l in &r.logs {
            let _ = writeln!(o, "  {}", super::logs::compact_line(l, Some(140)));
        }
    }

    let _ = writeln!(o);
    if !r.warnings.is_empty() {
        let _ = writeln!(o, "Warnings ({}):", r.warnings.len());
        for w in &r.warnings {
            let _ = writeln!(o, "  - {}", clean(w));
        }
    }
    if r.problems.is_empty() {
        let _ = writeln!(o, "OK: no problem found ({}).", requests_text(r.requests));
    } else {
        let _ = writeln!(o, "Problems ({}):", r.problems.len());
        for p in &r.problems {
            let _ = writeln!(o, "  - {}", clean(p));
        }
        let _ = writeln!(o, "({})", requests_text(r.requests));
    }
    o
}
