//! Performing a review action on one item, audited and re-read: shared by `review --perform`
//! and the console's `a` menu. What the item offers comes from Discourse
//! ([`crate::discourse::review`]); this module decides what an answer means and says it.

use serde::Serialize;

use crate::audit::{AuditLog, AuditUser, Before, Phase, ReviewRef};
use crate::discourse::client::{ClientError, DiscourseClient};
use crate::discourse::review::{PerformError, ReviewItem, perform_path, status_name};
use crate::discourse::types::UserJson;
use crate::model::{Outcome, UserRef};

/// `review --perform --json` outcomes (interface.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReviewOutcome {
    Done,
    Failed,
    Skipped,
    DryRun,
}

impl ReviewOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewOutcome::Done => "done",
            ReviewOutcome::Failed => "failed",
            ReviewOutcome::Skipped => "skipped",
            ReviewOutcome::DryRun => "dry-run",
        }
    }
}

/// One line of `review --perform --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewResult {
    pub id: u64,
    pub action: String,
    pub outcome: ReviewOutcome,
    pub message: String,
    /// The item as re-read after the action (not printed; the console updates its row).
    #[serde(skip)]
    pub item: Option<ReviewItem>,
}

/// The user the items are about, as Discourse knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub id: u64,
    pub username: String,
    pub external_id: Option<String>,
    pub before: Before,
}

impl Subject {
    pub fn from_user(u: &UserJson) -> Subject {
        Subject {
            id: u64::try_from(u.id).unwrap_or(0),
            username: u.username.clone(),
            external_id: u
                .external_id
                .as_ref()
                .and_then(crate::discourse::types::id_string),
            before: Before {
                avatar_template: u.avatar_template.clone(),
                uploaded_avatar_id: u.uploaded_avatar_id.flatten(),
                ..Before::default()
            },
        }
    }
}

/// The user `input` names, with their external id for the audit: the public record carries it
/// only with `enable_discourse_connect_external_id_serializers`, the admin one always.
pub async fn subject_for(client: &DiscourseClient, input: &str) -> Result<Subject, String> {
    let user = resolve_user(client, input).await?;
    let mut subject = Subject::from_user(&user);
    if subject.external_id.is_none() {
        subject.external_id = match crate::reset::parse_user(input) {
            Ok(UserRef::ExternalId(x)) => Some(x),
            _ => client
                .admin_user(user.id)
                .await
                .ok()
                .and_then(|a| a.single_sign_on_record)
                .and_then(|r| crate::discourse::types::id_string(&r.external_id)),
        };
    }
    Ok(subject)
}

/// Finds the user `USER` names (username, `external:ID`, email).
pub async fn resolve_user(client: &DiscourseClient, input: &str) -> Result<UserJson, String> {
    let user = crate::reset::parse_user(input)?;
    let missing = |e: ClientError| {
        if e.is_not_found() {
            format!("no such user: {input}")
        } else {
            e.to_string()
        }
    };
    match &user {
        UserRef::Username(name) => client.user(name).await.map_err(missing),
        UserRef::ExternalId(ext) => client.user_by_external(ext).await.map_err(missing),
        UserRef::Email(email) => {
            let rows = client
                .users_by_email(email)
                .await
                .map_err(|e| e.to_string())?;
            let row = match rows.as_slice() {
                [one] => one,
                many => many
                    .iter()
                    .find(|r| {
                        r.email
                            .as_deref()
                            .is_some_and(|e| e.eq_ignore_ascii_case(email))
                    })
                    .ok_or_else(|| format!("no user with email {email}"))?,
            };
            client.user(&row.username).await.map_err(missing)
        }
    }
}

/// How an item differs from what was acted on, in words (after a 409 or a 403).
pub fn describe_change(old: &ReviewItem, new: &ReviewItem) -> String {
    let mut parts = Vec::new();
    if new.status != old.status {
        parts.push(format!(
            "someone else resolved it: it is now {}",
            new.status_name()
        ));
    }
    if new.version != old.version {
        parts.push(format!(
            "its version went from {} to {}",
            old.version.unwrap_or(0),
            new.version.unwrap_or(0)
        ));
    }
    if new.action_ids() != old.action_ids() {
        parts.push(if new.actions.is_empty() {
            "it offers no action now".to_string()
        } else {
            format!("it now offers {}", new.action_ids().join(", "))
        });
    }
    if parts.is_empty() {
        format!(
            "re-read: no visible change (still {}, version {})",
            new.status_name(),
            new.version.unwrap_or(0)
        )
    } else {
        parts.join("; ")
    }
}

