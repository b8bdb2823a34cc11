//! What the audit says about a user's resets, for `check USER` (issue 12, points 6 and 8): a
//! reset whose intent never got an outcome (the process was killed), and a reset that did not
//! take while the flagged photo is still there.

use crate::audit::{AuditEntry, Phase};
use crate::model::{Outcome, UserDetail};

/// Problems, newest reset first. `entries` are the user's audit lines, oldest first.
pub fn problems(entries: &[&AuditEntry], now: &UserDetail) -> Vec<String> {
    let resets: Vec<&&AuditEntry> = entries
        .iter()
        .filter(|e| e.action == "reset-avatar" && !e.dry_run)
        .collect();
    let mut out = Vec::new();
    let mut open: Vec<&AuditEntry> = Vec::new();
    for e in &resets {
        match e.phase {
            Phase::Intent => open.push(e),
            Phase::Outcome => {
                open.pop();
            }
        }
    }
    for e in open.iter().rev() {
        out.push(format!(
            "a reset of {} started at {} never finished (no outcome in the audit log: the process was stopped); \
             the avatar may or may not have changed: see the avatar above, and reset again if the photo is still there",
            now.username,
            e.at.format("%Y-%m-%d %H:%M:%S UTC")
        ));
    }
    if let Some(last) = resets.iter().rev().find(|e| e.phase == Phase::Outcome)
        && matches!(last.outcome, Some(Outcome::Failed | Outcome::Unverified))
    {
        let photo = last.before.uploaded_avatar_id;
        let still_avatar = photo.is_some() && now.uploaded_avatar_id.flatten() == photo;
        let slot = last.before.custom_avatar_upload_id;
        let still_slot = slot.is_some() && now.custom_avatar_upload_id == slot;
        if still_avatar || still_slot {
            let outcome = last.outcome.map(Outcome::as_str).unwrap_or_default();
            let where_ = if still_avatar {
                "is still the avatar"
            } else {
                "is still in the custom slot"
            };
            out.push(format!(
                "the last reset ({}) ended {outcome}: {}; the flagged photo (upload {}) {where_}",
                last.at.format("%Y-%m-%d %H:%M:%S UTC"),
                last.message,
                photo.or(slot).unwrap_or_default()
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditLog;

    #[test]
    fn unfinished_and_not_taken() {
        let dir = std::env::temp_dir().join(format!("ac-history-{}", std::process::id()));
        let log = AuditLog::open(&dir, "system").unwrap();
        let mut intent = log.entry(Phase::Intent, "reset-avatar");
        intent.before.uploaded_avatar_id = Some(90);
        let mut failed = log.entry(Phase::Outcome, "reset-avatar");
        failed.outcome = Some(Outcome::Unverified);
        failed.message = "the answer was lost".into();
        failed.before.uploaded_avatar_id = Some(90);
        let user = UserDetail {
            username: "dave".into(),
            uploaded_avatar_id: Some(Some(90)),
            ..Default::default()
        };
        let p = problems(&[&intent, &failed], &user);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("ended unverified: the answer was lost"));
        let p = problems(&[&intent, &failed, &intent], &user);
        assert!(p[0].contains("never finished"), "{p:?}");
        let gone = UserDetail {
            uploaded_avatar_id: Some(None),
            ..user
        };
        assert!(problems(&[&intent, &failed], &gone).is_empty());
        std::fs::remove_dir_all(dir).ok();
    }
}
