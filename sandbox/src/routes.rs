//! The one handler behind every path: recording, client-rule checks, faults, auth, the admin
//! rate limit, then the Discourse and main-app routes (paths as `config/routes.rb` has them).

use super::http::{self, Params, decode_segment, header, json};
use super::logster;
use super::state::*;
use super::{Shared, control, download, faults, main_app, pictures, png, ratelimit, sync};
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::Response;
use chrono::Utc;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;

const SECRET_HEADERS: &[&str] = &["api-key", "authorization", "cookie", "user-api-key"];
const CREDENTIAL_PARAMS: &[&str] = &[
    "api_key",
    "api_username",
    "api-key",
    "api-username",
    "user_api_key",
];

pub struct Ctx {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub query: Params,
    pub params: Params,
    pub wants_json: bool,
    /// The raw body, for the routes that take files (multipart).
    pub body: Vec<u8>,
}

/// Who the request acts as (`lib/auth/default_current_user_provider.rb#lookup_api_user`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Auth {
    Anonymous,
    /// A key was sent but is unknown, or names no usable user: `InvalidAccess`.
    Bad,
    As(usize),
}

pub async fn dispatch(AxState(shared): AxState<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match to_bytes(body, 4 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => return http::with_type(413, "text/plain", "Request Entity Too Large"),
    };
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    if path == "/sandbox/lost" {
        return super::lost::control(&shared.lost, query.as_deref());
    }
    if path == "/sandbox" || path.starts_with("/sandbox/") {
        return control::handle(&shared, &parts.method, &path, query.as_deref(), &body).await;
    }
    let internal = parts.headers.contains_key("x-sandbox-job");
    let is_static = path.starts_with("/images/")
        || path.starts_with("/user_avatar/")
        || path.starts_with("/letter_avatar_proxy/")
        || path.starts_with(pictures::PHOTO_PREFIX);
    let is_app = path.starts_with("/app/");
    let now = Instant::now();

    // Record the request (status filled in below) and the rules that need no routing.
    let rec_idx = if internal {
        None
    } else {
        let mut st = shared.lock();
        let headers = parts
            .headers
            .iter()
            .map(|(k, v)| {
                let k = k.as_str().to_ascii_lowercase();
                let v = if SECRET_HEADERS.contains(&k.as_str()) {
                    match v
                        .to_str()
                        .ok()
                        .and_then(|s| s.split_once(' '))
                        .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
                    {
                        Some(_) => "Bearer [redacted]".to_string(),
                        None => "[redacted]".to_string(),
                    }
                } else {
                    String::from_utf8_lossy(v.as_bytes()).into_owned()
                };
                (k, v)
            })
            .collect();
        let mut body_text = String::from_utf8_lossy(&body[..body.len().min(8192)]).into_owned();
        for secret in [
            st.api_key.clone(),
            st.main_app_token.clone(),
            st.sso_secret(),
        ] {
            if secret.len() >= 6 {
                body_text = body_text.replace(&secret, "[redacted]");
            }
        }
        let mut q = query.clone();
        if let Some(qs) = &q {
            let mut s = qs.clone();
            for secret in [st.api_key.clone(), st.main_app_token.clone()] {
                if secret.len() >= 6 {
                    s = s.replace(&secret, "[redacted]");
                }
            }
            q = Some(s);
        }
        let idx = st.record(RecordedRequest {
            method: parts.method.to_string(),
            path: path.clone(),
            query: q,
            at: now,
            wall: Utc::now(),
            status: 0,
            headers,
            body: body_text,
        });
        Some(idx)
    };

    let resp = handle(
        &shared,
        parts.method.clone(),
        path.clone(),
        query,
        parts.headers,
        body.to_vec(),
        is_static,
        is_app,
        internal,
        now,
    )
    .await;
    let resp = if is_static || internal {
        resp
    } else {
        faults::shape_response(&shared, resp).await
    };
    let resp = if internal {
        resp
    } else {
        super::lost::maybe_lose(&shared.lost, &parts.method, &path, resp)
    };
    if let Some(i) = rec_idx {
        let mut st = shared.lock();
        // The log may have been trimmed meanwhile; find the entry by its instant.
        let status = resp.status().as_u16();
        if let Some(r) = st
            .requests
            .get_mut(i)
            .filter(|r| r.at == now && r.path == path)
        {
            r.status = status;
        } else if let Some(r) = st
            .requests
            .iter_mut()
            .rev()
            .find(|r| r.at == now && r.path == path)
        {
            r.status = status;
        }
    }
    resp
}

