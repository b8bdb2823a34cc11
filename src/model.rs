//! Plain data shared by the layers: what the queue holds, what a reset produces, what the
//! log pane shows. No I/O here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a flag came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    App,
    Discourse,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::App => "app",
            Source::Discourse => "discourse",
        }
    }
}

/// One flag raised against a user by one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    pub source: Source,
    pub reason: String,
    pub flagged_at: Option<DateTime<Utc>>,
}

/// What we know of a user's avatar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AvatarKind {
    /// An uploaded image (custom upload, SSO import, Gravatar copy or preset).
    Custom,
    /// The letter (system) avatar or a `default_avatars` entry.
    System,
    #[default]
    Unknown,
}

impl AvatarKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AvatarKind::Custom => "custom",
            AvatarKind::System => "system",
            AvatarKind::Unknown => "unknown",
        }
    }

    /// discourse-api.md §9: `uploaded_avatar_id` is the reliable test; the template's
    /// `/user_avatar/` segment is the fallback when the id is not in the answer.
    pub fn classify(
        uploaded_avatar_id: Option<Option<u64>>,
        avatar_template: Option<&str>,
    ) -> Self {
        match uploaded_avatar_id {
            Some(Some(_)) => AvatarKind::Custom,
            Some(None) => AvatarKind::System,
            None => match avatar_template {
                Some(t) if t.contains("/user_avatar/") => AvatarKind::Custom,
                Some(t) if t.contains("letter_avatar") => AvatarKind::System,
                _ => AvatarKind::Unknown,
            },
        }
    }
}

impl AvatarKind {
    /// The upload id in an uploaded avatar's template,
    /// `/user_avatar/{host}/{username}/{size}/{upload id}_{version}.png`
    /// (`User.avatar_template` in Discourse's `app/models/user.rb`).
    pub fn upload_in_template(template: &str) -> Option<u64> {
        let rest = &template[template.find("/user_avatar/")?..];
        let file = rest.rsplit('/').next()?;
        file.split('_').next()?.parse().ok()
    }

    /// What people are shown: `default` for a custom avatar that is the configured default
    /// image (the upload a verified reset put in place, from the audit log: every user reset
    /// to it shares that one upload), else [`AvatarKind::as_str`]. `--json` keeps `as_str`:
    /// the default image is an upload like any other.
    pub fn label(self, upload: Option<u64>, default_upload: Option<u64>) -> &'static str {
        match (self, upload, default_upload) {
            (AvatarKind::Custom, Some(u), Some(d)) if u == d => "default",
            _ => self.as_str(),
        }
    }
}

/// How a reset is carried out (interface.md, "Reset rules").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Strategy {
    #[serde(rename = "pick")]
    Pick,
    #[serde(rename = "sync-sso")]
    SyncSso,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Pick => "pick",
            Strategy::SyncSso => "sync-sso",
        }
    }
}

/// How a sync-sso reset found what it sends (issue 14): `read-first` reads the user's admin
/// record before the send; `fast` sends on the external id alone, where that is safe, and takes
/// the before-state from the sync's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResetPath {
    ReadFirst,
    Fast,
}

impl ResetPath {
    pub fn as_str(self) -> &'static str {
        match self {
            ResetPath::ReadFirst => "read-first",
            ResetPath::Fast => "fast",
        }
    }
}

/// The result of one reset (interface.md, `reset --json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Verified,
    Applied,
    Unverified,
    Failed,
    Skipped,
    DryRun,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Verified => "verified",
            Outcome::Applied => "applied",
            Outcome::Unverified => "unverified",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
            Outcome::DryRun => "dry-run",
        }
    }
}

/// One line of `reset --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetReport {
    /// What the operator typed (`alice`, `external:684`, `a@example.com`).
    pub user: String,
    pub username: Option<String>,
    pub external_id: Option<String>,
    pub strategy: Option<Strategy>,
    pub outcome: Outcome,
    pub message: String,
    /// Which path the reset took; absent when nothing was looked up or sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<ResetPath>,
}

