//! The main app's flagged-users endpoint and its resolved callback (interface.md, "The main
//! app's flagged-users endpoint").

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;
use url::Url;

use crate::discourse::client::Observer;
use crate::discourse::types::id_string;
use crate::model::Exchange;
use crate::sanitize;
use crate::secret::{Secret, scrub};

/// The JSON names the main app uses (`[main_app.fields]`), as configured.
pub use crate::config::MainAppFields as FieldNames;

#[derive(Debug, Clone)]
pub struct MainAppSettings {
    pub flagged_url: Url,
    pub token: Secret,
    pub resolved_url: Option<Url>,
    pub fields: FieldNames,
}

/// The longest a 429 or 503 from the main app may make us wait (the same bound as Discourse's).
pub const MAX_RETRY_WAIT: Duration = crate::session::MAX_RETRY_WAIT;
/// How many such waits one page may take.
const MAX_WAITS: u32 = 3;

/// One user flagged by the main app. Text is sanitized on the way in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppFlag {
    pub external_id: String,
    pub username: Option<String>,
    pub email: Option<String>,
    pub reason: Option<String>,
    pub flagged_at: Option<DateTime<Utc>>,
    pub photo_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPage {
    pub flags: Vec<AppFlag>,
    /// Items without an external id: skipped, counted for a warning.
    pub skipped: usize,
    pub next: Option<Url>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum MainAppError {
    #[error(
        "main app {url}: {status} the token was refused (check main_app.token or AVATAR_CONSOLE_MAIN_APP_TOKEN)"
    )]
    Unauthorized { url: String, status: u16 },
    #[error("main app {url}: answered HTML where JSON was expected: check main_app.flagged_url")]
    NotJson { url: String },
    #[error("main app {url}: malformed JSON: {message}")]
    Malformed { url: String, message: String },
    #[error("main app {url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error(
        "main app {url}: HTTP {status}: it asks to wait {asked_secs} s, more than the {bound_secs} s \
         this console waits; try again later"
    )]
    WaitTooLong {
        url: String,
        status: u16,
        asked_secs: u64,
        bound_secs: u64,
    },
    #[error("main app {url}: still HTTP {status} after {waits} waits")]
    StillBusy {
        url: String,
        status: u16,
        waits: u32,
    },
    #[error("main app {url}: the answer is larger than {limit}: stopped reading it")]
    TooLarge { url: String, limit: String },
    #[error("main app {url}: {message}")]
    Network { url: String, message: String },
}

#[derive(Clone)]
pub struct MainAppClient {
    http: reqwest::Client,
    settings: Arc<MainAppSettings>,
    observer: Arc<std::sync::Mutex<Option<Observer>>>,
}

impl MainAppClient {
    pub fn new(
        http: reqwest::Client,
        settings: MainAppSettings,
        observer: Option<Observer>,
    ) -> Self {
        MainAppClient {
            http,
            settings: Arc::new(settings),
            observer: Arc::new(std::sync::Mutex::new(observer)),
        }
    }

    /// Sends every exchange to `observer` from now on (shared by clones).
    pub fn set_observer(&self, observer: Observer) {
        *self.observer.lock().unwrap_or_else(|e| e.into_inner()) = Some(observer);
    }

    pub fn first_page_url(&self) -> Url {
        self.settings.flagged_url.clone()
    }

    fn report(
        &self,
        method: &str,
        url: &Url,
        status: Option<u16>,
        started: Instant,
        summary: &str,
    ) {
        let ex = Exchange {
            at: Utc::now(),
            method: method.to_string(),
            path: sanitize::clean(url.path())
                + url
                    .query()
                    .map(|q| format!("?{}", sanitize::clean(q)))
                    .as_deref()
                    .unwrap_or(""),
            status,
            latency_ms: started.elapsed().as_millis() as u64,
            summary: scrub(&sanitize::clean(summary), &[&self.settings.token]),
            request_body: None,
            response_body: None,
        };
        tracing::info!(method, path = %ex.path, status = ?status, "main app exchange");
        let observer = self
            .observer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(o) = observer {
            o(&ex);
        }
    }