#[allow(clippy::too_many_arguments)]
async fn handle(
    shared: &Arc<Shared>,
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
    is_static: bool,
    is_app: bool,
    internal: bool,
    now: Instant,
) -> Response {
    if is_static {
        return serve_static(shared, &path);
    }
    let wants_json = path.ends_with(".json")
        || header(&headers, "accept").is_some_and(|a| a.contains("application/json"));
    let (q, b) = match Params::parse(query.as_deref(), &headers, &body) {
        Ok(p) => p,
        // `ActionController::BadRequest` (a broken escape, invalid UTF-8, a broken JSON body),
        // which Discourse's exceptions app leaves to Rails' `PublicExceptions`.
        Err(e) => {
            tracing::debug!("sandbox: bad request parameters: {e}");
            return http::rails_error(400, wants_json);
        }
    };
    let params = Params::merged(&q, &b);
    let ctx = Ctx {
        method,
        path,
        headers,
        query: q.clone(),
        params,
        wants_json,
        body,
    };

    // Client rules that hold everywhere.
    {
        let mut st = shared.lock();
        for k in CREDENTIAL_PARAMS {
            if q.has(k) {
                st.violate(
                    "credentials_in_query",
                    format!(
                        "{k} sent in the query string (ignored by Discourse, and leaks into logs)"
                    ),
                    ctx.method.as_str(),
                    &ctx.path,
                );
            }
            if b.has(k) {
                st.violate(
                    "credentials_in_body",
                    format!("{k} sent as a request parameter instead of a header"),
                    ctx.method.as_str(),
                    &ctx.path,
                );
            }
        }
        if is_app && header(&ctx.headers, "api-key").is_some() {
            st.violate(
                "secret_to_wrong_host",
                "the Discourse Api-Key header was sent to the main app",
                ctx.method.as_str(),
                &ctx.path,
            );
        }
        let token = st.main_app_token.clone();
        if !is_app && header(&ctx.headers, "authorization").is_some_and(|a| a.contains(&token)) {
            st.violate(
                "secret_to_wrong_host",
                "the main app's token was sent to Discourse",
                ctx.method.as_str(),
                &ctx.path,
            );
        }
        if !is_app
            && !internal
            && let Some(t) = st.retry_not_before
            && now < t
        {
            let early = t.duration_since(now);
            st.violate(
                "retry_after_ignored",
                format!(
                    "request sent {:.1}s before the Retry-After it was given had elapsed",
                    early.as_secs_f64()
                ),
                ctx.method.as_str(),
                &ctx.path,
            );
        }
    }

    // Injected faults (latency, 429 storms, 500/502).
    if let Some(r) = faults::before(shared, is_app).await {
        return r;
    }
    if is_app {
        return main_app::handle(shared, &ctx);
    }

    let (resp, job) = {
        let mut st = shared.lock();
        let auth = authenticate(&st, &ctx.headers);
        // `admin_api_key_limiter.performed!` runs for every request whose API key resolved to an
        // active user, whatever that user's role (`lib/auth/default_current_user_provider.rb`).
        if let Auth::As(_) = auth {
            let limit = st.scenario.admin_rate_limit;
            if let Err(wait) = st.limiter.hit(limit, now) {
                return rate_limited(&mut st, wait, now);
            }
        }
        route(&mut st, &ctx, auth)
    };
    if let Some(job) = job {
        download::spawn(shared.clone(), job);
    }
    resp
}

/// The admin-key 429 (`ApplicationController` `rescue_from RateLimiter::LimitExceeded`,
/// `lib/json_error.rb#create_errors_json`, `lib/rate_limiter/limit_exceeded.rb`).
pub fn rate_limited(st: &mut State, wait: u64, now: Instant) -> Response {
    let until = now + std::time::Duration::from_secs(wait);
    st.retry_not_before = Some(st.retry_not_before.map_or(until, |t| t.max(until)));
    let left = ratelimit::time_left(wait);
    let mut r = json(
        429,
        &json!({
            "errors": [format!("You’ve performed this action too many times. Please wait {left} before trying again.")],
            "error_type": "rate_limit",
            "extras": {"wait_seconds": wait, "time_left": left},
        }),
    );
    r.headers_mut()
        .insert("retry-after", HeaderValue::from(wait));
    r.headers_mut().insert(
        "discourse-rate-limit-error-code",
        HeaderValue::from_static("admin_api_key_rate_limit"),
    );
    r
}

pub fn authenticate(st: &State, h: &HeaderMap) -> Auth {
    let Some(key) = header(h, "api-key") else {
        return Auth::Anonymous;
    };
    if key != st.api_key {
        return Auth::Bad;
    }
    let idx = if let Some(name) = h.get("api-username") {
        let name = String::from_utf8_lossy(name.as_bytes()).into_owned();
        // Used as sent: Discourse does not percent-decode the header.
        st.user_idx_by_username(&name)
    } else if let Some(id) = header(h, "api-user-id") {
        id.parse::<i64>()
            .ok()
            .and_then(|id| st.by_id.get(&id).copied())
    } else if let Some(ext) = header(h, "api-user-external-id") {
        st.by_external.get(ext).copied()
    } else {
        None
    };
    match idx {
        // An inactive or unknown acting user raises InvalidAccess.
        Some(i) if st.users[i].active => Auth::As(i),
        _ => Auth::Bad,
    }
}

