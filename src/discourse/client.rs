//! The Discourse admin API client: one `reqwest::Client`, credentials in headers only, one
//! request budget, 429 handling, bounded retries, typed errors with hints, and a report of every
//! exchange for the log pane and the log file.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use super::budget::{Budget, BudgetStatus, Priority};
use super::settings::DcSettings;
use super::types::{
    AdminListUserJson, AdminUserJson, LogPageJson, ReviewPage, ReviewPageJson, SiteSettingsJson,
    UserEnvelope, UserJson,
};
use crate::model::{Exchange, LogLine};
use crate::sanitize;
use crate::secret::{Secret, scrub};

/// Everything an exchange observer sees. Shared by the log pane, the log file and tests.
pub type Observer = Arc<dyn Fn(&Exchange) + Send + Sync>;

/// Path segments keep only RFC 3986 unreserved characters raw: usernames may be unicode or hold
/// dots, and ids come from other systems.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub fn segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// Builds the one HTTP client of the process. Redirects are not followed: Discourse API routes
/// do not redirect, and following one would carry the `Api-Key` header to wherever it points.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("avatar-console/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a TLS backend is compiled in")
}

#[derive(Clone)]
pub struct ClientSettings {
    pub base_url: Url,
    pub api_username: String,
    pub api_key: Secret,
    pub requests_per_minute: u32,
    /// The longest a single 429 may pause the budget.
    pub max_retry_wait: Duration,
    /// Other secrets to scrub from anything reported (the SSO secret, the main-app token).
    pub other_secrets: Vec<Secret>,
}

/// Which kind of route, for the 404 hint: admin-constraint routes answer 404 to a bad key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    User,
    Admin,
}

impl Route {
    fn of(path: &str) -> Route {
        if path.starts_with("/admin/") || path.starts_with("/logs/") {
            Route::Admin
        } else {
            Route::User
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    #[error(
        "{method} {path}: 403 API key or username invalid (check discourse.api_key and api_username)"
    )]
    InvalidAccess { method: String, path: String },
    #[error(
        "{method} {path}: 404 on an admin route: key invalid, not an admin, missing scope, or DiscourseConnect disabled"
    )]
    AdminNotFound { method: String, path: String },
    #[error("{method} {path}: 404 not found")]
    NotFound { method: String, path: String },
    #[error(
        "{method} {path}: 422 FAILED: DiscourseConnect overrides avatars (discourse_connect_overrides_avatar is on)"
    )]
    OverridesAvatar { method: String, path: String },
    #[error(
        "{method} {path}: answered HTML where JSON was expected: this URL does not look like Discourse's API"
    )]
    NotJson {
        method: String,
        path: String,
        status: u16,
    },
    #[error("{method} {path}: redirected to {location}: set discourse.url to the final address")]
    Redirect {
        method: String,
        path: String,
        location: String,
    },
    #[error("{method} {path}: still rate limited (429) after {waits} waits")]
    RateLimited {
        method: String,
        path: String,
        waits: u32,
    },
    #[error(
        "{method} {path}: rate limited (429): Discourse asks to wait {} s, more than the {} s this \
         console waits; nothing was done, try again later",
        asked.as_secs(), bound.as_secs()
    )]
    RateLimitTooLong {
        method: String,
        path: String,
        asked: Duration,
        bound: Duration,
    },
    #[error("{method} {url}: the answer is larger than {limit}: stopped reading it")]
    TooLarge {
        method: String,
        url: String,
        limit: String,
    },
    #[error("{method} {path}: HTTP {status}{}", if summary.is_empty() { String::new() } else { format!(": {summary}") })]
    Status {
        method: String,
        path: String,
        status: u16,
        summary: String,
    },
    #[error("{method} {path}: {message}")]
    Network {
        method: String,
        path: String,
        message: String,
    },
    #[error("{method} {path}: unexpected answer: {message}")]
    Decode {
        method: String,
        path: String,
        message: String,
    },
    /// Never sent: the run was stopped while this request waited for the budget.
    #[error("{method} {path}: not sent: the run was cancelled")]
    Cancelled { method: String, path: String },
}

impl ClientError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::InvalidAccess { .. } => Some(403),
            ClientError::AdminNotFound { .. } | ClientError::NotFound { .. } => Some(404),
            ClientError::OverridesAvatar { .. } => Some(422),
            ClientError::NotJson { status, .. } | ClientError::Status { status, .. } => {
                Some(*status)
            }
            ClientError::RateLimited { .. } | ClientError::RateLimitTooLong { .. } => Some(429),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::NotFound { .. })
    }

    /// A problem with the key or its rights rather than with one request.
    pub fn is_credentials(&self) -> bool {
        matches!(
            self,
            ClientError::InvalidAccess { .. } | ClientError::AdminNotFound { .. }
        )
    }
}

/// A raw answer, before interpretation.
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Vec<u8>,
}

impl Answer {
    fn is_json(&self) -> bool {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("json"))
    }

    fn looks_html(&self) -> bool {
        let ct_html = self
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("html"));
        let first = self.body.iter().find(|b| !b.is_ascii_whitespace());
        ct_html || (first == Some(&b'<') && !self.is_json())
    }

    pub(super) fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

