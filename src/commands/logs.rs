//! `avatar-console logs [--user USER] [--follow] [--json]`: Discourse's log lines (Logster,
//! `POST /logs/messages.json`, warn and above), newest last.
//!
//! - Each line: time (UTC), mark (`SSO`, `UPLOAD`, `ERR`, `LOG`), the message compacted on one
//!   line, and Logster's grouping count as `(×N)`. `--json` gives each message whole.
//! - `--user USER` resolves the user first and keeps the lines that mention their username,
//!   external id or email as a whole word, and no one else's.
//! - `--follow` keeps polling with `after=<last key>` at background priority (resets keep their
//!   share of the request budget), backing off while nothing comes, until Ctrl-C.
//! - By default only what this console is about: `SSO`, `UPLOAD` and `ERR` lines (job
//!   exceptions and other errors); `--all` adds the rest (`LOG`: Sidekiq memory, deprecations…).
//! - `--json`: one JSON array without `--follow`; with `--follow`, one JSON object a line
//!   (JSON Lines), printed as the lines arrive. Objects: `{"at", "key", "severity", "kind",
//!   "mark", "count", "message"}`.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::process::ExitCode;

use serde::Serialize;

use super::{Context, EXIT_FAILED, failed, usage_error};
use crate::check::{LookupError, lookup_user};
use crate::cli::LogsArgs;
use crate::discourse::client::{ClientError, DiscourseClient, LogQuery};
use crate::discourse::logs::{LogFollower, lines_for_user, mentions_any};
use crate::model::{LogKind, LogLine};
use crate::sanitize;
use crate::session::Session;

/// One line of `logs --json`.
#[derive(Debug, Serialize)]
struct JsonLine<'a> {
    at: chrono::DateTime<chrono::Utc>,
    key: &'a str,
    severity: i64,
    kind: LogKind,
    mark: &'static str,
    count: u64,
    message: &'a str,
}

impl<'a> From<&'a LogLine> for JsonLine<'a> {
    fn from(l: &'a LogLine) -> Self {
        JsonLine {
            at: l.at,
            key: &l.key,
            severity: l.severity,
            kind: l.kind,
            mark: l.kind.label(),
            count: l.count,
            message: &l.message,
        }
    }
}

/// `2026-11-20 10:00:01Z SSO    message on one line (×3)`, cut to `max` cells when given.
pub fn compact_line(l: &LogLine, max: Option<usize>) -> String {
    let one = compact_message(&l.message);
    let count = if l.count > 1 {
        format!(" (×{})", l.count)
    } else {
        String::new()
    };
    let head = format!(
        "{} {:<6} ",
        l.at.format("%Y-%m-%d %H:%M:%SZ"),
        l.kind.label()
    );
    match max {
        Some(max) => {
            let room = max.saturating_sub(sanitize::width(&head) + sanitize::width(&count));
            format!("{head}{}{count}", sanitize::truncate(&one, room.max(10)))
        }
        None => format!("{head}{one}{count}"),
    }
}