fn strip_json(s: &str) -> &str {
    s.strip_suffix(".json").unwrap_or(s)
}

type Routed = (Response, Option<sync::DownloadJob>);

fn route(st: &mut State, ctx: &Ctx, auth: Auth) -> Routed {
    let segs: Vec<String> = ctx
        .path
        .trim_start_matches('/')
        .split('/')
        .map(decode_segment)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = &ctx.method;
    let viewer = match auth {
        Auth::As(i) => Some(st.users[i].clone()),
        _ => None,
    };
    let staff = viewer.as_ref().is_some_and(|v| v.admin || v.moderator);
    let admin = viewer.as_ref().is_some_and(|v| v.admin);
    let none = |r: Response| (r, None);

    // Admin-only routes (`AdminConstraint`, `lib/admin_constraint.rb`): a bad key or a non-admin
    // does not match the route at all: 404.
    let admin_only = |st: &mut State, f: &dyn Fn(&mut State, &User) -> Routed| -> Routed {
        match (&viewer, admin) {
            (Some(v), true) => f(st, v),
            _ => (http::not_found(), None),
        }
    };

    // The demo's second moderator (`seed.rs`, demo outcomes) changes a restless item just
    // before a staff member's action on it lands, once.
    if m == "PUT"
        && staff
        && let ["review", id, "perform", _] = segs.as_slice()
        && let Ok(id) = id.parse::<u64>()
        && st.restless_reviews.remove(&id)
    {
        super::review::control(st, "POST", &format!("review/{id}/bump"), &Params::default());
    }

    match (m.as_str(), segs.as_slice()) {
        // ---- users (`config/routes.rb`: both /u and /users) ----
        ("GET", [root, "by-external", id]) if is_users(root) => {
            if auth == Auth::Bad {
                return none(http::invalid_access());
            }
            if !ctx.wants_json {
                return none(http::html_shell("by-external"));
            }
            // `fetch_user_from_params`: `.json` stripped, then `SingleSignOnRecord.find_by(external_id:)`.
            let id = strip_json(id);
            match st.by_external.get(id).copied() {
                Some(i) if st.users[i].active || staff => {
                    none(json(200, &user_show(st, i, viewer.as_ref())))
                }
                _ => none(http::not_found()),
            }
        }
        ("GET", [root, name]) if is_users(root) => {
            if auth == Auth::Bad {
                return none(http::invalid_access());
            }
            if !ctx.wants_json {
                return none(http::html_shell(name));
            }
            match st.user_idx_by_username(strip_json(name)) {
                Some(i) if st.users[i].active || staff => {
                    none(json(200, &user_show(st, i, viewer.as_ref())))
                }
                _ => none(http::not_found()),
            }
        }
        ("GET", [root, name, what])
            if is_users(root)
                && matches!(strip_json(what), "emails" | "sso-payload" | "sso-email") =>
        {
            if auth == Auth::Bad {
                return none(http::invalid_access());
            }
            let Some(v) = &viewer else {
                return none(http::not_logged_in());
            };
            let Some(i) = st.user_idx_by_username(name) else {
                return none(http::not_found());
            };
            let u = &st.users[i];
            match strip_json(what) {
                // `UsersController#check_emails`: staff or self.
                "emails" if staff || v.id == u.id => none(json(
                    200,
                    &json!({"email": u.email, "secondary_emails": [], "unconfirmed_emails": [], "associated_accounts": []}),
                )),
                // `#check_sso_payload` / `#check_sso_email`: admins only.
                "sso-payload" if admin => none(json(
                    200,
                    &json!({"payload": u.sso.as_ref().map(|s| s.last_payload.clone())}),
                )),
                "sso-email" if admin => none(json(
                    200,
                    &json!({"email": u.sso.as_ref().and_then(|s| s.external_email.clone())}),
                )),
                _ => none(http::forbidden()),
            }
        }
        ("POST", ["uploads.json"]) | ("POST", ["uploads"]) => {
            let parts = super::http::header(&ctx.headers, "content-type")
                .and_then(super::uploads::boundary)
                .and_then(|b| super::uploads::parse(&ctx.body, &b))
                .unwrap_or_default();
            none(super::uploads::create(st, auth, viewer.as_ref(), &parts))
        }
        ("PUT", [root, name, "preferences", "avatar", "pick"]) if is_users(root) => {
            none(pick_avatar(st, ctx, auth, viewer.as_ref(), name))
        }

        // ---- admin ----
        (_, ["admin", ..]) if !staff => none(http::not_found()),
        ("GET", ["admin", "users", "list"]) | ("GET", ["admin", "users", "list", _]) => {
            if !ctx.wants_json {
                return none(http::html_shell("users"));
            }
            let q = segs.get(3).map(|s| strip_json(s)).unwrap_or("active");
            let v = viewer.clone().expect("staff");
            none(json(200, &admin_list(st, ctx, q, &v)))
        }
        ("POST", ["admin", "users", "sync_sso"]) => admin_only(st, &|st, v| {
            let r = sync::sync_sso(
                st,
                ctx.params.param("sso"),
                ctx.params.param("sig"),
                v.id,
                ctx.method.as_str(),
                &ctx.path,
            );
            let resp = match r.answer {
                sync::Answer::Json(status, b) => json(status, &b),
                sync::Answer::Empty(status) => http::empty(status),
                sync::Answer::Crash => http::rails_error(500, ctx.wants_json),
            };
            (resp, r.job)
        }),
        ("GET", ["admin", "users", id]) => {
            if !ctx.wants_json {
                return none(http::html_shell("user"));
            }
            let v = viewer.clone().expect("staff");
            match strip_json(id)
                .parse::<i64>()
                .ok()
                .and_then(|id| st.by_id.get(&id).copied())
            {
                Some(i) => none(json(200, &st.admin_detail_json(&st.users[i], &v))),
                None => none(http::not_found()),
            }
        }
        ("GET", ["admin", "site_settings"]) | ("GET", ["admin", "site_settings.json"]) => {
            admin_only(st, &|st, _| {
                (
                    json(200, &json!({"site_settings": settings_json(st, None)})),
                    None,
                )
            })
        }
        ("GET", ["admin", "config", "site_settings"])
        | ("GET", ["admin", "config", "site_settings.json"]) => admin_only(st, &|st, _| {
            // `Admin::Config::SiteSettingsController#index`: `filter_names` (or a category/area) required.
            let names = ctx.query.list("filter_names");
            if names.is_empty()
                && !ctx.query.has("categories")
                && !ctx.query.has("filter_area")
                && !ctx.query.has("plugin")
            {
                return (
                    http::invalid_parameters(
                        "param is missing or the value is empty or invalid: filter_names",
                    ),
                    None,
                );
            }
            let names = (!names.is_empty()).then_some(names);
            (
                json(
                    200,
                    &json!({"site_settings": settings_json(st, names.as_deref())}),
                ),
                None,
            )
        }),
        ("PUT", ["admin", "site_settings", name]) => {
            admin_only(st, &|st, _| (update_setting(st, ctx, name), None))
        }

        // ---- one review item and its actions (`review.rs`) ----
        _ if let Some(r) =
            super::review::route(st, m.as_str(), &segs, &ctx.params, auth, viewer.as_ref()) =>
        {
            none(r)
        }
        // ---- review queue (`ReviewablesController#index`) ----
        ("GET", ["review"]) | ("GET", ["review.json"]) => {
            if auth == Auth::Bad {
                return none(http::invalid_access());
            }
            if viewer.is_none() {
                return none(http::not_logged_in());
            }
            if !staff {
                return none(http::forbidden());
            }
            if !ctx.wants_json {
                return none(http::html_shell("review"));
            }
            none(review(st, ctx, viewer.as_ref()))
        }

        // ---- Logster (`mount Logster::Web => "/logs", constraints: AdminConstraint.new`) ----
        (_, ["logs", ..]) if !admin => none(http::not_found()),
        ("POST", ["logs", "messages.json"]) => none(logs(st, ctx)),
        (_, ["logs", ..]) => none(http::with_type(404, "text/plain", "Not found")),

        _ => none(if ctx.wants_json {
            http::not_found()
        } else {
            http::with_type(404, "text/html; charset=utf-8", "<h1>Page Not Found</h1>")
        }),
    }
}

