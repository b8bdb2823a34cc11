//! `POST /admin/users/sync_sso` applied to the sandbox's users, with the field semantics of
//! `app/models/discourse_connect.rb` (`lookup_or_create_user`, `change_external_attributes_and_override`,
//! `apply_group_rules`), and the client-rule checks (violations) of the sandbox.

use super::http::Param;
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

/// What the controller answers.
#[derive(Debug)]
pub enum Answer {
    Json(u16, Value),
    /// `render body: nil, status:`.
    Empty(u16),
    /// An exception nothing rescues: Rails' own 500 (`http::rails_error`).
    Crash,
}

pub struct SyncResult {
    pub answer: Answer,
    /// A queued download; it runs even when the request later crashes (Sidekiq has it).
    pub job: Option<DownloadJob>,
}

fn err(status: u16, body: Value) -> SyncResult {
    SyncResult {
        answer: Answer::Json(status, body),
        job: None,
    }
}

fn login_error() -> SyncResult {
    // `discourse_connect.login_error` (config/locales/server.en.yml)
    err(422, json!({"failed": "FAILED", "message": "Login Error"}))
}

/// An unrescued exception: logged by Rails (Logster keeps it) and answered by Rails' 500.
fn crash(st: &mut State, message: &str, job: Option<DownloadJob>) -> SyncResult {
    st.log(
        3,
        &format!("{message}\napp/controllers/admin/users_controller.rb:in 'sync_sso'"),
    );
    SyncResult {
        answer: Answer::Crash,
        job,
    }
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

/// The string `sync_sso` hands to `DiscourseConnect.parse`.
/// - Before discourse/discourse#42024: `"sso=#{params[:sso]}&sig=#{params[:sig]}"`, Ruby
///   interpolation (nil is empty, an Array its `inspect`), decoded a second time by the parser.
/// - After: `Rack::Utils.build_query(sso: params[:sso], sig: params[:sig])` (nil is a bare key,
///   an Array repeats the key), the exact inverse of the parser's `parse_query`.
pub fn rebuilt_request(sso: Param, sig: Param, plus_bug: bool) -> String {
    let interpolate = |p: &Param| match p {
        Param::Nil => String::new(),
        Param::Str(s) => s.to_string(),
        Param::Array(a) => {
            let l: Vec<Option<String>> = a.iter().cloned().map(Some).collect();
            sso::ruby_array_to_s(&l)
        }
    };
    let build = |k: &str, p: &Param| match p {
        Param::Nil => k.to_string(),
        Param::Str(s) => format!("{k}={}", sso::escape(s)),
        Param::Array(a) => a
            .iter()
            .map(|v| format!("{k}={}", sso::escape(v)))
            .collect::<Vec<_>>()
            .join("&"),
    };
    if plus_bug {
        format!("sso={}&sig={}", interpolate(&sso), interpolate(&sig))
    } else {
        format!("{}&{}", build("sso", &sso), build("sig", &sig))
    }
}

/// `app/controllers/admin/users_controller.rb#sync_sso` with `DiscourseConnect#lookup_or_create_user`
/// (`app/models/discourse_connect.rb`), step by step in the model's order.
pub fn sync_sso(
    st: &mut State,
    sso_param: Param,
    sig_param: Param,
    viewer_id: i64,
    method: &str,
    path: &str,
) -> SyncResult {
    // `unless SiteSetting.enable_discourse_connect; render body: nil, status: 404`
    if !st.setting_on("enable_discourse_connect") {
        return SyncResult {
            answer: Answer::Empty(404),
            job: None,
        };
    }
    if matches!(sso_param, Param::Str(s) if s.contains('+')) {
        st.violate("plus_in_payload", "the sso Base64 holds a '+', which servers before discourse/discourse#42024 turn into a space", method, path);
    }
    let secret = st.sso_secret();
    let request = rebuilt_request(sso_param, sig_param, st.scenario.plus_bug);
    let payload = match sso::parse(&request, &secret) {
        Ok(p) => p,
        Err(ParseError::BadEscape(e)) => {
            return crash(
                st,
                &format!("ArgumentError (invalid %-encoding): {e}"),
                None,
            );
        }
        Err(ParseError::Crash(e)) => return crash(st, &e, None),
        Err(_) => return login_error(),
    };
    check_payload_rules(st, &payload, method, path);

    // `lookup_or_create_user`: `external_id.to_s` (an Array's `inspect`) must be neither blank
    // (BlankExternalId, 422) nor banned (BannedExternalId, not rescued: 500).
    let external_id = payload.to_s("external_id").unwrap_or_default();
    if external_id.trim().is_empty() {
        // `discourse_connect.blank_id_error` (English text not re-read: approximated).
        return err(
            422,
            json!({"failed": "FAILED", "message": "Account lookup failed: missing external id"}),
        );
    }
    if ["none", "nil", "blank", "null"].contains(&external_id.to_lowercase().as_str()) {
        return crash(
            st,
            &format!("DiscourseConnect::BannedExternalId ({external_id})"),
            None,
        );
    }

    let now = Utc::now();
    let require_activation = payload.bool("require_activation") == Some(true);
    let overrides_avatar = st.setting_on("discourse_connect_overrides_avatar");
    let mut job = None;
    // `SingleSignOnRecord.find_by(external_id: external_id)`: for a repeated key the accessor is
    // an Array, which ActiveRecord turns into `IN (…)`.
    let by_record = match payload.fields.get("external_id") {
        Some(Field::List(l)) => l
            .iter()
            .flatten()
            .find_map(|e| st.by_external.get(e).copied()),
        _ => st.by_external.get(&external_id).copied(),
    };
    let idx = match by_record {
        Some(i) => {
            if let Some(rec) = st.users[i].sso.as_mut() {
                rec.last_payload = payload.unsigned_payload();
            }
            i
        }
        None => {
            // `match_email_or_create_user`
            let email = payload.to_s("email").filter(|e| !e.trim().is_empty());
            let found = if require_activation {
                None
            } else {
                email
                    .as_ref()
                    .and_then(|e| st.by_email.get(&e.to_lowercase()).copied())
            };
            let i = match found {
                Some(i) => i,
                None => match create_user(st, &payload, email, now, method, path) {
                    Ok(i) => i,
                    Err(r) => return r,
                },
            };
            let old_ext = st.users[i].sso.as_ref().map(|s| s.external_id.clone());
            if found.is_some() {
                st.violate(
                    "sync_relinked_user",
                    format!("sync_sso with unknown external_id {external_id:?} attached the SSO record to existing user {} by email (was {old_ext:?})", st.users[i].username),
                    method,
                    path,
                );
            }
            match st.users[i].sso.as_mut() {
                // The user found by email has a record: only `last_payload` and `external_id`
                // change here, and nothing is queued at this point.
                Some(rec) if found.is_some() => {
                    rec.last_payload = payload.unsigned_payload();
                    rec.external_id = external_id.clone();
                }
                _ => {
                    // No record yet: the download is queued whenever `avatar_url.present?`,
                    // then the record is created from the payload.
                    if let Some(url) = avatar_url(&payload) {
                        job = Some(DownloadJob {
                            url,
                            user_id: st.users[i].id,
                            override_gravatar: overrides_avatar,
                        });
                    }
                    st.users[i].sso = Some(SsoRec {
                        external_id: external_id.clone(),
                        external_username: payload.to_s("username"),
                        external_email: payload.to_s("email"),
                        external_name: payload.to_s("name"),
                        external_avatar_url: payload.to_s("avatar_url"),
                        external_profile_background_url: payload.to_s("profile_background_url"),
                        external_card_background_url: payload.to_s("card_background_url"),
                        last_payload: payload.unsigned_payload(),
                        created_at: now,
                        updated_at: now,
                    });
                }
            }
            st.reindex(i, None, old_ext.as_deref(), None);
            i
        }
    };

    let before = st.snapshot(&st.users[idx]);
    check_user_rules(st, &payload, idx, method, path);
    let applied = apply(st, &payload, idx, require_activation, method, path);
    let (later_job, crash_after_save) = match applied {
        Ok(r) => r,
        Err(r) => {
            return SyncResult {
                job: job.or(r.job),
                ..r
            };
        }
    };
    job = job.or(later_job);
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
    if let Some(e) = crash_after_save {
        return crash(st, &e, job);
    }
    let viewer = st
        .user_by_id(viewer_id)
        .cloned()
        .unwrap_or_else(|| st.users[0].clone());
    let body = st.admin_detail_json(&st.users[idx], &viewer);
    SyncResult {
        answer: Answer::Json(200, body),
        job,
    }
}

/// `avatar_url.present?`: a repeated key is a (present) Array, queued as its `to_s`.
fn avatar_url(p: &Payload) -> Option<String> {
    if p.is_list("avatar_url") {
        return p.to_s("avatar_url");
    }
    p.present("avatar_url").map(str::to_string)
}

/// The create branch of `match_email_or_create_user`: `User.new(…).save!`; a new user starts
/// inactive (the activation step of `lookup_or_create_user_unsafe` activates it).
fn create_user(
    st: &mut State,
    payload: &Payload,
    email: Option<String>,
    now: chrono::DateTime<Utc>,
    method: &str,
    path: &str,
) -> Result<usize, SyncResult> {
    let Some(email) = email.map(|e| e.to_lowercase()) else {
        return Err(err(
            403,
            json!({"failed": "FAILED", "message": "Validation failed: Primary email can't be blank"}),
        ));
    };
    if payload.is_list("email") {
        // `UserEmail` validates the Array's `to_s`, which is no email.
        return Err(err(
            403,
            json!({"failed": "FAILED", "message": "Validation failed: Primary email is invalid"}),
        ));
    }
    if st.by_email.contains_key(&email) {
        return Err(err(
            403,
            json!({"failed": "FAILED", "message": "Validation failed: Primary email has already been taken"}),
        ));
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
        email,
        active: false,
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
        gravatar_upload_id: None,
        sso: None,
        ip_address: None,
        registration_ip_address: None,
        created_at: now,
        last_seen_at: None,
        custom_fields: Vec::new(),
    });
    let i = st.users.len() - 1;
    st.reindex(i, None, None, None);
    let ext = payload.to_s("external_id").unwrap_or_default();
    st.violate(
        "sync_created_user",
        format!("sync_sso with unknown external_id {ext:?} created a new user {username}"),
        method,
        path,
    );
    Ok(i)
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
        // Untrimmed, as `synchronize_groups` splits them: `a, b` asks for `a` and ` b`.
        let sent: Vec<String> = p
            .str("groups")
            .unwrap_or("")
            .split(',')
            .map(|g| g.to_lowercase())
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

type Applied = Result<(Option<DownloadJob>, Option<String>), SyncResult>;

/// The rest of `lookup_or_create_user_unsafe` once the user and record are known:
/// `change_external_attributes_and_override`, activation, the saves, then `apply_group_rules`.
/// Ok carries the queued download and, when `apply_group_rules` raised after everything was
/// saved, the exception (a 500 whose changes stay).
fn apply(
    st: &mut State,
    p: &Payload,
    idx: usize,
    require_activation: bool,
    method: &str,
    path: &str,
) -> Applied {
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
    // `Group.where("LOWER(name) in (?) AND NOT automatic", names)`: names as split, untrimmed.
    let group_ids = |names: &str, st: &State| -> Vec<u64> {
        names
            .split(',')
            .filter_map(|n| st.group_by_name(n))
            .filter(|g| !g.automatic)
            .map(|g| g.id)
            .collect()
    };
    // `apply_group_rules` runs after `sso_record.save!`; an Array where it calls `split` raises
    // NoMethodError then, with the user and record already saved.
    let group_crash = if overrides_groups {
        p.is_list("groups").then_some("groups")
    } else if p.is_list("add_groups") {
        Some("add_groups")
    } else {
        p.is_list("remove_groups").then_some("remove_groups")
    }
    .map(|k| format!("NoMethodError (undefined method 'split' for an instance of Array): repeated `{k}` in the DiscourseConnect payload\napp/models/discourse_connect.rb:in 'apply_group_rules'"));
    let groups_sync = overrides_groups.then(|| group_ids(p.str("groups").unwrap_or(""), st));
    let add = group_ids(p.str("add_groups").unwrap_or(""), st);
    let remove = group_ids(p.str("remove_groups").unwrap_or(""), st);

    // change_external_attributes_and_override. An Array email differs from any email and is
    // assigned; `user.save!` then fails validation (403) before anything is saved.
    if overrides_email && p.is_list("email") {
        return Err(err(
            403,
            json!({"failed": "FAILED", "message": "Validation failed: Primary email is invalid"}),
        ));
    }
    if overrides_username && p.is_list("username") {
        // `UsernameChanger.override` calls String methods on it.
        return Err(crash(
            st,
            "NoMethodError (undefined method 'unicode_normalize' for an instance of Array)",
            None,
        ));
    }
    let mut welcome = false;
    let u = &mut st.users[idx];
    let mut job = None;
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
    if overrides_name
        && let Some(name) = p.to_s("name").filter(|n| !n.trim().is_empty())
        && name != u.name
    {
        u.name = name;
    }
    let force = p.bool("avatar_force_update") == Some(true);
    if let Some(url) = avatar_url(p)
        && (avatar_missing || force || overrides_avatar)
    {
        let known = u
            .sso
            .as_ref()
            .and_then(|r| r.external_avatar_url.as_deref());
        if force || known != Some(url.as_str()) || avatar_missing {
            job = Some(DownloadJob {
                url,
                user_id: u.id,
                override_gravatar: overrides_avatar,
            });
        }
    }
    if let Some(rec) = u.sso.as_mut() {
        // Overwritten whatever was sent: nil when omitted, an Array's `to_s` when repeated.
        rec.external_username = p.to_s("username");
        rec.external_email = p.to_s("email");
        rec.external_name = p.to_s("name");
        rec.external_avatar_url = p.to_s("avatar_url");
        rec.external_profile_background_url = p.to_s("profile_background_url");
        rec.external_card_background_url = p.to_s("card_background_url");
        rec.updated_at = now;
    }
    // `user.active = true; user.save!; user.enqueue_welcome_message("welcome_user") unless
    // suppress_welcome_message`.
    if !u.active && !require_activation {
        u.active = true;
        welcome = p.bool("suppress_welcome_message") != Some(true);
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
    if let Some(t) = p.to_s("title") {
        u.title = (!t.is_empty()).then_some(t);
    }
    if let Some(b) = p.to_s("bio")
        && (u.bio.as_deref().unwrap_or("").trim().is_empty() || overrides_bio)
    {
        u.bio = (!b.is_empty()).then_some(b);
    }
    if let Some(w) = p.to_s("website") {
        u.website = (!w.is_empty()).then_some(w);
    }
    if let Some(l) = p.to_s("location") {
        u.location = (!l.is_empty()).then_some(l);
    }
    // apply_group_rules
    if group_crash.is_none() {
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
    }
    let username = u.username.clone();
    st.reindex(idx, Some(&old_username), None, Some(&old_email));
    if welcome {
        st.violate(
            "welcome_message_sent",
            format!("sync_sso activated {username} without suppress_welcome_message=true: Discourse sends the welcome_user message"),
            method,
            path,
        );
    }
    Ok((job, group_crash))
}
