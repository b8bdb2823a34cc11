//! The sandbox's in-memory forum and main app: users, groups, uploads, reviewables, app flags,
//! site settings, logs, and what clients did (requests, violations).

use super::logster::LogStore;
use super::ratelimit::Limiter;
use super::{Faults, Scenario};
use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

pub const SYSTEM_ID: i64 = -1;

/// `UrlHelper.encode_component`: what Discourse escapes in a username inside a URL.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub fn encode_component(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

#[derive(Debug, Clone)]
pub struct SsoRec {
    pub external_id: String,
    pub external_username: Option<String>,
    pub external_email: Option<String>,
    pub external_name: Option<String>,
    pub external_avatar_url: Option<String>,
    pub external_profile_background_url: Option<String>,
    pub external_card_background_url: Option<String>,
    pub last_payload: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub name: String,
    pub email: String,
    pub active: bool,
    pub admin: bool,
    pub moderator: bool,
    pub trust_level: u8,
    pub title: Option<String>,
    pub website: Option<String>,
    pub location: Option<String>,
    pub bio: Option<String>,
    /// Ids of the manual (non-automatic) groups.
    pub manual_groups: Vec<u64>,
    pub uploaded_avatar_id: Option<u64>,
    pub custom_upload_id: Option<u64>,
    /// `user_avatar.gravatar_upload_id` (set by `pick_avatar type=gravatar`).
    pub gravatar_upload_id: Option<u64>,
    pub sso: Option<SsoRec>,
    pub ip_address: Option<String>,
    pub registration_ip_address: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub custom_fields: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: u64,
    pub name: String,
    pub automatic: bool,
    pub full_name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Upload {
    pub id: u64,
    pub sha: String,
    /// Bytes of uploads made by the download job; seeded uploads are drawn on demand.
    pub bytes: Option<Arc<Vec<u8>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewKind {
    User,
    FlaggedPost,
}

impl ReviewKind {
    pub fn type_name(self) -> &'static str {
        match self {
            ReviewKind::User => "ReviewableUser",
            ReviewKind::FlaggedPost => "ReviewableFlaggedPost",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Reviewable {
    pub id: u64,
    pub kind: ReviewKind,
    /// 0 pending, 1 approved, 2 rejected, 3 ignored, 4 deleted (`Reviewable.statuses`).
    pub status: u8,
    pub target_user: i64,
    pub created_by: i64,
    pub post_id: u64,
    pub topic_id: u64,
    pub created_at: DateTime<Utc>,
    pub score: f64,
    pub reason: String,
}

/// The main app's id for a user: it sends some as JSON numbers, some as strings.
#[derive(Debug, Clone, PartialEq)]
pub enum AppId {
    Str(String),
    Num(u64),
}

#[derive(Debug, Clone)]
pub struct AppFlag {
    pub external_id: Option<AppId>,
    pub username: String,
    pub email: Option<String>,
    pub reason: String,
    pub flagged_at: DateTime<Utc>,
    pub photo_url: Option<String>,
    pub resolved: bool,
}

#[derive(Debug, Clone)]
pub struct Setting {
    pub name: &'static str,
    pub value: String,
    pub default: &'static str,
    pub kind: &'static str,
    pub category: &'static str,
    pub description: &'static str,
    pub secret: bool,
}

/// One HTTP request the sandbox received (credentials redacted).
#[derive(Debug, Clone, Serialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    #[serde(skip)]
    pub at: Instant,
    pub wall: DateTime<Utc>,
    pub status: u16,
    /// Header names lower-case; `api-key`, `authorization` and `cookie` values are redacted.
    pub headers: Vec<(String, String)>,
    /// The request body (first 8 KiB), which for sync_sso holds `sso`/`sig` (no secret).
    pub body: String,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A rule a client broke.
#[derive(Debug, Clone, Serialize)]
pub struct Violation {
    /// A stable short code: `credentials_in_query`, `retry_after_ignored`, `sync_changes_field`,
    /// `sync_forbidden_field`, `groups_dropped`, `user_activated`, `email_changed`,
    /// `email_omitted`, `repeated_key`, `plus_in_payload`, `inexact_boolean`, `custom_field`,
    /// `sync_created_user`, `sync_relinked_user`, `secret_to_wrong_host`, `credentials_in_body`,
    /// `welcome_message_sent`.
    pub rule: String,
    pub message: String,
    pub method: String,
    pub path: String,
    pub wall: DateTime<Utc>,
}

/// A group membership as Discourse reports it (in a [`SandboxUser`] snapshot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupRef {
    pub id: u64,
    pub name: String,
    pub automatic: bool,
}

/// A user's `single_sign_on_record`, as the snapshot shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SsoRecord {
    pub external_id: String,
    pub external_username: Option<String>,
    pub external_email: Option<String>,
    pub external_name: Option<String>,
    pub external_avatar_url: Option<String>,
    pub last_payload: Option<String>,
}

/// A snapshot of one user, for assertions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SandboxUser {
    pub id: i64,
    pub username: String,
    pub name: String,
    pub email: String,
    pub active: bool,
    pub admin: bool,
    pub moderator: bool,
    /// Manual and automatic groups.
    pub groups: Vec<GroupRef>,
    pub uploaded_avatar_id: Option<u64>,
    pub custom_upload_id: Option<u64>,
    pub gravatar_upload_id: Option<u64>,
    pub avatar_template: String,
    pub sso: Option<SsoRecord>,
    pub title: Option<String>,
    pub website: Option<String>,
    pub location: Option<String>,
    pub bio: Option<String>,
    pub ip_address: Option<String>,
}

impl SandboxUser {
    pub fn manual_groups(&self) -> Vec<String> {
        self.groups
            .iter()
            .filter(|g| !g.automatic)
            .map(|g| g.name.clone())
            .collect()
    }
}

pub struct State {
    pub scenario: Scenario,
    pub host: String,
    pub base_url: String,
    pub api_key: String,
    pub main_app_token: String,
    pub users: Vec<User>,
    pub by_id: HashMap<i64, usize>,
    pub by_username: HashMap<String, usize>,
    pub by_external: HashMap<String, usize>,
    pub by_email: HashMap<String, usize>,
    pub groups: Vec<Group>,
    pub uploads: HashMap<u64, Upload>,
    pub uploads_by_sha: HashMap<String, u64>,
    pub next_upload_id: u64,
    pub next_user_id: i64,
    pub reviewables: Vec<Reviewable>,
    pub app_flags: Vec<AppFlag>,
    pub resolved: Vec<Value>,
    pub settings: Vec<Setting>,
    pub logs: LogStore,
    pub requests: Vec<RecordedRequest>,
    pub violations: Vec<Violation>,
    pub limiter: Limiter,
    /// When a client may send again after the last 429 we gave it.
    pub retry_not_before: Option<Instant>,
    pub fault_counter: u64,
    pub login_counter: u64,
    pub default_avatar_png: Arc<Vec<u8>>,
    /// Downloads the job dropped without a log line (url, why): for debugging tests.
    pub silent_download_failures: Vec<(String, String)>,
    /// Review item versions, staff actions and performs (`review.rs`).
    pub review: super::review::ReviewBook,
    /// Users whose avatar download job raises (a job exception in /logs): the demo's
    /// "unverified with a logged cause".
    pub failing_download_users: std::collections::HashSet<i64>,
    /// Review items a second moderator changes just as the first acts on them, once each:
    /// the next perform on one meets a new version (409).
    pub restless_reviews: std::collections::HashSet<u64>,
}

const MAX_RECORDED: usize = 50_000;

impl State {
    pub fn faults(&self) -> &Faults {
        &self.scenario.faults
    }

    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.value.as_str())
    }

    pub fn setting_on(&self, name: &str) -> bool {
        self.setting(name) == Some("true")
    }

    pub fn sso_secret(&self) -> String {
        self.setting("discourse_connect_secret")
            .unwrap_or_default()
            .to_string()
    }

    pub fn user_idx_by_username(&self, username: &str) -> Option<usize> {
        self.by_username.get(&username.to_lowercase()).copied()
    }

    pub fn user_by_id(&self, id: i64) -> Option<&User> {
        self.by_id.get(&id).map(|&i| &self.users[i])
    }

    pub fn reindex(
        &mut self,
        idx: usize,
        old_username: Option<&str>,
        old_external: Option<&str>,
        old_email: Option<&str>,
    ) {
        if let Some(u) = old_username {
            self.by_username.remove(&u.to_lowercase());
        }
        if let Some(e) = old_external {
            self.by_external.remove(e);
        }
        if let Some(e) = old_email {
            self.by_email.remove(&e.to_lowercase());
        }
        let u = &self.users[idx];
        self.by_id.insert(u.id, idx);
        self.by_username.insert(u.username.to_lowercase(), idx);
        if let Some(s) = &u.sso {
            self.by_external.insert(s.external_id.clone(), idx);
        }
        if !u.email.is_empty() {
            self.by_email.insert(u.email.to_lowercase(), idx);
        }
    }

    pub fn upload_exists(&self, id: u64) -> bool {
        self.uploads.contains_key(&id)
    }

    /// `User#avatar_template` (`app/models/user.rb`): the upload form when `uploaded_avatar_id`
    /// is set, else `external_system_avatars_url` with `{first_letter}`/`{color}` filled in.
    pub fn avatar_template(&self, u: &User) -> String {
        match u.uploaded_avatar_id {
            Some(id) => upload_template(&self.host, &u.username, id),
            None => self.system_avatar_template(&u.username),
        }
    }

    pub fn system_avatar_template(&self, username: &str) -> String {
        let lower = username.to_lowercase();
        let first: String = lower.chars().next().map(String::from).unwrap_or_default();
        let url = self
            .setting("external_system_avatars_url")
            .unwrap_or("/letter_avatar_proxy/v4/letter/{first_letter}/{color}/{size}.png")
            .to_string();
        url.replace("{first_letter}", &encode_component(&first))
            .replace("{color}", letter_color(username))
            .replace("{username}", &encode_component(&lower))
            .replace("{hostname}", &self.host)
    }

    pub fn groups_of(&self, u: &User) -> Vec<&Group> {
        // Automatic groups (`Group::AUTO_GROUPS`): admins 1, moderators 2, staff 3,
        // trust_level_0..4 = 10..14; an inactive user has not been given them yet.
        let mut ids: Vec<u64> = Vec::new();
        if u.admin {
            ids.push(1);
        }
        if u.moderator {
            ids.push(2);
        }
        if u.admin || u.moderator {
            ids.push(3);
        }
        if u.active {
            ids.extend((0..=u.trust_level as u64).map(|t| 10 + t));
        }
        ids.extend(u.manual_groups.iter().copied());
        ids.sort_unstable();
        ids.dedup();
        ids.iter()
            .filter_map(|id| self.groups.iter().find(|g| g.id == *id))
            .collect()
    }

    /// `LOWER(name) = ?`: case-insensitive and untrimmed, as `DiscourseConnect#synchronize_groups`
    /// queries (`app/models/discourse_connect.rb`): ` b` is no group.
    pub fn group_by_name(&self, name: &str) -> Option<&Group> {
        self.groups
            .iter()
            .find(|g| g.name.to_lowercase() == name.to_lowercase())
    }

    pub fn snapshot(&self, u: &User) -> SandboxUser {
        SandboxUser {
            id: u.id,
            username: u.username.clone(),
            name: u.name.clone(),
            email: u.email.clone(),
            active: u.active,
            admin: u.admin,
            moderator: u.moderator,
            groups: self
                .groups_of(u)
                .into_iter()
                .map(|g| GroupRef {
                    id: g.id,
                    name: g.name.clone(),
                    automatic: g.automatic,
                })
                .collect(),
            uploaded_avatar_id: u.uploaded_avatar_id,
            custom_upload_id: u.custom_upload_id,
            gravatar_upload_id: u.gravatar_upload_id,
            avatar_template: self.avatar_template(u),
            sso: u.sso.as_ref().map(|s| SsoRecord {
                external_id: s.external_id.clone(),
                external_username: s.external_username.clone(),
                external_email: s.external_email.clone(),
                external_name: s.external_name.clone(),
                external_avatar_url: s.external_avatar_url.clone(),
                last_payload: Some(s.last_payload.clone()),
            }),
            title: u.title.clone(),
            website: u.website.clone(),
            location: u.location.clone(),
            bio: u.bio.clone(),
            ip_address: u.ip_address.clone(),
        }
    }

    pub fn record(&mut self, r: RecordedRequest) -> usize {
        if self.requests.len() >= MAX_RECORDED {
            self.requests.drain(..MAX_RECORDED / 10);
        }
        self.requests.push(r);
        self.requests.len() - 1
    }

    pub fn violate(&mut self, rule: &str, message: impl Into<String>, method: &str, path: &str) {
        if self.violations.len() >= MAX_RECORDED {
            self.violations.drain(..MAX_RECORDED / 10);
        }
        self.violations.push(Violation {
            rule: rule.to_string(),
            message: message.into(),
            method: method.to_string(),
            path: path.to_string(),
            wall: Utc::now(),
        });
    }

    pub fn log(&mut self, severity: i64, message: &str) {
        let env = json!({"hostname": "sandbox", "process_id": std::process::id(), "application_version": "sandbox"});
        self.logs.add(severity, message, env);
    }

    /// The JSON of a user as `BasicUserSerializer` gives it (side-loaded users of `/review.json`).
    pub fn basic_user_json(&self, u: &User) -> Value {
        json!({
            "id": u.id,
            "username": u.username,
            "name": u.name,
            "avatar_template": self.avatar_template(u),
        })
    }

    pub fn group_json(&self, g: &Group) -> Value {
        // `BasicGroupSerializer`
        json!({
            "id": g.id,
            "automatic": g.automatic,
            "name": g.name,
            "display_name": g.full_name.clone().unwrap_or_else(|| g.name.clone()),
            "user_count": 0,
            "mentionable_level": 0,
            "messageable_level": 0,
            "visibility_level": 0,
            "primary_group": false,
            "title": null,
            "grant_trust_level": null,
            "flair_url": null,
            "flair_bg_color": null,
            "flair_color": null,
            "bio_cooked": null,
            "public_admission": false,
            "public_exit": false,
            "allow_membership_requests": false,
            "full_name": g.full_name,
            "default_notification_level": 3,
        })
    }

    /// `UserSerializer` (root `"user"`) as staff sees it (`app/serializers/user_serializer.rb`):
    /// `uploaded_avatar_id` always; `custom_avatar_upload_id`/`custom_avatar_template` only
    /// when a custom upload exists; no `email` (only for oneself or staged users).
    pub fn user_json(&self, u: &User, viewer: Option<&User>) -> Value {
        let can_edit = viewer.is_some_and(|v| v.id == u.id || v.admin || v.moderator);
        let mut j = json!({
            "id": u.id,
            "username": u.username,
            "name": u.name,
            "avatar_template": self.avatar_template(u),
            "last_posted_at": null,
            "last_seen_at": u.last_seen_at,
            "created_at": u.created_at,
            "ignored": false,
            "muted": false,
            "can_ignore_user": false,
            "can_mute_user": false,
            "can_send_private_messages": true,
            "can_send_private_message_to_user": true,
            "trust_level": u.trust_level,
            "moderator": u.moderator,
            "admin": u.admin,
            "title": u.title,
            "badge_count": 0,
            "uploaded_avatar_id": u.uploaded_avatar_id,
            "can_edit": can_edit,
            "can_edit_username": can_edit,
            "can_edit_email": can_edit,
            "can_edit_name": can_edit,
            "custom_fields": {},
            "time_read": 0,
            "recent_time_read": 0,
            "primary_group_name": null,
            "featured_topic": null,
            "timezone": "UTC",
        });
        if let Some(w) = &u.website {
            j["website"] = json!(w);
            j["website_name"] = json!(
                w.split("://")
                    .nth(1)
                    .unwrap_or(w)
                    .trim_start_matches("www.")
            );
        }
        if let Some(l) = &u.location {
            j["location"] = json!(l);
        }
        if let Some(b) = &u.bio {
            j["bio_raw"] = json!(b);
            j["bio_cooked"] = json!(format!("<p>{}</p>", html_escape(b)));
        }
        if viewer.is_some_and(|v| v.admin || v.moderator) {
            j["staged"] = json!(false);
            j["second_factor_enabled"] = json!(false);
            j["post_count"] = json!(3);
            j["can_be_deleted"] = json!(false);
        }
        if can_edit {
            j["system_avatar_upload_id"] = Value::Null;
            j["system_avatar_template"] = json!(self.system_avatar_template(&u.username));
            j["locale"] = Value::Null;
            if let Some(g) = u.gravatar_upload_id {
                j["gravatar_avatar_upload_id"] = json!(g);
                j["gravatar_avatar_template"] = json!(upload_template(&self.host, &u.username, g));
            }
            if let Some(c) = u.custom_upload_id {
                j["custom_avatar_upload_id"] = json!(c);
                j["custom_avatar_template"] = json!(upload_template(&self.host, &u.username, c));
            }
            j["can_change_bio"] = json!(
                !(self.setting_on("enable_discourse_connect")
                    && self.setting_on("discourse_connect_overrides_bio"))
            );
        }
        let groups: Vec<Value> = self
            .groups_of(u)
            .into_iter()
            .filter(|g| !g.automatic || g.id >= 10)
            .map(|g| self.group_json(g))
            .collect();
        j["groups"] = json!(groups);
        j
    }

    /// `AdminUserListSerializer` (`app/serializers/admin_user_list_serializer.rb`): `email` only
    /// when `emails_desired` (`show_emails=true`), for oneself, or for staged users — unless the
    /// scenario plays an older server that always sent it.
    pub fn admin_list_json(&self, u: &User, viewer: &User, emails_desired: bool) -> Value {
        let mut j = json!({
            "id": u.id,
            "username": u.username,
            "name": u.name,
            "avatar_template": self.avatar_template(u),
            "active": u.active,
            "admin": u.admin,
            "moderator": u.moderator,
            "last_seen_at": u.last_seen_at,
            "last_emailed_at": null,
            "created_at": u.created_at,
            "last_seen_age": null,
            "last_emailed_age": null,
            "created_at_age": (Utc::now() - u.created_at).num_seconds() as f64,
            "trust_level": u.trust_level,
            "manual_locked_trust_level": null,
            "flag_level": 0,
            "title": u.title,
            "time_read": 0,
            "staged": false,
            "days_visited": 1,
            "posts_read_count": 0,
            "topics_entered": 0,
            "post_count": 3,
        });
        if emails_desired || viewer.id == u.id || !self.scenario.hide_admin_emails {
            j["email"] = json!(u.email);
            j["secondary_emails"] = json!([]);
        }
        j
    }

    /// `AdminDetailedUserSerializer` (root: false), with `AdminUserSerializer`'s
    /// `single_sign_on_record` (`SingleSignOnRecordSerializer`) and `groups`.
    pub fn admin_detail_json(&self, u: &User, viewer: &User) -> Value {
        let mut j = self.admin_list_json(u, viewer, false);
        let extra = json!({
            "can_send_activation_email": !u.active,
            "can_activate": !u.active,
            "can_deactivate": u.active,
            "ip_address": u.ip_address,
            "registration_ip_address": u.registration_ip_address,
            "can_grant_admin": !u.admin,
            "can_revoke_admin": u.admin && u.id != viewer.id,
            "can_grant_moderation": !u.moderator,
            "can_revoke_moderation": u.moderator,
            "can_impersonate": false,
            "like_count": 0,
            "like_given_count": 0,
            "topic_count": 1,
            "flags_given_count": 0,
            "flags_received_count": 1,
            "private_topics_count": 0,
            "can_delete_all_posts": false,
            "can_be_deleted": false,
            "can_be_anonymized": true,
            "can_be_merged": true,
            "full_suspend_reason": null,
            "silence_reason": null,
            "primary_group_id": null,
            "badge_count": 0,
            "warnings_received_count": 0,
            "bounce_score": 0,
            "reset_bounce_score_after": null,
            "can_view_action_logs": true,
            "can_disable_second_factor": false,
            "can_delete_sso_record": u.sso.is_some(),
            "api_key_count": 0,
            "external_ids": {},
            "approved_by": null,
            "suspended_by": null,
            "silenced_by": null,
            "penalty_counts": {"silenced": 0, "suspended": 0},
        });
        if let (Value::Object(a), Value::Object(b)) = (&mut j, extra) {
            a.extend(b);
        }
        // Conditional in Discourse: `associated_accounts` only when the user has some
        // (`AdminUserSerializer`; the sandbox models none), `user_fields` only when present and
        // `similar_users_count` only with similar users (`AdminDetailedUserSerializer`), and
        // `tl3_requirements` only from trust level 2 (`include_tl3_requirements?`:
        // `object.has_trust_level?(TrustLevel[2])`, app/serializers/admin_detailed_user_serializer.rb).
        if u.trust_level >= 2 {
            j["tl3_requirements"] = tl3_requirements_json(u);
        }
        j["single_sign_on_record"] = match &u.sso {
            Some(s) => json!({
                "user_id": u.id,
                "external_id": s.external_id,
                "last_payload": s.last_payload,
                "created_at": s.created_at,
                "updated_at": s.updated_at,
                "external_username": s.external_username,
                "external_email": s.external_email,
                "external_name": s.external_name,
                "external_avatar_url": s.external_avatar_url,
                "external_profile_background_url": s.external_profile_background_url,
                "external_card_background_url": s.external_card_background_url,
            }),
            None => Value::Null,
        };
        let groups: Vec<Value> = self
            .groups_of(u)
            .into_iter()
            .map(|g| self.group_json(g))
            .collect();
        j["groups"] = json!(groups);
        j
    }
}

