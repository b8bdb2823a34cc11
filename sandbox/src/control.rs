//! Test controls over HTTP under `/sandbox/…` (no auth, never recorded, never faulted), and
//! the simulated logins.
//!
//! | method | path | effect |
//! |---|---|---|
//! | GET | `/sandbox/state` | url, settings, faults, counts, users (first 500; `?all=1` for all) |
//! | GET | `/sandbox/users/{username}` | one user snapshot |
//! | GET | `/sandbox/requests` | every recorded request |
//! | GET | `/sandbox/violations` | every rule a client broke |
//! | GET | `/sandbox/config` | the ready config file (TOML) |
//! | POST | `/sandbox/login?kind=ok\|taken_email\|bad_signature` | a simulated login |
//! | POST | `/sandbox/log?severity=3&message=…` | a Logster line |
//! | POST | `/sandbox/faults?latency_ms=&error_rate=&storm_429=&slow_body_ms=&html_errors=&malformed_json=&failing_downloads=` | replaces the faults |
//! | POST | `/sandbox/settings/{name}?value=…` | sets a site setting |
//! | POST | `/sandbox/clear` | forgets requests, violations and the rate-limit window |
//! | POST | `/sandbox/download_delay?ms=N` | the avatar download job runs N ms after a sync |
//! | POST | `/sandbox/admin_rate_limit?per_minute=N` | admin-key requests per minute (0: none) |
//! | GET | `/sandbox/review` | review item versions, staff actions, performs (`review.rs`) |
//! | POST | `/sandbox/review/{id}/bump` | another moderator changed the item: its version goes up |
//! | POST | `/sandbox/review/{id}/status?status=approved\|rejected\|ignored\|pending` | another moderator resolved it |
//! | POST | `/sandbox/review/{id}/claim?by=USERNAME` | another moderator claimed it (empty `by` releases) |

use super::http::{self, Params, json};
use super::state::State;
use super::{Faults, LoginKind, Shared, sso};
use axum::http::Method;
use axum::response::Response;
use serde_json::json;
use std::time::Duration;

pub async fn handle(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Response {
    let parse = |s: &str| {
        let (m, a) = sso::parse_params(s).unwrap_or_default();
        Params(m, a)
    };
    let q = parse(query.unwrap_or(""));
    let b = parse(&String::from_utf8_lossy(body));
    let p = Params::merged(&q, &b);
    let rest = path.trim_start_matches("/sandbox").trim_start_matches('/');
    let mut st = shared.lock();
    match (method.as_str(), rest) {
        ("GET", "state") | ("GET", "") => {
            let all = p.get("all").is_some_and(|v| v == "1" || v == "true");
            let users: Vec<_> = st
                .users
                .iter()
                .filter(|u| u.id > 0)
                .take(if all { usize::MAX } else { 500 })
                .map(|u| st.snapshot(u))
                .collect();
            let settings: serde_json::Map<String, serde_json::Value> = st
                .settings
                .iter()
                .map(|s| (s.name.to_string(), json!(s.value)))
                .collect();
            let f = st.faults().clone();
            json(
                200,
                &json!({
                    "url": st.base_url,
                    "api_username": "system",
                    "settings": settings,
                    "plus_bug": st.scenario.plus_bug,
                    "hide_admin_emails": st.scenario.hide_admin_emails,
                    "split_filter": st.scenario.split_filter,
                    "admin_rate_limit": st.scenario.admin_rate_limit,
                    "faults": {
                        "latency_ms": f.latency.as_millis() as u64,
                        "error_rate": f.error_rate,
                        "storm_429": f.storm_429,
                        "slow_body_ms": f.slow_body.map(|d| d.as_millis() as u64),
                        "html_errors": f.html_errors,
                        "malformed_json": f.malformed_json,
                        "failing_downloads": f.failing_downloads,
                    },
                    "user_count": st.users.len() - 1,
                    "users": users,
                    "request_count": st.requests.len(),
                    "violation_count": st.violations.len(),
                    "log_count": st.logs.len(),
                    "resolved": st.resolved,
                    "silent_download_failures": st.silent_download_failures,
                }),
            )
        }
        ("GET", r) if r.starts_with("users/") => {
            let name = http::decode_segment(&r["users/".len()..]);
            match st.user_idx_by_username(&name) {
                Some(i) => json(
                    200,
                    &serde_json::to_value(st.snapshot(&st.users[i])).unwrap_or_default(),
                ),
                None => json(404, &json!({"error": "no such user"})),
            }
        }
        ("GET", "requests") => json(200, &serde_json::to_value(&st.requests).unwrap_or_default()),
        ("GET", "violations") => json(
            200,
            &serde_json::to_value(&st.violations).unwrap_or_default(),
        ),
        ("GET", "config") => http::with_type(200, "application/toml", super::config_toml_for(&st)),
        ("POST", "login") => {
            let kind = match p.get("kind").unwrap_or("ok") {
                "ok" => LoginKind::Ok,
                "taken_email" => LoginKind::TakenEmail,
                "bad_signature" => LoginKind::BadSignature,
                other => return json(400, &json!({"error": format!("unknown kind {other:?}")})),
            };
            simulate_login(&mut st, kind);
            json(200, &json!({"ok": true}))
        }
        ("POST", "log") => {
            let sev = p.get("severity").and_then(|s| s.parse().ok()).unwrap_or(3);
            st.log(sev, p.get("message").unwrap_or(""));
            json(200, &json!({"ok": true}))
        }
        ("POST", "faults") => {
            let flag = |k: &str| p.get(k).is_some_and(|v| v == "true" || v == "1");
            let ms = |k: &str| {
                p.get(k)
                    .and_then(|v| v.parse::<u64>().ok())
                    .map(Duration::from_millis)
            };
            st.scenario.faults = Faults {
                latency: ms("latency_ms").unwrap_or_default(),
                error_rate: p
                    .get("error_rate")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0.0),
                storm_429: flag("storm_429"),
                slow_body: ms("slow_body_ms"),
                html_errors: flag("html_errors"),
                malformed_json: flag("malformed_json"),
                failing_downloads: flag("failing_downloads"),
            };
            json(200, &json!({"ok": true}))
        }
        ("POST", r) if r.starts_with("settings/") => {
            let name = http::decode_segment(&r["settings/".len()..]);
            let value = p.get("value").unwrap_or("").to_string();
            match st.settings.iter_mut().find(|s| s.name == name) {
                Some(s) => {
                    s.value = value;
                    json(200, &json!({"ok": true}))
                }
                None => json(404, &json!({"error": "no such setting"})),
            }
        }
        (m, r) if r == "review" || r.starts_with("review/") => {
            super::review::control(&mut st, m, r, &p)
        }
        ("POST", "download_delay") => match p.get("ms").and_then(|v| v.parse::<u64>().ok()) {
            Some(ms) => {
                st.scenario.download_delay = Duration::from_millis(ms);
                json(200, &json!({"ok": true}))
            }
            None => json(400, &json!({"error": "ms=N (milliseconds) is required"})),
        },
        ("POST", "admin_rate_limit") => {
            match p.get("per_minute").and_then(|v| v.parse::<u32>().ok()) {
                Some(n) => {
                    st.scenario.admin_rate_limit = n;
                    json(200, &json!({"ok": true}))
                }
                None => json(
                    400,
                    &json!({"error": "per_minute=N is required (0: no limit)"}),
                ),
            }
        }
        ("POST", "clear") => {
            st.requests.clear();
            st.violations.clear();
            st.limiter.clear();
            st.retry_not_before = None;
            json(200, &json!({"ok": true}))
        }
        _ => json(404, &json!({"error": "unknown sandbox control"})),
    }
}