pub(super) enum Body {
    Form(Vec<(String, String)>),
    Raw(String),
    /// `multipart/form-data`: text fields, then one file part.
    Multipart {
        fields: Vec<(String, String)>,
        file_field: String,
        file_name: String,
        bytes: Vec<u8>,
    },
}

/// Fixed: the parts are ours (a PNG and plain field values), never holding this sequence.
const BOUNDARY: &str = "avatar-console-7d1f0b9a3c5e4f28";

impl Body {
    /// What the log pane shows of the body.
    fn encode(&self) -> String {
        match self {
            Body::Form(pairs) => url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish(),
            Body::Raw(s) => s.clone(),
            Body::Multipart {
                fields,
                file_field,
                file_name,
                bytes,
            } => {
                let shown: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!(
                    "multipart: {} {file_field}={file_name} ({} bytes)",
                    shown.join(" "),
                    bytes.len()
                )
            }
        }
    }

    fn content_type(&self) -> String {
        match self {
            Body::Multipart { .. } => format!("multipart/form-data; boundary={BOUNDARY}"),
            _ => "application/x-www-form-urlencoded".into(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match self {
            Body::Multipart {
                fields,
                file_field,
                file_name,
                bytes,
            } => {
                let mut out = Vec::new();
                for (k, v) in fields {
                    out.extend_from_slice(
                        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                            .as_bytes(),
                    );
                }
                out.extend_from_slice(
                    format!(
                        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{file_field}\"; filename=\"{file_name}\"\r\nContent-Type: image/png\r\n\r\n"
                    )
                    .as_bytes(),
                );
                out.extend_from_slice(bytes);
                out.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
                out
            }
            other => other.encode().into_bytes(),
        }
    }
}

struct Inner {
    http: reqwest::Client,
    settings: ClientSettings,
    budget: Budget,
    observer: Mutex<Option<Observer>>,
    sent: AtomicU64,
}

/// Cheap to clone; clones share the HTTP client, the budget and the observer.
#[derive(Clone)]
pub struct DiscourseClient {
    inner: Arc<Inner>,
    priority: Priority,
    /// Once set, requests still waiting for the budget are not sent (`ClientError::Cancelled`).
    stop: Option<Arc<AtomicBool>>,
}

impl DiscourseClient {
    pub fn new(http: reqwest::Client, settings: ClientSettings) -> Self {
        let budget = Budget::new(settings.requests_per_minute);
        DiscourseClient {
            inner: Arc::new(Inner {
                http,
                settings,
                budget,
                observer: Mutex::new(None),
                sent: AtomicU64::new(0),
            }),
            priority: Priority::Foreground,
            stop: None,
        }
    }

    /// The same client at background priority: it leaves part of the budget to resets.
    pub fn background(&self) -> Self {
        DiscourseClient {
            inner: self.inner.clone(),
            priority: Priority::Background,
            stop: self.stop.clone(),
        }
    }

    /// The same client, but a request still waiting for the budget when `stop` is set is never
    /// sent: a cancelled batch must not keep leaving as the window refills.
    pub fn stoppable(&self, stop: Arc<AtomicBool>) -> Self {
        DiscourseClient {
            inner: self.inner.clone(),
            priority: self.priority,
            stop: Some(stop),
        }
    }

    fn stopped(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst))
    }

