//! `POST /admin/users/sync_sso` applied to the sandbox's users, with the field semantics of
//! `app/models/discourse_connect.rb` (`lookup_or_create_user`, `change_external_attributes_and_override`,
//! `apply_group_rules`), and the client-rule checks (violations) of the sandbox.

use super::sso::{self, Field, ParseError, Payload};
use super::state::*;
use chrono::Utc;
use serde_json::{Value, json};

/// A queued `Jobs::DownloadAvatarFromUrl` (`app/jobs/regular/download_avatar_from_url.rb`).
#[derive(Debug, Clone)]
pub struct DownloadJob {
    pub url: String,
    pub user_id: i64,
    pub override_gravatar: bool,
}

pub struct SyncResult {
    pub status: u16,
    /// `None` = empty body.
    pub body: Option<Value>,
    pub job: Option<DownloadJob>,
}

fn err(status: u16, body: Value) -> SyncResult {
    SyncResult {
        status,
        body: Some(body),
        job: None,
    }
}

fn login_error() -> SyncResult {
    // `discourse_connect.login_error` (config/locales/server.en.yml)
    err(422, json!({"failed": "FAILED", "message": "Login Error"}))
}

fn server_error() -> SyncResult {
    err(
        500,
        json!({"errors": ["Oops! That page doesn't exist or is private."], "error_type": "unknown"}),
    )
}

const FORBIDDEN: &[&str] = &[
    "title",
    "website",
    "location",
    "bio",
    "admin",
    "moderator",
    "add_groups",
    "remove_groups",
    "username",
    "name",
];

