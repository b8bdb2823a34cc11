//! Serde types for the JSON Discourse returns, and their conversion into `crate::model`.
//! Field names follow the serializers named in discourse-api.md (§3, §8, §9).

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::model::{GroupRef, LogKind, LogLine, SsoRecord, UserDetail};
use crate::sanitize;

/// Distinguishes a missing field (`None`) from an explicit `null` (`Some(None)`): a
/// `uploaded_avatar_id: null` means "letter avatar", a missing one means "not read".
fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// External ids are strings in Discourse, but main apps and some serializers send numbers.
pub fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `GET /u/{username}.json` → `{"user": {...}}` (`UserSerializer`).
#[derive(Debug, Clone, Deserialize)]
pub struct UserEnvelope {
    pub user: UserJson,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UserJson {
    /// i64: Discourse's system user is -1.
    pub id: i64,
    pub username: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub avatar_template: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub uploaded_avatar_id: Option<Option<u64>>,
    #[serde(default)]
    pub custom_avatar_upload_id: Option<u64>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
    /// Only with `enable_discourse_connect_external_id_serializers` (basic_user_serializer.rb).
    #[serde(default)]
    pub external_id: Option<Value>,
}

/// `GET /admin/users/{id}.json` and the sync_sso answer (`AdminDetailedUserSerializer`,
/// `root: false`).
#[derive(Debug, Clone, Deserialize)]
pub struct AdminUserJson {
    pub id: i64,
    pub username: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub avatar_template: Option<String>,
    /// `None` when the answer had no `groups`: unknown is not the same as none, because a sync
    /// with overridden groups makes the membership exactly what it sends.
    #[serde(default)]
    pub groups: Option<Vec<GroupJson>>,
    #[serde(default)]
    pub single_sign_on_record: Option<SsoRecordJson>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GroupJson {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub automatic: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SsoRecordJson {
    pub external_id: Value,
    #[serde(default)]
    pub external_username: Option<String>,
    #[serde(default)]
    pub external_email: Option<String>,
    #[serde(default)]
    pub external_name: Option<String>,
    #[serde(default)]
    pub external_avatar_url: Option<String>,
    #[serde(default)]
    pub last_payload: Option<String>,
}

impl SsoRecordJson {
    pub fn to_model(&self) -> Option<SsoRecord> {
        Some(SsoRecord {
            external_id: id_string(&self.external_id)?,
            external_username: self.external_username.clone(),
            external_email: self.external_email.clone(),
            external_name: self.external_name.clone(),
            external_avatar_url: self.external_avatar_url.clone(),
            last_payload: self.last_payload.clone(),
        })
    }
}

/// One row of `GET /admin/users/list/{q}.json` (a bare array, `AdminUserListSerializer`).
#[derive(Debug, Clone, Deserialize)]
pub struct AdminListUserJson {
    pub id: i64,
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub avatar_template: Option<String>,
}

/// Builds the model user from the two reads a reset makes: the public one carries
/// `uploaded_avatar_id`, the admin one carries email, groups and the SSO record.
pub fn user_detail(user: Option<&UserJson>, admin: Option<&AdminUserJson>) -> Option<UserDetail> {
    let (id, username) = match (user, admin) {
        (Some(u), _) => (u.id, u.username.clone()),
        (None, Some(a)) => (a.id, a.username.clone()),
        (None, None) => return None,
    };
    let mut sso = admin
        .and_then(|a| a.single_sign_on_record.as_ref())
        .and_then(SsoRecordJson::to_model);
    if sso.is_none() {
        // Some servers expose the external id on the user itself.
        if let Some(ext) = user
            .and_then(|u| u.external_id.as_ref())
            .and_then(id_string)
        {
            sso = Some(SsoRecord {
                external_id: ext,
                ..Default::default()
            });
        }
    }
    Some(UserDetail {
        // Discourse's own system user is -1; it is never a reset target.
        id: u64::try_from(id).unwrap_or(0),
        username,
        name: user
            .and_then(|u| u.name.clone())
            .or_else(|| admin.and_then(|a| a.name.clone())),
        email: admin
            .and_then(|a| a.email.clone())
            .or_else(|| user.and_then(|u| u.email.clone())),
        active: admin
            .and_then(|a| a.active)
            .or_else(|| user.and_then(|u| u.active)),
        groups: admin
            .and_then(|a| a.groups.as_ref())
            .map(|gs| {
                gs.iter()
                    .map(|g| GroupRef {
                        id: g.id,
                        name: g.name.clone(),
                        automatic: g.automatic,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        groups_read: admin.is_some_and(|a| a.groups.is_some()),
        uploaded_avatar_id: user.and_then(|u| u.uploaded_avatar_id),
        custom_avatar_upload_id: user.and_then(|u| u.custom_avatar_upload_id),
        avatar_template: user
            .and_then(|u| u.avatar_template.clone())
            .or_else(|| admin.and_then(|a| a.avatar_template.clone())),
        sso,
    })
}

/// Site settings, values as Discourse sends them (always strings, §7).
#[derive(Debug, Clone, Deserialize)]
pub struct SiteSettingsJson {
    pub site_settings: Vec<SiteSettingJson>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SiteSettingJson {
    pub setting: String,
    #[serde(default)]
    pub value: Value,
}

/// `GET /review.json` (`ReviewablesController#index`, §8).
#[derive(Debug, Clone, Deserialize)]
pub struct ReviewPageJson {
    #[serde(default)]
    pub reviewables: Vec<ReviewableJson>,
    #[serde(default)]
    pub users: Vec<ReviewUserJson>,
    #[serde(default)]
    pub meta: ReviewMetaJson,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReviewableJson {
    pub id: u64,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub status: Option<i64>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    // User ids are signed: Discourse's built-in users are negative (system -1, discobot -2),
    // and system creates ReviewableUser items and many automatic flags.
    #[serde(default)]
    pub user_id: Option<i64>,
    #[serde(default)]
    pub target_created_by_id: Option<i64>,
    #[serde(default)]
    pub created_by_id: Option<i64>,
    #[serde(default)]
    pub score: Option<f64>,
    #[serde(default)]
    pub payload: Option<Value>,
    /// Not in stock Discourse serializers; honoured when a plugin or the sandbox sends it.
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReviewUserJson {
    /// The system user (-1) is side-loaded as the creator of `ReviewableUser` items.
    pub id: i64,
    pub username: String,
    #[serde(default)]
    pub avatar_template: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReviewMetaJson {
    #[serde(default)]
    pub total_rows_reviewables: Option<u64>,
    #[serde(default)]
    pub load_more_reviewables: Option<String>,
}

/// One flagged user from Discourse's review queue.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewFlag {
    pub reviewable_id: u64,
    pub kind: String,
    pub user_id: u64,
    pub username: Option<String>,
    pub avatar_template: Option<String>,
    pub reason: String,
    pub created_at: Option<DateTime<Utc>>,
}

/// A page of the review queue, turned into flags.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewPage {
    pub flags: Vec<ReviewFlag>,
    pub total: Option<u64>,
    /// The next offset, when `meta.load_more_reviewables` says there is more.
    pub next_offset: Option<u64>,
}

impl ReviewPageJson {
    pub fn into_page(self, offset: u64) -> ReviewPage {
        let flags = self
            .reviewables
            .iter()
            .filter_map(|r| {
                // §8 "Which user the item is about".
                let user_id = match r.kind.as_str() {
                    "ReviewableUser" => r.user_id.or(r.target_created_by_id),
                    _ => r.target_created_by_id.or(r.created_by_id),
                }?;
                let user = self.users.iter().find(|u| u.id == user_id);
                // An item about a built-in user (negative id) is no avatar to reset.
                let user_id = u64::try_from(user_id).ok()?;
                let reason = r.reason.clone().unwrap_or_else(|| match r.kind.as_str() {
                    "ReviewableUser" => "user awaiting review".to_string(),
                    "ReviewableFlaggedPost" => "flagged post".to_string(),
                    "ReviewableQueuedPost" => "queued post".to_string(),
                    other => other.trim_start_matches("Reviewable").to_string(),
                });
                Some(ReviewFlag {
                    reviewable_id: r.id,
                    kind: r.kind.clone(),
                    user_id,
                    username: user.map(|u| u.username.clone()),
                    avatar_template: user.and_then(|u| u.avatar_template.clone()),
                    reason,
                    created_at: r.created_at,
                })
            })
            .collect();
        // `load_more_reviewables` is an HTML path (`review_path`, no `.json`): follow offsets.
        // An empty page, or an offset past the total, ends paging whatever the server says.
        let next = offset + self.reviewables.len() as u64;
        let more = self.meta.load_more_reviewables.is_some()
            && !self.reviewables.is_empty()
            && self.meta.total_rows_reviewables.is_none_or(|t| next < t);
        let next_offset = more.then_some(next);
        ReviewPage {
            flags,
            total: self.meta.total_rows_reviewables,
            next_offset,
        }
    }
}

/// `POST /logs/messages.json` (logster `lib/logster/middleware/viewer.rb`, §6).
#[derive(Debug, Clone, Deserialize)]
pub struct LogPageJson {
    #[serde(default)]
    pub messages: Vec<Value>,
    #[serde(default)]
    pub total: Option<u64>,
}

impl LogPageJson {
    /// Plain messages and grouped ones (`GroupWeb`: `group: true` with nested `messages`), oldest
    /// first as Logster sends them. Text is sanitized here, at the edge.
    pub fn into_lines(self) -> Vec<LogLine> {
        let mut out = Vec::new();
        for m in &self.messages {
            if m.get("group").and_then(Value::as_bool) == Some(true) {
                let count = m.get("count").and_then(Value::as_u64).unwrap_or(1);
                if let Some(last) = m
                    .get("messages")
                    .and_then(Value::as_array)
                    .and_then(|a| a.last())
                    && let Some(mut line) = log_line(last)
                {
                    line.count = count.max(line.count);
                    out.push(line);
                }
            } else if let Some(line) = log_line(m) {
                out.push(line);
            }
        }
        out
    }
}

fn log_line(m: &Value) -> Option<LogLine> {
    let key = m.get("key").and_then(Value::as_str)?.to_string();
    let message = m.get("message").and_then(Value::as_str).unwrap_or_default();
    let severity = m.get("severity").and_then(Value::as_i64).unwrap_or(2);
    let ts = m.get("timestamp").and_then(Value::as_i64).unwrap_or(0);
    let at = Utc
        .timestamp_millis_opt(ts)
        .single()
        .unwrap_or_else(Utc::now);
    let message = sanitize::clean_multiline(message);
    Some(LogLine {
        key: sanitize::clean(&key),
        at,
        severity,
        kind: LogKind::classify(&message, severity),
        message,
        count: m.get("count").and_then(Value::as_u64).unwrap_or(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn uploaded_avatar_id_null_vs_missing() {
        let u: UserEnvelope = serde_json::from_value(
            json!({"user": {"id": 1, "username": "a", "uploaded_avatar_id": null}}),
        )
        .unwrap();
        assert_eq!(u.user.uploaded_avatar_id, Some(None));
        let u: UserEnvelope =
            serde_json::from_value(json!({"user": {"id": 1, "username": "a"}})).unwrap();
        assert_eq!(u.user.uploaded_avatar_id, None);
        let u: UserEnvelope = serde_json::from_value(
            json!({"user": {"id": 1, "username": "a", "uploaded_avatar_id": 7}}),
        )
        .unwrap();
        assert_eq!(u.user.uploaded_avatar_id, Some(Some(7)));
    }

    #[test]
    fn review_page_finds_users_by_type() {
        let page: ReviewPageJson = serde_json::from_value(json!({
            "reviewables": [
                {"id": 1, "type": "ReviewableUser", "status": 0, "user_id": 10, "created_at": "2026-11-20T10:00:00Z"},
                {"id": 2, "type": "ReviewableFlaggedPost", "status": 0, "target_created_by_id": 11, "created_by_id": 99},
            ],
            "users": [{"id": 10, "username": "alice"}, {"id": 11, "username": "bob"}, {"id": 99, "username": "flagger"}],
            "meta": {"total_rows_reviewables": 12, "load_more_reviewables": "/review.json?offset=10"}
        }))
        .unwrap();
        let page = page.into_page(0);
        assert_eq!(page.flags[0].username.as_deref(), Some("alice"));
        assert_eq!(page.flags[1].username.as_deref(), Some("bob"));
        assert_eq!(page.next_offset, Some(2));
        assert_eq!(page.total, Some(12));
    }

    #[test]
    fn log_lines_are_sanitized_and_grouped() {
        let page: LogPageJson = serde_json::from_value(json!({"messages": [
            {"key": "a1", "message": "Verbose SSO log: Started\n\u{1b}[31mevil", "severity": 2, "timestamp": 1_700_000_000_000i64, "count": 1},
            {"group": true, "count": 5, "severity": -1, "messages": [
                {"key": "b2", "message": "Job exception: boom", "severity": 3, "timestamp": 1_700_000_001_000i64}
            ]}
        ]}))
        .unwrap();
        let lines = page.into_lines();
        assert_eq!(lines[0].kind, LogKind::Sso);
        assert_eq!(lines[0].message, "Verbose SSO log: Started\nevil");
        assert_eq!(lines[1].kind, LogKind::Err);
        assert_eq!(lines[1].count, 5);
    }
}