/// The SSO record Discourse keeps for a user (`single_sign_on_record`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SsoRecord {
    pub external_id: String,
    pub external_username: Option<String>,
    pub external_email: Option<String>,
    pub external_name: Option<String>,
    pub external_avatar_url: Option<String>,
    pub last_payload: Option<String>,
}

/// A group membership as Discourse reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRef {
    pub id: u64,
    pub name: String,
    pub automatic: bool,
}

/// A Discourse user resolved for a reset or a detail view: everything the reset rules and the
/// verification need, read from `/u/{username}.json` and `/admin/users/{id}.json`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserDetail {
    pub id: u64,
    pub username: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub active: Option<bool>,
    pub groups: Vec<GroupRef>,
    /// Whether `groups` was read (the admin record had them); an empty list may mean "unknown".
    #[serde(default)]
    pub groups_read: bool,
    /// `Some(None)` when Discourse said `null` (letter avatar); `None` when it was not read.
    pub uploaded_avatar_id: Option<Option<u64>>,
    pub custom_avatar_upload_id: Option<u64>,
    pub avatar_template: Option<String>,
    pub sso: Option<SsoRecord>,
}

impl UserDetail {
    pub fn avatar_kind(&self) -> AvatarKind {
        AvatarKind::classify(self.uploaded_avatar_id, self.avatar_template.as_deref())
    }

    pub fn external_id(&self) -> Option<&str> {
        self.sso.as_ref().map(|s| s.external_id.as_str())
    }

    /// Non-automatic group names, the ones `synchronize_groups` would manage.
    pub fn manual_groups(&self) -> Vec<String> {
        self.groups
            .iter()
            .filter(|g| !g.automatic)
            .map(|g| g.name.clone())
            .collect()
    }
}

/// One HTTP exchange, as the log pane and the log file show it. Never holds a secret or the
/// credential headers: the client builds it from redacted parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    pub at: DateTime<Utc>,
    pub method: String,
    /// Path and query, percent-encoded as sent.
    pub path: String,
    /// `None` when no answer came (connection error, timeout).
    pub status: Option<u16>,
    pub latency_ms: u64,
    /// A short, sanitized summary of the answer (or of the error).
    pub summary: String,
    /// The request body as sent, with secrets redacted; SSO payloads stay encoded here.
    pub request_body: Option<String>,
    /// The start of the answer body, sanitized and cut.
    pub response_body: Option<String>,
}

/// Which kind of Discourse log line, for the `SSO`/`UPLOAD`/`ERR` marks of the log pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogKind {
    Sso,
    Upload,
    Err,
    Other,
}

impl LogKind {
    pub fn classify(message: &str, severity: i64) -> Self {
        if message.contains("Verbose SSO log") {
            LogKind::Sso
        } else if message.contains("Verbose Upload Logging") {
            LogKind::Upload
        } else if severity >= 3 {
            LogKind::Err
        } else {
            LogKind::Other
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            LogKind::Sso => "SSO",
            LogKind::Upload => "UPLOAD",
            LogKind::Err => "ERR",
            LogKind::Other => "LOG",
        }
    }
}

/// One Discourse (Logster) log message, sanitized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub key: String,
    pub at: DateTime<Utc>,
    pub severity: i64,
    pub kind: LogKind,
    /// The whole message, control characters removed, line breaks kept.
    pub message: String,
    /// Logster's grouping count (1 when not grouped).
    pub count: u64,
}

/// One flagged user as one source reports it: an item of a main-app page or of Discourse's review
/// queue. `queue::merge` folds these into [`QueuedUser`]s. Text is untrusted until merged (the
/// merge sanitizes it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagItem {
    pub source: Source,
    pub external_id: Option<String>,
    /// Discourse's numeric user id, when the source knows it (the review queue does).
    pub discourse_id: Option<u64>,
    pub username: Option<String>,
    pub email: Option<String>,
    pub reason: String,
    pub flagged_at: Option<DateTime<Utc>>,
    /// The main app's copy of the flagged photo, when it gives one.
    pub photo_url: Option<String>,
    pub avatar: AvatarKind,
    /// The upload a custom avatar shows, when the source says (the review queue's template).
    #[serde(default)]
    pub avatar_upload: Option<u64>,
}