    /// Sends one request with the token; a 429 or 503 is waited out when it asks for no more
    /// than [`MAX_RETRY_WAIT`] (said on standard error in the CLI, like Discourse's), and
    /// refused at once when it asks for more. Bodies are read with the JSON cap. Returns the
    /// status, whether the answer is HTML, and the body.
    async fn send(
        &self,
        method: reqwest::Method,
        url: &Url,
        json: Option<&Value>,
    ) -> Result<(u16, bool, Vec<u8>), MainAppError> {
        let shown = url_for_errors(url);
        let mut waits = 0;
        loop {
            let started = Instant::now();
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .header(
                    AUTHORIZATION,
                    format!("Bearer {}", self.settings.token.expose()),
                )
                .header(ACCEPT, "application/json");
            if let Some(body) = json {
                req = req.json(body);
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    let message = if e.is_timeout() {
                        "timed out".to_string()
                    } else {
                        "could not connect".to_string()
                    };
                    self.report(method.as_str(), url, None, started, &message);
                    return Err(MainAppError::Network {
                        url: shown,
                        message,
                    });
                }
            };
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let html = headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|c| c.contains("html"));
            let body = match crate::net::read_capped(resp, crate::net::JSON_LIMIT).await {
                Ok(b) => b,
                Err(crate::net::CappedError::TooLarge { limit }) => {
                    let limit = crate::net::human_size(limit);
                    let note = format!("over {limit}");
                    self.report(method.as_str(), url, Some(status), started, &note);
                    return Err(MainAppError::TooLarge { url: shown, limit });
                }
                Err(crate::net::CappedError::Body(e)) => {
                    let message = crate::discourse::client::describe_reqwest_error(&e);
                    self.report(method.as_str(), url, Some(status), started, &message);
                    return Err(MainAppError::Network {
                        url: shown,
                        message,
                    });
                }
            };
            self.report(method.as_str(), url, Some(status), started, "");
            if !matches!(status, 429 | 503) {
                return Ok((status, html, body));
            }
            // A 503 without a Retry-After is an outage, not a request to wait.
            let wait = match (status, crate::net::retry_after(&headers, &body)) {
                (_, Some(w)) => w,
                (429, None) => Duration::from_secs(10),
                _ => return Ok((status, html, body)),
            };
            if wait > MAX_RETRY_WAIT {
                let e = MainAppError::WaitTooLong {
                    url: shown,
                    status,
                    asked_secs: wait.as_secs(),
                    bound_secs: MAX_RETRY_WAIT.as_secs(),
                };
                crate::discourse::client::announce_refusal(&e.to_string());
                return Err(e);
            }
            waits += 1;
            if waits > MAX_WAITS {
                return Err(MainAppError::StillBusy {
                    url: shown,
                    status,
                    waits: MAX_WAITS,
                });
            }
            crate::discourse::client::announce_wait("the main app", &shown, wait);
            tokio::time::sleep(wait).await;
        }
    }

    /// Fetches one page of flagged users.
    pub async fn fetch_page(&self, url: &Url) -> Result<AppPage, MainAppError> {
        let shown = url_for_errors(url);
        let (status, html, body) = self.send(reqwest::Method::GET, url, None).await?;
        match status {
            401 | 403 => return Err(MainAppError::Unauthorized { url: shown, status }),
            s if !(200..300).contains(&s) => {
                return Err(if html {
                    MainAppError::NotJson { url: shown }
                } else {
                    MainAppError::Status { url: shown, status }
                });
            }
            _ => {}
        }
        if html || body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<') {
            return Err(MainAppError::NotJson { url: shown });
        }
        // serde and parse_page quote what the server sent: scrubbed like any untrusted text.
        let safe = |m: String| scrub(&sanitize::clean(&m), &[&self.settings.token]);
        let v: Value = serde_json::from_slice(&body).map_err(|e| MainAppError::Malformed {
            url: shown.clone(),
            message: safe(e.to_string()),
        })?;
        parse_page(&v, url, &self.settings.fields).map_err(|message| MainAppError::Malformed {
            url: shown,
            message: safe(message),
        })
    }

    /// Posts the resolved callback after a verified reset. Failures are the caller's to log;
    /// they never block anything.
    pub async fn post_resolved(&self, body: &Value) -> Result<(), MainAppError> {
        let Some(url) = self.settings.resolved_url.clone() else {
            return Ok(());
        };
        let shown = url_for_errors(&url);
        let (status, _, _) = self.send(reqwest::Method::POST, &url, Some(body)).await?;
        match status {
            200..=299 => Ok(()),
            401 | 403 => Err(MainAppError::Unauthorized { url: shown, status }),
            _ => Err(MainAppError::Status { url: shown, status }),
        }
    }
}

fn url_for_errors(url: &Url) -> String {
    // Never echo credentials a user may have put in the URL itself.
    let mut u = url.clone();
    let _ = u.set_password(None);
    let _ = u.set_username("");
    sanitize::clean(u.as_str())
}

