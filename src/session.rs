//! Builds the clients, the audit log and the reset engine from a loaded configuration: the one
//! place that turns config into live objects, shared by every command and the console.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::audit::AuditLog;
use crate::config::{Config, ResetStrategy};
use crate::discourse::client::{ClientSettings, DiscourseClient, http_client};
use crate::main_app::{MainAppClient, MainAppSettings};
use crate::reset::{Engine, ResetOptions, StrategyChoice};
use crate::secret::Secret;

/// The longest one rate-limit wait (Discourse's or the main app's `Retry-After`) is endured.
/// Discourse counts in 60-second windows, so a longer wait is not a passing limit: it is said at
/// once and the request fails.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(65);

pub struct Session {
    pub http: reqwest::Client,
    pub discourse: DiscourseClient,
    pub main_app: Option<MainAppClient>,
    pub audit: Arc<AuditLog>,
}

impl Session {
    /// Needs `config.require_api()` to have passed.
    pub fn new(config: &Config, data_dir: &Path) -> Result<Session, String> {
        let d = &config.discourse;
        crate::secret::register(config.secrets());
        let http = http_client(Duration::from_secs(d.timeout_secs.max(1)));
        let mut others: Vec<Secret> = Vec::new();
        others.extend(d.sso_secret.clone());
        if let Some(m) = &config.main_app {
            others.extend(m.token.clone());
        }
        let discourse = DiscourseClient::new(
            http.clone(),
            ClientSettings {
                base_url: d.url.clone(),
                api_username: d.api_username.clone(),
                api_key: d.api_key.clone().unwrap_or_default(),
                requests_per_minute: d.requests_per_minute,
                max_retry_wait: MAX_RETRY_WAIT,
                other_secrets: others,
            },
        );
        let main_app = config.main_app.as_ref().map(|m| {
            MainAppClient::new(
                http.clone(),
                MainAppSettings {
                    flagged_url: m.flagged_url.clone(),
                    token: m.token.clone().unwrap_or_default(),
                    resolved_url: m.resolved_url.clone(),
                    fields: m.fields.clone(),
                },
                None,
            )
        });
        let audit = AuditLog::open(data_dir, &d.api_username)
            .map_err(|e| format!("cannot open the audit log in {}: {e}", data_dir.display()))?;
        Ok(Session {
            http,
            discourse,
            main_app,
            audit: Arc::new(audit),
        })
    }

    /// Every exchange with Discourse and the main app goes to `observer` (the log pane).
    pub fn set_observer(&self, observer: crate::discourse::client::Observer) {
        self.discourse.set_observer(observer.clone());
        if let Some(m) = &self.main_app {
            m.set_observer(observer);
        }
    }

    pub fn reset_options(
        config: &Config,
        strategy: Option<ResetStrategy>,
        no_verify: bool,
        dry_run: bool,
    ) -> ResetOptions {
        let choice = match strategy.unwrap_or(config.reset.strategy) {
            ResetStrategy::Auto => StrategyChoice::Auto,
            ResetStrategy::Pick => StrategyChoice::Pick,
            ResetStrategy::SyncSso => StrategyChoice::SyncSso,
        };
        ResetOptions {
            choice,
            verify: config.reset.verify && !no_verify,
            verify_timeout: Duration::from_secs(config.reset.verify_timeout_secs.max(1)),
            sso_secret: config.discourse.sso_secret.clone(),
            default_avatar_url: config
                .discourse
                .default_avatar_url
                .as_ref()
                .map(|u| u.to_string()),
            dry_run,
            ..ResetOptions::default()
        }
    }

    /// The upload of the configured default image, known once a verified reset put it in
    /// place (from the audit log; uploads are shared by content, so it is one id for all).
    pub fn default_image_upload(&self, config: &Config) -> Option<u64> {
        let url = config.discourse.default_avatar_url.as_ref()?.to_string();
        crate::audit::known_default_upload(&self.audit.read_all(), &url)
    }

    pub fn engine(&self, opts: ResetOptions) -> Engine {
        Engine::new(
            self.discourse.clone(),
            self.main_app.clone(),
            self.audit.clone(),
            opts,
        )
    }
}
