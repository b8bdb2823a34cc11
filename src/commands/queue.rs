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

/// At most this many admin reads for external ids (a minute of Discourse's default budget).
const EXT_LOOKUPS_MAX: usize = 60;

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
    let session = &session;
    let mut errors: Vec<String> = Vec::new();
    // Both sources load at once; one failing does not stop the other. Pages are merged as they
    // arrive (linear in the items), so no list of every item is ever held.
    let (pages_tx, mut pages_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<FlagItem>>();
    let app_tx = pages_tx.clone();
    let app = async move {
        let mut skipped = 0;
        let Some(client) = session.main_app.as_ref().filter(|_| want_app) else {
            return (0, None);
        };
        let mut cursor = None;
        let mut seen = HashSet::new();
        loop {
            match crate::sources::app_page(client, cursor).await {
                Ok(p) => {
                    let _ = app_tx.send(p.items);
                    skipped += p.skipped;
                    match p.next {
                        Some(n) if seen.len() >= MAX_PAGES as usize || !seen.insert(n.clone()) => {
                            return (skipped, Some(LOOPING.to_string()));
                        }
                        Some(n) => cursor = Some(n),
                        None => return (skipped, None),
                    }
                }
                Err(e) => return (skipped, Some(e)),
            }
        }
    };
    let discourse = async move {
        if !want_discourse {
            return None;
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
                    let _ = pages_tx.send(p.items);
                    match p.next {
                        Some(n) if seen.len() >= MAX_PAGES as usize || !seen.insert(n.clone()) => {
                            return Some(LOOPING.to_string());
                        }
                        Some(n) => cursor = Some(n),
                        None => return None,
                    }
                }
                Err(e) => return Some(e),
            }
        }
    };
    let mut queue = crate::queue::Queue::new();
    let merging = async {
        while let Some(items) = pages_rx.recv().await {
            queue.merge(items);
        }
    };
    let ((skipped, app_err), d_err, ()) = tokio::join!(app, discourse, merging);
    // The main-app client's errors already name the main app and the page.
    errors.extend(app_err);
    errors.extend(d_err.map(|e| format!("Discourse review queue: {e}")));
    if skipped > 0 {
        eprintln!("warning: {skipped} main-app item(s) without an external_id were skipped");
    }
    for e in &errors {
        eprintln!("error: {e}");
    }
    let mut users = queue.into_sorted();
    fill_external_ids(&session.discourse, &mut users).await;
    if args.json {
        if let Err(e) = print_json(&users) {
            return failed(format!("cannot write the queue: {e}"));
        }
    } else if !users.is_empty() || errors.is_empty() {
        print_table(&users, session.default_image_upload(config));
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
/// More than [`EXT_LOOKUPS_MAX`] would take minutes of the budget: then none is read, and
/// standard error says so.
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
    if wanted.len() > EXT_LOOKUPS_MAX {
        eprintln!(
            "note: the external ids of {} users flagged by Discourse only were not read (one \
             request each; more than {EXT_LOOKUPS_MAX}); `check USER` shows one",
            wanted.len()
        );
        return;
    }
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

/// The rows as one pretty-printed JSON array, written row by row: at 100,000 users the whole
/// document as one value (or one string) would double the peak memory.
fn print_json(users: &[QueuedUser]) -> std::io::Result<()> {
    use serde::Serializer;
    use std::io::Write;
    let out = std::io::stdout().lock();
    let out = std::io::BufWriter::with_capacity(1 << 16, out);
    // Scrubbed line by line, non-printing characters escaped (issue 10).
    let mut out = crate::jsonfmt::SafeLines::new(out);
    let mut ser = crate::jsonfmt::pretty_serializer(&mut out);
    ser.collect_seq(users.iter().map(row_json))
        .map_err(std::io::Error::other)?;
    writeln!(out)?;
    out.flush()
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

/// `default_upload`: the default image's upload, shown as `default` rather than `custom`.
fn print_table(users: &[QueuedUser], default_upload: Option<u64>) {
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
            u.avatar.label(u.avatar_upload, default_upload),
            u.newest_flag()
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_else(|| "-".into()),
            sanitize::clean(&u.reasons().join("; ")),
        );
    }
    eprintln!("{} queued", users.len());
}