/// Parses one page: a bare array, or an object with the items and a `next` URL (absolute, or
/// relative to the page it came from).
pub fn parse_page(v: &Value, page_url: &Url, f: &FieldNames) -> Result<AppPage, String> {
    let (items, next) = match v {
        Value::Array(items) => (items.as_slice(), None),
        Value::Object(map) => {
            let items = map.get(&f.items).and_then(Value::as_array).ok_or_else(|| {
                format!(
                    "expected an array under \"{}\" (main_app.fields.items)",
                    f.items
                )
            })?;
            let next = match map.get(&f.next) {
                Some(Value::String(s)) if !s.trim().is_empty() => Some(
                    page_url
                        .join(s.trim())
                        .map_err(|e| format!("bad \"{}\" URL {s:?}: {e}", f.next))?,
                ),
                _ => None,
            };
            (items.as_slice(), next)
        }
        _ => return Err("expected a JSON array or object".into()),
    };
    let mut flags = Vec::with_capacity(items.len());
    let mut skipped = 0;
    for item in items {
        let Some(external_id) = item.get(&f.external_id).and_then(id_string) else {
            skipped += 1;
            continue;
        };
        let text = |name: &str| {
            item.get(name)
                .and_then(Value::as_str)
                .map(sanitize::clean)
                .filter(|s| !s.is_empty())
        };
        flags.push(AppFlag {
            external_id: sanitize::clean(&external_id),
            username: text(&f.username),
            email: text(&f.email),
            reason: text(&f.reason),
            flagged_at: item
                .get(&f.flagged_at)
                .and_then(Value::as_str)
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|d| d.with_timezone(&Utc)),
            photo_url: text(&f.photo_url),
        });
    }
    if next.as_ref() == Some(page_url) {
        return Err("\"next\" points at the same page: refusing to loop".into());
    }
    // The Bearer token goes with every page: never to another server, never down to plain http.
    if let Some(n) = &next
        && n.origin() != page_url.origin()
    {
        return Err(format!(
            "\"next\" points to another server ({}): refusing to send the main-app token there",
            sanitize::clean(&n.origin().ascii_serialization())
        ));
    }
    Ok(AppPage {
        flags,
        skipped,
        next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn object_page_with_relative_next_and_numeric_ids() {
        let url = Url::parse("https://app.example.com/api/flagged?page=1").unwrap();
        let v = json!({"users": [
            {"external_id": 684, "username": "alice", "reason": "nudity", "flagged_at": "2026-11-20T10:00:00Z"},
            {"external_id": "685", "username": "b\u{1b}[31mob"},
            {"username": "no-id"}
        ], "next": "/api/flagged?page=2"});
        let page = parse_page(&v, &url, &FieldNames::default()).unwrap();
        assert_eq!(page.flags.len(), 2);
        assert_eq!(page.flags[0].external_id, "684");
        assert_eq!(page.flags[1].username.as_deref(), Some("bob"));
        assert_eq!(page.skipped, 1);
        assert_eq!(
            page.next.unwrap().as_str(),
            "https://app.example.com/api/flagged?page=2"
        );
    }

    #[test]
    fn bare_array_and_remapped_fields() {
        let url = Url::parse("https://app.example.com/x").unwrap();
        let f = FieldNames {
            external_id: "uid".into(),
            reason: "why".into(),
            ..FieldNames::default()
        };
        let page = parse_page(&json!([{"uid": "9", "why": "spam"}]), &url, &f).unwrap();
        assert_eq!(page.flags[0].reason.as_deref(), Some("spam"));
        assert!(page.next.is_none());
    }

    #[test]
    fn next_on_another_server_is_refused() {
        let url = Url::parse("https://app.example.com/x").unwrap();
        for next in [
            "https://evil.example.net/x?page=2",
            "http://app.example.com/x?page=2",
            "https://app.example.com:8443/x",
        ] {
            let err = parse_page(
                &json!({"users": [], "next": next}),
                &url,
                &FieldNames::default(),
            )
            .unwrap_err();
            assert!(err.contains("another server"), "{next}: {err}");
        }
    }

    #[test]
    fn wrong_shapes_are_clear_errors() {
        let url = Url::parse("https://app.example.com/x").unwrap();
        assert!(
            parse_page(&json!({"items": []}), &url, &FieldNames::default())
                .unwrap_err()
                .contains("users")
        );
        assert!(parse_page(&json!(3), &url, &FieldNames::default()).is_err());
    }
}