fn audit_line(
    audit: &AuditLog,
    phase: Phase,
    subject: &Subject,
    item: &ReviewItem,
    action: &str,
    version: i64,
    dry_run: bool,
) -> crate::audit::AuditEntry {
    let mut e = audit.entry(phase, "review");
    e.user = AuditUser {
        id: Some(subject.id),
        username: Some(subject.username.clone()),
        external_id: subject.external_id.clone(),
    };
    e.before = subject.before.clone();
    e.dry_run = dry_run;
    e.review = Some(ReviewRef {
        id: item.id,
        action: action.to_string(),
        version,
    });
    e
}

/// Performs `action` on `item` with the item's version: intent audited before sending, outcome
/// after, the item re-read to say what happened.
pub async fn perform(
    client: &DiscourseClient,
    audit: &AuditLog,
    subject: &Subject,
    item: &ReviewItem,
    action: &str,
    dry_run: bool,
) -> ReviewResult {
    let result = |outcome, message: String, after: Option<ReviewItem>| ReviewResult {
        id: item.id,
        action: action.to_string(),
        outcome,
        message,
        item: after,
    };
    let Some(version) = item.version else {
        return result(
            ReviewOutcome::Failed,
            format!(
                "#{}: Discourse sent no version for this item, and perform needs one; nothing sent",
                item.id
            ),
            None,
        );
    };
    if !item.offers(action) {
        return result(
            ReviewOutcome::Skipped,
            format!(
                "#{} ({}) does not offer {action}; it offers {}",
                item.id,
                item.kind,
                if item.actions.is_empty() {
                    "nothing".to_string()
                } else {
                    item.action_ids().join(", ")
                }
            ),
            None,
        );
    }
    let path = perform_path(item.id, action, version);
    let mut intent = audit_line(
        audit,
        Phase::Intent,
        subject,
        item,
        action,
        version,
        dry_run,
    );
    intent.message = format!("PUT {path}");
    if let Err(e) = audit.append(&intent) {
        return result(
            ReviewOutcome::Failed,
            format!(
                "could not write the audit log {}: {e}; nothing sent",
                audit.path().display()
            ),
            None,
        );
    }
    let finish = |outcome: Outcome, shown: ReviewOutcome, message: String, after| {
        let mut line = audit_line(
            audit,
            Phase::Outcome,
            subject,
            item,
            action,
            version,
            dry_run,
        );
        line.outcome = Some(outcome);
        line.message = message.clone();
        let message = match audit.append(&line) {
            Ok(()) => message,
            Err(e) => format!("{message} (audit log write failed: {e})"),
        };
        result(shown, message, after)
    };
    if dry_run {
        return finish(
            Outcome::DryRun,
            ReviewOutcome::DryRun,
            format!("would send PUT {path}"),
            None,
        );
    }
    let sent = client.perform_review(item.id, action, version).await;
    let reread = client.review_item(item.id).await;
    match sent {
        Ok(p) => {
            let (outcome, state) = match &reread {
                Ok(now) if now.version > Some(version) || now.status != item.status => (
                    Outcome::Verified,
                    format!(
                        "now {}, version {}",
                        now.status_name(),
                        now.version.unwrap_or(0)
                    ),
                ),
                Ok(now) => (
                    Outcome::Applied,
                    format!(
                        "Discourse answered success, but the re-read item is unchanged ({}, version {})",
                        now.status_name(),
                        now.version.unwrap_or(0)
                    ),
                ),
                Err(e) => (
                    Outcome::Applied,
                    format!("Discourse answered success; the re-read failed: {e}"),
                ),
            };
            let what = match &p.transition_to {
                Some(t) => format!("item resolved ({t})"),
                None => "the item stays pending".to_string(),
            };
            finish(
                outcome,
                ReviewOutcome::Done,
                format!("#{}: {action} done; {what}; {state}", item.id),
                reread.ok(),
            )
        }
        Err(PerformError::Conflict(msg)) => {
            let change = match &reread {
                Ok(now) => describe_change(item, now),
                Err(e) => format!("the re-read failed too: {e}"),
            };
            finish(
                Outcome::Failed,
                ReviewOutcome::Failed,
                format!(
                    "#{}: changed by someone else since it was read (409{}); not applied: {change}. Re-read it (`review {}`, or a in the console) and act again",
                    item.id,
                    if msg.is_empty() {
                        String::new()
                    } else {
                        format!(": {msg}")
                    },
                    subject.username
                ),
                reread.ok(),
            )
        }
        Err(PerformError::Refused(msg)) => {
            let why = match &reread {
                Ok(now) if !now.is_pending() => format!(
                    "the item is no longer pending (someone else resolved it: {})",
                    now.status_name()
                ),
                Ok(now) if !now.offers(action) => format!(
                    "Discourse no longer offers {action} on it to {} (it offers {})",
                    client.api_username(),
                    if now.actions.is_empty() {
                        "nothing".to_string()
                    } else {
                        now.action_ids().join(", ")
                    }
                ),
                Ok(_) => format!(
                    "{} may not perform {action} here (the acting user's rights decide which actions run, since ReviewableActionBuilder)",
                    client.api_username()
                ),
                Err(e) => format!("the re-read failed too: {e}"),
            };
            finish(
                Outcome::Failed,
                ReviewOutcome::Failed,
                format!(
                    "#{}: Discourse refused {action} (403{}); not applied: {why}",
                    item.id,
                    if msg.is_empty() {
                        String::new()
                    } else {
                        format!(": {msg}")
                    }
                ),
                reread.ok(),
            )
        }
        Err(PerformError::Unprocessable(msg)) => {
            let lower = msg.to_ascii_lowercase();
            let hint = if lower.contains("claim") {
                "; the topic must be claimed first (reviewable_claiming), or another moderator claimed it"
            } else if lower.contains("version") {
                "; the version was missing (a client bug: please report it)"
            } else {
                ""
            };
            finish(
                Outcome::Failed,
                ReviewOutcome::Failed,
                format!(
                    "#{}: Discourse could not perform {action} (422: {}){hint}; not applied",
                    item.id,
                    if msg.is_empty() {
                        "no reason given"
                    } else {
                        msg.as_str()
                    }
                ),
                reread.ok(),
            )
        }
        Err(PerformError::Failed(msg)) => finish(
            Outcome::Failed,
            ReviewOutcome::Failed,
            format!("#{}: {action} failed on the server: {msg}", item.id),
            reread.ok(),
        ),
        Err(PerformError::Client(e)) => {
            // The answer may have been lost after Discourse acted: the re-read decides.
            let definite = e.status().is_some_and(|s| (400..500).contains(&s));
            match &reread {
                Ok(now) if now.version > Some(version) => finish(
                    Outcome::Verified,
                    ReviewOutcome::Done,
                    format!(
                        "#{}: {action}: the answer was lost ({e}), but the re-read shows it applied (now {}, version {})",
                        item.id,
                        now.status_name(),
                        now.version.unwrap_or(0)
                    ),
                    reread.clone().ok(),
                ),
                Ok(_) => finish(
                    Outcome::Failed,
                    ReviewOutcome::Failed,
                    format!(
                        "#{}: {action} not applied ({e}); the re-read shows the item unchanged",
                        item.id
                    ),
                    reread.clone().ok(),
                ),
                Err(_) if definite => finish(
                    Outcome::Failed,
                    ReviewOutcome::Failed,
                    format!("#{}: {action} refused: {e}", item.id),
                    None,
                ),
                Err(re) => finish(
                    Outcome::Unverified,
                    ReviewOutcome::Failed,
                    format!(
                        "#{}: {action}: unknown whether it applied ({e}; re-read failed: {re}); check the review queue",
                        item.id
                    ),
                    None,
                ),
            }
        }
    }
}

/// The words for an item in one line: `#12 ReviewableUser v3 (inappropriate photo): approve_user, remove_avatar`.
pub fn item_line(item: &ReviewItem) -> String {
    let reasons = if item.reasons.is_empty() {
        String::new()
    } else {
        format!(" ({})", item.reasons.join("; "))
    };
    let actions = if item.actions.is_empty() {
        "no actions offered".to_string()
    } else {
        item.action_ids().join(", ")
    };
    format!(
        "#{} {} {} v{}{reasons}: {actions}",
        item.id,
        item.kind,
        status_name(item.status),
        item.version.unwrap_or(0)
    )
}
