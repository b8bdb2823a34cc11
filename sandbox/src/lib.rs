//! The sandbox: one HTTP server on 127.0.0.1 that plays a Discourse site (connected by
//! DiscourseConnect) and the company's main app, for `--demo`, `avatar-console sandbox` and the
//! tests. It behaves as `discourse-api.md` describes, unpleasant parts included; each behaviour
//! cites the Discourse file it follows.
//!
//! Modules: [`routes`] (dispatch, auth, Discourse routes), [`state`] and [`seed`] (data; the
//! fixed users are listed in [`seed`]), [`sso`] (parsing as Discourse does), [`sync`]
//! (sync_sso semantics and client rules), [`download`] (the avatar job), [`logster`],
//! [`ratelimit`], [`faults`], [`main_app`], [`control`] (`/sandbox/…` test controls).

mod control;
mod download;
mod faults;
mod http;
pub mod logster;
mod lost;
mod main_app;
pub mod pictures;
pub mod png;
pub mod prng;
pub mod ratelimit;
mod review;
mod routes;
pub mod seed;
pub mod sso;
pub mod state;
mod sync;
mod uploads;

pub use state::{GroupRef, RecordedRequest, SandboxUser, SsoRecord, Violation};

use axum::Router;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::task::JoinHandle;

/// What the sandbox plays. `Default` is the test scenario; [`Scenario::demo`] is `--demo`.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Deterministic data.
    pub seed: u64,
    /// Flagged users (fixed ones included); 100 000 starts in well under 2 s (release).
    pub flagged: usize,
    /// Admin API requests per sliding 60 s window, shared by all admin keys; 0 = unlimited.
    pub admin_rate_limit: u32,
    /// The `+`→space bug of sync_sso on servers before discourse/discourse#42024.
    pub plus_bug: bool,
    /// Delay before the avatar download job runs.
    pub download_delay: Duration,
    pub overrides_avatar: bool,
    pub overrides_groups: bool,
    pub overrides_email: bool,
    /// `/admin/site_settings.json` shows `discourse_connect_secret` to admins.
    pub expose_secret_in_settings: bool,
    /// Simulated logins from a timer (`None` in tests).
    pub login_interval: Option<Duration>,
    pub faults: Faults,
    /// `filter=` of `/admin/users/list` split on commas/whitespace (newest servers); `false`
    /// plays an older server that takes the whole string as one substring.
    pub split_filter: bool,
    /// Newer servers leave `email` out of `/admin/users/{id}.json` and of the user list unless
    /// `show_emails=true` (`AdminUserListSerializer#include_email?`); `false` (default) plays
    /// the older serializers that always sent it. `/u/{username}/emails.json` works either way.
    pub hide_admin_emails: bool,
    /// `verbose_discourse_connect_logging` and `verbose_upload_logging` at start.
    pub verbose_logging: bool,
    /// Adds the demo's users whose reset ends each way a moderator meets (`seed.rs`,
    /// "Demo outcomes"): one whose avatar job fails with a logged exception, one whose review
    /// item another moderator changes as you act.
    pub demo_outcomes: bool,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            seed: 1,
            flagged: 60,
            admin_rate_limit: 60,
            plus_bug: true,
            download_delay: Duration::from_secs(1),
            overrides_avatar: true,
            overrides_groups: true,
            overrides_email: true,
            expose_secret_in_settings: true,
            login_interval: None,
            faults: Faults::default(),
            split_filter: true,
            hide_admin_emails: false,
            verbose_logging: false,
            demo_outcomes: false,
        }
    }
}

impl Scenario {
    /// What `--demo` uses: timer logins every 5 s, verbose logging on, and the demo outcomes.
    pub fn demo() -> Self {
        Scenario {
            login_interval: Some(Duration::from_secs(5)),
            verbose_logging: true,
            demo_outcomes: true,
            ..Scenario::default()
        }
    }
}

/// Injected faults; change them at runtime with [`Sandbox::set_faults`].
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Added before every answer.
    pub latency: Duration,
    /// Share (0..1) of requests answered 500 or 502.
    pub error_rate: f64,
    /// Every Discourse request gets a 429 (admin-limit JSON, or the plain-text per-IP form).
    pub storm_429: bool,
    /// Bodies trickle out over this long.
    pub slow_body: Option<Duration>,
    /// Injected 500/502 come as HTML pages (nginx, Rails) instead of JSON/plain text.
    pub html_errors: bool,
    /// Successful JSON bodies are cut short.
    pub malformed_json: bool,
    /// Avatar downloads fail with a job-exception error line.
    pub failing_downloads: bool,
}