/// `app/controllers/admin/users_controller.rb#sync_sso`.
pub fn sync_sso(
    st: &mut State,
    sso_param: Option<&str>,
    sig_param: Option<&str>,
    viewer_id: i64,
    method: &str,
    path: &str,
) -> SyncResult {
    // `unless SiteSetting.enable_discourse_connect; render body: nil, status: 404`
    if !st.setting_on("enable_discourse_connect") {
        return SyncResult {
            status: 404,
            body: None,
            job: None,
        };
    }
    let sso_raw = sso_param.unwrap_or("");
    let sig_raw = sig_param.unwrap_or("");
    if sso_raw.contains('+') {
        st.violate("plus_in_payload", "the sso Base64 holds a '+', which servers before discourse/discourse#42024 turn into a space", method, path);
    }
    let secret = st.sso_secret();
    let parsed = if st.scenario.plus_bug {
        // The joined string is decoded again by `Rack::Utils.parse_query`: '+' becomes ' '.
        sso::parse(&format!("sso={sso_raw}&sig={sig_raw}"), &secret)
    } else {
        sso::parse_fields(sso_raw, sig_param, &secret)
    };
    let payload = match parsed {
        Ok(p) => p,
        Err(ParseError::BadEscape(e)) => {
            st.log(3, &format!("ArgumentError (invalid %-encoding): {e}\napp/controllers/admin/users_controller.rb:in `sync_sso'"));
            return server_error();
        }
        Err(_) => return login_error(),
    };
    check_payload_rules(st, &payload, method, path);

    // Any accessor sent twice reaches Ruby as an Array; the string methods the model calls on
    // it (`split`, `downcase`, `present?` on blank checks) raise NoMethodError: a 500.
    let list_field = payload
        .fields
        .iter()
        .find(|(_, v)| matches!(v, Field::List(_)))
        .map(|(k, _)| *k);
    if let Some(k) = list_field {
        st.log(3, &format!("NoMethodError (undefined method for an instance of Array): repeated `{k}` in the DiscourseConnect payload"));
        return server_error();
    }

    // `DiscourseConnect#lookup_or_create_user`: blank → BlankExternalId (422), banned → 500.
    let external_id = payload.str("external_id").unwrap_or("").to_string();
    if external_id.trim().is_empty() {
        // `discourse_connect.blank_id_error` (English text not re-read: approximated).
        return err(
            422,
            json!({"failed": "FAILED", "message": "Account lookup failed: missing external id"}),
        );
    }
    if ["none", "nil", "blank", "null"].contains(&external_id.to_lowercase().as_str()) {
        st.log(
            3,
            &format!("DiscourseConnect::BannedExternalId: {external_id}"),
        );
        return server_error();
    }

    let now = Utc::now();
    let require_activation = payload.bool("require_activation") == Some(true);
    let mut job = None;
    let idx = match st.by_external.get(&external_id).copied() {
        Some(i) => i,
        None => {
            // `match_email_or_create_user`
            let email = payload.present("email").map(str::to_lowercase);
            let found = if require_activation {
                None
            } else {
                email.as_ref().and_then(|e| st.by_email.get(e).copied())
            };
            let idx = match found {
                Some(i) => {
                    let old_ext = st.users[i].sso.as_ref().map(|s| s.external_id.clone());
                    st.violate(
                        "sync_relinked_user",
                        format!("sync_sso with unknown external_id {external_id:?} attached the SSO record to existing user {} by email (was {old_ext:?})", st.users[i].username),
                        method,
                        path,
                    );
                    let rec = SsoRec {
                        external_id: external_id.clone(),
                        external_username: None,
                        external_email: None,
                        external_name: None,
                        external_avatar_url: None,
                        external_profile_background_url: None,
                        external_card_background_url: None,
                        last_payload: String::new(),
                        created_at: now,
                        updated_at: now,
                    };
                    st.users[i].sso = Some(rec);
                    st.reindex(i, None, old_ext.as_deref(), None);
                    i
                }
                None => {
                    let Some(email) = email else {
                        return err(
                            403,
                            json!({"failed": "FAILED", "message": "Validation failed: Primary email can't be blank"}),
                        );
                    };
                    if st.by_email.contains_key(&email) {
                        return err(
                            403,
                            json!({"failed": "FAILED", "message": "Validation failed: Primary email has already been taken"}),
                        );
                    }
                    let mut username = payload
                        .present("username")
                        .map(str::to_string)
                        .unwrap_or_else(|| email.split('@').next().unwrap_or("user").to_string());
                    while st.by_username.contains_key(&username.to_lowercase()) {
                        username.push('1');
                    }
                    let id = st.next_user_id;
                    st.next_user_id += 1;
                    st.users.push(User {
                        id,
                        username: username.clone(),
                        name: payload.str("name").unwrap_or("").to_string(),
                        email: email.clone(),
                        active: !require_activation,
                        admin: false,
                        moderator: false,
                        trust_level: 0,
                        title: None,
                        website: None,
                        location: None,
                        bio: None,
                        manual_groups: Vec::new(),
                        uploaded_avatar_id: None,
                        custom_upload_id: None,
                        sso: Some(SsoRec {
                            external_id: external_id.clone(),
                            external_username: None,
                            external_email: None,
                            external_name: None,
                            external_avatar_url: None,
                            external_profile_background_url: None,
                            external_card_background_url: None,
                            last_payload: String::new(),
                            created_at: now,
                            updated_at: now,
                        }),
                        ip_address: None,
                        registration_ip_address: None,
                        created_at: now,
                        last_seen_at: None,
                        custom_fields: Vec::new(),
                    });
                    let i = st.users.len() - 1;
                    st.reindex(i, None, None, None);
                    st.violate("sync_created_user", format!("sync_sso with unknown external_id {external_id:?} created a new user {username}"), method, path);
                    i
                }
            };
            // A new record: the download is queued whenever `avatar_url.present?`.
            if let Some(url) = payload.present("avatar_url") {
                job = Some(DownloadJob {
                    url: url.to_string(),
                    user_id: st.users[idx].id,
                    override_gravatar: st.setting_on("discourse_connect_overrides_avatar"),
                });
            }
            idx
        }
    };

    let before = st.snapshot(&st.users[idx]);
    check_user_rules(st, &payload, idx, method, path);
    if let Some(j) = apply(st, &payload, idx, require_activation) {
        job = job.or(Some(j));
    }
    let after = st.snapshot(&st.users[idx]);
    for (field, changed) in [
        ("username", before.username != after.username),
        ("name", before.name != after.name),
        ("title", before.title != after.title),
        ("website", before.website != after.website),
        ("location", before.location != after.location),
        ("bio", before.bio != after.bio),
        ("admin", before.admin != after.admin),
        ("moderator", before.moderator != after.moderator),
        ("active", before.active != after.active),
    ] {
        if changed {
            st.violate(
                "sync_changes_field",
                format!("sync_sso changed {field} of {}", before.username),
                method,
                path,
            );
        }
    }
    let viewer = st
        .user_by_id(viewer_id)
        .cloned()
        .unwrap_or_else(|| st.users[0].clone());
    let body = st.admin_detail_json(&st.users[idx], &viewer);
    SyncResult {
        status: 200,
        body: Some(body),
        job,
    }
}

