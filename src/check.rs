//! `check USER`: a doctor for one user and the setup (issue 6).
//!
//! The decisions are plain functions over data (what a finding means: a problem that makes
//! `check` exit 1, or a warning that does not); [`gather`] does the talking, within a handful of
//! Discourse requests, and [`Report`] is what `check --json` prints.
//!
//! Problems (exit 1) are the definite ones: the site cannot be reached or is not Discourse, the
//! key is invalid or not an admin's, the user is missing, sync-sso is needed but cannot be sent
//! (no SSO record, no secret, no default URL, DiscourseConnect off), a default avatar URL on a
//! private or loopback address that Discourse would refuse, a secret that differs from the
//! server's. Everything this machine cannot see for itself (its network is not the forum's) is a
//! warning.
//!
//! Safety: the default avatar URL is classified by its literal address, never resolved to decide.
//! Only a public host is fetched (HEAD, else a capped GET), through a client whose resolver drops
//! private and loopback addresses, with no proxy, and whose redirects are checked the same way, so
//! nothing on a private range is ever contacted.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};
use url::Url;

use crate::audit::{self, AuditEntry};
use crate::config::Config;
use crate::discourse::client::{ClientError, DiscourseClient};
use crate::discourse::logs;
use crate::discourse::settings::DcSettings;
use crate::discourse::sso;
use crate::discourse::types::{UserJson, user_detail};
use crate::model::UserRef;
use crate::model::{AvatarKind, GroupRef, LogLine, Strategy, UserDetail};
use crate::net::{self, HostClass};
use crate::reset::plan::{self, Decision, StrategyChoice};
use crate::secret::Secret;

/// How many audit lines and Discourse log lines the report keeps (the newest).
pub const AUDIT_LINES: usize = 5;
pub const LOG_LINES: usize = 10;

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