/// What a browser login through DiscourseConnect writes to /logs
/// (`app/controllers/session_controller.rb#sso_login`, `#connect_verbose_warn`;
/// `app/models/discourse_connect.rb#match_email_or_create_user`). Verbose lines only while
/// `verbose_discourse_connect_logging` is on, like the real thing.
pub fn simulate_login(st: &mut State, kind: LoginKind) {
    st.login_counter += 1;
    let verbose = st.setting_on("verbose_discourse_connect_logging");
    // A user who is not flagged, so timer logins do not undo demo resets.
    let flagged_ids: std::collections::HashSet<i64> =
        st.reviewables.iter().map(|r| r.target_user).collect();
    let flagged_names: std::collections::HashSet<&str> =
        st.app_flags.iter().map(|f| f.username.as_str()).collect();
    let candidates: Vec<usize> = st
        .users
        .iter()
        .enumerate()
        .filter(|(_, u)| u.sso.is_some() && u.active && u.id > 0)
        .filter(|(_, u)| {
            !flagged_ids.contains(&u.id) && !flagged_names.contains(u.username.as_str())
        })
        .map(|(i, _)| i)
        .collect();
    let Some(&idx) = candidates.get((st.login_counter as usize) % candidates.len().max(1)) else {
        return;
    };
    let u = st.users[idx].clone();
    let ext = u
        .sso
        .as_ref()
        .map(|s| s.external_id.clone())
        .unwrap_or_default();
    let diagnostics = |email: &str, username: &str| {
        sso::ACCESSORS
            .iter()
            .map(|a| {
                let v = match *a {
                    "email" => email.to_string(),
                    "external_id" => ext.clone(),
                    "username" => username.to_string(),
                    "name" => u.name.clone(),
                    "avatar_url" => super::pictures::photo_url(&st.base_url, &ext),
                    "nonce" => format!(
                        "{:032x}",
                        st.login_counter.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    ),
                    "return_sso_url" => format!("{}/session/sso_login", st.base_url),
                    _ => String::new(),
                };
                format!("{a}: {v}")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let now = chrono::Utc::now();
    match kind {
        LoginKind::Ok => {
            st.users[idx].last_seen_at = Some(now);
            if verbose {
                let d = diagnostics(&u.email, &u.username);
                st.log(2, &format!("Verbose SSO log: Started SSO process\n\n{d}"));
                st.log(
                    2,
                    &format!("Verbose SSO log: User was logged on {}\n\n{d}", u.username),
                );
            }
        }
        LoginKind::TakenEmail => {
            // Another external id arriving with this user's email: the new record fails.
            let taken = u.email.clone();
            if verbose {
                let d = diagnostics(&taken, &format!("{}_2", u.username));
                st.log(2, &format!("Verbose SSO log: Started SSO process\n\n{d}"));
                st.log(3, &format!("Verbose SSO log: User creation failed. External id: 'new-{ext}', New User (user_id: ) , Errors: Primary email has already been taken\n\n{d}"));
                st.log(2, &format!("Verbose SSO log: Record was invalid: User \nemail: [\"has already been taken\"]\n\n{d}"));
            }
        }
        LoginKind::BadSignature => {
            if verbose {
                let payload = "bm9uY2U9YWJjJmV4dGVybmFsX2lkPTEyMzQ=";
                st.log(
                    2,
                    &format!(
                        "Verbose SSO log: Signature verification failed\n\nsso: {payload}\n\nsig: 0000000000000000000000000000000000000000000000000000000000000000\n\nexpected sig: {}",
                        sso::sign(payload, &st.sso_secret())
                    ),
                );
            }
        }
    }
}
