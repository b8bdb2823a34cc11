//! Small HTTP helpers shared by the sandbox's handlers: responses in Discourse's shapes and
//! request parameters as Rails merges them.

use super::sso;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;
use std::collections::BTreeMap;

/// `application/json; charset=utf-8`, what Rails sends.
pub fn json(status: u16, v: &Value) -> Response {
    with_type(status, "application/json; charset=utf-8", v.to_string())
}

pub fn with_type(status: u16, ctype: &str, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = HeaderValue::from_str(ctype) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

pub fn empty(status: u16) -> Response {
    with_type(status, "text/html", Body::empty())
}

/// `ApplicationController#rescue_discourse_actions` for `Discourse::NotFound`.
pub fn not_found() -> Response {
    json(
        404,
        &serde_json::json!({"errors": ["The requested URL or resource could not be found."], "error_type": "not_found"}),
    )
}

/// `Discourse::InvalidAccess` with `invalid_api_credentials`.
pub fn invalid_access() -> Response {
    json(
        403,
        &serde_json::json!({"errors": ["You are not permitted to view the requested resource. The API username or key is invalid."], "error_type": "invalid_access"}),
    )
}

/// `Discourse::InvalidAccess` for a logged-in user who may not do this.
pub fn forbidden() -> Response {
    json(
        403,
        &serde_json::json!({"errors": ["You are not permitted to view the requested resource."], "error_type": "invalid_access"}),
    )
}

/// `Discourse::NotLoggedIn` (`requires_login`).
pub fn not_logged_in() -> Response {
    json(
        403,
        &serde_json::json!({"errors": ["You need to be logged in to do that."], "error_type": "not_logged_in"}),
    )
}

pub fn invalid_parameters(msg: &str) -> Response {
    json(
        400,
        &serde_json::json!({"errors": [msg], "error_type": "invalid_parameters"}),
    )
}

/// `ApplicationController#failed_json` with 422.
pub fn failed() -> Response {
    json(422, &serde_json::json!({"failed": "FAILED"}))
}

/// The Ember shell a browser would get for a page URL (no `.json`, no JSON `Accept`).
pub fn html_shell(title: &str) -> Response {
    with_type(
        200,
        "text/html; charset=utf-8",
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><title>{}</title></head><body><noscript>JavaScript required</noscript></body></html>\n",
            super::state::html_escape(title)
        ),
    )
}

pub fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Request parameters as Rails has them: query and body (form or JSON) merged with the query
/// winning (`request_parameters.merge(query_parameters)`, actionpack
/// `lib/action_dispatch/http/parameters.rb`). The second field names the keys sent as `key[]`
/// (Arrays in Rails), so a handler can tell `sso[]=x` from `sso=x`.
#[derive(Debug, Default, Clone)]
pub struct Params(
    pub BTreeMap<String, Vec<String>>,
    pub std::collections::BTreeSet<String>,
);

/// One parameter as Rails hands it to a controller: absent (nil), a string, or an Array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param<'a> {
    Nil,
    Str(&'a str),
    Array(&'a [String]),
}

impl Params {
    /// A broken `%`-escape, invalid UTF-8 in a value (actionpack
    /// `ActionDispatch::Request::Utils.check_param_encoding`) or a broken JSON body is an
    /// `ActionController::BadRequest`: the caller answers [`rails_error`] 400.
    pub fn parse(
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(Params, Params), String> {
        let (qm, qa) = sso::parse_params(query.unwrap_or(""))?;
        let q = Params(qm, qa);
        let ctype = header(headers, "content-type")
            .unwrap_or("")
            .to_ascii_lowercase();
        let b = if body.is_empty() {
            Params::default()
        } else if let Some(boundary) = super::uploads::boundary(&ctype) {
            // The text parts; files are read from the raw body by the route that takes them.
            let parts = super::uploads::parse(body, &boundary).ok_or("malformed multipart body")?;
            let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for p in parts.iter().filter(|p| p.file_name.is_none()) {
                m.entry(p.name.clone())
                    .or_default()
                    .push(String::from_utf8_lossy(&p.bytes).into_owned());
            }
            Params(m, Default::default())
        } else if ctype.starts_with("application/json") {
            let v: Value = serde_json::from_slice(body).map_err(|e| format!("JSON: {e}"))?;
            let mut m = BTreeMap::new();
            let mut arrays = std::collections::BTreeSet::new();
            if let Value::Object(o) = v {
                for (k, v) in o {
                    let list = match v {
                        Value::Array(a) => {
                            arrays.insert(k.clone());
                            a.iter().map(scalar).collect()
                        }
                        other => vec![scalar(&other)],
                    };
                    m.insert(k, list);
                }
            }
            Params(m, arrays)
        } else {
            let text = std::str::from_utf8(body)
                .map_err(|_| "Invalid encoding for parameter: the body is not UTF-8".to_string())?;
            let (m, a) = sso::parse_params(text)?;
            Params(m, a)
        };
        Ok((q, b))
    }

    /// The query wins over the body, as in Rails.
    pub fn merged(q: &Params, b: &Params) -> Params {
        let mut m = b.0.clone();
        let mut arrays = b.1.clone();
        for (k, v) in &q.0 {
            m.insert(k.clone(), v.clone());
            if q.1.contains(k) {
                arrays.insert(k.clone());
            } else {
                arrays.remove(k);
            }
        }
        Params(m, arrays)
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).and_then(|v| v.last()).map(String::as_str)
    }

    /// The parameter with its Ruby type (`params[:k]`).
    pub fn param(&self, k: &str) -> Param<'_> {
        match self.0.get(k) {
            None => Param::Nil,
            Some(v) if self.1.contains(k) => Param::Array(v),
            Some(v) => v.last().map_or(Param::Nil, |s| Param::Str(s)),
        }
    }

    pub fn list(&self, k: &str) -> Vec<String> {
        self.0.get(k).cloned().unwrap_or_default()
    }

    pub fn has(&self, k: &str) -> bool {
        self.0.contains_key(k)
    }
}

/// What Rails' `ActionDispatch::PublicExceptions` renders for an exception no controller
/// rescued (Discourse's `lib/middleware/discourse_public_exceptions.rb` hands
/// `ActionController::BadRequest` and unrescued errors such as `NoMethodError` to it):
/// `{"status":500,"error":"Internal Server Error"}` for a JSON request, else the static
/// `public/<status>.html` page (Discourse ships a 500 page; a missing page is an empty body).
pub fn rails_error(status: u16, wants_json: bool) -> Response {
    let reason = match status {
        400 => "Bad Request",
        _ => "Internal Server Error",
    };
    if wants_json {
        return json(
            status,
            &serde_json::json!({"status": status, "error": reason}),
        );
    }
    match status {
        500 => with_type(
            500,
            "text/html; charset=utf-8",
            "<!DOCTYPE html>\n<html><head><title>Oops - Error 500</title></head><body><h1>Oops</h1><p>The software powering this discussion forum encountered an unexpected problem. We apologize for the inconvenience.</p></body></html>\n",
        ),
        s => with_type(s, "text/html; charset=utf-8", Body::empty()),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Percent-decodes one path segment (paths arrive encoded; `+` stays a `+` in a path).
pub fn decode_segment(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}