/// Rules about the payload itself, whoever it is for.
fn check_payload_rules(st: &mut State, p: &Payload, method: &str, path: &str) {
    for k in p.raw.repeated_keys() {
        st.violate(
            "repeated_key",
            format!("payload key {k:?} sent more than once (Rack turns it into an Array)"),
            method,
            path,
        );
    }
    for k in FORBIDDEN {
        if p.raw.get(k).is_some() {
            st.violate(
                "sync_forbidden_field",
                format!("payload sends {k:?}, which an avatar reset must never send"),
                method,
                path,
            );
        }
    }
    for k in sso::BOOLS {
        if let Some(v) = p.raw.get(k)
            && !matches!(v.as_str(), Some("true") | Some("false"))
        {
            st.violate("inexact_boolean", format!("payload sends {k}={v:?}; only the exact strings true/false count, anything else is ignored"), method, path);
        }
    }
    if !p.custom.is_empty() {
        st.violate(
            "custom_field",
            format!(
                "payload writes custom fields {:?}",
                p.custom.keys().collect::<Vec<_>>()
            ),
            method,
            path,
        );
    }
}

/// Rules that depend on the user the payload is applied to.
fn check_user_rules(st: &mut State, p: &Payload, idx: usize, method: &str, path: &str) {
    let u = st.users[idx].clone();
    match p.str("email") {
        // Without auth_overrides_email the email is never read from the payload
        // (`change_external_attributes_and_override`), so leaving it out is safe on every version.
        None if st.setting_on("auth_overrides_email") => st.violate("email_omitted", format!("payload for {} omits email; older servers with auth_overrides_email set it to nil (403)", u.username), method, path),
        None => {}
        Some(e) if !e.eq_ignore_ascii_case(&u.email) => {
            st.violate("email_changed", format!("payload for {} sends email {e:?}, not the current one", u.username), method, path)
        }
        _ => {}
    }
    if !u.active && p.bool("require_activation") != Some(true) {
        st.violate(
            "user_activated",
            format!(
                "payload for inactive {} lacks require_activation=true: the user is activated",
                u.username
            ),
            method,
            path,
        );
    }
    if st.setting_on("discourse_connect_overrides_groups") {
        let current: Vec<String> = u
            .manual_groups
            .iter()
            .filter_map(|id| st.groups.iter().find(|g| g.id == *id))
            .map(|g| g.name.to_lowercase())
            .collect();
        let sent: Vec<String> = p
            .str("groups")
            .unwrap_or("")
            .split(',')
            .map(|g| g.trim().to_lowercase())
            .filter(|g| !g.is_empty())
            .collect();
        let dropped: Vec<&String> = current.iter().filter(|g| !sent.contains(g)).collect();
        if !dropped.is_empty() {
            st.violate("groups_dropped", format!("payload for {} drops manual groups {dropped:?} (discourse_connect_overrides_groups is on)", u.username), method, path);
        }
        let added: Vec<&String> = sent.iter().filter(|g| !current.contains(g)).collect();
        if !added.is_empty() {
            st.violate(
                "sync_changes_field",
                format!("payload for {} adds groups {added:?}", u.username),
                method,
                path,
            );
        }
    }
}