fn is_users(root: &str) -> bool {
    root == "u" || root == "users"
}

fn user_show(st: &State, i: usize, viewer: Option<&User>) -> Value {
    json!({
        "user_badges": [],
        "badges": [],
        "user": st.user_json(&st.users[i], viewer),
    })
}

/// `UsersController#pick_avatar` (`app/controllers/users_controller.rb`), checks in order.
fn pick_avatar(
    st: &mut State,
    ctx: &Ctx,
    auth: Auth,
    viewer: Option<&User>,
    name: &str,
) -> Response {
    if auth == Auth::Bad {
        return http::invalid_access();
    }
    let Some(v) = viewer else {
        return http::not_logged_in();
    };
    let Some(i) = st.user_idx_by_username(strip_json(name)) else {
        return http::not_found();
    };
    let staff = v.admin || v.moderator;
    if !staff && v.id != st.users[i].id {
        return http::forbidden();
    }
    if st.setting_on("discourse_connect_overrides_avatar") {
        return http::failed();
    }
    let kind = ctx.params.get("type").unwrap_or("");
    if !kind.is_empty() && !["uploaded", "custom", "gravatar", "system"].contains(&kind) {
        return http::failed();
    }
    if kind.is_empty() || kind == "system" {
        // upload_id forced to nil: the letter avatar, at once.
        st.users[i].uploaded_avatar_id = None;
        return json(200, &json!({"success": "OK"}));
    }
    let upload = ctx
        .params
        .get("upload_id")
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|id| st.upload_exists(*id));
    let Some(upload) = upload else {
        return json(
            422,
            &json!({"errors": ["Sorry, but we couldn't find that avatar."]}),
        );
    };
    let u = &mut st.users[i];
    // `gravatar` fills the Gravatar slot, the other two the custom slot.
    if kind == "gravatar" {
        u.gravatar_upload_id = Some(upload);
    } else {
        u.custom_upload_id = Some(upload);
    }
    u.uploaded_avatar_id = Some(upload);
    json(200, &json!({"success": "OK"}))
}