    /// Waits for the budget, giving up as soon as the stop flag is set.
    async fn acquire(&self) -> bool {
        let Some(stop) = &self.stop else {
            self.inner.budget.acquire(self.priority).await;
            return true;
        };
        let watch = async {
            while !stop.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::select! {
            biased;
            _ = watch => false,
            _ = self.inner.budget.acquire(self.priority) => !self.stopped(),
        }
    }

    fn has_observer(&self) -> bool {
        self.inner
            .observer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    pub fn set_observer(&self, observer: Observer) {
        *self
            .inner
            .observer
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(observer);
    }

    pub fn base_url(&self) -> &Url {
        &self.inner.settings.base_url
    }

    pub fn api_username(&self) -> &str {
        &self.inner.settings.api_username
    }

    pub fn budget(&self) -> BudgetStatus {
        self.inner.budget.status()
    }

    /// How many HTTP requests this client (and its clones) has sent, retries included.
    pub fn requests_sent(&self) -> u64 {
        self.inner.sent.load(Ordering::SeqCst)
    }

    fn secrets(&self) -> Vec<&Secret> {
        std::iter::once(&self.inner.settings.api_key)
            .chain(self.inner.settings.other_secrets.iter())
            .collect()
    }

    fn url(&self, path_and_query: &str) -> Result<Url, String> {
        let base = self.inner.settings.base_url.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{path_and_query}")).map_err(|e| e.to_string())
    }

    /// Sends one request through the budget. 429s pause the budget and are retried (whatever the
    /// method: the server did not act on them); GETs also retry 502/503/504 and connection errors.
    pub(super) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Body>,
    ) -> Result<Answer, ClientError> {
        const MAX_5XX_RETRIES: u32 = 3;
        const MAX_429_WAITS: u32 = 6;
        let m = method.as_str().to_string();
        let shown = display_path(path);
        let short = short_path(&shown);
        let url = self.url(path).map_err(|message| ClientError::Network {
            method: m.clone(),
            path: short.clone(),
            message,
        })?;
        let encoded = body.as_ref().map(Body::encode);
        let idempotent = method == Method::GET;
        let (mut retries, mut waits) = (0u32, 0u32);
        loop {
            if self.stopped() || !self.acquire().await {
                return Err(ClientError::Cancelled {
                    method: m,
                    path: short,
                });
            }
            self.inner.sent.fetch_add(1, Ordering::SeqCst);
            let s = &self.inner.settings;
            let mut req = self
                .inner
                .http
                .request(method.clone(), url.clone())
                .header("Api-Key", s.api_key.expose())
                .header("Api-Username", s.api_username.as_str())
                .header(ACCEPT, "application/json");
            if let Some(b) = &body {
                req = req.header(CONTENT_TYPE, b.content_type()).body(b.bytes());
            }
            let started = Instant::now();
            let result = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    match crate::net::read_capped(resp, crate::net::JSON_LIMIT).await {
                        Ok(body) => Ok(Answer {
                            status,
                            headers,
                            body,
                        }),
                        Err(crate::net::CappedError::Body(e)) => Err(e),
                        Err(crate::net::CappedError::TooLarge { limit }) => {
                            let limit = crate::net::human_size(limit);
                            self.report(
                                &m,
                                &shown,
                                Some(status.as_u16()),
                                started.elapsed(),
                                &format!("answer over {limit}: not read"),
                                encoded.as_deref(),
                                None,
                            );
                            let mut url = url.clone();
                            url.set_query(None);
                            return Err(ClientError::TooLarge {
                                method: m,
                                url: display_path(url.as_str()),
                                limit,
                            });
                        }
                    }
                }
                Err(e) => Err(e),
            };
            let latency = started.elapsed();
            match result {
                Err(e) => {
                    let message = scrub(&describe_reqwest_error(&e), &self.secrets());
                    self.report(
                        &m,
                        &shown,
                        None,
                        latency,
                        &message,
                        encoded.as_deref(),
                        None,
                    );
                    if idempotent && retries < MAX_5XX_RETRIES {
                        retries += 1;
                        tokio::time::sleep(backoff(retries)).await;
                        continue;
                    }
                    return Err(ClientError::Network {
                        method: m,
                        path: short,
                        message,
                    });
                }
                Ok(answer) => {
                    // The excerpt is for an observer (the console's log pane); without one
                    // (the CLI) the answer is not parsed twice for a line nobody reads.
                    let (summary, excerpt) = if self.has_observer() {
                        let value = answer.json();
                        let summary = self.summarize_parsed(&answer, value.as_ref());
                        (summary, Some(self.excerpt(&answer, value)))
                    } else {
                        (self.summarize(&answer), None)
                    };
                    self.report(
                        &m,
                        &shown,
                        Some(answer.status.as_u16()),
                        latency,
                        &summary,
                        encoded.as_deref(),
                        excerpt,
                    );
                    if answer.status == StatusCode::TOO_MANY_REQUESTS {
                        waits += 1;
                        let wait = retry_after(&answer);
                        if wait > s.max_retry_wait {
                            // Told, not endured: a wait past the bound ends the request now,
                            // and the budget is not paused (it would stall everything else).
                            tracing::warn!(path = %shown, asked_secs = wait.as_secs(), "429: wait too long, giving up");
                            return Err(ClientError::RateLimitTooLong {
                                method: m,
                                path: short,
                                asked: wait,
                                bound: s.max_retry_wait,
                            });
                        }
                        if waits > MAX_429_WAITS {
                            return Err(ClientError::RateLimited {
                                method: m,
                                path: short,
                                waits: waits - 1,
                            });
                        }
                        tracing::warn!(path = %shown, wait_secs = wait.as_secs_f32(), "429: pausing the request budget");
                        announce_wait("Discourse", &format!("{m} {short}"), wait);
                        // A little past the server's deadline, never before it.
                        self.inner.budget.pause(wait + Duration::from_millis(100));
                        continue;
                    }
                    if idempotent
                        && matches!(answer.status.as_u16(), 502..=504)
                        && retries < MAX_5XX_RETRIES
                    {
                        retries += 1;
                        tokio::time::sleep(backoff(retries)).await;
                        continue;
                    }
                    return Ok(answer);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn report(
        &self,
        method: &str,
        path: &str,
        status: Option<u16>,
        latency: Duration,
        summary: &str,
        request_body: Option<&str>,
        response_body: Option<String>,
    ) {
        let secrets = self.secrets();
        let exchange = Exchange {
            at: chrono::Utc::now(),
            method: method.to_string(),
            path: path.to_string(),
            status,
            latency_ms: latency.as_millis() as u64,
            summary: scrub(summary, &secrets),
            request_body: request_body.map(|b| scrub(&sanitize::clean(b), &secrets)),
            response_body,
        };
        tracing::info!(
            method = %exchange.method, path = %exchange.path, status = ?exchange.status,
            latency_ms = exchange.latency_ms, summary = %exchange.summary, "discourse exchange"
        );
        let observer = self
            .inner
            .observer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(obs) = observer {
            obs(&exchange);
        }
    }

    /// A one-line summary: the error text Discourse gave, or the size of what came back.
    pub(super) fn summarize(&self, a: &Answer) -> String {
        let peek = a
            .is_json()
            .then(|| serde_json::from_slice::<SummaryPeek>(&a.body).ok())
            .flatten();
        self.summary_text(a, peek)
    }

    /// [`Self::summarize`], given the body already parsed (`None`: not JSON).
    fn summarize_parsed(&self, a: &Answer, parsed: Option<&Value>) -> String {
        let peek = parsed.filter(|_| a.is_json()).map(SummaryPeek::of_value);
        self.summary_text(a, peek)
    }

    fn summary_text(&self, a: &Answer, peek: Option<SummaryPeek>) -> String {
        let text = if a.looks_html() {
            "HTML page".to_string()
        } else if let Some(p) = peek {
            if let Some(e) = p.first_error {
                e
            } else if let Some(msg) = p.message {
                msg
            } else if p.failed {
                "FAILED".to_string()
            } else if let Some(n) = p.items {
                format!("{n} items")
            } else {
                String::new()
            }
        } else {
            String::from_utf8_lossy(&a.body).into_owned()
        };
        // Secrets out first, then cut: a cut secret would no longer be recognised.
        sanitize::truncate(&sanitize::clean(&scrub(&text, &self.secrets())), 100)
    }

    /// The start of the body for detail views: secrets removed by field name and by value.
    fn excerpt(&self, a: &Answer, parsed: Option<Value>) -> String {
        const SHOWN: usize = 4000;
        let scrubber = crate::secret::scrubber(&self.secrets());
        let text = match parsed {
            Some(mut v) => {
                redact_json(&mut v);
                // Printed only as far as it is shown; each string scrubbed whole.
                let text = super::excerpt::pretty_prefix(&v, SHOWN, &|s| scrubber.scrub(s));
                // Once more over what is shown, for a secret spread over more than one string.
                scrubber.scrub(&text)
            }
            None => scrubber.scrub(&String::from_utf8_lossy(&a.body)),
        };
        let cut: String = text.chars().take(SHOWN).collect();
        sanitize::clean_multiline(&cut)
    }

    pub(super) fn error(&self, method: &str, path: &str, a: &Answer) -> ClientError {
        let (method, shown) = (method.to_string(), short_path(&display_path(path)));
        let status = a.status.as_u16();
        let json = a.json();
        if status == 403
            && json
                .as_ref()
                .and_then(|v| v.get("error_type"))
                .and_then(Value::as_str)
                == Some("invalid_access")
        {
            return ClientError::InvalidAccess {
                method,
                path: shown,
            };
        }
        if status == 404 {
            return match Route::of(path) {
                Route::Admin => ClientError::AdminNotFound {
                    method,
                    path: shown,
                },
                Route::User => ClientError::NotFound {
                    method,
                    path: shown,
                },
            };
        }
        if (300..400).contains(&status) {
            let location = a
                .headers
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(|l| scrub(&sanitize::clean(l), &self.secrets()))
                .unwrap_or_default();
            return ClientError::Redirect {
                method,
                path: shown,
                location,
            };
        }
        // A 5xx HTML page is a proxy's or Rails' own error page: the server is in trouble, the
        // URL is not wrong. Report the status ("HTTP 502: HTML page"), not the URL hint.
        if a.looks_html() && status < 500 {
            return ClientError::NotJson {
                method,
                path: shown,
                status,
            };
        }
        ClientError::Status {
            method,
            path: shown,
            status,
            summary: self.summarize(a),
        }
    }

    pub(super) async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let a = self.send(Method::GET, path, None).await?;
        self.decode("GET", path, &a)
    }

    fn decode<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        a: &Answer,
    ) -> Result<T, ClientError> {
        if !a.status.is_success() {
            return Err(self.error(method, path, a));
        }
        if a.looks_html() {
            return Err(ClientError::NotJson {
                method: method.to_string(),
                path: short_path(&display_path(path)),
                status: a.status.as_u16(),
            });
        }
        serde_json::from_slice(&a.body).map_err(|e| ClientError::Decode {
            method: method.to_string(),
            path: short_path(&display_path(path)),
            // serde quotes the value it choked on, which can be anything the server sent.
            message: scrub(&sanitize::clean(&e.to_string()), &self.secrets()),
        })
    }

    // ---- Typed endpoints -------------------------------------------------------------------

    /// Reads site settings by name. Newer servers answer
    /// `/admin/config/site_settings.json?filter_names[]=…`
    /// (`app/controllers/admin/config/site_settings_controller.rb`); older ones only the full
    /// list at `/admin/site_settings.json`. Values are strings (§7).
    pub async fn site_settings(
        &self,
        names: &[&str],
    ) -> Result<BTreeMap<String, String>, ClientError> {
        let query: Vec<String> = names
            .iter()
            .map(|n| format!("filter_names[]={}", segment(n)))
            .collect();
        let path = format!("/admin/config/site_settings.json?{}", query.join("&"));
        let parsed = match self.get_json::<SiteSettingsJson>(&path).await {
            Ok(s) => s,
            // 404/400: a server without the config endpoint. A bad key fails the fallback too.
            Err(e) if matches!(e.status(), Some(404) | Some(400)) => {
                self.get_json::<SiteSettingsJson>("/admin/site_settings.json")
                    .await?
            }
            Err(e) => return Err(e),
        };
        Ok(parsed
            .site_settings
            .into_iter()
            .filter(|s| names.contains(&s.setting.as_str()))
            .map(|s| {
                let v = match s.value {
                    Value::String(v) => v,
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                (s.setting, v)
            })
            .collect())
    }

    /// The DiscourseConnect settings, new names first and old `sso_*` names as fallback.
    pub async fn dc_settings(&self) -> Result<DcSettings, ClientError> {
        let raw = self.site_settings(&DcSettings::all_names()).await?;
        Ok(DcSettings::from_raw(&raw))
    }

    /// `PUT /admin/site_settings/{name}` with the body parameter named after the setting (§7).
    pub async fn update_site_setting(&self, name: &str, value: &str) -> Result<(), ClientError> {
        let path = format!("/admin/site_settings/{}", segment(name));
        let a = self
            .send(
                Method::PUT,
                &path,
                Some(Body::Form(vec![(name.to_string(), value.to_string())])),
            )
            .await?;
        if a.status.is_success() {
            Ok(())
        } else {
            Err(self.error("PUT", &path, &a))
        }
    }

    /// `GET /u/{username}.json`.
    pub async fn user(&self, username: &str) -> Result<UserJson, ClientError> {
        let path = format!("/u/{}.json", segment(username));
        Ok(self.get_json::<UserEnvelope>(&path).await?.user)
    }

    /// `GET /u/by-external/{id}.json` (DiscourseConnect external id, §8).
    pub async fn user_by_external(&self, external_id: &str) -> Result<UserJson, ClientError> {
        let path = format!("/u/by-external/{}.json", segment(external_id));
        Ok(self.get_json::<UserEnvelope>(&path).await?.user)
    }

    /// `GET /admin/users/{id}.json`: email, active, groups, single_sign_on_record.
    pub async fn admin_user(&self, id: i64) -> Result<AdminUserJson, ClientError> {
        self.get_json(&format!("/admin/users/{id}.json")).await
    }

    /// `GET /admin/users/list/all.json?email=…`: exact primary email.
    pub async fn users_by_email(&self, email: &str) -> Result<Vec<AdminListUserJson>, ClientError> {
        self.get_json(&format!(
            "/admin/users/list/all.json?email={}",
            segment(email)
        ))
        .await
    }

    /// `GET /admin/users/list/all.json?filter=a,b,c`: newest servers split the filter into up to
    /// 100 terms (`lib/admin_user_index_query.rb`); older ones match the whole string.
    /// `with_emails` adds `show_emails=true`, which Discourse records as a staff action; only the
    /// lookup before a sync needs the emails, verification polls do not.
    pub async fn users_by_filter(
        &self,
        terms: &[String],
        with_emails: bool,
    ) -> Result<Vec<AdminListUserJson>, ClientError> {
        let joined = terms.join(",");
        let extra = if with_emails { "&show_emails=true" } else { "" };
        self.get_json(&format!(
            "/admin/users/list/all.json?filter={}{extra}",
            segment(&joined)
        ))
        .await
    }

    /// `PUT /u/{username}/preferences/avatar/pick` with `type=system`: the letter avatar,
    /// synchronously. 422 FAILED when DiscourseConnect overrides avatars (§2).
    pub async fn pick_system_avatar(&self, username: &str) -> Result<(), ClientError> {
        self.pick_avatar(username, "system", None).await
    }

    /// `PUT /u/{username}/preferences/avatar/pick` with `type=custom&upload_id=N`: puts the
    /// upload in the custom slot *and* makes it the avatar (`users_controller.rb#pick_avatar`
    /// sets `user_avatar.custom_upload_id` and `uploaded_avatar_id`, §2).
    pub async fn pick_custom_avatar(
        &self,
        username: &str,
        upload_id: u64,
    ) -> Result<(), ClientError> {
        self.pick_avatar(username, "custom", Some(upload_id)).await
    }

    async fn pick_avatar(
        &self,
        username: &str,
        kind: &str,
        upload_id: Option<u64>,
    ) -> Result<(), ClientError> {
        let path = format!("/u/{}/preferences/avatar/pick", segment(username));
        let mut form = vec![("type".to_string(), kind.to_string())];
        if let Some(id) = upload_id {
            form.push(("upload_id".into(), id.to_string()));
        }
        let a = self
            .send(Method::PUT, &path, Some(Body::Form(form)))
            .await?;
        if a.status.is_success() {
            return Ok(());
        }
        if a.status.as_u16() == 422
            && a.json()
                .as_ref()
                .and_then(|v| v.get("failed"))
                .and_then(Value::as_str)
                == Some("FAILED")
        {
            return Err(ClientError::OverridesAvatar {
                method: "PUT".into(),
                path: display_path(&path),
            });
        }
        Err(self.error("PUT", &path, &a))
    }

    /// `POST /uploads.json` with `upload_type=avatar` and the image as `file` (multipart), as an
    /// admin (`UploadsController#create`). `UploadCreator#create_for` answers an existing upload
    /// with the same sha1 instead of a new one (`lib/upload_creator.rb`, "do we already have that
    /// upload?"), so every run gets the same id for the same bytes. Returns the upload id.
    pub async fn upload_avatar(&self, file_name: &str, bytes: Vec<u8>) -> Result<u64, ClientError> {
        let path = "/uploads.json";
        let body = Body::Multipart {
            fields: vec![("upload_type".into(), "avatar".into())],
            file_field: "file".into(),
            file_name: file_name.into(),
            bytes,
        };
        let a = self.send(Method::POST, path, Some(body)).await?;
        let v: Value = self.decode("POST", path, &a)?;
        v.get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| ClientError::Decode {
                method: "POST".into(),
                path: path.into(),
                message: "the upload's answer has no id".into(),
            })
    }

    /// `POST /admin/users/sync_sso` with the signed payload as a form body (`sso=…&sig=…`).
    pub async fn sync_sso(&self, form_body: String) -> Result<AdminUserJson, ClientError> {
        let path = "/admin/users/sync_sso";
        let a = self
            .send(Method::POST, path, Some(Body::Raw(form_body)))
            .await?;
        self.decode("POST", path, &a)
    }

    /// `GET /u/{username}/emails.json` → the primary email. Newer servers leave `email` out of
    /// the admin serializers unless asked (`UsersController#check_emails`, staff only).
    pub async fn user_email(&self, username: &str) -> Result<Option<String>, ClientError> {
        let v: Value = self
            .get_json(&format!("/u/{}/emails.json", segment(username)))
            .await?;
        Ok(v.get("email").and_then(Value::as_str).map(str::to_string))
    }

    /// `GET /u/{username}/sso-payload.json` → the last payload (newest servers, §8).
    pub async fn sso_payload(&self, username: &str) -> Result<Option<String>, ClientError> {
        let v: Value = self
            .get_json(&format!("/u/{}/sso-payload.json", segment(username)))
            .await?;
        Ok(v.get("payload").and_then(Value::as_str).map(str::to_string))
    }

    /// One page (10 items) of `GET /review.json`.
    pub async fn review_page(
        &self,
        offset: u64,
        kind: Option<&str>,
        status: &str,
    ) -> Result<ReviewPage, ClientError> {
        let mut path = format!("/review.json?offset={offset}&status={}", segment(status));
        if let Some(k) = kind {
            path.push_str(&format!("&type={}", segment(k)));
        }
        let page: ReviewPageJson = self.get_json(&path).await?;
        Ok(page.into_page(offset))
    }

    /// `POST /logs/messages.json` (Logster; form parameters only).
    pub async fn log_messages(&self, q: &LogQuery) -> Result<Vec<LogLine>, ClientError> {
        let path = "/logs/messages.json";
        let mut form = vec![("filter".to_string(), q.filter.clone())];
        for (k, v) in [
            ("search", &q.search),
            ("after", &q.after),
            ("before", &q.before),
        ] {
            if let Some(v) = v {
                form.push((k.to_string(), v.clone()));
            }
        }
        let a = self
            .send(Method::POST, path, Some(Body::Form(form)))
            .await?;
        let page: LogPageJson = self.decode("POST", path, &a)?;
        // Log lines can echo anything a server saw, our own secrets included.
        let secrets = self.secrets();
        Ok(page
            .into_lines()
            .into_iter()
            .map(|mut l| {
                l.message = scrub(&l.message, &secrets);
                l
            })
            .collect())
    }
}

impl DiscourseClient {
    /// A Logster search, with each message's env (Logster sends `env` only to a search,
    /// `lib/logster/middleware/viewer.rb`), oldest first. Env values are untrusted text: callers
    /// match on them and quote only the sanitized message.
    pub async fn log_search_with_env(
        &self,
        search: &str,
    ) -> Result<Vec<(LogLine, Value)>, ClientError> {
        let path = "/logs/messages.json";
        let form = vec![
            ("filter".to_string(), LogQuery::default().filter),
            ("search".to_string(), search.to_string()),
        ];
        let a = self
            .send(Method::POST, path, Some(Body::Form(form)))
            .await?;
        let page: LogPageJson = self.decode("POST", path, &a)?;
        let envs: Vec<Value> = page
            .messages
            .iter()
            .map(|m| m.get("env").cloned().unwrap_or(Value::Null))
            .collect();
        let keys: Vec<Option<String>> = page
            .messages
            .iter()
            .map(|m| m.get("key").and_then(Value::as_str).map(str::to_string))
            .collect();
        let secrets = self.secrets();
        let lines = page.into_lines();
        Ok(lines
            .into_iter()
            .map(|mut l| {
                l.message = scrub(&l.message, &secrets);
                let env = keys
                    .iter()
                    .position(|k| k.as_deref() == Some(l.key.as_str()))
                    .map(|i| envs[i].clone())
                    .unwrap_or(Value::Null);
                (l, env)
            })
            .collect())
    }
}

/// A Logster query (`lib/logster/middleware/viewer.rb`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    pub filter: String,
    pub search: Option<String>,
    pub after: Option<String>,
    pub before: Option<String>,
}

