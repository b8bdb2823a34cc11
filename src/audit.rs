//! The append-only audit log, `<data dir>/audit.jsonl` (interface.md, "Audit log"). Each line is
//! written and fsynced before the screen reports the step it records; no secret is ever in it.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Outcome, Strategy};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Intent,
    Outcome,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditUser {
    pub id: Option<u64>,
    pub username: Option<String>,
    pub external_id: Option<String>,
}

/// What the user looked like before the change, so an operator can see what was replaced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Before {
    pub avatar_template: Option<String>,
    pub uploaded_avatar_id: Option<u64>,
    pub external_avatar_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_payload: Option<String>,
    /// The user's custom slot (`custom_avatar_upload_id`), from which the avatar chooser can
    /// pick the photo again; an undo puts it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_avatar_upload_id: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub operator: String,
    pub phase: Phase,
    /// `reset-avatar` or `set-site-setting`.
    pub action: String,
    pub user: AuditUser,
    pub strategy: Option<Strategy>,
    pub before: Before,
    pub outcome: Option<Outcome>,
    pub message: String,
    pub dry_run: bool,
    /// For `set-site-setting`: the setting and the value asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setting: Option<(String, String)>,
    /// After a verified sync-sso reset: the upload the avatar now points at. Every user reset to
    /// the same default image shares it (uploads are de-duplicated by content).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_uploaded_avatar_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    /// For resets: `read-first` or `fast` (the before-state then comes from the sync's answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<crate::model::ResetPath>,
    /// For `review`: the item acted on, the action and the version sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewRef>,
}

/// The review item an audited `review` action was about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewRef {
    pub id: u64,
    pub action: String,
    pub version: i64,
}

pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
    operator: String,
}

impl AuditLog {
    pub fn open(data_dir: &Path, api_username: &str) -> std::io::Result<AuditLog> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join("audit.jsonl");
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let who = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "unknown".into());
        Ok(AuditLog {
            path,
            file: Mutex::new(file),
            operator: format!("{who} (as {api_username})"),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn operator(&self) -> &str {
        &self.operator
    }

    /// Appends one line and waits for it to reach the disk.
    pub fn append(&self, entry: &AuditEntry) -> std::io::Result<()> {
        // Secrets scrubbed, non-printing characters as \uXXXX: the file is read in terminals.
        let mut line = crate::jsonfmt::to_string(entry).map_err(std::io::Error::other)?;
        line.push('\n');
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        f.write_all(line.as_bytes())?;
        f.sync_data()
    }

    pub fn entry(&self, phase: Phase, action: &str) -> AuditEntry {
        AuditEntry {
            at: Utc::now(),
            operator: self.operator.clone(),
            phase,
            action: action.to_string(),
            user: AuditUser::default(),
            strategy: None,
            before: Before::default(),
            outcome: None,
            message: String::new(),
            dry_run: false,
            setting: None,
            after_uploaded_avatar_id: None,
            avatar_url: None,
            path: None,
            review: None,
        }
    }

    /// Every entry in the file, oldest first. Lines that do not parse are skipped.
    pub fn read_all(&self) -> Vec<AuditEntry> {
        read_entries(&self.path)
    }
}

pub fn read_entries(path: &Path) -> Vec<AuditEntry> {
    let Ok(f) = File::open(path) else {
        return Vec::new();
    };
    BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect()
}

/// The entries about one user (by username, case-insensitive, or external id), newest last.
pub fn entries_for<'a>(
    entries: &'a [AuditEntry],
    username: Option<&str>,
    external_id: Option<&str>,
) -> Vec<&'a AuditEntry> {
    entries
        .iter()
        .filter(|e| {
            username.is_some_and(|u| {
                e.user
                    .username
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(u))
            }) || external_id.is_some_and(|x| e.user.external_id.as_deref() == Some(x))
        })
        .collect()
}