/// `Admin::UsersController#index` → `AdminUserIndexQuery` (`lib/admin_user_index_query.rb`).
fn admin_list(st: &State, ctx: &Ctx, q: &str, viewer: &User) -> Value {
    let p = &ctx.params;
    let emails_desired = p.get("show_emails") == Some("true");
    let page = p
        .get("page")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let filter = p
        .get("filter")
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_lowercase);
    let email = p
        .get("email")
        .map(|e| e.trim().to_lowercase())
        .filter(|e| !e.is_empty());
    let terms: Vec<String> = match &filter {
        Some(f) if st.scenario.split_filter => f
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
            .take(100)
            .map(str::to_string)
            .collect(),
        Some(f) => vec![f.clone()],
        None => Vec::new(),
    };
    let mut hits: Vec<&User> = st
        .users
        .iter()
        .filter(|u| u.id > 0)
        .filter(|u| match q {
            "staff" => u.admin || u.moderator,
            "admins" => u.admin,
            "moderators" => u.moderator,
            "suspended" | "silenced" | "staged" => false,
            "pending" => false,
            "newuser" => u.trust_level == 0,
            "basic" => u.trust_level == 1,
            "member" => u.trust_level == 2,
            "regular" => u.trust_level == 3,
            "leader" => u.trust_level == 4,
            _ => true,
        })
        .filter(|u| {
            email
                .as_ref()
                .is_none_or(|e| u.email.eq_ignore_ascii_case(e))
        })
        .filter(|u| {
            terms.is_empty()
                || terms.iter().any(|t| {
                    if st.scenario.split_filter && t.contains('@') {
                        u.email.eq_ignore_ascii_case(t)
                    } else {
                        u.username.to_lowercase().contains(t.as_str())
                            || u.email.to_lowercase().contains(t.as_str())
                    }
                })
        })
        .filter(|u| match p.get("activation") {
            Some("activated") => u.active,
            Some("not_activated") => !u.active,
            _ => true,
        })
        .collect();
    let asc = p.has("asc") || p.has("ascending");
    match p.get("order") {
        Some("username") => hits.sort_by_key(|u| u.username.to_lowercase()),
        Some("email") => hits.sort_by_key(|u| u.email.to_lowercase()),
        Some("seen") => hits.sort_by_key(|u| std::cmp::Reverse(u.last_seen_at)),
        _ if q == "active" => hits.sort_by_key(|u| std::cmp::Reverse(u.last_seen_at)),
        _ => hits.sort_by_key(|u| std::cmp::Reverse(u.created_at)),
    }
    if asc {
        hits.reverse();
    }
    let page: Vec<Value> = hits
        .into_iter()
        .skip((page - 1) * 100)
        .take(100)
        .map(|u| st.admin_list_json(u, viewer, emails_desired))
        .collect();
    Value::Array(page)
}

/// `lib/site_setting_extension.rb#all_settings`: values as strings.
fn settings_json(st: &State, names: Option<&[String]>) -> Vec<Value> {
    st.settings
        .iter()
        .filter(|s| names.is_none_or(|n| n.iter().any(|x| x == s.name)))
        .filter(|s| !s.secret || st.scenario.expose_secret_in_settings)
        .map(|s| {
            json!({
                "setting": s.name,
                "humanized_name": s.name.replace('_', " "),
                "description": s.description,
                "keywords": [],
                "default": s.default,
                "value": s.value,
                "category": s.category,
                "preview": null,
                "secret": s.secret,
                "placeholder": null,
                "mandatory_values": null,
                "requires_confirmation": null,
                "type": s.kind,
            })
        })
        .collect()
}

