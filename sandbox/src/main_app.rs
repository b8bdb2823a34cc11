//! The company's main app as interface.md describes it: `GET flagged_url` (Bearer token,
//! object pages `{"users": […], "next": relative URL or null}`) and `POST resolved_url`.

use super::Shared;
use super::http::{self, header, json};
use super::routes::Ctx;
use super::state::AppId;
use serde_json::{Value, json};

pub const FLAGGED_PATH: &str = "/app/api/moderation/flagged-avatars";
pub const RESOLVED_PATH: &str = "/app/api/moderation/resolved";
pub const PAGE: usize = 50;

pub fn handle(shared: &Shared, ctx: &Ctx) -> axum::response::Response {
    let mut st = shared.lock();
    let token_ok = header(&ctx.headers, "authorization")
        .and_then(|a| a.split_once(' '))
        .is_some_and(|(scheme, t)| {
            scheme.eq_ignore_ascii_case("bearer") && t.trim() == st.main_app_token
        });
    if ctx.query.has("token") || ctx.query.has("access_token") {
        st.violate(
            "credentials_in_query",
            "the main app token was sent in the query string",
            ctx.method.as_str(),
            &ctx.path,
        );
    }
    let path = ctx.path.as_str();
    if path != FLAGGED_PATH && path != RESOLVED_PATH {
        return json(404, &json!({"error": "not found"}));
    }
    if !token_ok {
        let mut r = json(401, &json!({"error": "invalid or missing bearer token"}));
        r.headers_mut().insert(
            "www-authenticate",
            axum::http::HeaderValue::from_static("Bearer"),
        );
        return r;
    }
    match (ctx.method.as_str(), path) {
        ("GET", FLAGGED_PATH) => {
            let cursor = ctx
                .query
                .get("cursor")
                .and_then(|c| c.parse::<usize>().ok())
                .unwrap_or(0);
            let open: Vec<_> = st.app_flags.iter().filter(|f| !f.resolved).collect();
            let items: Vec<Value> = open
                .iter()
                .skip(cursor)
                .take(PAGE)
                .map(|f| {
                    let mut j = json!({
                        "username": f.username,
                        "email": f.email,
                        "reason": f.reason,
                        "flagged_at": f.flagged_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        "photo_url": f.photo_url,
                    });
                    match &f.external_id {
                        Some(AppId::Str(s)) => j["external_id"] = json!(s),
                        Some(AppId::Num(n)) => j["external_id"] = json!(n),
                        None => {}
                    }
                    j
                })
                .collect();
            let next_cursor = cursor + PAGE;
            // `next` comes in every form a client must resolve against flagged_url.
            let next = (next_cursor < open.len()).then(|| match (next_cursor / PAGE) % 3 {
                1 => format!("flagged-avatars?cursor={next_cursor}"),
                2 => format!("{FLAGGED_PATH}?cursor={next_cursor}"),
                _ => format!("{}{FLAGGED_PATH}?cursor={next_cursor}", st.base_url),
            });
            json(200, &json!({"users": items, "next": next}))
        }
        ("POST", RESOLVED_PATH) => {
            let body: Value = {
                let mut m = serde_json::Map::new();
                for (k, v) in &ctx.params.0 {
                    m.insert(k.clone(), json!(v.last()));
                }
                Value::Object(m)
            };
            let ext = body
                .get("external_id")
                .and_then(|v| v.as_str())
                .map(str::to_string);
            let outcome = body.get("outcome").and_then(|v| v.as_str()).unwrap_or("");
            if let Some(ext) = ext
                && matches!(outcome, "verified" | "applied")
            {
                for f in st.app_flags.iter_mut() {
                    let same = match &f.external_id {
                        Some(AppId::Str(s)) => *s == ext,
                        Some(AppId::Num(n)) => n.to_string() == ext,
                        None => false,
                    };
                    if same {
                        f.resolved = true;
                    }
                }
            }
            st.resolved.push(body);
            json(200, &json!({"ok": true}))
        }
        _ => http::with_type(
            405,
            "application/json",
            "{\"error\":\"method not allowed\"}",
        ),
    }
}