/// Everything `check` found. `check --json` prints it as one object.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What the operator typed.
    pub input: String,
    pub site: SiteReport,
    /// The strategy a reset would use now (`pick` or `sync-sso`).
    pub strategy: Strategy,
    pub strategy_reason: String,
    /// The DiscourseConnect settings read, by their current Discourse names (strings, as
    /// Discourse sends them). `discourse_connect_secret` is never here.
    pub settings: BTreeMap<String, String>,
    /// Settings this server only knows under their old `sso_*` names (new → old).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub legacy_setting_names: BTreeMap<String, String>,
    /// The configured SSO secret against `discourse_connect_secret`, when the server shows it.
    pub secret: SecretStatus,
    /// `null` when the user could not be read.
    pub user: Option<UserReport>,
    /// `null` when `discourse.default_avatar_url` is not configured.
    pub default_avatar_url: Option<AvatarUrlReport>,
    /// The newest audit lines about the user, oldest first.
    pub audit: Vec<AuditEntry>,
    /// The newest Discourse log lines that mention the user, oldest first.
    pub logs: Vec<LogLine>,
    /// Discourse requests this check made.
    pub requests: u64,
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SiteReport {
    pub url: String,
    pub api_username: String,
    /// `None` when not tried.
    pub reachable: Option<bool>,
    pub key: KeyStatus,
    /// What was learnt about the key, in a sentence.
    pub key_detail: String,
    pub discourse_connect_enabled: Option<bool>,
    pub overrides_avatar: Option<bool>,
    pub overrides_groups: Option<bool>,
    pub overrides_email: Option<bool>,
    pub verbose_discourse_connect_logging: Option<bool>,
    pub verbose_upload_logging: Option<bool>,
    pub max_image_size_kb: Option<u64>,
    pub allowed_internal_hosts: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyStatus {
    /// Admin-only settings were readable.
    ValidAdmin,
    /// Discourse refused the key itself.
    Invalid,
    /// The key works for ordinary routes, but admin routes do not match: not an admin, or a
    /// granular key without the scope.
    NotAdmin,
    /// The site did not answer, or answered something we could not interpret.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretStatus {
    Match,
    Mismatch,
    /// Equal once surrounding whitespace is removed: Discourse signs with the exact value.
    MismatchWhitespace,
    /// The server does not show `discourse_connect_secret` (newer versions hide it).
    NotRevealed,
    /// The settings could not be read (see `site`).
    NotRead,
    /// No `discourse.sso_secret` (or `AVATAR_CONSOLE_SSO_SECRET`) configured.
    NotConfigured,
}

#[derive(Debug, Clone, Serialize)]
pub struct UserReport {
    pub id: u64,
    pub username: String,
    pub name: Option<String>,
    /// The DiscourseConnect external id (from the SSO record), `null` without one.
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub active: Option<bool>,
    pub groups: Vec<GroupRef>,
    /// `custom`, `system` or `unknown`.
    pub avatar: AvatarKind,
    pub uploaded_avatar_id: Option<u64>,
    pub avatar_template: Option<String>,
    /// The avatar is the configured default image: the upload a verified reset to
    /// `default_avatar_url` put in place (the audit log knows its id).
    pub default_image: bool,
    pub sso_record: Option<SsoReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SsoReport {
    pub external_id: String,
    pub external_username: Option<String>,
    pub external_email: Option<String>,
    pub external_name: Option<String>,
    pub external_avatar_url: Option<String>,
    /// The unsigned payload of the last login or sync, as Discourse keeps it.
    pub last_payload: Option<String>,
    /// Where it came from: `admin-record` or `sso-payload` (`/u/{username}/sso-payload.json`).
    pub last_payload_source: Option<String>,
    /// Its fields, decoded, in payload order.
    pub last_payload_fields: Option<Vec<(String, String)>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AvatarUrlReport {
    pub url: String,
    pub https: bool,
    pub host: String,
    /// `name`, `loopback`, `private` or `public-ip`, from the literal host (never resolved).
    pub host_class: &'static str,
    /// Why Discourse would fetch it although it is internal (`forum host`,
    /// `allowed_internal_hosts`), when it is.
    pub allowed_internal: Option<&'static str>,
    /// The advisory fetch from this machine; `null` when none was made.
    pub probe: Option<ProbeReport>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ProbeReport {
    /// `HEAD`, or `GET` when HEAD did not tell.
    pub method: String,
    pub status: Option<u16>,
    pub content_type: Option<String>,
    /// The size (Content-Length, or the bytes read up to the cap).
    pub bytes: Option<u64>,
    /// The GET stopped at the cap: the file is at least `bytes` long.
    pub truncated: bool,
    /// The first bytes look like an image (GET only).
    pub looks_like_image: Option<bool>,
    pub error: Option<String>,
}

/// Problems and warnings, in the order found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
}

impl Findings {
    pub fn problem(&mut self, s: impl Into<String>) {
        self.problems.push(s.into());
    }
    pub fn warn(&mut self, s: impl Into<String>) {
        self.warnings.push(s.into());
    }
    pub fn extend(&mut self, other: Findings) {
        self.problems.extend(other.problems);
        self.warnings.extend(other.warnings);
    }
}

// ---------------------------------------------------------------------------------------------
// Decisions (pure)
// ---------------------------------------------------------------------------------------------

/// What a failed settings read says about the site and the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVerdict {
    pub status: KeyStatus,
    /// `Some(false)`: no answer at all.
    pub reachable: Option<bool>,
    pub detail: String,
    /// A problem (exit 1) rather than a warning. Every failed read is one: without the settings
    /// the strategy shown is a guess, and `check` never says OK on a guess (issue 10).
    pub definite: bool,
}

/// Explains a failed settings read (the first request of a check, to an admin-only route).
/// `whoami` is the answer to `GET /u/{api_username}.json`, asked only after a 404 on the admin
/// route, to tell an invalid key (refused there too) from a valid key without admin rights.
pub fn key_verdict(
    settings_error: &ClientError,
    api_username: &str,
    whoami: Option<&Result<UserJson, ClientError>>,
) -> KeyVerdict {
    let v = |status, reachable, detail: String, definite| KeyVerdict {
        status,
        reachable: Some(reachable),
        detail,
        definite,
    };
    match settings_error {
        ClientError::Network { .. } => v(
            KeyStatus::Unknown,
            false,
            format!("Discourse is not reachable: {settings_error}"),
            true,
        ),
        ClientError::InvalidAccess { .. } => v(
            KeyStatus::Invalid,
            true,
            format!("the API key is invalid: {settings_error}"),
            true,
        ),
        ClientError::AdminNotFound { .. } => match whoami {
            Some(Err(e)) if e.is_credentials() || e.status() == Some(403) => v(
                KeyStatus::Invalid,
                true,
                format!(
                    "the API key or api_username is invalid (wrong or revoked key, key bound to \
                     another user, inactive user, or not allowed from this IP): admin routes \
                     answer 404 and GET /u/{api_username}.json answers {}",
                    e.status().map_or("an error".to_string(), |s| s.to_string())
                ),
                true,
            ),
            Some(Ok(_)) => v(
                KeyStatus::NotAdmin,
                true,
                format!(
                    "the key works, but admin routes answer 404: {api_username} is not an admin, \
                     or a granular key lacks the scope (site settings, sync_sso and /logs need a \
                     global admin key)"
                ),
                true,
            ),
            _ => v(KeyStatus::Unknown, true, settings_error.to_string(), true),
        },
        ClientError::RateLimited { .. } | ClientError::RateLimitTooLong { .. } => v(
            KeyStatus::Unknown,
            true,
            format!(
                "site settings could not be read (rate limited), so the strategy shown is a guess; \
                 run check again later: {settings_error}"
            ),
            true,
        ),
        e if e.status().is_some_and(|s| s >= 500) => v(
            KeyStatus::Unknown,
            true,
            format!(
                "site settings could not be read (server error), so the strategy shown is a \
                 guess: {settings_error}"
            ),
            true,
        ),
        _ => v(
            KeyStatus::Unknown,
            true,
            format!("site settings could not be read: {settings_error}"),
            true,
        ),
    }
}

pub fn key_findings(v: &KeyVerdict) -> Findings {
    let mut f = Findings::default();
    if v.status == KeyStatus::ValidAdmin {
    } else if v.definite {
        f.problem(v.detail.clone());
    } else {
        f.warn(v.detail.clone());
    }
    f
}

/// The DiscourseConnect settings, for the strategy in force.
pub fn settings_findings(s: &DcSettings, decision: &Decision) -> Findings {
    let mut f = Findings::default();
    match s.enabled() {
        Some(true) => {}
        Some(false) if decision.strategy == Strategy::SyncSso => f.problem(
            "enable_discourse_connect is off: sync_sso answers 404 while DiscourseConnect is disabled",
        ),
        Some(false) => f.warn("enable_discourse_connect is off: this forum does not use DiscourseConnect"),
        None => f.warn("enable_discourse_connect could not be read"),
    }
    if s.overrides_avatar().is_none() {
        f.warn(
            "discourse_connect_overrides_avatar could not be read: a reset tries pick first and \
             switches to sync-sso if Discourse refuses it",
        );
    }
    if decision.strategy == Strategy::SyncSso && s.overrides_groups().is_none() {
        f.warn(
            "discourse_connect_overrides_groups could not be read: a sync sends the user's manual \
             groups to be safe",
        );
    }
    f
}

/// Compares the configured secret with the server's in constant time (over SHA-256 digests, so
/// neither the contents nor the lengths show in the timing). Neither value is ever returned.
pub fn compare_secrets(configured: Option<&Secret>, server: Option<&Secret>) -> SecretStatus {
    let Some(server) = server else {
        return SecretStatus::NotRevealed;
    };
    let Some(configured) = configured.filter(|s| !s.is_empty()) else {
        return SecretStatus::NotConfigured;
    };
    if ct_eq(configured.expose(), server.expose()) {
        SecretStatus::Match
    } else if ct_eq(configured.expose().trim(), server.expose().trim()) {
        SecretStatus::MismatchWhitespace
    } else {
        SecretStatus::Mismatch
    }
}

fn ct_eq(a: &str, b: &str) -> bool {
    let da = Sha256::digest(a.as_bytes());
    let db = Sha256::digest(b.as_bytes());
    let diff = da
        .iter()
        .zip(db.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

pub fn secret_findings(status: SecretStatus, decision: &Decision) -> Findings {
    let mut f = Findings::default();
    match status {
        SecretStatus::Match | SecretStatus::NotRevealed | SecretStatus::NotRead => {}
        SecretStatus::Mismatch => f.problem(
            "the configured sso_secret differs from the server's discourse_connect_secret: every \
             sync_sso would fail with 422 \"Login Error\"",
        ),
        SecretStatus::MismatchWhitespace => f.problem(
            "the configured sso_secret differs from the server's discourse_connect_secret only by \
             surrounding whitespace: Discourse signs with the exact value, so every sync_sso would \
             fail with 422 \"Login Error\"",
        ),
        SecretStatus::NotConfigured if decision.strategy == Strategy::SyncSso => {
            // Reported by `config_findings`.
        }
        SecretStatus::NotConfigured => {
            f.warn("no sso_secret is configured: a sync-sso reset would need it")
        }
    }
    f
}

/// What the configuration lacks for the strategy in force.
pub fn config_findings(config: &Config, decision: &Decision) -> Findings {
    let mut f = Findings::default();
    if decision.strategy == Strategy::SyncSso
        && let Err(e) = config.require_sync_sso()
    {
        f.problem(format!("a reset would use {decision}, but {e}"));
    }
    f
}

/// The user against the strategy: can a reset be sent at all?
pub fn user_findings(
    user: &UserDetail,
    decision: &Decision,
    overrides_groups: Option<bool>,
    default_avatar_url: Option<&str>,
) -> Findings {
    let mut f = Findings::default();
    match decision.strategy {
        Strategy::SyncSso => {
            // The same refusal the reset would give (no SSO record, no email, unknown `active`).
            let url = default_avatar_url.unwrap_or("https://example.invalid/default.png");
            if let Err(e) = plan::sync_payload(user, url, overrides_groups) {
                if e == plan::NO_SSO_RECORD {
                    f.problem(format!(
                        "{} has no DiscourseConnect record (never logged in through SSO), and a \
                         reset needs sync-sso ({})",
                        user.username, decision.reason
                    ));
                } else {
                    f.problem(format!(
                        "a sync-sso reset of {} would refuse: {e}",
                        user.username
                    ));
                }
            }
        }
        Strategy::Pick => {
            if user.sso.is_none() && decision.reason.contains("unknown") {
                f.warn(format!(
                    "{} has no DiscourseConnect record: if pick is refused, the switch to \
                     sync-sso cannot work for this user",
                    user.username
                ));
            }
        }
    }
    if user.active == Some(false) {
        f.warn(format!(
            "{} is inactive: a sync sends require_activation=true so the sync does not activate them",
            user.username
        ));
    }
    if user.avatar_kind() == AvatarKind::System && decision.strategy == Strategy::Pick {
        f.warn(format!(
            "{} is already on the letter avatar: a reset would send nothing",
            user.username
        ));
    }
    f
}

/// How a default avatar URL looks to Discourse's SSRF guard, judged from the literal host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlAssessment {
    pub class: HostClass,
    pub allowed_internal: Option<&'static str>,
    /// A fetch from here is allowed: the host is public (a name, or a public IP literal).
    pub may_probe: bool,
    pub findings: Findings,
}

pub fn host_class_name(c: HostClass) -> &'static str {
    match c {
        HostClass::Name => "name",
        HostClass::Loopback => "loopback",
        HostClass::Private => "private",
        HostClass::PublicIp => "public-ip",
    }
}

/// interface.md: a private or loopback default URL is valid config, and a problem unless the host
/// is the forum's own or listed in `allowed_internal_hosts`. Plain http and IP literals are
/// warnings. Never resolves, never connects.
pub fn assess_avatar_url(
    url: &Url,
    forum: &Url,
    allowed_internal_hosts: &[String],
) -> UrlAssessment {
    let mut f = Findings::default();
    let class = net::classify_url(url).unwrap_or(HostClass::Name);
    if !matches!(url.scheme(), "http" | "https") {
        f.problem(format!(
            "default_avatar_url {url} is not http(s): Discourse ignores such a URL and nothing happens"
        ));
    } else if url.scheme() == "http" && class != HostClass::Loopback {
        // Over loopback the download never crosses a network (the demo's own image is one).
        f.warn(format!(
            "default_avatar_url {url} is plain http: use https (on a public host)"
        ));
    }
    let own = forum
        .host_str()
        .zip(url.host_str())
        .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b));
    let allowed_internal = if !class.is_internal() {
        None
    } else if own {
        Some("forum host")
    } else if net::allowed_internal(url, forum, allowed_internal_hosts) {
        Some("allowed_internal_hosts")
    } else {
        None
    };
    match class {
        HostClass::Loopback | HostClass::Private => {
            let what = if class == HostClass::Loopback {
                "a loopback"
            } else {
                "a private"
            };
            if allowed_internal.is_none() {
                f.problem(format!(
                    "default_avatar_url {url} is on {what} address: Discourse refuses to download \
                     it (SSRF protection) unless its host is listed in allowed_internal_hosts"
                ));
            }
        }
        HostClass::PublicIp => f.warn(format!(
            "default_avatar_url {url} uses an IP literal: older Discourse versions refuse IP-literal \
             hosts; prefer a host name"
        )),
        HostClass::Name => {}
    }
    let port_ok = matches!(
        (url.scheme(), url.port()),
        (_, None) | ("http", Some(80)) | ("https", Some(443))
    );
    if !port_ok && allowed_internal.is_none() {
        f.warn(format!(
            "default_avatar_url {url} uses a non-standard port: older Discourse versions only fetch \
             from 80 (http) and 443 (https)"
        ));
    }
    UrlAssessment {
        class,
        allowed_internal,
        may_probe: matches!(class, HostClass::Name | HostClass::PublicIp)
            && matches!(url.scheme(), "http" | "https"),
        findings: f,
    }
}