/// `Admin::SiteSettingsController#update`: the value is the body parameter named after the
/// setting; 200 with an empty body; errors as 422 `{"errors":[…]}`.
fn update_setting(st: &mut State, ctx: &Ctx, name: &str) -> Response {
    let name = strip_json(name);
    let Some(value) = ctx.params.get(name).map(str::to_string) else {
        return json(
            400,
            &json!({"errors": [format!("param is missing or the value is empty or invalid: {name}")], "error_type": "invalid_parameters"}),
        );
    };
    let Some(s) = st.settings.iter_mut().find(|s| s.name == name) else {
        return json(
            422,
            &json!({"errors": [format!("No setting named '{name}' exists")]}),
        );
    };
    let value = value.trim().to_string();
    match s.kind {
        "bool" if value != "true" && value != "false" => {
            return json(422, &json!({"errors": ["Value must be true or false."]}));
        }
        "integer" if value.parse::<i64>().is_err() => {
            return json(422, &json!({"errors": ["Value must be an integer."]}));
        }
        _ => {}
    }
    s.value = value;
    http::with_type(200, "text/plain; charset=utf-8", Body::empty())
}

const REVIEW_TYPES: &[&str] = &[
    "ReviewableUser",
    "ReviewableFlaggedPost",
    "ReviewableQueuedPost",
    "ReviewablePost",
];
pub const REVIEW_PAGE: usize = 10;

/// `ReviewablesController#index` (`app/controllers/reviewables_controller.rb`): pages of 10
/// by `offset`, `meta.load_more_reviewables` only when more rows exist.
fn review(st: &State, ctx: &Ctx, viewer: Option<&User>) -> Response {
    let p = &ctx.params;
    let kind = p.get("type").filter(|t| !t.is_empty());
    if let Some(t) = kind
        && !REVIEW_TYPES.contains(&t)
    {
        return http::invalid_parameters(&format!("Invalid type: {t}"));
    }
    let status = p
        .get("status")
        .filter(|s| !s.is_empty())
        .unwrap_or("pending");
    let wanted: &[u8] = match status {
        "pending" => &[0],
        "approved" => &[1],
        "rejected" => &[2],
        "ignored" => &[3],
        "deleted" => &[4],
        "reviewed" => &[1, 2, 3, 4],
        "all" => &[0, 1, 2, 3, 4],
        other => return http::invalid_parameters(&format!("Invalid status: {other}")),
    };
    let offset = p
        .get("offset")
        .and_then(|o| o.parse::<i64>().ok())
        .unwrap_or(0)
        .max(0) as usize;
    let username = p.get("username").map(str::to_lowercase);
    let mut items: Vec<&Reviewable> = st
        .reviewables
        .iter()
        .filter(|r| wanted.contains(&r.status))
        .filter(|r| kind.is_none_or(|t| r.kind.type_name() == t))
        .filter(|r| {
            username.as_ref().is_none_or(|n| {
                st.user_by_id(r.target_user)
                    .is_some_and(|u| u.username.to_lowercase() == *n)
            })
        })
        .collect();
    // sort_order "score" (the default): score desc, then newest first.
    items.sort_by(|a, b| b.score.total_cmp(&a.score).then(b.id.cmp(&a.id)));
    let total = items.len();
    let page: Vec<&Reviewable> = items.into_iter().skip(offset).take(REVIEW_PAGE).collect();
    let mut user_ids: Vec<i64> = Vec::new();
    let mut out = Vec::new();
    let mut scores = Vec::new();
    let (mut bundles, mut actions) = (Vec::new(), Vec::new());
    for r in &page {
        let side = super::review::sideload(st, r, viewer);
        let target = st.user_by_id(r.target_user);
        for id in [r.target_user, r.created_by] {
            if !user_ids.contains(&id) {
                user_ids.push(id);
            }
        }
        let score_id = r.id * 10;
        scores.push(json!({
            "id": score_id,
            "score": r.score,
            "agree_stats": {"agreed": 0, "disagreed": 0, "ignored": 0},
            "status": r.status,
            "reason": r.reason,
            "created_at": r.created_at,
            "reviewed_at": null,
            "user_id": r.created_by,
            "reviewable_score_type": 8,
            "score_type": {"id": 8, "title": "Inappropriate", "type": "inappropriate"},
        }));
        let mut j = json!({
            "id": r.id,
            "type": r.kind.type_name(),
            "type_source": "core",
            "status": r.status,
            "created_at": r.created_at,
            "score": r.score,
            "version": st.review.version(r.id),
            "can_edit": false,
            "editable_fields": [],
            "created_by_id": r.created_by,
            "target_created_by_id": r.target_user,
            "reviewable_score_ids": [score_id],
            "bundled_action_ids": side.bundled_action_ids,
            "category_id": null,
            "topic_id": null,
            "topic_url": null,
            "target_url": null,
        });
        match r.kind {
            ReviewKind::User => {
                j["target_type"] = json!("User");
                j["target_id"] = json!(r.target_user);
                j["user_id"] = json!(r.target_user);
                if let Some(u) = target {
                    j["payload"] = json!({"username": u.username, "name": u.name, "email": u.email, "bio": u.bio, "website": u.website});
                    j["link_admin"] = json!(true);
                }
            }
            ReviewKind::FlaggedPost => {
                j["target_type"] = json!("Post");
                j["target_id"] = json!(r.post_id);
                j["post_id"] = json!(r.post_id);
                j["topic_id"] = json!(r.topic_id);
                j["category_id"] = json!(4);
                j["topic_url"] = json!(format!("{}/t/{}", st.base_url, r.topic_id));
                j["target_url"] = json!(format!("{}/t/{}/1", st.base_url, r.topic_id));
                j["raw"] = json!(format!("Look at my avatar! {}", r.reason));
                j["cooked"] = json!(format!(
                    "<p>Look at my avatar! {}</p>",
                    html_escape(&r.reason)
                ));
                j["post_number"] = json!(1);
            }
        }
        super::review::merge_sideload(&mut bundles, &mut actions, side);
        out.push(j);
    }
    for j in &mut out {
        omit_like_the_serializer(j);
    }
    let users: Vec<Value> = user_ids
        .iter()
        .filter_map(|id| st.user_by_id(*id))
        .map(|u| st.basic_user_json(u))
        .collect();
    let meta = review_meta(st, p, status, total, offset);
    json(
        200,
        &json!({
            "reviewables": out,
            "users": users,
            "topics": [],
            "reviewable_scores": scores,
            "bundled_actions": bundles,
            "actions": actions,
            "__rest_serializer": "1",
            "meta": meta,
        }),
    )
}