/// A simulated browser login through DiscourseConnect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginKind {
    Ok,
    TakenEmail,
    BadSignature,
}

pub(crate) struct Shared {
    state: Mutex<state::State>,
    http: reqwest::Client,
    /// Writes whose answer is lost after they were applied (`lost.rs`).
    pub(crate) lost: lost::Knob,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, state::State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running sandbox. Dropping it (or [`Sandbox::shutdown`]) stops the server.
pub struct Sandbox {
    shared: Arc<Shared>,
    port: u16,
    server: JoinHandle<()>,
    timer: Option<JoinHandle<()>>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.server.abort();
        if let Some(t) = &self.timer {
            t.abort();
        }
    }
}

impl Sandbox {
    /// Starts on 127.0.0.1 on a random port.
    pub async fn start(s: Scenario) -> std::io::Result<Sandbox> {
        Self::start_on(0, s).await
    }

    pub async fn start_on(port: u16, s: Scenario) -> std::io::Result<Sandbox> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let port = listener.local_addr()?.port();
        let base = format!("http://127.0.0.1:{port}");
        let login_interval = s.login_interval;
        let st = seed::build(&s, "127.0.0.1", &base);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .user_agent("Discourse Forum Onebox v3.5.0")
            .build()
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(st),
            http,
            lost: lost::Knob::default(),
        });
        let app = Router::new()
            .fallback(routes::dispatch)
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!("sandbox server stopped: {e}");
            }
        });
        let timer = login_interval.map(|every| {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                loop {
                    tokio::time::sleep(every).await;
                    n += 1;
                    // Most logins succeed; some fail the way real ones do.
                    let kind = match n % 6 {
                        3 => LoginKind::TakenEmail,
                        5 => LoginKind::BadSignature,
                        _ => LoginKind::Ok,
                    };
                    control::simulate_login(&mut shared.lock(), kind);
                }
            })
        });
        Ok(Sandbox {
            shared,
            port,
            server,
            timer,
        })
    }

    /// `http://127.0.0.1:PORT`, the Discourse base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn api_key(&self) -> String {
        self.shared.lock().api_key.clone()
    }
    /// An admin (`system`).
    pub fn api_username(&self) -> String {
        "system".into()
    }
    /// The current `discourse_connect_secret` setting.
    pub fn sso_secret(&self) -> String {
        self.shared.lock().sso_secret()
    }
    pub fn main_app_token(&self) -> String {
        self.shared.lock().main_app_token.clone()
    }
    pub fn flagged_url(&self) -> String {
        format!("{}{}", self.url(), main_app::FLAGGED_PATH)
    }
    pub fn resolved_url(&self) -> String {
        format!("{}{}", self.url(), main_app::RESOLVED_PATH)
    }
    /// A real PNG on the sandbox's own host (always allowed by the SSRF check).
    pub fn default_avatar_url(&self) -> String {
        format!("{}/images/default-avatar.png", self.url())
    }
    /// A complete config file (interface.md format) for this sandbox, secrets included.
    pub fn config_toml(&self) -> String {
        config_toml_for(&self.shared.lock())
    }
    pub fn user(&self, username: &str) -> Option<SandboxUser> {
        let st = self.shared.lock();
        st.user_idx_by_username(username)
            .filter(|i| st.users[*i].id > 0)
            .map(|i| st.snapshot(&st.users[i]))
    }
    pub fn user_by_external_id(&self, external_id: &str) -> Option<SandboxUser> {
        let st = self.shared.lock();
        st.by_external
            .get(external_id)
            .map(|i| st.snapshot(&st.users[*i]))
    }
    /// Every user but `system`.
    pub fn users(&self) -> Vec<SandboxUser> {
        let st = self.shared.lock();
        st.users
            .iter()
            .filter(|u| u.id > 0)
            .map(|u| st.snapshot(u))
            .collect()
    }
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }
    pub fn violations(&self) -> Vec<Violation> {
        self.shared.lock().violations.clone()
    }
    /// Forgets recorded requests and violations, and empties the rate-limit window.
    pub fn clear_records(&self) {
        let mut st = self.shared.lock();
        st.requests.clear();
        st.violations.clear();
        st.limiter.clear();
        st.retry_not_before = None;
    }
    /// How many users a console that merges both queues lists now: the users of pending
    /// review items and of unresolved main-app flags, once each (a flag joins its forum user
    /// by external id; one whose user is not on the forum is still an entry). A main-app flag
    /// without an external id matches nobody, and clients skip it: not counted.
    pub fn queue_size(&self) -> usize {
        let st = self.shared.lock();
        let mut keys = std::collections::HashSet::new();
        for r in st.reviewables.iter().filter(|r| r.status == 0) {
            let Some(u) = st.by_id.get(&r.target_user).map(|i| &st.users[*i]) else {
                continue;
            };
            keys.insert(match &u.sso {
                Some(s) => format!("ext:{}", s.external_id),
                None => format!("id:{}", u.id),
            });
        }
        for f in st.app_flags.iter().filter(|f| !f.resolved) {
            let ext = match &f.external_id {
                Some(state::AppId::Str(s)) => s.clone(),
                Some(state::AppId::Num(n)) => n.to_string(),
                None => continue,
            };
            keys.insert(format!("ext:{ext}"));
        }
        keys.len()
    }
    /// The bodies the main app received at `resolved_url`.
    pub fn resolved(&self) -> Vec<serde_json::Value> {
        self.shared.lock().resolved.clone()
    }
    pub fn setting(&self, name: &str) -> Option<String> {
        self.shared.lock().setting(name).map(str::to_string)
    }
    /// Sets a site setting (no validation; unknown names are added as strings).
    pub fn set_setting(&self, name: &str, value: &str) {
        let mut st = self.shared.lock();
        match st.settings.iter_mut().find(|s| s.name == name) {
            Some(s) => s.value = value.to_string(),
            None => {
                let name: &'static str = Box::leak(name.to_string().into_boxed_str());
                st.settings.push(state::Setting {
                    name,
                    value: value.to_string(),
                    default: "",
                    kind: "string",
                    category: "uncategorized",
                    description: "",
                    secret: false,
                });
            }
        }
    }
    /// The next `count` successful writes are applied, then their answer is lost.
    pub fn lose_write_answers(&self, count: u32, as_bad_gateway: bool) {
        let how = if as_bad_gateway {
            lost::LostAs::BadGateway
        } else {
            lost::LostAs::Cut
        };
        self.shared.lost.set(count, how);
    }

    pub fn set_faults(&self, f: Faults) {
        self.shared.lock().scenario.faults = f;
    }
    pub fn set_plus_bug(&self, on: bool) {
        self.shared.lock().scenario.plus_bug = on;
    }
    pub fn set_admin_rate_limit(&self, per_minute: u32) {
        self.shared.lock().scenario.admin_rate_limit = per_minute;
    }
    pub fn set_download_delay(&self, d: Duration) {
        self.shared.lock().scenario.download_delay = d;
    }
    pub fn simulate_login(&self, kind: LoginKind) {
        control::simulate_login(&mut self.shared.lock(), kind);
    }
    pub fn add_log(&self, severity: i64, message: &str) {
        self.shared.lock().log(severity, message);
    }
    /// The Logster messages currently stored (message, severity), oldest first.
    pub fn logs(&self) -> Vec<(i64, String)> {
        self.shared
            .lock()
            .logs
            .all()
            .map(|m| (m.severity, m.message.clone()))
            .collect()
    }
    pub fn shutdown(self) {
        drop(self);
    }
}