impl Default for LogQuery {
    fn default() -> Self {
        // warn, error, fatal, unknown: production Logster keeps WARN and above anyway.
        LogQuery {
            filter: "2_3_4_5".into(),
            search: None,
            after: None,
            before: None,
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(400 * 2u64.pow(attempt.saturating_sub(1)))
}

/// How long a 429 asks us to wait: `Retry-After`, else `extras.wait_seconds`, else the
/// "retry again in N seconds" text of the per-IP limiter (`lib/middleware/request_tracker.rb`),
/// else 10 s.
fn retry_after(a: &Answer) -> Duration {
    crate::net::retry_after(&a.headers, &a.body).unwrap_or(Duration::from_secs(10))
}

/// Whether waits are announced on standard error as they start (the CLI; never the console,
/// which owns the terminal and shows the pause in its header instead).
static ANNOUNCE_WAITS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Turns the standard-error announcement of rate-limit waits on (CLI commands).
pub fn announce_waits_on_stderr(on: bool) {
    ANNOUNCE_WAITS.store(on, Ordering::SeqCst);
}

/// Says on standard error, at once, that a wait past the bound was refused (a background
/// request's error would otherwise reach only the log).
pub fn announce_refusal(message: &str) {
    if ANNOUNCE_WAITS.load(Ordering::SeqCst) {
        eprintln!("{}", sanitize::clean(message));
    }
}

/// Says on standard error that `who` asked us to wait, before the wait starts.
pub fn announce_wait(who: &str, what: &str, wait: Duration) {
    if ANNOUNCE_WAITS.load(Ordering::SeqCst) {
        eprintln!(
            "{who} is rate limiting ({}): waiting {:.0} s as it asked…",
            sanitize::clean(what),
            wait.as_secs_f64().ceil()
        );
    }
}

/// A path for error messages: a long query (the settings filter lists every name) is cut.
fn short_path(path: &str) -> String {
    match path.split_once('?') {
        Some((p, q)) if q.chars().count() > 40 => {
            format!("{p}?{}…", q.chars().take(40).collect::<String>())
        }
        _ => path.to_string(),
    }
}

/// Path for people: percent-escapes decoded (usernames show as typed), control characters gone.
pub(super) fn display_path(path: &str) -> String {
    sanitize::clean(&percent_encoding::percent_decode_str(path).decode_utf8_lossy())
}

/// A short message about a failed request: what went wrong and its innermost cause.
pub fn describe_reqwest_error(e: &reqwest::Error) -> String {
    // reqwest's Display can include the URL; ours never holds credentials (headers only), but
    // keep the message short and about the cause.
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_redirect() {
        "redirect refused"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "broken answer body"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        cause = s.to_string();
        src = s.source();
    }
    if cause.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {}", sanitize::clean(&cause))
    }
}

/// Blanks values that are secrets: any key naming a secret or key, and the `value` of a site
/// setting marked `secret: true` or named `*secret*`.
/// What an answer's one-line summary uses: Discourse's first error, its `message`, a `failed`
/// key, or the length of a top-level array. Read from the bytes without building the document
/// (the CLI summarizes every page of a big queue).
#[derive(Debug, Default, PartialEq, Eq)]
struct SummaryPeek {
    first_error: Option<String>,
    message: Option<String>,
    failed: bool,
    items: Option<usize>,
}

impl SummaryPeek {
    fn of_value(v: &Value) -> SummaryPeek {
        SummaryPeek {
            first_error: v
                .get("errors")
                .and_then(Value::as_array)
                .and_then(|e| e.first())
                .and_then(Value::as_str)
                .map(str::to_string),
            message: v.get("message").and_then(Value::as_str).map(str::to_string),
            failed: v.get("failed").is_some(),
            items: v.as_array().map(Vec::len),
        }
    }
}

impl<'de> serde::Deserialize<'de> for SummaryPeek {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SummaryPeek;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON document")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<SummaryPeek, A::Error> {
                let mut p = SummaryPeek::default();
                while let Some(k) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                    match k.as_ref() {
                        "errors" => {
                            let v: Value = m.next_value()?;
                            p.first_error = v
                                .as_array()
                                .and_then(|e| e.first())
                                .and_then(Value::as_str)
                                .map(str::to_string);
                        }
                        "message" => {
                            let v: Value = m.next_value()?;
                            p.message = v.as_str().map(str::to_string);
                        }
                        "failed" => {
                            m.next_value::<IgnoredAny>()?;
                            p.failed = true;
                        }
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(p)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<SummaryPeek, A::Error> {
                let mut n = 0;
                while s.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(SummaryPeek {
                    items: Some(n),
                    ..SummaryPeek::default()
                })
            }
            fn visit_bool<E>(self, _: bool) -> Result<SummaryPeek, E> {
                Ok(SummaryPeek::default())
            }
            fn visit_i64<E>(self, _: i64) -> Result<SummaryPeek, E> {
                Ok(SummaryPeek::default())
            }
            fn visit_u64<E>(self, _: u64) -> Result<SummaryPeek, E> {
                Ok(SummaryPeek::default())
            }
            fn visit_f64<E>(self, _: f64) -> Result<SummaryPeek, E> {
                Ok(SummaryPeek::default())
            }
            fn visit_str<E>(self, _: &str) -> Result<SummaryPeek, E> {
                Ok(SummaryPeek::default())
            }
            fn visit_unit<E>(self) -> Result<SummaryPeek, E> {
                Ok(SummaryPeek::default())
            }
        }
        d.deserialize_any(V)
    }
}