/// Warnings from the advisory fetch. Never problems: this machine's network is not the forum's.
pub fn probe_findings(url: &str, p: &ProbeReport, max_image_size_kb: Option<u64>) -> Findings {
    let mut f = Findings::default();
    let from_here = "(checked from this machine; the forum's network may differ)";
    if let Some(e) = &p.error {
        f.warn(format!(
            "default_avatar_url {url} could not be fetched: {e} {from_here}"
        ));
        return f;
    }
    if let Some(s) = p.status
        && !(200..300).contains(&s)
    {
        f.warn(format!(
            "default_avatar_url {url} answered HTTP {s}: Discourse drops the download on any status \
             of 400 or more {from_here}"
        ));
        return f;
    }
    match p.content_type.as_deref() {
        Some(ct) if ct.trim().to_ascii_lowercase().starts_with("image/") => {}
        Some(ct) if p.looks_like_image == Some(true) => f.warn(format!(
            "default_avatar_url {url} is served as {ct:?}, though it looks like an image"
        )),
        Some(ct) => f.warn(format!(
            "default_avatar_url {url} is served as {ct:?}, not an image: Discourse would refuse the upload"
        )),
        None if p.looks_like_image == Some(false) => f.warn(format!(
            "default_avatar_url {url} does not look like an image"
        )),
        None => {}
    }
    if let (Some(bytes), Some(kb)) = (p.bytes, max_image_size_kb)
        && bytes > kb * 1024
    {
        f.warn(format!(
            "default_avatar_url {url} is {}{} KB, over max_image_size_kb ({kb} KB): Discourse drops \
             the download silently",
            if p.truncated { "at least " } else { "" },
            bytes.div_ceil(1024)
        ));
    }
    f
}

