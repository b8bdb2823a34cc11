//! Taking back a reset: the user's last verified reset is found in the audit log, and the
//! avatar it replaced (`before`) is put back. Overrides off: the old upload is picked again
//! (`type=custom`, which an admin may do with any upload). Overrides on: a sync with the old
//! external avatar URL and `avatar_force_update`. Verified by re-reading, audited as `undo`.
//! Shared by `avatar-console undo` and the console's undo key.

use std::time::Duration;

use crate::audit::{self, AuditEntry, AuditLog, AuditUser, Before, Phase};
use crate::discourse::client::DiscourseClient;
use crate::discourse::sso::Payload;
use crate::discourse::types::{UserJson, user_detail};
use crate::model::{Outcome, ResetReport, Strategy};
use crate::reset::plan;
use crate::secret::Secret;

/// What undo needs besides the client and the audit log.
#[derive(Clone)]
pub struct UndoOptions {
    pub sso_secret: Option<Secret>,
    pub verify_timeout: Duration,
    pub dry_run: bool,
    /// Undo even when the avatar changed since the reset.
    pub force: bool,
}

/// Why nothing was sent (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

fn is_action(e: &AuditEntry, action: &str) -> bool {
    e.action == action
        && e.phase == Phase::Outcome
        && e.outcome == Some(Outcome::Verified)
        && !e.dry_run
}

/// The verified reset an undo would take back: the user's last verified reset, unless a
/// verified undo came after it (then there is nothing left to undo).
pub fn last_reset<'a>(
    entries: &'a [AuditEntry],
    username: &str,
    external_id: Option<&str>,
) -> Result<&'a AuditEntry, String> {
    let mine = audit::entries_for(entries, Some(username), external_id);
    let last = mine
        .iter()
        .rev()
        .find(|e| is_action(e, "reset-avatar") || is_action(e, "undo"));
    match last {
        Some(e) if e.action == "undo" => Err(format!(
            "the last verified reset of {username} was already undone at {}",
            e.at.format("%Y-%m-%d %H:%M:%S UTC")
        )),
        Some(e) => Ok(e),
        None => Err(format!(
            "no verified reset of {username} in the audit log: nothing to undo"
        )),
    }
}

/// The avatar the reset left: the upload its outcome recorded, else (pick) the letter avatar.
/// `None`: not known.
fn left_by(reset: &AuditEntry) -> Option<Option<u64>> {
    match (reset.after_uploaded_avatar_id, reset.strategy) {
        (Some(a), _) => Some(Some(a)),
        (None, Some(Strategy::Pick)) => Some(None),
        _ => None,
    }
}

fn current_upload(u: &UserJson) -> Option<u64> {
    u.uploaded_avatar_id.unwrap_or_else(|| {
        u.avatar_template
            .as_deref()
            .and_then(plan::upload_id_from_template)
    })
}

fn describe(upload: Option<u64>) -> String {
    match upload {
        Some(id) => format!("upload {id}"),
        None => "the letter avatar".into(),
    }
}

fn report(
    input: &str,
    user: &UserJson,
    strategy: Strategy,
    outcome: Outcome,
    message: String,
) -> ResetReport {
    ResetReport {
        user: input.to_string(),
        username: Some(user.username.clone()),
        external_id: user
            .external_id
            .as_ref()
            .and_then(crate::discourse::types::id_string),
        strategy: Some(strategy),
        outcome,
        message,
        path: None,
    }
}