pub fn redact_json(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let secret_setting = map.get("secret").and_then(Value::as_bool) == Some(true)
                || map
                    .get("setting")
                    .and_then(Value::as_str)
                    .is_some_and(|s| s.contains("secret"));
            for (k, val) in map.iter_mut() {
                // Runs on every key of every answer: no lowercase copy.
                let has = |word: &str| {
                    k.as_bytes()
                        .windows(word.len())
                        .any(|w| w.eq_ignore_ascii_case(word.as_bytes()))
                };
                let named_secret = has("secret") && !k.eq_ignore_ascii_case("secret")
                    || has("api_key")
                    || has("token")
                    || has("password");
                if (named_secret && !val.is_boolean())
                    || (secret_setting && (k == "value" || k == "default"))
                {
                    *val = Value::String("[redacted]".into());
                } else {
                    redact_json(val);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The summary read straight from the bytes says what the whole parsed document says.
    #[test]
    fn summary_peek_from_bytes_matches_the_parsed_document() {
        for body in [
            r#"{"errors":["Username is invalid","x"],"error_type":"invalid_parameters"}"#,
            r#"{"message":"ok then","failed":"FAILED"}"#,
            r#"{"failed":"FAILED"}"#,
            r#"[1,{"a":[2,3]},"x",null]"#,
            r#"[]"#,
            r#"{"users":[{"id":1,"message":"nested, not the answer's"}],"meta":{}}"#,
            r#"{"errors":"not a list","message":7}"#,
            r#""just a string""#,
            r#"42"#,
            r#"null"#,
        ] {
            let v: Value = serde_json::from_str(body).unwrap();
            let peek: SummaryPeek = serde_json::from_str(body).unwrap();
            assert_eq!(peek, SummaryPeek::of_value(&v), "{body}");
        }
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("bob.smith"), "bob.smith");
        assert_eq!(segment("山田"), "%E5%B1%B1%E7%94%B0");
        assert_eq!(segment("a/b?c"), "a%2Fb%3Fc");
    }

    #[test]
    fn secret_settings_are_redacted() {
        let mut v = json!({"site_settings": [
            {"setting": "discourse_connect_secret", "value": "topsecret", "secret": true},
            {"setting": "enable_discourse_connect", "value": "true", "secret": false}
        ], "api_key": "k"});
        redact_json(&mut v);
        let s = v.to_string();
        assert!(!s.contains("topsecret"));
        assert!(s.contains("\"true\""));
        assert!(!s.contains("\"k\""));
    }

    fn answer(headers: &[(&str, &str)], body: &str) -> Answer {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        Answer {
            status: StatusCode::TOO_MANY_REQUESTS,
            headers: h,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn retry_after_sources_in_order() {
        assert_eq!(
            retry_after(&answer(&[("retry-after", "3")], "")),
            Duration::from_secs(3)
        );
        let json = r#"{"extras":{"wait_seconds":7}}"#;
        assert_eq!(
            retry_after(&answer(&[("content-type", "application/json")], json)),
            Duration::from_secs(7)
        );
        let text =
            "Slow down, too many requests from this IP address. Please retry again in 12 seconds.";
        assert_eq!(
            retry_after(&answer(&[("content-type", "text/plain")], text)),
            Duration::from_secs(12)
        );
        assert_eq!(retry_after(&answer(&[], "nope")), Duration::from_secs(10));
        // A hostile or broken server cannot crash the client.
        assert_eq!(
            retry_after(&answer(&[("retry-after", "NaN")], "")),
            Duration::from_secs(10)
        );
        assert_eq!(
            retry_after(&answer(&[("retry-after", "inf")], "")),
            Duration::from_secs(10)
        );
        assert_eq!(
            retry_after(&answer(&[("retry-after", "-5")], "")),
            Duration::from_secs(1)
        );
    }
}