/// `last_payload` is the unsigned payload (`Rack::Utils.build_query`); some tools store the
/// Base64 form instead. Either way, its fields in order.
pub fn decode_last_payload(s: &str) -> Option<Vec<(String, String)>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.contains('=') && !looks_base64(s) {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(s.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        return (!pairs.is_empty()).then_some(pairs);
    }
    sso::decode(s).ok().map(|d| d.fields)
}

fn looks_base64(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && !body.contains('&')
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// The addresses a probe may connect to: public ones only. Errors when none is left.
pub fn public_addrs(addrs: &[SocketAddr]) -> Result<Vec<SocketAddr>, String> {
    let public: Vec<SocketAddr> = addrs
        .iter()
        .copied()
        .filter(|a| !net::classify_ip(a.ip()).is_internal())
        .collect();
    if public.is_empty() {
        if addrs.is_empty() {
            Err("the name did not resolve".into())
        } else {
            Err(
                "the name resolves here only to private or loopback addresses; not contacted"
                    .into(),
            )
        }
    } else {
        Ok(public)
    }
}

// ---------------------------------------------------------------------------------------------
// Gathering
// ---------------------------------------------------------------------------------------------

/// Why a user could not be read.
#[derive(Debug, Clone)]
pub enum LookupError {
    Missing(String),
    Client(ClientError),
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookupError::Missing(m) => f.write_str(m),
            LookupError::Client(e) => write!(f, "{e}"),
        }
    }
}

/// Reads a user: the public record (id, `uploaded_avatar_id`) when `with_avatar`, and the admin
/// record (email, `active`, groups, SSO record). Two requests for a username or external id,
/// three for an email. A failed admin read is tolerated when the public record came back (the
/// detail then lacks email and groups), and reported as the second value.
pub async fn lookup_user(
    client: &DiscourseClient,
    who: &UserRef,
    with_avatar: bool,
) -> Result<(UserDetail, Option<ClientError>), LookupError> {
    let missing = |what: String| LookupError::Missing(what);
    let (id, public) = match who {
        UserRef::Username(name) => match client.user(name).await {
            Ok(u) => (u.id, Some(u)),
            Err(e) if e.is_not_found() => return Err(missing(format!("no user named {name}"))),
            Err(e) => return Err(LookupError::Client(e)),
        },
        UserRef::ExternalId(ext) => match client.user_by_external(ext).await {
            Ok(u) => (u.id, Some(u)),
            Err(e) if e.is_not_found() => {
                return Err(missing(format!("no user with external id {ext}")));
            }
            Err(e) => return Err(LookupError::Client(e)),
        },
        UserRef::Email(email) => {
            let rows = client
                .users_by_email(email)
                .await
                .map_err(LookupError::Client)?;
            let row = rows
                .into_iter()
                .find(|r| {
                    r.email
                        .as_deref()
                        .is_some_and(|e| e.eq_ignore_ascii_case(email))
                })
                .ok_or_else(|| missing(format!("no user with email {email}")))?;
            let public = if with_avatar {
                client.user(&row.username).await.ok()
            } else {
                None
            };
            (row.id, public)
        }
    };
    let (admin, admin_error) = match client.admin_user(id).await {
        Ok(a) => (Some(a), None),
        Err(e) if public.is_some() => (None, Some(e)),
        Err(e) => return Err(LookupError::Client(e)),
    };
    let mut detail = user_detail(public.as_ref(), admin.as_ref())
        .ok_or_else(|| missing("empty user record".to_string()))?;
    if detail.sso.is_none()
        && let UserRef::ExternalId(ext) = who
    {
        // /u/by-external answered, so the record exists even where the server hides it.
        detail.sso = Some(crate::model::SsoRecord {
            external_id: ext.clone(),
            ..Default::default()
        });
    }
    Ok((detail, admin_error))
}

/// What [`gather`] needs.
pub struct CheckInput<'a> {
    pub client: &'a DiscourseClient,
    pub config: &'a Config,
    pub user: String,
    pub audit_path: std::path::PathBuf,
    /// The advisory fetch of the default avatar URL (off in some tests).
    pub probe: bool,
}