/// `TrustLevel3RequirementsSerializer`: the 100-day window and its thresholds (the
/// `tl3_*` site-setting defaults); the sandbox's counts are fixed small numbers.
fn tl3_requirements_json(u: &User) -> Value {
    json!({
        "time_period": 100,
        "requirements_met": false,
        "requirements_lost": u.trust_level >= 3,
        "trust_level_locked": false,
        "on_grace_period": false,
        "days_visited": 1,
        "min_days_visited": 50,
        "num_topics_replied_to": 0,
        "min_topics_replied_to": 10,
        "topics_viewed": 1,
        "min_topics_viewed": 25,
        "posts_read": 3,
        "min_posts_read": 25,
        "topics_viewed_all_time": 1,
        "min_topics_viewed_all_time": 200,
        "posts_read_all_time": 3,
        "min_posts_read_all_time": 500,
        "num_flagged_posts": 0,
        "max_flagged_posts": 5,
        "num_flagged_by_users": 0,
        "max_flagged_by_users": 5,
        "num_likes_given": 0,
        "min_likes_given": 30,
        "num_likes_received": 0,
        "min_likes_received": 20,
        "num_likes_received_days": 0,
        "min_likes_received_days": 7,
        "num_likes_received_users": 0,
        "min_likes_received_users": 5,
        "penalty_counts": {"silenced": 0, "suspended": 0, "total": 0},
    })
}

pub fn upload_template(host: &str, username: &str, upload_id: u64) -> String {
    // `UserAvatar.local_avatar_template`: `/user_avatar/<host>/<username_lower>/{size}/<id>_2.png`
    format!(
        "/user_avatar/{host}/{}/{{size}}/{upload_id}_2.png",
        encode_component(&username.to_lowercase())
    )
}

/// `LetterAvatar` picks a colour from its palette by a digest of the username.
pub fn letter_color(username: &str) -> &'static str {
    const COLORS: [&str; 12] = [
        "e47774", "bc8f8f", "7ba3d5", "9e7ae0", "f0a30a", "41c07a", "d0a24c", "3ab09e", "b3b5b4",
        "dba1b3", "6c9ddc", "c56aa6",
    ];
    let h = username
        .to_lowercase()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        });
    COLORS[(h % COLORS.len() as u64) as usize]
}

pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
