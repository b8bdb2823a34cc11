//! `avatar-console queue [--json] [--source app|discourse|all]`: the merged queue, without the UI.

use std::process::ExitCode;

use std::collections::HashSet;

use serde_json::json;

use super::{Context, failed, usage_error};
use crate::cli::{QueueArgs, SourceFilter};
use crate::model::{FlagItem, QueuedUser};
use crate::sanitize;
use crate::session::Session;
use crate::sources::MAX_PAGES;

const LOOPING: &str = "paging stopped: the source keeps sending more pages (a loop?)";

pub async fn run(ctx: &Context, args: &QueueArgs) -> ExitCode {
    let Some(config) = ctx.config() else {
        return usage_error("queue: no configuration loaded");
    };
    let session = match Session::new(config, &ctx.data_dir) {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    let want_app = matches!(args.source, SourceFilter::App | SourceFilter::All);
    let want_discourse = matches!(args.source, SourceFilter::Discourse | SourceFilter::All);
    if args.source == SourceFilter::App && session.main_app.is_none() {
        return usage_error("queue --source app: no [main_app] section in the configuration");
    }
    let mut items: Vec<FlagItem> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    let mut skipped = 0;
    // Both sources load at once; one failing does not stop the other.
    let app = async {
        let mut out = Vec::new();
        let mut skipped = 0;
        let Some(client) = session.main_app.as_ref().filter(|_| want_app) else {
            return (out, 0, None);
        };
        let mut cursor = None;
        let mut seen = HashSet::new();
        loop {
            match crate::sources::app_page(client, cursor).await {
                Ok(p) => {
                    out.extend(p.items);
                    skipped += p.skipped;
                    match p.next {
                        Some(n) if seen.len() >= MAX_PAGES as usize || !seen.insert(n.clone()) => {
                            return (out, skipped, Some(LOOPING.to_string()));
                        }
                        Some(n) => cursor = Some(n),
                        None => return (out, skipped, None),
                    }
                }
                Err(e) => return (out, skipped, Some(e)),
            }
        }
    };
    let discourse = async {
        let mut out = Vec::new();
        if !want_discourse {
            return (out, None);
        }
        let mut cursor = None;
        let mut seen = HashSet::new();
        loop {
            match crate::sources::review_page(
                &session.discourse,
                &config.discourse.review_types,
                cursor,
            )
            .await
            {
                Ok(p) => {
                    out.extend(p.items);
                    match p.next {
                        Some(n) if seen.len() >= MAX_PAGES as usize || !seen.insert(n.clone()) => {
                            return (out, Some(LOOPING.to_string()));
                        }
                        Some(n) => cursor = Some(n),
                        None => return (out, None),
                    }
                }
                Err(e) => return (out, Some(e)),
            }
        }
    };
    let ((app_items, app_skipped, app_err), (d_items, d_err)) = tokio::join!(app, discourse);
    items.extend(app_items);
    items.extend(d_items);
    skipped += app_skipped;
    // The main-app client's errors already name the main app and the page.
    errors.extend(app_err);
    errors.extend(d_err.map(|e| format!("Discourse review queue: {e}")));
    if skipped > 0 {
        eprintln!("warning: {skipped} main-app item(s) without an external_id were skipped");
    }
    for e in &errors {
        eprintln!("error: {e}");
    }
    let mut users = crate::queue::merge(items);
    fill_external_ids(&session.discourse, &mut users).await;
    if args.json {
        let rows: Vec<_> = users.iter().map(row_json).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".into())
        );
    } else if !users.is_empty() || errors.is_empty() {
        print_table(&users);
    }
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        failed(format!("{} source(s) failed", errors.len()))
    }
}

/// Discourse's review queue names users by Discourse id only; their external id is in the admin
/// record (`single_sign_on_record`), which the console reads when it shows a user. Read it here
/// too, so `queue` and the console say the same. One request a user, at background priority (a
/// console running beside this keeps its share); a failed read leaves the id unknown (`null`).
async fn fill_external_ids(
    client: &crate::discourse::client::DiscourseClient,
    users: &mut [QueuedUser],
) {
    use futures::StreamExt;
    let bg = client.background();
    let wanted: Vec<(usize, u64)> = users
        .iter()
        .enumerate()
        .filter(|(_, u)| u.external_id.is_none())
        .filter_map(|(i, u)| Some((i, u.discourse_id?)))
        .collect();
    let found: Vec<(usize, Option<String>)> = futures::stream::iter(wanted)
        .map(|(i, id)| {
            let bg = &bg;
            async move {
                let ext = match i64::try_from(id) {
                    Ok(id) => bg.admin_user(id).await.ok().and_then(|a| {
                        a.single_sign_on_record
                            .as_ref()
                            .and_then(|r| r.to_model())
                            .map(|r| r.external_id)
                    }),
                    Err(_) => None,
                };
                (i, ext)
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    for (i, ext) in found {
        if let Some(ext) = ext {
            users[i].external_id = Some(sanitize::clean(&ext));
        }
    }
}

/// interface.md: `{"username", "external_id", "sources", "reasons", "flagged_at", "avatar"}`.
fn row_json(u: &QueuedUser) -> serde_json::Value {
    json!({
        "username": u.username,
        "external_id": u.external_id,
        "sources": u.sources().iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "reasons": u.reasons(),
        "flagged_at": u.newest_flag().map(|t| t.to_rfc3339()),
        "avatar": u.avatar.as_str(),
    })
}

fn print_table(users: &[QueuedUser]) {
    println!(
        "{:<24} {:<12} {:<14} {:<8} {:<20} REASONS",
        "USERNAME", "EXTERNAL ID", "SOURCES", "AVATAR", "FLAGGED AT"
    );
    for u in users {
        let name = sanitize::truncate(&sanitize::clean(u.username.as_deref().unwrap_or("-")), 24);
        let pad = 24usize.saturating_sub(sanitize::width(&name));
        let sources = u
            .sources()
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",");
        println!(
            "{name}{} {:<12} {:<14} {:<8} {:<20} {}",
            " ".repeat(pad),
            sanitize::truncate(
                &sanitize::clean(u.external_id.as_deref().unwrap_or("-")),
                12
            ),
            sources,
            u.avatar.as_str(),
            u.newest_flag()
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_else(|| "-".into()),
            sanitize::clean(&u.reasons().join("; ")),
        );
    }
    eprintln!("{} queued", users.len());
}