/// Runs every check and returns the report. Never fails: what goes wrong is in the report.
pub async fn gather(input: CheckInput<'_>) -> Report {
    let client = input.client;
    let config = input.config;
    let before = client.requests_sent();
    let mut f = Findings::default();
    let choice = match config.reset.strategy {
        crate::config::ResetStrategy::Auto => StrategyChoice::Auto,
        crate::config::ResetStrategy::Pick => StrategyChoice::Pick,
        crate::config::ResetStrategy::SyncSso => StrategyChoice::SyncSso,
    };
    let mut site = SiteReport {
        url: client.base_url().to_string(),
        api_username: client.api_username().to_string(),
        reachable: None,
        key: KeyStatus::Unknown,
        key_detail: String::new(),
        discourse_connect_enabled: None,
        overrides_avatar: None,
        overrides_groups: None,
        overrides_email: None,
        verbose_discourse_connect_logging: None,
        verbose_upload_logging: None,
        max_image_size_kb: None,
        allowed_internal_hosts: Vec::new(),
    };

    // 1. The site, the key and the settings: one request (two on servers without the config
    //    endpoint, one more to explain a 404).
    let settings = match client.dc_settings().await {
        Ok(s) => {
            site.reachable = Some(true);
            site.key = KeyStatus::ValidAdmin;
            site.key_detail = format!(
                "valid; {} is an admin (admin-only site settings are readable)",
                client.api_username()
            );
            Some(s)
        }
        Err(e) => {
            let whoami = if matches!(e, ClientError::AdminNotFound { .. }) {
                Some(client.user(client.api_username()).await)
            } else {
                None
            };
            let verdict = key_verdict(&e, client.api_username(), whoami.as_ref());
            f.extend(key_findings(&verdict));
            site.key = verdict.status;
            site.reachable = verdict.reachable;
            site.key_detail = verdict.detail;
            None
        }
    };
    if let Some(s) = &settings {
        site.discourse_connect_enabled = s.enabled();
        site.overrides_avatar = s.overrides_avatar();
        site.overrides_groups = s.overrides_groups();
        site.overrides_email = s.overrides_email();
        site.verbose_discourse_connect_logging = s.verbose_sso();
        site.verbose_upload_logging = s.verbose_upload();
        site.max_image_size_kb = s.max_image_size_kb();
        site.allowed_internal_hosts = s.allowed_internal_hosts();
    }
    let decision = plan::choose(choice, settings.as_ref());
    if let Some(s) = &settings {
        f.extend(settings_findings(s, &decision));
    }
    f.extend(config_findings(config, &decision));

    // 2. The secret.
    let secret = match &settings {
        Some(s) => compare_secrets(config.discourse.sso_secret.as_ref(), s.secret.as_ref()),
        None => SecretStatus::NotRead,
    };
    f.extend(secret_findings(secret, &decision));

    // 3. The default avatar URL (no Discourse request; at most one advisory fetch elsewhere).
    let default_url = config.discourse.default_avatar_url.clone();
    let avatar_url = match &default_url {
        None => None,
        Some(url) => {
            let a = assess_avatar_url(url, client.base_url(), &site.allowed_internal_hosts);
            f.extend(a.findings.clone());
            let probe = if a.may_probe && input.probe {
                let p = probe(url, site.max_image_size_kb).await;
                f.extend(probe_findings(url.as_str(), &p, site.max_image_size_kb));
                Some(p)
            } else {
                None
            };
            Some(AvatarUrlReport {
                url: url.to_string(),
                https: url.scheme() == "https",
                host: url.host_str().unwrap_or_default().to_string(),
                host_class: host_class_name(a.class),
                allowed_internal: a.allowed_internal,
                probe,
            })
        }
    };

    // 4. The user (two or three requests; one more for the last payload on newer servers), the
    //    audit lines and the Discourse log lines about them. Skipped when the key is known bad:
    //    every request would fail the same way.
    let mut user_report = None;
    let mut audit_lines = Vec::new();
    let mut log_lines = Vec::new();
    let key_bad = matches!(site.key, KeyStatus::Invalid | KeyStatus::NotAdmin)
        || site.reachable == Some(false);
    match crate::reset::parse_user(&input.user) {
        Err(e) => f.problem(e),
        Ok(_) if key_bad => {}
        Ok(who) => match lookup_user(client, &who, true).await {
            Err(LookupError::Missing(m)) => f.problem(format!("the user is missing: {m}")),
            Err(LookupError::Client(e)) => f.problem(format!("the user could not be read: {e}")),
            Ok((mut detail, admin_error)) => {
                if let Some(e) = admin_error {
                    f.warn(format!(
                        "the admin record of {} could not be read (email, groups, SSO record \
                         unknown): {e}",
                        detail.username
                    ));
                }
                if detail.uploaded_avatar_id.is_none() {
                    detail.uploaded_avatar_id = detail
                        .avatar_template
                        .as_deref()
                        .map(plan::upload_id_from_template);
                }
                let mut payload_source = None;
                if let Some(rec) = detail.sso.as_mut() {
                    if rec.last_payload.as_deref().is_some_and(|p| !p.is_empty()) {
                        payload_source = Some("admin-record".to_string());
                    } else {
                        match client.sso_payload(&detail.username).await {
                            Ok(Some(p)) if !p.is_empty() => {
                                rec.last_payload = Some(p);
                                payload_source = Some("sso-payload".to_string());
                            }
                            Ok(_) => {}
                            // Older servers have no such route.
                            Err(e) if e.status() == Some(404) => {}
                            Err(e) => {
                                f.warn(format!("the last SSO payload could not be read: {e}"))
                            }
                        }
                    }
                }
                f.extend(user_findings(
                    &detail,
                    &decision,
                    settings.as_ref().and_then(DcSettings::overrides_groups),
                    default_url.as_ref().map(Url::as_str),
                ));
                let entries = audit::read_entries(&input.audit_path);
                let mine =
                    audit::entries_for(&entries, Some(&detail.username), detail.external_id());
                for p in crate::reset::history::problems(&mine, &detail) {
                    f.problem(p);
                }
                audit_lines = mine
                    .iter()
                    .rev()
                    .take(AUDIT_LINES)
                    .rev()
                    .map(|e| (*e).clone())
                    .collect();
                let terms: Vec<String> = [
                    Some(detail.username.clone()),
                    detail.external_id().map(str::to_string),
                    detail.email.clone(),
                ]
                .into_iter()
                .flatten()
                .collect();
                match logs::lines_for_user(client, &terms).await {
                    Ok(lines) => {
                        let skip = lines.len().saturating_sub(LOG_LINES);
                        log_lines = lines.into_iter().skip(skip).collect();
                    }
                    Err(e) => f.warn(format!("Discourse's logs could not be read: {e}")),
                }
                let mut report = user_report_of(&detail, payload_source);
                let default_upload = default_url
                    .as_ref()
                    .and_then(|u| audit::known_default_upload(&entries, u.as_str()));
                report.default_image = report
                    .avatar
                    .label(report.uploaded_avatar_id, default_upload)
                    == "default";
                user_report = Some(report);
            }
        },
    }

    Report {
        input: input.user.clone(),
        site,
        strategy: decision.strategy,
        strategy_reason: decision.reason.clone(),
        settings: settings
            .as_ref()
            .map(|s| s.values.clone())
            .unwrap_or_default(),
        legacy_setting_names: settings
            .as_ref()
            .map(|s| s.legacy_names.clone())
            .unwrap_or_default(),
        secret,
        user: user_report,
        default_avatar_url: avatar_url,
        audit: audit_lines,
        logs: log_lines,
        requests: client.requests_sent() - before,
        problems: f.problems,
        warnings: f.warnings,
    }
}