/// Steps 2–12 of `lookup_or_create_user_unsafe` for a user that has a record.
fn apply(st: &mut State, p: &Payload, idx: usize, require_activation: bool) -> Option<DownloadJob> {
    let now = Utc::now();
    let overrides_avatar = st.setting_on("discourse_connect_overrides_avatar");
    let overrides_email = st.setting_on("auth_overrides_email");
    let overrides_username = st.setting_on("auth_overrides_username");
    let overrides_name = st.setting_on("auth_overrides_name");
    let overrides_bio = st.setting_on("discourse_connect_overrides_bio");
    let overrides_groups = st.setting_on("discourse_connect_overrides_groups");
    let old_username = st.users[idx].username.clone();
    let old_email = st.users[idx].email.clone();
    let uploaded = st.users[idx].uploaded_avatar_id;
    let avatar_missing = uploaded.is_none_or(|id| !st.upload_exists(id));
    let group_ids = |names: &str, st: &State| -> Vec<u64> {
        names
            .split(',')
            .filter_map(|n| st.group_by_name(n))
            .filter(|g| !g.automatic)
            .map(|g| g.id)
            .collect()
    };
    let groups_sync = overrides_groups.then(|| group_ids(p.str("groups").unwrap_or(""), st));
    let add = group_ids(p.str("add_groups").unwrap_or(""), st);
    let remove = group_ids(p.str("remove_groups").unwrap_or(""), st);

    let u = &mut st.users[idx];
    let mut job = None;
    if let Some(rec) = u.sso.as_mut() {
        rec.last_payload = p.unsigned_payload();
    }
    // change_external_attributes_and_override
    if let Some(email) = p.present("email")
        && overrides_email
        && !email.eq_ignore_ascii_case(&u.email)
    {
        u.email = email.to_lowercase();
        if require_activation {
            u.active = false;
        }
    }
    if let Some(name) = p.present("username")
        && overrides_username
        && name != u.username
    {
        u.username = name.to_string();
    }
    if let Some(name) = p.present("name")
        && overrides_name
        && name != u.name
    {
        u.name = name.to_string();
    }
    let force = p.bool("avatar_force_update") == Some(true);
    if let Some(url) = p.present("avatar_url")
        && (avatar_missing || force || overrides_avatar)
    {
        let known = u
            .sso
            .as_ref()
            .and_then(|r| r.external_avatar_url.as_deref());
        if force || known != Some(url) || avatar_missing {
            job = Some(DownloadJob {
                url: url.to_string(),
                user_id: u.id,
                override_gravatar: overrides_avatar,
            });
        }
    }
    if let Some(rec) = u.sso.as_mut() {
        // Overwritten whatever was sent: nil when omitted.
        rec.external_username = p.str("username").map(str::to_string);
        rec.external_email = p.str("email").map(str::to_string);
        rec.external_name = p.str("name").map(str::to_string);
        rec.external_avatar_url = p.str("avatar_url").map(str::to_string);
        rec.external_profile_background_url = p.str("profile_background_url").map(str::to_string);
        rec.external_card_background_url = p.str("card_background_url").map(str::to_string);
        rec.updated_at = now;
    }
    // Activation unless require_activation.
    if !u.active && !require_activation {
        u.active = true;
    }
    for (k, v) in &p.custom {
        u.custom_fields.retain(|(ck, _)| ck != k);
        u.custom_fields.push((k.clone(), v.clone()));
    }
    // `user.ip_address = ip_address`: sync_sso passes none.
    u.ip_address = None;
    if let Some(a) = p.bool("admin") {
        u.admin = a;
    }
    if let Some(m) = p.bool("moderator") {
        u.moderator = m;
    }
    if let Some(t) = p.str("title") {
        u.title = (!t.is_empty()).then(|| t.to_string());
    }
    if let Some(b) = p.str("bio")
        && (u.bio.as_deref().unwrap_or("").trim().is_empty() || overrides_bio)
    {
        u.bio = (!b.is_empty()).then(|| b.to_string());
    }
    if let Some(w) = p.str("website") {
        u.website = (!w.is_empty()).then(|| w.to_string());
    }
    if let Some(l) = p.str("location") {
        u.location = (!l.is_empty()).then(|| l.to_string());
    }
    // apply_group_rules
    match groups_sync {
        Some(ids) => u.manual_groups = ids,
        None => {
            u.manual_groups.retain(|g| !remove.contains(g));
            for g in add {
                if !u.manual_groups.contains(&g) {
                    u.manual_groups.push(g);
                }
            }
        }
    }
    u.manual_groups.sort_unstable();
    u.manual_groups.dedup();
    st.reindex(idx, Some(&old_username), None, Some(&old_email));
    job
}