pub(crate) fn config_toml_for(st: &state::State) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let rpm = match st.scenario.admin_rate_limit {
        0 => 60,
        n => n,
    };
    format!(
        "# avatar-console config for the sandbox at {url}\n\
         [discourse]\n\
         url = {url_q}\n\
         api_username = \"system\"\n\
         api_key = {key}\n\
         sso_secret = {secret}\n\
         default_avatar_url = {avatar}\n\
         requests_per_minute = {rpm}\n\
         timeout_secs = 15\n\
         review_types = [\"ReviewableUser\", \"ReviewableFlaggedPost\"]\n\
         \n\
         [main_app]\n\
         flagged_url = {flagged}\n\
         token = {token}\n\
         resolved_url = {resolved}\n{reset}",
        url = st.base_url,
        url_q = q(&st.base_url),
        key = q(&st.api_key),
        secret = q(&st.sso_secret()),
        avatar = q(&format!("{}/images/default-avatar.png", st.base_url)),
        flagged = q(&format!("{}{}", st.base_url, main_app::FLAGGED_PATH)),
        token = q(&st.main_app_token),
        resolved = q(&format!("{}{}", st.base_url, main_app::RESOLVED_PATH)),
        // The demo's downloads take a second; its stuck user should not keep a newcomer
        // waiting the full default minute to see `unverified`.
        reset = if st.scenario.demo_outcomes {
            "\n[reset]\nverify_timeout_secs = 20\n"
        } else {
            ""
        },
    )
}