fn user_report_of(d: &UserDetail, payload_source: Option<String>) -> UserReport {
    UserReport {
        id: d.id,
        username: d.username.clone(),
        name: d.name.clone(),
        external_id: d.external_id().map(str::to_string),
        email: d.email.clone(),
        active: d.active,
        groups: d.groups.clone(),
        avatar: d.avatar_kind(),
        uploaded_avatar_id: d.uploaded_avatar_id.flatten(),
        avatar_template: d.avatar_template.clone(),
        default_image: false,
        sso_record: d.sso.as_ref().map(|s| SsoReport {
            external_id: s.external_id.clone(),
            external_username: s.external_username.clone(),
            external_email: s.external_email.clone(),
            external_name: s.external_name.clone(),
            external_avatar_url: s.external_avatar_url.clone(),
            last_payload: s.last_payload.clone().filter(|p| !p.is_empty()),
            last_payload_source: payload_source
                .filter(|_| s.last_payload.as_deref().is_some_and(|p| !p.is_empty())),
            last_payload_fields: s.last_payload.as_deref().and_then(decode_last_payload),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// The advisory fetch
// ---------------------------------------------------------------------------------------------

/// A resolver that never hands a private or loopback address to the connector.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| format!("the name does not resolve from here: {e}"))?
                .collect();
            let public = public_addrs(&addrs)
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The HTTP client of the advisory fetch: public addresses only (resolver and redirects), no
/// proxy, short timeouts, at most 3 redirects (Discourse follows them too).
pub fn probe_client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!(
            "avatar-console/",
            env!("CARGO_PKG_VERSION"),
            " (check)"
        ))
        .timeout(Duration::from_secs(6))
        .connect_timeout(Duration::from_secs(4))
        .no_proxy()
        .dns_resolver(Arc::new(PublicOnly))
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let internal = net::classify_url(attempt.url()).is_some_and(HostClass::is_internal);
            if internal {
                attempt.error("redirected to a private or loopback address; not followed")
            } else if !matches!(attempt.url().scheme(), "http" | "https") {
                attempt.error("redirected to a non-http(s) URL")
            } else if attempt.previous().len() >= 3 {
                attempt.error("more than 3 redirects")
            } else {
                attempt.follow()
            }
        }))
        .build()
        .expect("a TLS backend is compiled in")
}