/// `ReviewableSerializer` leaves out what is blank (`include_topic_id?`, `include_topic_url?`,
/// `include_target_url?`, `include_category_id?`), so a `ReviewableUser` has none of them; it
/// adds `removed_topic_id` (nil) when the item has no topic, and `claimed_by_id` because the
/// index passes `claimed_topics` (`app/serializers/reviewable_serializer.rb`).
fn omit_like_the_serializer(j: &mut Value) {
    let Some(o) = j.as_object_mut() else { return };
    for k in ["topic_id", "topic_url", "target_url", "category_id"] {
        if o.get(k).is_some_and(Value::is_null) {
            o.remove(k);
        }
    }
    if !o.contains_key("topic_id") {
        o.insert("removed_topic_id".into(), Value::Null);
    }
    o.entry("claimed_by_id").or_insert(Value::Null);
}

/// `meta` of `ReviewablesController#index`: the filters (every key, nil when not sent), then
/// `total_rows_reviewables`, `types` (`meta_types`), `reviewable_types`, the counts, and
/// `load_more_reviewables` = `review_path(filters.merge(offset:))` only when more rows exist
/// (Rails drops nil and empty values and sorts the query, `Hash#to_query`).
fn review_meta(st: &State, p: &Params, status: &str, total: usize, offset: usize) -> Value {
    let text = |k: &str| p.get(k).map(str::to_string);
    let int = |k: &str| p.get(k).map(|v| v.trim().parse::<i64>().unwrap_or(0));
    let mut meta = serde_json::Map::new();
    meta.insert(
        "ids".into(),
        if p.has("ids") {
            json!(p.list("ids"))
        } else {
            Value::Null
        },
    );
    meta.insert("status".into(), json!(status));
    meta.insert("category_id".into(), json!(int("category_id")));
    meta.insert("topic_id".into(), json!(int("topic_id")));
    meta.insert("additional_filters".into(), json!({}));
    let named = [
        "priority",
        "username",
        "reviewed_by",
        "from_date",
        "to_date",
        "type",
        "sort_order",
        "flagged_by",
    ];
    for k in named {
        meta.insert(k.into(), json!(text(k)));
    }
    meta.insert("total_rows_reviewables".into(), json!(total));
    meta.insert(
        "types".into(),
        json!({"created_by": "user", "target_created_by": "user", "reviewed_by": "user", "claimed_by": "user"}),
    );
    meta.insert("reviewable_types".into(), json!(REVIEW_TYPES));
    meta.insert(
        "reviewable_count".into(),
        json!(st.reviewables.iter().filter(|r| r.status == 0).count()),
    );
    meta.insert("unseen_reviewable_count".into(), json!(0));
    if offset + REVIEW_PAGE < total {
        let mut q: Vec<String> = vec![
            format!("offset={}", offset + REVIEW_PAGE),
            format!("status={}", super::sso::escape(status)),
        ];
        for k in ["category_id", "topic_id"] {
            if let Some(v) = int(k) {
                q.push(format!("{k}={v}"));
            }
        }
        for k in named {
            if let Some(v) = text(k) {
                q.push(format!("{k}={}", super::sso::escape(&v)));
            }
        }
        for v in p.list("ids").iter().filter(|_| p.has("ids")) {
            q.push(format!("ids%5B%5D={}", super::sso::escape(v)));
        }
        q.sort();
        // `review_path`: no `.json` suffix.
        meta.insert(
            "load_more_reviewables".into(),
            json!(format!("/review?{}", q.join("&"))),
        );
    }
    Value::Object(meta)
}