/// Changes whose intent never got an outcome (the process was killed mid-change), oldest first.
/// An outcome closes the newest open intent of the same action and user, as the engine writes
/// them; dry runs are left out (nothing was sent). One pass over the file's entries.
pub fn unfinished(entries: &[AuditEntry]) -> Vec<&AuditEntry> {
    use std::collections::HashMap;
    let key = |e: &AuditEntry| {
        let who = e
            .user
            .username
            .as_deref()
            .map(str::to_lowercase)
            .or_else(|| e.user.external_id.clone().map(|x| format!("external:{x}")))
            .or_else(|| e.user.id.map(|id| format!("id:{id}")))
            .unwrap_or_default();
        (e.action.clone(), who)
    };
    let mut open: HashMap<(String, String), Vec<usize>> = HashMap::new();
    for (i, e) in entries.iter().enumerate().filter(|(_, e)| !e.dry_run) {
        let stack = open.entry(key(e)).or_default();
        match e.phase {
            Phase::Intent => stack.push(i),
            Phase::Outcome => {
                stack.pop();
            }
        }
    }
    let mut left: Vec<usize> = open.into_values().flatten().collect();
    left.sort_unstable();
    left.into_iter().map(|i| &entries[i]).collect()
}

/// One sentence naming an unfinished change: who, when, and what to do.
pub fn describe_unfinished(e: &AuditEntry) -> String {
    let who = e
        .user
        .username
        .clone()
        .or_else(|| e.user.external_id.as_ref().map(|x| format!("external:{x}")))
        .unwrap_or_else(|| "an unknown user".into());
    let what = match e.action.as_str() {
        "reset-avatar" => "a reset",
        "undo" => "an undo",
        "review" => "a review action",
        "set-site-setting" => "a setting change",
        other => other,
    };
    format!(
        "{what} of {who} started {} never finished (the process was stopped before its outcome was written): run `check {who}` to see whether the avatar changed",
        e.at.format("%Y-%m-%d %H:%M:%S UTC")
    )
}

/// The upload id a verified sync-sso reset to `avatar_url` produced, if the log knows one.
pub fn known_default_upload(entries: &[AuditEntry], avatar_url: &str) -> Option<u64> {
    entries
        .iter()
        .rev()
        .filter(|e| {
            e.outcome == Some(Outcome::Verified) && e.avatar_url.as_deref() == Some(avatar_url)
        })
        .find_map(|e| e.after_uploaded_avatar_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_and_reads_back() {
        let dir = std::env::temp_dir().join(format!("ac-audit-{}", std::process::id()));
        let log = AuditLog::open(&dir, "system").unwrap();
        let mut e = log.entry(Phase::Intent, "reset-avatar");
        e.user.username = Some("Alice".into());
        log.append(&e).unwrap();
        let mut o = log.entry(Phase::Outcome, "reset-avatar");
        o.user.username = Some("alice".into());
        o.outcome = Some(Outcome::Verified);
        o.avatar_url = Some("https://x/d.png".into());
        o.after_uploaded_avatar_id = Some(42);
        log.append(&o).unwrap();
        let all = log.read_all();
        assert_eq!(all.len(), 2);
        assert_eq!(entries_for(&all, Some("ALICE"), None).len(), 2);
        assert_eq!(known_default_upload(&all, "https://x/d.png"), Some(42));
        let text = std::fs::read_to_string(log.path()).unwrap();
        assert!(text.lines().all(|l| l.contains("\"phase\"")));
        std::fs::remove_dir_all(dir).ok();
    }
}

#[cfg(test)]
mod unfinished_tests {
    use super::*;

    fn e(phase: Phase, action: &str, user: &str, dry: bool) -> AuditEntry {
        AuditEntry {
            at: Utc::now(),
            operator: "system".into(),
            phase,
            action: action.into(),
            user: AuditUser {
                id: None,
                username: Some(user.into()),
                external_id: None,
            },
            strategy: None,
            before: Before::default(),
            outcome: None,
            message: String::new(),
            dry_run: dry,
            setting: None,
            after_uploaded_avatar_id: None,
            avatar_url: None,
            path: None,
            review: None,
        }
    }

    #[test]
    fn only_intents_without_their_outcome_are_unfinished() {
        use Phase::*;
        let log = vec![
            e(Intent, "reset-avatar", "alice", false),
            e(Outcome, "reset-avatar", "Alice", false),
            e(Intent, "reset-avatar", "bob", false),
            e(Intent, "undo", "alice", false),
            e(Intent, "reset-avatar", "carol", true),
            e(Intent, "review", "dave", false),
            e(Outcome, "review", "dave", false),
        ];
        let left = unfinished(&log);
        let who: Vec<_> = left
            .iter()
            .map(|e| (e.action.as_str(), e.user.username.as_deref().unwrap()))
            .collect();
        assert_eq!(who, vec![("reset-avatar", "bob"), ("undo", "alice")]);
        let said = describe_unfinished(left[0]);
        assert!(
            said.contains("a reset of bob") && said.contains("check bob"),
            "{said}"
        );
    }
}