/// A multi-line message on one line: blank lines and empty `field:` lines (the verbose SSO
/// log lists every accessor, most of them empty) dropped, the rest joined with ` | `.
pub fn compact_message(message: &str) -> String {
    message
        .split('\n')
        .map(|part| {
            sanitize::clean(part)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|part| {
            let empty_field = part.strip_suffix(':').is_some_and(|k| {
                !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            });
            !part.is_empty() && !empty_field
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

struct Printer {
    json: bool,
    /// `--all`: `LOG` lines too.
    all: bool,
    follow: bool,
    width: Option<usize>,
    seen: HashSet<String>,
}

impl Printer {
    /// Prints the lines not printed before; returns how many.
    fn print(&mut self, lines: &[LogLine]) -> usize {
        let fresh: Vec<&LogLine> = lines
            .iter()
            .filter(|l| shown_by_default(l.kind) || self.all)
            .filter(|l| self.seen.insert(l.key.clone()))
            .collect();
        if self.json && !self.follow {
            let all: Vec<JsonLine> = fresh.iter().map(|l| JsonLine::from(*l)).collect();
            println!(
                "{}",
                crate::jsonfmt::to_string_pretty(&all).unwrap_or_else(|_| "[]".into())
            );
        } else {
            for l in &fresh {
                if self.json {
                    println!(
                        "{}",
                        crate::jsonfmt::to_string(&JsonLine::from(*l)).unwrap_or_default()
                    );
                } else {
                    println!("{}", compact_line(l, self.width));
                }
            }
        }
        fresh.len()
    }
}

/// What `logs` prints without `--all`: the lines about logins, avatar downloads and failures.
pub fn shown_by_default(kind: LogKind) -> bool {
    !matches!(kind, LogKind::Other)
}

fn terminal_width() -> Option<usize> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    crossterm::terminal::size()
        .ok()
        .map(|(w, _)| usize::from(w).max(40))
}

fn sort_oldest_first(lines: &mut [LogLine]) {
    lines.sort_by_key(|l| l.at);
}

fn explain(e: &ClientError) -> String {
    if e.is_credentials() {
        format!("{e} (reading /logs needs an admin API key)")
    } else {
        e.to_string()
    }
}

pub async fn run(ctx: &Context, args: &LogsArgs) -> ExitCode {
    let who = match args
        .user
        .as_deref()
        .map(crate::reset::parse_user)
        .transpose()
    {
        Ok(w) => w,
        Err(e) => return usage_error(e),
    };
    let Some(config) = ctx.config() else {
        return usage_error("logs: no configuration loaded");
    };
    let session = match Session::new(config, &ctx.data_dir) {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    let client = &session.discourse;

    // The user's identifiers: username, external id and email.
    let terms: Option<Vec<String>> = match &who {
        None => None,
        Some(w) => match lookup_user(client, w, false).await {
            Ok((d, admin_error)) => {
                if let Some(e) = admin_error {
                    eprintln!(
                        "warning: the admin record of {} could not be read, so lines naming only \
                         their email or external id are missed: {}",
                        sanitize::clean(&d.username),
                        explain(&e)
                    );
                }
                let terms: Vec<String> = [
                    Some(d.username.clone()),
                    d.external_id().map(str::to_string),
                    d.email.clone(),
                ]
                .into_iter()
                .flatten()
                .filter(|t| !t.trim().is_empty())
                .collect();
                if !args.json {
                    eprintln!("Lines mentioning {}", sanitize::clean(&terms.join(", ")));
                }
                Some(terms)
            }
            Err(LookupError::Missing(m)) => return failed(sanitize::clean(&m)),
            Err(LookupError::Client(e)) => return failed(explain(&e)),
        },
    };

    let mut printer = Printer {
        json: args.json,
        all: args.all,
        follow: args.follow,
        width: if args.json { None } else { terminal_width() },
        seen: HashSet::new(),
    };

    if !args.follow {
        let lines = match &terms {
            Some(t) => lines_for_user(client, t).await,
            None => client
                .log_messages(&LogQuery::default())
                .await
                .map(|mut l| {
                    sort_oldest_first(&mut l);
                    l
                }),
        };
        return match lines {
            Ok(lines) => {
                if printer.print(&lines) == 0 && !args.json {
                    eprintln!(
                        "{}",
                        if args.all {
                            "(no matching log lines)"
                        } else {
                            "(no matching SSO, upload or error lines; --all shows every line)"
                        }
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => failed(explain(&e)),
        };
    }

    follow(client, terms, &mut printer).await
}

/// `--follow`: the latest lines, then new ones as they come, until Ctrl-C.
async fn follow(
    client: &DiscourseClient,
    terms: Option<Vec<String>>,
    printer: &mut Printer,
) -> ExitCode {
    let bg = client.background();
    // One unfiltered follower: one request a poll whatever the number of terms; lines are
    // matched here (whole words), as `lines_for_user` does.
    let mut follower = LogFollower::new(None);
    let keep = |lines: Vec<LogLine>| -> Vec<LogLine> {
        match &terms {
            Some(t) => lines
                .into_iter()
                .filter(|l| mentions_any(&l.message, t))
                .collect(),
            None => lines,
        }
    };
    // The follower's first poll sets `after=` before the history is read, so nothing that
    // arrives in between is lost; keys already printed are skipped.
    let first = match follower.poll(&bg).await {
        Ok(l) => l,
        Err(e) => return failed(explain(&e)),
    };
    let mut initial = keep(first);
    if let Some(t) = &terms {
        match lines_for_user(&bg, t).await {
            Ok(h) => initial.extend(h),
            Err(e) => return failed(explain(&e)),
        }
    }
    sort_oldest_first(&mut initial);
    if printer.print(&initial) == 0 && !printer.json {
        eprintln!("(no matching log lines yet; waiting for new ones, Ctrl-C to stop)");
    } else if !printer.json {
        eprintln!("(following; Ctrl-C to stop)");
    }
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut failures = 0u32;
    loop {
        let wait = if failures > 0 {
            follower.max_interval
        } else {
            follower.next_interval()
        };
        tokio::select! {
            _ = &mut ctrl_c => return ExitCode::SUCCESS,
            _ = tokio::time::sleep(wait) => {}
        }
        match follower.poll(&bg).await {
            Ok(lines) => {
                failures = 0;
                let mut lines = keep(lines);
                sort_oldest_first(&mut lines);
                printer.print(&lines);
            }
            Err(e) if e.is_credentials() => return failed(explain(&e)),
            Err(e) => {
                failures += 1;
                eprintln!("warning: {} (retrying)", explain(&e));
                if failures >= 20 {
                    eprintln!("error: giving up after {failures} failed polls");
                    return ExitCode::from(EXIT_FAILED);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn line(msg: &str, count: u64) -> LogLine {
        LogLine {
            key: "k".into(),
            at: chrono::Utc
                .with_ymd_and_hms(2026, 11, 20, 10, 0, 1)
                .unwrap(),
            severity: 3,
            kind: LogKind::classify(msg, 3),
            message: msg.into(),
            count,
        }
    }

    #[test]
    fn compact_lines_are_one_line_with_mark_and_count() {
        let l = line(
            "Verbose SSO log: Started\n\nusername: alice\nbio: \ntitle:\nemail: a@x",
            3,
        );
        let s = compact_line(&l, None);
        assert_eq!(
            s,
            "2026-11-20 10:00:01Z SSO    Verbose SSO log: Started | username: alice | email: a@x (×3)"
        );
        let s = compact_line(&line(&"x".repeat(500), 1), Some(80));
        assert!(sanitize::width(&s) <= 80, "{s}");
        assert!(compact_line(&line("Job exception: boom", 1), None).contains(" ERR "));
    }
}