/// Logster `serve_messages` (`lib/logster/middleware/viewer.rb`): plain `application/json`.
fn logs(st: &State, ctx: &Ctx) -> Response {
    let p = &ctx.params;
    let filter_raw: Vec<String> = if p.has("filter") {
        p.list("filter")
            .iter()
            .flat_map(|f| f.split('_').map(str::to_string).collect::<Vec<_>>())
            .collect()
    } else {
        Vec::new()
    };
    let severities: Vec<i64> = filter_raw.iter().filter_map(|s| s.parse().ok()).collect();
    let q = logster::Query {
        severities: (!filter_raw.is_empty()).then_some(severities.clone()),
        search: p.get("search"),
        after: p.get("after").filter(|s| !s.is_empty()),
        before: p.get("before").filter(|s| !s.is_empty()),
    };
    let with_env = q.search.is_some_and(|s| !s.is_empty());
    let msgs: Vec<Value> = st
        .logs
        .latest(&q)
        .into_iter()
        .map(|m| m.to_json(with_env))
        .collect();
    http::with_type(
        200,
        "application/json",
        // `filter` echoes the parsed severities, or `""` when none was sent (`filter || ""`).
        json!({"messages": msgs, "total": st.logs.len(), "search": p.get("search").unwrap_or(""), "filter": if p.has("filter") { json!(severities) } else { json!("") }}).to_string(),
    )
}

/// Images on the sandbox's own host: the default avatar (a real PNG), a text file named
/// `.png`, a PNG bigger than a small `max_image_size_kb`, a 404, a redirect, and the avatar
/// URLs of `avatar_template`.
fn serve_static(shared: &Shared, path: &str) -> Response {
    let st = shared.lock();
    match path {
        "/images/default-avatar.png" => {
            http::with_type(200, "image/png", st.default_avatar_png.as_ref().clone())
        }
        "/images/other-avatar.png" => {
            http::with_type(200, "image/png", png::solid(64, [0x6a, 0x1b, 0x9a]))
        }
        "/images/not-an-image.png" => http::with_type(
            200,
            "image/png",
            "this is not an image, whatever the name says\n",
        ),
        "/images/huge.png" => {
            http::with_type(200, "image/png", png::solid(200, [0xc6, 0x28, 0x28]))
        }
        "/images/redirect.png" => {
            let mut r = http::empty(302);
            r.headers_mut().insert(
                "location",
                HeaderValue::from_static("/images/default-avatar.png"),
            );
            r
        }
        p if p.starts_with("/user_avatar/") => {
            // /user_avatar/<host>/<username>/<size>/<upload_id>_2.png
            let mut parts = p.rsplit('/');
            let id = parts
                .next()
                .and_then(|f| f.split('_').next())
                .and_then(|s| s.parse::<u64>().ok());
            let username = parts.nth(1).unwrap_or("");
            match id.and_then(|id| st.uploads.get(&id)) {
                Some(up) => match &up.bytes {
                    Some(b) => http::with_type(200, "image/png", b.as_ref().clone()),
                    None => http::with_type(200, "image/png", pictures::avatar(username, up.id)),
                },
                None => http::with_type(404, "text/plain", "Not found"),
            }
        }
        p if p.starts_with("/letter_avatar_proxy/") => {
            http::with_type(200, "image/png", pictures::letter_avatar(p))
        }
        p if p.starts_with(pictures::PHOTO_PREFIX) => match pictures::photo_at(p) {
            Some(b) => http::with_type(200, "image/png", b),
            None => http::with_type(404, "text/plain", "Not found"),
        },
        _ => http::with_type(404, "text/plain", "Not found"),
    }
}