/// Undoes the last verified reset of `input`. `Err` when refused before anything was sent.
pub async fn undo(
    client: &DiscourseClient,
    audit_log: &AuditLog,
    opts: &UndoOptions,
    input: &str,
) -> Result<ResetReport, Refused> {
    let user = crate::review::resolve_user(client, input)
        .await
        .map_err(Refused)?;
    let admin = client.admin_user(user.id).await.ok();
    let mut detail = user_detail(Some(&user), admin.as_ref())
        .ok_or_else(|| Refused("empty user record".into()))?;
    let entries = audit_log.read_all();
    let reset = last_reset(&entries, &user.username, detail.external_id()).map_err(|e| {
        Refused(format!(
            "{e} ({}); nothing was sent",
            audit_log.path().display()
        ))
    })?;
    let before = reset.before.clone();
    let at = reset.at.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let now = current_upload(&user);
    if let Some(left) = left_by(reset)
        && left != now
        && !opts.force
    {
        return Err(Refused(format!(
            "the avatar of {} changed since the reset at {at} (the reset left {}, it is now {}): someone else acted. \
             Nothing was sent; undo --force puts the old avatar back anyway",
            user.username,
            describe(left),
            describe(now)
        )));
    }
    let settings = client.dc_settings().await.map_err(|e| {
        Refused(format!(
            "reading the DiscourseConnect settings: {e}; nothing was sent"
        ))
    })?;
    let overrides = settings.enabled() == Some(true) && settings.overrides_avatar() == Some(true);
    let strategy = if overrides {
        Strategy::SyncSso
    } else {
        Strategy::Pick
    };

    // What will be sent, checked before any intent is written.
    let (wire, old_url) = match strategy {
        Strategy::Pick => {
            let Some(id) = before.uploaded_avatar_id else {
                return Err(Refused(format!(
                    "the reset at {at} replaced the letter avatar of {}: there is no upload to put back; nothing was sent",
                    user.username
                )));
            };
            (
                format!(
                    "PUT /u/{}/preferences/avatar/pick type=custom upload_id={id}",
                    user.username
                ),
                None,
            )
        }
        Strategy::SyncSso => {
            let Some(url) = before
                .external_avatar_url
                .clone()
                .filter(|u| !u.trim().is_empty())
            else {
                return Err(Refused(format!(
                    "DiscourseConnect overrides avatars, and the reset at {at} recorded no external avatar URL for {} to sync back; nothing was sent",
                    user.username
                )));
            };
            if opts.sso_secret.as_ref().is_none_or(Secret::is_empty) {
                return Err(Refused(
                    "undo needs discourse.sso_secret (or AVATAR_CONSOLE_SSO_SECRET) to sync the old avatar back; nothing was sent".into(),
                ));
            }
            if admin.is_none() {
                return Err(Refused(format!(
                    "the admin record of {} could not be read (the API user must be an admin); nothing was sent",
                    user.username
                )));
            }
            if detail.email.is_none() {
                detail.email = client.user_email(&user.username).await.ok().flatten();
            }
            (
                format!("POST /admin/users/sync_sso avatar_url={url} avatar_force_update=true"),
                Some(url),
            )
        }
    };
    let signed = match &old_url {
        Some(url) => {
            let fields = plan::sync_payload(&detail, url, settings.overrides_groups())
                .map_err(|e| Refused(format!("{e}; nothing was sent")))?;
            let secret = opts.sso_secret.clone().unwrap_or_default();
            Some(
                Payload::from_pairs(fields)
                    .and_then(|p| p.sign(&secret))
                    .map_err(|e| Refused(format!("payload: {e}; nothing was sent")))?,
            )
        }
        None => None,
    };

    let line = |phase: Phase, outcome: Option<Outcome>, message: &str| {
        let mut e = audit_log.entry(phase, "undo");
        e.user = AuditUser {
            id: Some(detail.id),
            username: Some(user.username.clone()),
            external_id: detail.external_id().map(str::to_string),
        };
        e.strategy = Some(strategy);
        // What the undo replaces: the avatar as it is now.
        e.before = Before {
            avatar_template: user.avatar_template.clone(),
            uploaded_avatar_id: now,
            external_avatar_url: detail
                .sso
                .as_ref()
                .and_then(|s| s.external_avatar_url.clone()),
            ..Before::default()
        };
        e.outcome = outcome;
        e.message = message.to_string();
        e.dry_run = opts.dry_run;
        e.avatar_url = old_url.clone();
        e
    };
    let intent = format!("{wire} (undoing the reset at {at})");
    if let Err(e) = audit_log.append(&line(Phase::Intent, None, &intent)) {
        return Err(Refused(format!(
            "could not write the audit log {}: {e}; nothing was sent",
            audit_log.path().display()
        )));
    }
    let outcome = |o: Outcome, message: String, after: Option<u64>| {
        let mut l = line(Phase::Outcome, Some(o), &message);
        l.after_uploaded_avatar_id = after;
        let message = match audit_log.append(&l) {
            Ok(()) => message,
            Err(e) => format!("{message} (audit log write failed: {e})"),
        };
        report(input, &user, strategy, o, message)
    };
    if opts.dry_run {
        return Ok(outcome(Outcome::DryRun, format!("would send {wire}"), None));
    }
    let sent = match (&signed, before.uploaded_avatar_id) {
        (Some(s), _) => client.sync_sso(s.form_body()).await.map(|_| ()),
        (None, Some(id)) => client.pick_custom_avatar(&user.username, id).await,
        (None, None) => unreachable!("refused above"),
    };
    if let Err(e) = sent {
        // A lost answer may still have applied: re-read before saying it failed.
        let seen = client
            .user(&user.username)
            .await
            .ok()
            .map(|u| current_upload(&u));
        return Ok(match seen {
            Some(s) if s != now => outcome(
                Outcome::Unverified,
                format!("{e}; but the avatar changed to {} meanwhile", describe(s)),
                s,
            ),
            Some(_) => outcome(
                Outcome::Failed,
                format!("{e}; the avatar is unchanged"),
                None,
            ),
            None => outcome(
                Outcome::Unverified,
                format!("{e}; could not re-read the user"),
                None,
            ),
        });
    }
    // Verify: the old upload back (pick), or a new upload that is not what the reset left (sync:
    // the download makes a new upload, the same one only when the bytes are).
    let deadline = tokio::time::Instant::now() + opts.verify_timeout;
    let mut wait = Duration::from_millis(300);
    loop {
        match client.user(&user.username).await {
            Ok(u) => {
                let seen = current_upload(&u);
                let done = match strategy {
                    Strategy::Pick => seen.is_some() && seen == before.uploaded_avatar_id,
                    Strategy::SyncSso => {
                        seen.is_some() && (seen == before.uploaded_avatar_id || seen != now)
                    }
                };
                if done {
                    return Ok(outcome(
                        Outcome::Verified,
                        format!(
                            "old avatar back ({}), undoing the reset at {at}",
                            describe(seen)
                        ),
                        seen,
                    ));
                }
            }
            Err(e) if tokio::time::Instant::now() >= deadline => {
                return Ok(outcome(
                    Outcome::Unverified,
                    format!("sent, but could not re-read the user: {e}"),
                    None,
                ));
            }
            Err(_) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            let why = match strategy {
                Strategy::Pick => {
                    "the pick answered 200 but the avatar is not the old upload".to_string()
                }
                Strategy::SyncSso => format!(
                    "the sync was accepted but the avatar did not change; Discourse may not have been able to download {} (see `avatar-console logs --user {}`)",
                    old_url.as_deref().unwrap_or(""),
                    user.username
                ),
            };
            return Ok(outcome(
                Outcome::Unverified,
                format!("{why} after {}s", opts.verify_timeout.as_secs()),
                None,
            ));
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}
