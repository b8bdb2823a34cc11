//! `avatar-console review USER [--json]` and `review USER --perform ACTION [--yes] [--json]`.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use serde::Serialize;

use super::{Context, EXIT_FAILED, failed, usage_error};
use crate::cli::ReviewArgs;
use crate::review::{self, ReviewOutcome};
use crate::sanitize;
use crate::session::Session;

/// One line of `review USER --json` (interface.md).
#[derive(Serialize)]
struct ListedItem<'a> {
    id: u64,
    #[serde(rename = "type")]
    kind: &'a str,
    version: Option<i64>,
    created_at: Option<&'a str>,
    reasons: &'a [String],
    actions: Vec<&'a str>,
}

/// Action ids are Ruby method-name suffixes (`perform_#{action_id}`).
fn valid_action(a: &str) -> bool {
    !a.is_empty()
        && a.len() <= 100
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

pub async fn run(ctx: &Context, args: &ReviewArgs) -> ExitCode {
    if let Some(action) = &args.perform {
        if ctx.read_only {
            return usage_error("review --perform refuses under --read-only: nothing was sent");
        }
        if !valid_action(action) {
            return usage_error(format!(
                "--perform {:?}: an action id is letters, digits and _ (e.g. remove_avatar); `review USER` lists them",
                sanitize::clean(action)
            ));
        }
    }
    let Some(config) = ctx.config() else {
        return usage_error("review: no configuration loaded");
    };
    let session = match Session::new(config, &ctx.data_dir) {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    let client = &session.discourse;
    let subject = match review::subject_for(client, &args.user).await {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    let items = match client
        .review_items_for(&subject.username, Some(subject.id))
        .await
    {
        Ok(i) => i,
        Err(e) => return failed(format!("reading the review queue: {e}")),
    };

    let Some(action) = &args.perform else {
        if args.json {
            let listed: Vec<ListedItem> = items
                .iter()
                .map(|i| ListedItem {
                    id: i.id,
                    kind: &i.kind,
                    version: i.version,
                    created_at: i.created_at.as_deref(),
                    reasons: &i.reasons,
                    actions: i.action_ids(),
                })
                .collect();
            println!(
                "{}",
                crate::jsonfmt::to_string_pretty(&listed).unwrap_or_else(|_| "[]".into())
            );
        } else if items.is_empty() {
            println!("{}: no pending review item", subject.username);
        } else {
            println!(
                "{}: {} pending review item(s)",
                subject.username,
                items.len()
            );
            for i in &items {
                println!("  {}", review::item_line(i));
            }
            println!(
                "Perform one with: avatar-console review {} --perform ACTION",
                subject.username
            );
        }
        return ExitCode::SUCCESS;
    };

    let offering: Vec<_> = items.iter().filter(|i| i.offers(action)).collect();
    if offering.is_empty() {
        let offered: Vec<&str> = {
            let mut all: Vec<&str> = items.iter().flat_map(|i| i.action_ids()).collect();
            all.sort_unstable();
            all.dedup();
            all
        };
        return usage_error(format!(
            "no pending review item of {} offers {action}{}; nothing was sent",
            subject.username,
            if items.is_empty() {
                " (the user has no pending item)".to_string()
            } else if offered.is_empty() {
                " (their items offer no action to this API user)".to_string()
            } else {
                format!(" (offered: {})", offered.join(", "))
            }
        ));
    }
    if !args.yes && !ctx.dry_run {
        if !std::io::stdin().is_terminal() {
            return usage_error(
                "review --perform needs --yes when standard input is not a terminal (nothing was sent)",
            );
        }
        let ids: Vec<String> = offering.iter().map(|i| format!("#{}", i.id)).collect();
        eprint!(
            "Perform {action} on {} review item(s) of {} ({})? [y/N] ",
            offering.len(),
            subject.username,
            ids.join(", ")
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("Nothing sent.");
            return ExitCode::from(EXIT_FAILED);
        }
    }
    let mut results = Vec::new();
    for item in &items {
        let r = review::perform(client, &session.audit, &subject, item, action, ctx.dry_run).await;
        eprintln!(
            "{}",
            sanitize::clean(&format!("{}: {}", r.outcome.as_str(), r.message))
        );
        results.push(r);
    }
    if args.json {
        println!(
            "{}",
            crate::jsonfmt::to_string_pretty(&results).unwrap_or_else(|_| "[]".into())
        );
    }
    if results.iter().any(|r| r.outcome == ReviewOutcome::Failed) {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}