/// HEAD, then GET (reading at most a little over `max_image_size_kb`) when HEAD does not give
/// the type and size. Only for URLs that [`assess_avatar_url`] marked `may_probe`.
pub async fn probe(url: &Url, max_image_size_kb: Option<u64>) -> ProbeReport {
    // Belt and braces: the caller checked, but never fetch an internal literal from here.
    if net::classify_url(url).is_none_or(HostClass::is_internal) {
        return ProbeReport {
            error: Some("internal address; not contacted".into()),
            ..ProbeReport::default()
        };
    }
    let http = probe_client();
    let header = |r: &reqwest::Response, h: reqwest::header::HeaderName| {
        r.headers()
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(crate::sanitize::clean)
    };
    let mut report = ProbeReport {
        method: "HEAD".into(),
        ..ProbeReport::default()
    };
    match http.head(url.clone()).send().await {
        Ok(r) => {
            report.status = Some(r.status().as_u16());
            report.content_type = header(&r, reqwest::header::CONTENT_TYPE);
            report.bytes = header(&r, reqwest::header::CONTENT_LENGTH).and_then(|v| v.parse().ok());
            if r.status().is_success() && report.content_type.is_some() && report.bytes.is_some() {
                return report;
            }
        }
        Err(e) => {
            // Could not connect, refused by the resolver or a redirect, timed out: a GET would
            // fare no better.
            report.error = Some(crate::discourse::client::describe_reqwest_error(&e));
            return report;
        }
    }
    // GET with a small cap.
    let cap = max_image_size_kb
        .map(|k| k * 1024)
        .unwrap_or(1 << 20)
        .min(4 << 20)
        + 1;
    let mut report = ProbeReport {
        method: "GET".into(),
        ..ProbeReport::default()
    };
    match http.get(url.clone()).send().await {
        Err(e) => report.error = Some(crate::discourse::client::describe_reqwest_error(&e)),
        Ok(mut r) => {
            report.status = Some(r.status().as_u16());
            report.content_type = header(&r, reqwest::header::CONTENT_TYPE);
            let declared: Option<u64> =
                header(&r, reqwest::header::CONTENT_LENGTH).and_then(|v| v.parse().ok());
            let mut first = Vec::new();
            let mut read = 0u64;
            loop {
                match r.chunk().await {
                    Ok(Some(c)) => {
                        if first.len() < 16 {
                            first.extend_from_slice(&c[..c.len().min(16 - first.len())]);
                        }
                        read += c.len() as u64;
                        if read >= cap {
                            report.truncated = true;
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        report.error = Some(crate::discourse::client::describe_reqwest_error(&e));
                        break;
                    }
                }
            }
            report.bytes = declared.or(Some(read));
            if report.truncated && declared.is_some() {
                report.truncated = false;
            }
            if !first.is_empty() {
                report.looks_like_image = Some(sniff_image(&first));
            }
        }
    }
    report
}

/// PNG, JPEG, GIF, WebP, BMP, ICO, or SVG/XML text.
fn sniff_image(b: &[u8]) -> bool {
    b.starts_with(b"\x89PNG")
        || b.starts_with(&[0xFF, 0xD8, 0xFF])
        || b.starts_with(b"GIF8")
        || (b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WEBP"))
        || b.starts_with(b"BM")
        || b.starts_with(&[0, 0, 1, 0])
        || b.starts_with(b"<svg")
        || b.starts_with(b"<?xml")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SsoRecord;
    use std::collections::BTreeMap;

    fn settings(pairs: &[(&str, &str)]) -> DcSettings {
        let raw: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DcSettings::from_raw(&raw)
    }

    fn sync() -> Decision {
        plan::choose(
            StrategyChoice::Auto,
            Some(&settings(&[("discourse_connect_overrides_avatar", "true")])),
        )
    }

    fn pick() -> Decision {
        plan::choose(
            StrategyChoice::Auto,
            Some(&settings(&[(
                "discourse_connect_overrides_avatar",
                "false",
            )])),
        )
    }

    fn alice() -> UserDetail {
        UserDetail {
            id: 1,
            username: "alice".into(),
            email: Some("alice@example.com".into()),
            active: Some(true),
            groups_read: true,
            uploaded_avatar_id: Some(Some(90)),
            sso: Some(SsoRecord {
                external_id: "684".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn secrets_compare_without_revealing() {
        let a = Secret::new("s3cret-value-1");
        let b = Secret::new("s3cret-value-2");
        assert_eq!(
            compare_secrets(Some(&a), Some(&a.clone())),
            SecretStatus::Match
        );
        assert_eq!(compare_secrets(Some(&a), Some(&b)), SecretStatus::Mismatch);
        assert_eq!(
            compare_secrets(Some(&Secret::new(" s3cret-value-1\n")), Some(&a)),
            SecretStatus::MismatchWhitespace
        );
        assert_eq!(compare_secrets(Some(&a), None), SecretStatus::NotRevealed);
        assert_eq!(compare_secrets(None, Some(&a)), SecretStatus::NotConfigured);
        assert_eq!(
            compare_secrets(Some(&Secret::new("")), Some(&a)),
            SecretStatus::NotConfigured
        );
        let f = secret_findings(SecretStatus::Mismatch, &sync());
        assert_eq!(f.problems.len(), 1);
        assert!(!f.problems[0].contains("s3cret"));
        assert!(
            secret_findings(SecretStatus::NotRevealed, &sync())
                .problems
                .is_empty()
        );
        assert!(
            secret_findings(SecretStatus::Match, &sync())
                .problems
                .is_empty()
        );
    }

    #[test]
    fn internal_default_urls_are_problems_unless_allowed() {
        let forum = url("https://forum.example.com");
        let a = assess_avatar_url(&url("http://127.0.0.1/x.png"), &forum, &[]);
        assert_eq!(a.class, HostClass::Loopback);
        assert!(!a.may_probe);
        assert_eq!(a.findings.problems.len(), 1, "{:?}", a.findings);
        let a = assess_avatar_url(&url("http://10.255.255.1/x.png"), &forum, &[]);
        assert_eq!(a.class, HostClass::Private);
        assert!(!a.may_probe);
        assert_eq!(a.findings.problems.len(), 1);
        let a = assess_avatar_url(
            &url("http://10.255.255.1/x.png"),
            &forum,
            &["10.255.255.1".into()],
        );
        assert!(a.findings.problems.is_empty());
        assert_eq!(a.allowed_internal, Some("allowed_internal_hosts"));
        assert!(
            !a.may_probe,
            "allowed or not, an internal host is never fetched from here"
        );
        let own_forum = url("http://127.0.0.1:4000");
        let a = assess_avatar_url(&url("http://127.0.0.1:4000/images/d.png"), &own_forum, &[]);
        assert!(a.findings.problems.is_empty());
        assert!(a.findings.warnings.is_empty(), "{:?}", a.findings);
        assert_eq!(a.allowed_internal, Some("forum host"));
        let a = assess_avatar_url(&url("http://localhost:4000/d.png"), &own_forum, &[]);
        assert_eq!(a.findings.problems.len(), 1);
        let a = assess_avatar_url(&url("http://[fd00::1]/d.png"), &forum, &[]);
        assert_eq!(a.findings.problems.len(), 1);
    }

    #[test]
    fn public_urls_are_warned_about_not_refused() {
        let forum = url("https://forum.example.com");
        let a = assess_avatar_url(&url("https://cdn.example.com/d.png"), &forum, &[]);
        assert_eq!(a.findings, Findings::default());
        assert!(a.may_probe);
        let a = assess_avatar_url(&url("http://cdn.example.com/d.png"), &forum, &[]);
        assert!(a.findings.problems.is_empty());
        assert_eq!(a.findings.warnings.len(), 1);
        let a = assess_avatar_url(&url("https://8.8.8.8/d.png"), &forum, &[]);
        assert!(a.findings.problems.is_empty());
        assert!(a.findings.warnings[0].contains("IP literal"));
        assert!(a.may_probe);
        let a = assess_avatar_url(&url("https://cdn.example.com:8443/d.png"), &forum, &[]);
        assert!(a.findings.warnings[0].contains("port"));
    }

    #[test]
    fn probe_results_are_warnings_only() {
        let u = "https://cdn.example.com/d.png";
        let ok = ProbeReport {
            method: "HEAD".into(),
            status: Some(200),
            content_type: Some("image/png".into()),
            bytes: Some(2048),
            ..Default::default()
        };
        assert_eq!(probe_findings(u, &ok, Some(4096)), Findings::default());
        let big = ProbeReport {
            bytes: Some(5 * 1024 * 1024),
            ..ok.clone()
        };
        let f = probe_findings(u, &big, Some(4096));
        assert!(f.problems.is_empty());
        assert!(f.warnings[0].contains("max_image_size_kb"));
        let html = ProbeReport {
            content_type: Some("text/html".into()),
            ..ok.clone()
        };
        assert!(probe_findings(u, &html, None).warnings[0].contains("not an image"));
        let e = ProbeReport {
            error: Some("could not connect".into()),
            ..Default::default()
        };
        let f = probe_findings(u, &e, None);
        assert!(f.problems.is_empty() && f.warnings.len() == 1);
        let gone = ProbeReport {
            status: Some(404),
            ..ok
        };
        assert!(probe_findings(u, &gone, None).warnings[0].contains("404"));
    }

    #[test]
    fn resolver_filter_keeps_public_addresses_only() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(public_addrs(&[a("127.0.0.1:0")]).is_err());
        assert!(public_addrs(&[a("10.0.0.1:0"), a("[::1]:0")]).is_err());
        assert!(public_addrs(&[]).is_err());
        assert_eq!(
            public_addrs(&[a("10.0.0.1:0"), a("93.184.216.34:0")]).unwrap(),
            vec![a("93.184.216.34:0")]
        );
    }

    #[test]
    fn users_without_sso_record_block_sync_sso_only() {
        let mut u = alice();
        assert!(
            user_findings(&u, &sync(), Some(true), Some("https://c/d.png"))
                .problems
                .is_empty()
        );
        u.sso = None;
        let f = user_findings(&u, &sync(), Some(true), Some("https://c/d.png"));
        assert_eq!(f.problems.len(), 1);
        assert!(f.problems[0].contains("no DiscourseConnect record"));
        assert!(
            user_findings(&u, &pick(), Some(true), None)
                .problems
                .is_empty()
        );
        let unknown = plan::choose(StrategyChoice::Auto, None);
        assert_eq!(user_findings(&u, &unknown, None, None).warnings.len(), 1);
        let mut u = alice();
        u.email = None;
        assert_eq!(
            user_findings(&u, &sync(), Some(true), None).problems.len(),
            1
        );
    }

    #[test]
    fn settings_and_config_decide_problems() {
        let off = settings(&[
            ("enable_discourse_connect", "false"),
            ("discourse_connect_overrides_avatar", "true"),
            ("discourse_connect_overrides_groups", "true"),
        ]);
        let d = plan::choose(StrategyChoice::Auto, Some(&off));
        assert_eq!(d.strategy, Strategy::SyncSso);
        assert_eq!(settings_findings(&off, &d).problems.len(), 1);
        let pick_off = settings(&[
            ("enable_discourse_connect", "false"),
            ("discourse_connect_overrides_avatar", "false"),
        ]);
        let d = plan::choose(StrategyChoice::Auto, Some(&pick_off));
        let f = settings_findings(&pick_off, &d);
        assert!(f.problems.is_empty() && f.warnings.len() == 1);
        let config = Config::from_toml_str(
            "[discourse]\nurl = \"https://forum.example.com\"\napi_key = \"k\"\n",
            std::path::Path::new("t.toml"),
        )
        .unwrap();
        assert_eq!(config_findings(&config, &sync()).problems.len(), 1);
        assert!(config_findings(&config, &pick()).problems.is_empty());
    }

    #[test]
    fn key_errors_are_explained() {
        let not_found = ClientError::AdminNotFound {
            method: "GET".into(),
            path: "/admin/config/site_settings.json".into(),
        };
        let invalid = ClientError::InvalidAccess {
            method: "GET".into(),
            path: "/u/system.json".into(),
        };
        let k = key_verdict(&not_found, "system", Some(&Err(invalid.clone())));
        assert_eq!(k.status, KeyStatus::Invalid);
        assert!(k.detail.contains("invalid"));
        assert_eq!(key_findings(&k).problems.len(), 1);
        let me: UserJson =
            serde_json::from_value(serde_json::json!({"id": 5, "username": "mod"})).unwrap();
        let k = key_verdict(&not_found, "mod", Some(&Ok(me)));
        assert_eq!(k.status, KeyStatus::NotAdmin);
        assert!(k.detail.contains("not an admin"));
        assert_eq!(key_findings(&k).problems.len(), 1);
        assert_eq!(
            key_verdict(&invalid, "system", None).status,
            KeyStatus::Invalid
        );
        let down = ClientError::Network {
            method: "GET".into(),
            path: "/".into(),
            message: "could not connect".into(),
        };
        let k = key_verdict(&down, "system", None);
        assert_eq!((k.status, k.reachable), (KeyStatus::Unknown, Some(false)));
        assert_eq!(key_findings(&k).problems.len(), 1);
        let busy = ClientError::RateLimited {
            method: "GET".into(),
            path: "/".into(),
            waits: 6,
        };
        let k = key_verdict(&busy, "system", None);
        // Settings unread: the strategy would be a guess, so never OK.
        assert_eq!(key_findings(&k).problems.len(), 1);
        assert!(key_findings(&k).problems[0].contains("guess"));
        let down = ClientError::Status {
            method: "GET".into(),
            path: "/".into(),
            status: 503,
            summary: String::new(),
        };
        assert_eq!(
            key_findings(&key_verdict(&down, "system", None))
                .problems
                .len(),
            1
        );
    }

    #[test]
    fn last_payload_decodes_either_form() {
        let f = decode_last_payload("email=a%40x.com&external_id=684&name=Alice+Smith").unwrap();
        assert_eq!(f[0], ("email".into(), "a@x.com".into()));
        assert_eq!(f[2], ("name".into(), "Alice Smith".into()));
        let b64 = sso::encode(&[("external_id".into(), "684".into())]);
        let f = decode_last_payload(&b64).unwrap();
        assert_eq!(f, vec![("external_id".to_string(), "684".to_string())]);
        assert!(decode_last_payload("").is_none());
    }

    #[test]
    fn sniffs_common_images() {
        assert!(sniff_image(b"\x89PNG\r\n\x1a\n"));
        assert!(sniff_image(&[0xFF, 0xD8, 0xFF, 0xE0]));
        assert!(!sniff_image(b"<!DOCTYPE html>"));
    }
}