/// One user of the merged queue: every flag from every source, deduplicated by external id,
/// then Discourse user id, then case-insensitive username (see `queue.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QueuedUser {
    pub external_id: Option<String>,
    pub discourse_id: Option<u64>,
    pub username: Option<String>,
    pub email: Option<String>,
    pub flags: Vec<Flag>,
    pub avatar: AvatarKind,
    /// The upload behind a custom avatar, when known (see [`AvatarKind::label`]).
    #[serde(default)]
    pub avatar_upload: Option<u64>,
    pub photo_url: Option<String>,
}

impl QueuedUser {
    /// The sources that flagged this user, each once, `app` before `discourse`.
    pub fn sources(&self) -> Vec<Source> {
        let mut s: Vec<Source> = self.flags.iter().map(|f| f.source).collect();
        s.sort();
        s.dedup();
        s
    }

    pub fn has_source(&self, source: Source) -> bool {
        self.flags.iter().any(|f| f.source == source)
    }

    /// The newest flag time, if any flag carries one.
    pub fn newest_flag(&self) -> Option<DateTime<Utc>> {
        self.flags.iter().filter_map(|f| f.flagged_at).max()
    }

    /// The reasons, each once, in the order they came.
    pub fn reasons(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for f in &self.flags {
            if !f.reason.is_empty() && !out.contains(&f.reason.as_str()) {
                out.push(&f.reason);
            }
        }
        out
    }

    /// How to name this user to the reset engine and the clients: the external id first (the
    /// DiscourseConnect link, unambiguous), then the username, then the email.
    pub fn user_ref(&self) -> Option<UserRef> {
        if let Some(x) = &self.external_id {
            Some(UserRef::ExternalId(x.clone()))
        } else if let Some(u) = &self.username {
            Some(UserRef::Username(u.clone()))
        } else {
            self.email.as_ref().map(|e| UserRef::Email(e.clone()))
        }
    }

    /// A short name for screens: the username, else `external:ID`, else the email.
    pub fn label(&self) -> String {
        match (&self.username, &self.external_id, &self.email) {
            (Some(u), _, _) => u.clone(),
            (None, Some(x), _) => format!("external:{x}"),
            (None, None, Some(e)) => e.clone(),
            _ => "?".to_string(),
        }
    }
}

/// A user as the operator names one (interface.md: `alice`, `external:684`, `a@example.com`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UserRef {
    Username(String),
    ExternalId(String),
    Email(String),
}

impl UserRef {
    /// `external:ID` is an external id, anything with `@` an email, the rest a username.
    pub fn parse(text: &str) -> Self {
        let t = text.trim();
        if let Some(x) = t.strip_prefix("external:") {
            UserRef::ExternalId(x.trim().to_string())
        } else if t.contains('@') {
            UserRef::Email(t.to_string())
        } else {
            UserRef::Username(t.to_string())
        }
    }
}

impl std::fmt::Display for UserRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserRef::Username(u) => f.write_str(u),
            UserRef::ExternalId(x) => write!(f, "external:{x}"),
            UserRef::Email(e) => f.write_str(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AvatarKind;

    #[test]
    fn the_upload_id_is_read_from_an_uploaded_avatars_template() {
        let t = "/user_avatar/forum.example.com/alice/{size}/2000000_2.png";
        assert_eq!(AvatarKind::upload_in_template(t), Some(2_000_000));
        assert_eq!(
            AvatarKind::upload_in_template(
                "https://cdn.example.com/user_avatar/f/a/{size}/7_2.png"
            ),
            Some(7)
        );
        // Letter avatars have no upload.
        let letter = "/letter_avatar_proxy/v4/letter/a/8edcca/{size}.png";
        assert_eq!(AvatarKind::upload_in_template(letter), None);
        assert_eq!(AvatarKind::Custom.label(Some(7), Some(7)), "default");
        assert_eq!(AvatarKind::Custom.label(Some(8), Some(7)), "custom");
        assert_eq!(AvatarKind::System.label(None, Some(7)), "system");
    }
}
