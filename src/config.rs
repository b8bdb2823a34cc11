//! Configuration: the TOML file of interface.md ("Config file"), secrets from the environment,
//! and validation whose errors name the file, the line and the key.
//!
//! Loading is split in two:
//! - [`Config::from_toml_str`] / [`Config::load`] check what every command needs: the file is
//!   valid TOML, has no unknown keys, values have the right types, `discourse.url` is there and
//!   is `https` (or `http` to a loopback host);
//! - [`Config::require_api`], [`Config::require_sync_sso`] and [`Config::require_main_app`] check
//!   what one command needs (a key, a secret) and name the key and the environment variable.

use std::fmt;
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;
use url::{Host, Url};

use crate::secret::Secret;

/// Environment variable naming the config file (after `--config`).
pub const ENV_CONFIG: &str = "AVATAR_CONSOLE_CONFIG";
/// Environment variable naming the data dir (audit log, application log).
pub const ENV_DATA_DIR: &str = "AVATAR_CONSOLE_DATA_DIR";
/// Environment variables that supply secrets; they win over the file.
pub const ENV_API_KEY: &str = "AVATAR_CONSOLE_API_KEY";
pub const ENV_SSO_SECRET: &str = "AVATAR_CONSOLE_SSO_SECRET";
pub const ENV_MAIN_APP_TOKEN: &str = "AVATAR_CONSOLE_MAIN_APP_TOKEN";

/// The largest config file read: a real one is a few kB. Protects against `--config /dev/zero`
/// and the like (which are refused anyway: only regular files are read).
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
/// The sane maxima of the numbers in the file. Past them a value cannot be what was meant, and
/// durations that large would overflow the clock arithmetic.
pub const MAX_TIMEOUT_SECS: u64 = 300;
pub const MAX_VERIFY_TIMEOUT_SECS: u64 = 3600;
pub const MAX_REQUESTS_PER_MINUTE: u32 = 100_000;

/// The example configuration shipped in the repository (`config example` prints it).
pub const EXAMPLE: &str = include_str!("../config.example.toml");

// ---------------------------------------------------------------------------------------------
// The validated configuration
// ---------------------------------------------------------------------------------------------

/// The whole configuration, validated. Secrets already include the environment overrides when
/// it came from [`Config::load`].
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub discourse: DiscourseConfig,
    /// `None` when the file has no `[main_app]` section: only Discourse's queue is shown.
    pub main_app: Option<MainAppConfig>,
    pub reset: ResetConfig,
    pub ui: UiConfig,
    /// The console's keys: the defaults with `[keys]` applied, checked for clashes.
    pub keys: crate::tui::keymap::Keymap,
    /// The file the configuration came from, as used in messages.
    pub path: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DiscourseConfig {
    pub url: Url,
    pub api_username: String,
    pub api_key: Option<Secret>,
    pub sso_secret: Option<Secret>,
    /// Parsed and checked to be http(s); a private or loopback host is valid here (the site may
    /// list it in `allowed_internal_hosts`; `check` decides).
    pub default_avatar_url: Option<Url>,
    pub requests_per_minute: u32,
    pub timeout_secs: u64,
    pub review_types: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MainAppConfig {
    pub flagged_url: Url,
    pub token: Option<Secret>,
    pub resolved_url: Option<Url>,
    pub fields: MainAppFields,
}

/// The main app's JSON field names (`[main_app.fields]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MainAppFields {
    pub items: String,
    pub next: String,
    pub external_id: String,
    pub username: String,
    pub email: String,
    pub reason: String,
    pub flagged_at: String,
    pub photo_url: String,
}

impl Default for MainAppFields {
    fn default() -> Self {
        MainAppFields {
            items: "users".into(),
            next: "next".into(),
            external_id: "external_id".into(),
            username: "username".into(),
            email: "email".into(),
            reason: "reason".into(),
            flagged_at: "flagged_at".into(),
            photo_url: "photo_url".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetConfig {
    pub strategy: ResetStrategy,
    pub verify: bool,
    pub verify_timeout_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiConfig {
    pub theme: Theme,
    pub mouse: bool,
    pub images: ImageMode,
}

/// `ui.images`: how the detail pane draws avatars and main-app photos.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImageMode {
    /// The best the terminal speaks (kitty, sixel, iTerm2), else coloured half blocks.
    #[default]
    Auto,
    /// Coloured half blocks only (any colour terminal, tmux without passthrough).
    Halfblocks,
    /// No pictures; the URLs are still shown and `o` still opens them.
    Off,
}

impl ImageMode {
    pub const NAMES: &'static [&'static str] = &["auto", "halfblocks", "off"];

    pub fn as_str(self) -> &'static str {
        match self {
            ImageMode::Auto => "auto",
            ImageMode::Halfblocks => "halfblocks",
            ImageMode::Off => "off",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(ImageMode::Auto),
            "halfblocks" => Some(ImageMode::Halfblocks),
            "off" => Some(ImageMode::Off),
            _ => None,
        }
    }
}

/// `reset.strategy` and `reset --strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ResetStrategy {
    /// Read the DiscourseConnect settings and choose pick or sync-sso.
    #[default]
    Auto,
    /// The letter avatar: if the photo is still in the custom slot, a neutral placeholder
    /// (uploaded once per forum with `POST /uploads.json`) is picked over it with `PUT
    /// /u/{username}/preferences/avatar/pick type=custom`, then the same PUT with `type=system`.
    Pick,
    /// `POST /admin/users/sync_sso` with `default_avatar_url`.
    SyncSso,
}

impl ResetStrategy {
    pub const NAMES: &'static [&'static str] = &["auto", "pick", "sync-sso"];

    pub fn as_str(self) -> &'static str {
        match self {
            ResetStrategy::Auto => "auto",
            ResetStrategy::Pick => "pick",
            ResetStrategy::SyncSso => "sync-sso",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(ResetStrategy::Auto),
            "pick" => Some(ResetStrategy::Pick),
            "sync-sso" => Some(ResetStrategy::SyncSso),
            _ => None,
        }
    }
}

/// `ui.theme`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    #[default]
    Auto,
    Dark,
    Light,
    Mono,
}

impl Theme {
    pub const NAMES: &'static [&'static str] = &["auto", "dark", "light", "mono"];

    pub fn as_str(self) -> &'static str {
        match self {
            Theme::Auto => "auto",
            Theme::Dark => "dark",
            Theme::Light => "light",
            Theme::Mono => "mono",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Theme::Auto),
            "dark" => Some(Theme::Dark),
            "light" => Some(Theme::Light),
            "mono" => Some(Theme::Mono),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// What kind of configuration problem, for callers that want to branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// The file does not exist.
    NotFound,
    /// The file exists but cannot be read.
    Io,
    /// Not valid TOML.
    Syntax,
    /// A key or section the console does not know (a typo, most likely).
    UnknownKey,
    /// A required value is absent (from the file and the environment).
    MissingKey,
    /// A value of the wrong type or outside what is allowed.
    InvalidValue,
}

/// A configuration error. `Display` gives one line: `file:line: message` (or `file: message`
/// when no line applies); the message names the key and, for secrets, the environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub kind: ConfigErrorKind,
    /// The file, as shown in messages.
    pub file: String,
    /// 1-based line, when the problem sits on one.
    pub line: Option<usize>,
    /// Dotted key (`discourse.api_key`), when one applies.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The file's text as `T`. A generic parse first: syntax errors, and a spanned tree to name
/// keys in later errors.
fn parse_raw<T: serde::de::DeserializeOwned>(cx: &Ctx<'_>) -> Result<T, ConfigError> {
    let doc = toml::de::DeTable::parse(cx.text).map_err(|e| {
        let msg = e.message().trim().replace('\n', "; ");
        cx.err(
            ConfigErrorKind::Syntax,
            e.span(),
            None,
            format!("TOML syntax error: {msg}"),
        )
    })?;
    toml::from_str(cx.text).map_err(|e| map_serde_error(cx, doc.get_ref(), e))
}

type RawKeysTable = toml::Spanned<std::collections::BTreeMap<Spanned<String>, Spanned<RawKeys>>>;

/// `[keys]`: the default keymap with the file's entries applied, in file order; an unknown
/// action or two actions on one key is an error naming the line and `keys.<action>`.
fn parse_keys(
    cx: &Ctx<'_>,
    keys: Option<&RawKeysTable>,
) -> Result<crate::tui::keymap::Keymap, ConfigError> {
    match keys {
        None => Ok(crate::tui::keymap::Keymap::default()),
        Some(table) => {
            let mut entries: Vec<(&Spanned<String>, &Spanned<RawKeys>)> =
                table.get_ref().iter().collect();
            entries.sort_by_key(|(k, _)| k.span().start);
            let overrides: Vec<(String, Vec<String>)> = entries
                .iter()
                .map(|(k, v)| {
                    let keys = match v.get_ref() {
                        RawKeys::One(s) => vec![s.clone()],
                        RawKeys::Many(l) => l.clone(),
                    };
                    (k.get_ref().clone(), keys)
                })
                .collect();
            crate::tui::keymap::Keymap::with(&overrides).map_err(|e| {
                let span = entries
                    .iter()
                    .find(|(k, _)| *k.get_ref() == e.action)
                    .map(|(k, _)| k.span())
                    .unwrap_or_else(|| table.span());
                let kind = if e.message.starts_with("unknown action") {
                    ConfigErrorKind::UnknownKey
                } else {
                    ConfigErrorKind::InvalidValue
                };
                cx.err(
                    kind,
                    Some(span),
                    Some(&format!("keys.{}", e.action)),
                    e.message,
                )
            })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Raw (as written) form, deserialized with serde
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    discourse: Option<Spanned<RawDiscourse>>,
    main_app: Option<Spanned<RawMainApp>>,
    #[serde(default)]
    reset: RawReset,
    #[serde(default)]
    ui: RawUi,
    /// `[keys]`: action name = "key" or ["key", …], in file order.
    keys: Option<RawKeysTable>,
}

/// One `[keys]` value: a key, or a list of keys (an empty list unbinds the action).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawKeys {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDiscourse {
    url: Option<Spanned<String>>,
    api_username: Option<Spanned<String>>,
    api_key: Option<Spanned<String>>,
    sso_secret: Option<Spanned<String>>,
    default_avatar_url: Option<Spanned<String>>,
    requests_per_minute: Option<Spanned<u32>>,
    timeout_secs: Option<Spanned<u64>>,
    review_types: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMainApp {
    flagged_url: Option<Spanned<String>>,
    token: Option<Spanned<String>>,
    resolved_url: Option<Spanned<String>>,
    #[serde(default)]
    fields: MainAppFields,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReset {
    strategy: Option<Spanned<String>>,
    verify: Option<bool>,
    verify_timeout_secs: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUi {
    theme: Option<Spanned<String>>,
    mouse: Option<bool>,
    images: Option<Spanned<String>>,
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// Builds errors for one file's text.
struct Ctx<'a> {
    text: &'a str,
    file: String,
}

impl Ctx<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn err(
        &self,
        kind: ConfigErrorKind,
        span: Option<Range<usize>>,
        key: Option<&str>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            kind,
            file: self.file.clone(),
            line: span.map(|s| self.line_of(s.start)),
            key: key.map(str::to_string),
            message: message.into(),
        }
    }

    fn invalid<T>(&self, v: &Spanned<T>, key: &str, message: impl Into<String>) -> ConfigError {
        self.err(
            ConfigErrorKind::InvalidValue,
            Some(v.span()),
            Some(key),
            message,
        )
    }
}

/// Finds the dotted key whose key or value covers `pos` (deepest match), in the generic parse.
fn locate(table: &toml::de::DeTable<'_>, pos: usize, prefix: &mut Vec<String>) -> bool {
    for (k, v) in table.iter() {
        let (ks, vs) = (k.span(), v.span());
        if ks.contains(&pos) || vs.contains(&pos) {
            prefix.push(k.get_ref().to_string());
            if let toml::de::DeValue::Table(t) = v.get_ref() {
                locate(t, pos, prefix);
            }
            return true;
        }
    }
    // Header tables (`[discourse]`) have a value span covering only the header; look inside
    // every sub-table for keys written below it.
    for (k, v) in table.iter() {
        if let toml::de::DeValue::Table(t) = v.get_ref() {
            prefix.push(k.get_ref().to_string());
            if locate(t, pos, prefix) {
                return true;
            }
            prefix.pop();
        }
    }
    false
}

/// The key name between the first pair of backticks of a serde message.
fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// Turns a serde error from `toml::from_str::<RawConfig>` into our message.
fn map_serde_error(cx: &Ctx<'_>, doc: &toml::de::DeTable<'_>, e: toml::de::Error) -> ConfigError {
    let span = e.span();
    let mut path = Vec::new();
    if let Some(s) = &span {
        locate(doc, s.start, &mut path);
    }
    let msg = e.message().trim().to_string();
    if msg.starts_with("unknown field") {
        let name = backticked(&msg).unwrap_or("?").to_string();
        // `path` ends with the unknown key itself when the span points at it.
        if path.last().map(String::as_str) == Some(name.as_str()) {
            path.pop();
        }
        let section = path.join(".");
        let (message, key) = if section.is_empty() {
            (
                format!(
                    "unknown section [{name}] (known: [discourse], [main_app], [reset], [ui], [keys])"
                ),
                name.clone(),
            )
        } else {
            (
                format!("unknown key \"{name}\" in [{section}]"),
                format!("{section}.{name}"),
            )
        };
        return cx.err(ConfigErrorKind::UnknownKey, span, Some(&key), message);
    }
    let key = path.join(".");
    // serde quotes the offending value ("invalid type: integer `1234…`"): never for a secret.
    let msg = if ["api_key", "sso_secret", "token"]
        .iter()
        .any(|k| key.ends_with(k))
    {
        "must be a quoted string (the value is not shown: it is a secret)".to_string()
    } else if msg.contains("untagged enum RawKeys") {
        // serde's words for "neither a string nor a list of strings".
        "must be a key in quotes (\"x\", \"ctrl-x\"), a list of them ([\"n\", \"down\"]) or [] for none"
            .to_string()
    } else {
        msg
    };
    if key.is_empty() {
        cx.err(ConfigErrorKind::InvalidValue, span, None, msg)
    } else {
        cx.err(
            ConfigErrorKind::InvalidValue,
            span,
            Some(&key),
            format!("{key}: {msg}"),
        )
    }
}

/// Is `host` a loopback host: `localhost`, 127.0.0.0/8 or ::1?
pub fn is_loopback_host(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Is this URL's host an IP address in a private, loopback or link-local range, or `localhost`?
/// (Used by `check`: Discourse refuses to download from such hosts unless allowed.)
pub fn is_internal_host(url: &Url) -> bool {
    match url.host() {
        None => false,
        Some(h @ Host::Domain(_)) => is_loopback_host(&h),
        Some(Host::Ipv4(ip)) => {
            ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified()
        }
        Some(Host::Ipv6(ip)) => {
            let ip: IpAddr = ip.into();
            match ip {
                IpAddr::V6(v6) => {
                    v6.is_loopback()
                        || v6.is_unspecified()
                        || (v6.segments()[0] & 0xfe00) == 0xfc00 // unique local
                        || (v6.segments()[0] & 0xffc0) == 0xfe80 // link local
                }
                IpAddr::V4(_) => false,
            }
        }
    }
}

/// `none` (empty or unset) as `None`.
fn non_empty(s: Option<&Spanned<String>>) -> Option<&Spanned<String>> {
    s.filter(|v| !v.get_ref().trim().is_empty())
}

/// Parses an http(s) URL. `secure_required`: plain http only to loopback hosts (credentials are
/// sent to it).
fn parse_url(
    cx: &Ctx<'_>,
    v: &Spanned<String>,
    key: &str,
    secure_required: bool,
) -> Result<Url, ConfigError> {
    // Messages quote the URL; never a password written into it.
    let shown = crate::sanitize::redact_userinfo(v.get_ref().trim());
    let text = shown.as_str();
    let url = Url::parse(v.get_ref().trim()).map_err(|e| {
        cx.invalid(
            v,
            key,
            format!("{key}: \"{text}\" is not a valid URL ({e})"),
        )
    })?;
    match url.scheme() {
        "https" => {}
        "http" => {
            if secure_required {
                let loopback = url.host().is_some_and(|h| is_loopback_host(&h));
                if !loopback {
                    return Err(cx.invalid(
                        v,
                        key,
                        format!(
                            "{key}: plain http is only allowed to a loopback host (localhost, \
                             127.0.0.0/8, ::1); use https for \"{}\"",
                            url.host_str().unwrap_or("")
                        ),
                    ));
                }
            }
        }
        other => {
            return Err(cx.invalid(
                v,
                key,
                format!("{key}: unsupported scheme \"{other}\" in \"{text}\" (use https)"),
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(cx.invalid(v, key, format!("{key}: \"{text}\" has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(cx.invalid(
            v,
            key,
            format!(
                "{key}: remove the user name and password from the URL (\"{text}\"): credentials \
                 go in api_key / token (or the environment), never in a URL that is shown and logged"
            ),
        ));
    }
    Ok(url)
}

/// The forum's base URL: request paths are appended to it, so a query or fragment would end up
/// in the middle of every request (`/?x=1/u/alice.json`) and every answer would be a 404.
fn parse_base_url(cx: &Ctx<'_>, v: &Spanned<String>, key: &str) -> Result<Url, ConfigError> {
    let url = parse_url(cx, v, key, true)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(cx.invalid(
            v,
            key,
            format!(
                "{key}: remove the {} from \"{}\": it must be the forum's address only (paths are \
                 added to it)",
                if url.query().is_some() {
                    "?query"
                } else {
                    "#fragment"
                },
                crate::sanitize::redact_userinfo(v.get_ref().trim())
            ),
        ));
    }
    Ok(url)
}

/// A page URL may carry a query, but a fragment is never sent to a server: it is a mistake.
fn no_fragment(cx: &Ctx<'_>, v: &Spanned<String>, key: &str, url: Url) -> Result<Url, ConfigError> {
    if url.fragment().is_some() {
        return Err(cx.invalid(
            v,
            key,
            format!("{key}: remove the #fragment: it is never sent to the server"),
        ));
    }
    Ok(url)
}

/// A number that must lie in `1..=max`; the message names the key and the bound.
fn bounded<T: Copy + PartialOrd + fmt::Display + From<u8>>(
    cx: &Ctx<'_>,
    v: &Spanned<T>,
    key: &str,
    max: T,
    unit: &str,
) -> Result<T, ConfigError> {
    let n = *v.get_ref();
    if n < T::from(1) || n > max {
        return Err(cx.invalid(
            v,
            key,
            format!("{key} = {n} is out of range: it must be between 1 and {max}{unit}"),
        ));
    }
    Ok(n)
}

impl Config {
    /// Parses and validates a configuration from TOML text. `path_for_messages` is the file name
    /// shown in errors. The environment is *not* consulted (see [`Config::apply_env`]).
    pub fn from_toml_str(text: &str, path_for_messages: &Path) -> Result<Config, ConfigError> {
        let cx = Ctx {
            text,
            file: path_for_messages.display().to_string(),
        };
        let raw: RawConfig = parse_raw(&cx)?;

        // [discourse]
        let Some(d) = raw.discourse else {
            return Err(cx.err(
                ConfigErrorKind::MissingKey,
                None,
                Some("discourse.url"),
                "missing section [discourse] with key discourse.url (the forum's address)",
            ));
        };
        let d_span = d.span();
        let d = d.into_inner();
        let url = match non_empty(d.url.as_ref()) {
            Some(u) => parse_base_url(&cx, u, "discourse.url")?,
            None => {
                return Err(cx.err(
                    ConfigErrorKind::MissingKey,
                    Some(d_span),
                    Some("discourse.url"),
                    "missing key discourse.url (the forum's address, e.g. \"https://forum.example.com\")",
                ));
            }
        };
        let default_avatar_url = match non_empty(d.default_avatar_url.as_ref()) {
            Some(u) => Some(parse_url(&cx, u, "discourse.default_avatar_url", false)?),
            None => None,
        };
        let requests_per_minute = match &d.requests_per_minute {
            Some(v) if *v.get_ref() == 0 => {
                return Err(cx.invalid(
                    v,
                    "discourse.requests_per_minute",
                    "discourse.requests_per_minute must be at least 1 (Discourse's default budget is 60)",
                ));
            }
            Some(v) => bounded(
                &cx,
                v,
                "discourse.requests_per_minute",
                MAX_REQUESTS_PER_MINUTE,
                "",
            )?,
            None => 60,
        };
        let timeout_secs = match &d.timeout_secs {
            Some(v) if *v.get_ref() == 0 => {
                return Err(cx.invalid(
                    v,
                    "discourse.timeout_secs",
                    "discourse.timeout_secs must be at least 1",
                ));
            }
            Some(v) => bounded(
                &cx,
                v,
                "discourse.timeout_secs",
                MAX_TIMEOUT_SECS,
                " seconds",
            )?,
            None => 15,
        };
        let api_username = match non_empty(d.api_username.as_ref()) {
            Some(v) => v.get_ref().trim().to_string(),
            None => "system".to_string(),
        };
        let discourse = DiscourseConfig {
            url,
            api_username,
            api_key: non_empty(d.api_key.as_ref()).map(|s| Secret::new(s.get_ref().clone())),
            sso_secret: non_empty(d.sso_secret.as_ref()).map(|s| Secret::new(s.get_ref().clone())),
            default_avatar_url,
            requests_per_minute,
            timeout_secs,
            review_types: d
                .review_types
                .unwrap_or_else(|| vec!["ReviewableUser".into(), "ReviewableFlaggedPost".into()]),
        };

        // [main_app]
        let main_app = match raw.main_app {
            None => None,
            Some(m) => {
                let m_span = m.span();
                let m = m.into_inner();
                let flagged_url = match non_empty(m.flagged_url.as_ref()) {
                    Some(u) => no_fragment(
                        &cx,
                        u,
                        "main_app.flagged_url",
                        parse_url(&cx, u, "main_app.flagged_url", true)?,
                    )?,
                    None => {
                        return Err(cx.err(
                            ConfigErrorKind::MissingKey,
                            Some(m_span),
                            Some("main_app.flagged_url"),
                            "missing key main_app.flagged_url (or remove the [main_app] section)",
                        ));
                    }
                };
                let resolved_url = match non_empty(m.resolved_url.as_ref()) {
                    Some(u) => Some(no_fragment(
                        &cx,
                        u,
                        "main_app.resolved_url",
                        parse_url(&cx, u, "main_app.resolved_url", true)?,
                    )?),
                    None => None,
                };
                Some(MainAppConfig {
                    flagged_url,
                    token: non_empty(m.token.as_ref()).map(|s| Secret::new(s.get_ref().clone())),
                    resolved_url,
                    fields: m.fields,
                })
            }
        };

        // [reset]
        let strategy = match &raw.reset.strategy {
            None => ResetStrategy::Auto,
            Some(v) => ResetStrategy::parse(v.get_ref().trim()).ok_or_else(|| {
                cx.invalid(
                    v,
                    "reset.strategy",
                    format!(
                        "invalid value \"{}\" for reset.strategy (expected auto, pick or sync-sso)",
                        v.get_ref()
                    ),
                )
            })?,
        };
        let reset = ResetConfig {
            strategy,
            verify: raw.reset.verify.unwrap_or(true),
            verify_timeout_secs: match &raw.reset.verify_timeout_secs {
                Some(v) => bounded(
                    &cx,
                    v,
                    "reset.verify_timeout_secs",
                    MAX_VERIFY_TIMEOUT_SECS,
                    " seconds (an hour)",
                )?,
                None => 60,
            },
        };

        // [ui]
        let theme = match &raw.ui.theme {
            None => Theme::Auto,
            Some(v) => Theme::parse(v.get_ref().trim()).ok_or_else(|| {
                cx.invalid(
                    v,
                    "ui.theme",
                    format!(
                        "invalid value \"{}\" for ui.theme (expected auto, dark, light or mono)",
                        v.get_ref()
                    ),
                )
            })?,
        };
        let images = match &raw.ui.images {
            None => ImageMode::Auto,
            Some(v) => ImageMode::parse(v.get_ref().trim()).ok_or_else(|| {
                cx.invalid(
                    v,
                    "ui.images",
                    format!(
                        "invalid value \"{}\" for ui.images (expected auto, halfblocks or off)",
                        v.get_ref()
                    ),
                )
            })?,
        };
        let ui = UiConfig {
            theme,
            mouse: raw.ui.mouse.unwrap_or(false),
            images,
        };

        let keys = parse_keys(&cx, raw.keys.as_ref())?;

        Ok(Config {
            discourse,
            main_app,
            reset,
            ui,
            keys,
            path: path_for_messages.to_path_buf(),
        })
    }

    /// Every secret this configuration holds (for [`crate::secret::register`]).
    pub fn secrets(&self) -> Vec<&Secret> {
        let d = &self.discourse;
        d.api_key
            .iter()
            .chain(d.sso_secret.iter())
            .chain(self.main_app.iter().flat_map(|m| m.token.iter()))
            .collect()
    }

    /// Lets secrets from the environment win over the file. `lookup` is `std::env::var` in real
    /// use; empty values count as unset.
    pub fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) {
        let get = |name: &str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .map(Secret::new)
        };
        if let Some(v) = get(ENV_API_KEY) {
            self.discourse.api_key = Some(v);
        }
        if let Some(v) = get(ENV_SSO_SECRET) {
            self.discourse.sso_secret = Some(v);
        }
        if let Some(m) = &mut self.main_app
            && let Some(v) = get(ENV_MAIN_APP_TOKEN)
        {
            m.token = Some(v);
        }
    }

    /// Reads the file chosen by [`config_path`] (`--config`, `$AVATAR_CONSOLE_CONFIG`, the
    /// project config dir), validates it and applies the environment's secrets. Returns the
    /// configuration and the path used.
    pub fn load(cli_path: Option<&Path>) -> Result<(Config, PathBuf), ConfigError> {
        let (path, _) = config_path(cli_path);
        let mut config = Config::load_file(&path)?;
        config.apply_env(|k| std::env::var(k).ok());
        Ok((config, path))
    }

    /// Reads and validates one file (no environment).
    pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = match read_config_text(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError {
                    kind: ConfigErrorKind::NotFound,
                    file,
                    line: None,
                    key: None,
                    message: "config file not found (`avatar-console config init` writes a \
                              commented one there, or try `avatar-console --demo`)"
                        .into(),
                });
            }
            Err(e) => {
                return Err(ConfigError {
                    kind: ConfigErrorKind::Io,
                    file,
                    line: None,
                    key: None,
                    message: format!("cannot read the config file: {e}"),
                });
            }
        };
        Config::from_toml_str(&text, path)
    }

    /// Only the `[keys]` of the file [`config_path`] chooses, for `--demo` (which needs nothing
    /// else from it): a file holding just a `[keys]` table is enough, and the rest of a file is
    /// not checked beyond its TOML syntax. `Ok(None)` when there is no file at the default path;
    /// a file named by `--config` or `$AVATAR_CONSOLE_CONFIG` must be there.
    pub fn load_keys(
        cli_path: Option<&Path>,
    ) -> Result<Option<crate::tui::keymap::Keymap>, ConfigError> {
        let (path, source) = config_path(cli_path);
        let text = match read_config_text(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if matches!(source, PathSource::Default) {
                    return Ok(None);
                }
                return Err(ConfigError {
                    kind: ConfigErrorKind::NotFound,
                    file: path.display().to_string(),
                    line: None,
                    key: None,
                    message: format!("config file not found (named by {})", source.describe()),
                });
            }
            Err(e) => {
                return Err(ConfigError {
                    kind: ConfigErrorKind::Io,
                    file: path.display().to_string(),
                    line: None,
                    key: None,
                    message: format!("cannot read the config file: {e}"),
                });
            }
        };
        Config::keys_from_toml_str(&text, &path).map(Some)
    }

    /// The `[keys]` of a configuration's text, the other tables unread.
    pub fn keys_from_toml_str(
        text: &str,
        path_for_messages: &Path,
    ) -> Result<crate::tui::keymap::Keymap, ConfigError> {
        #[derive(Deserialize)]
        struct KeysOnly {
            keys: Option<RawKeysTable>,
        }
        let cx = Ctx {
            text,
            file: path_for_messages.display().to_string(),
        };
        let raw: KeysOnly = parse_raw(&cx)?;
        parse_keys(&cx, raw.keys.as_ref())
    }

    /// A configuration for `--demo` and tests: the sandbox's addresses and secrets, defaults
    /// elsewhere. URLs must be valid (the sandbox listens on loopback).
    #[allow(clippy::too_many_arguments)]
    pub fn for_sandbox(
        url: &str,
        api_key: &str,
        api_username: &str,
        sso_secret: &str,
        default_avatar_url: &str,
        flagged_url: Option<&str>,
        main_app_token: Option<&str>,
        resolved_url: Option<&str>,
    ) -> Result<Config, ConfigError> {
        let q = |s: &str| toml_string(s);
        let mut text = format!(
            "[discourse]\nurl = {}\napi_username = {}\napi_key = {}\nsso_secret = {}\n\
             default_avatar_url = {}\n",
            q(url),
            q(api_username),
            q(api_key),
            q(sso_secret),
            q(default_avatar_url)
        );
        if let Some(f) = flagged_url {
            text.push_str(&format!("\n[main_app]\nflagged_url = {}\n", q(f)));
            if let Some(t) = main_app_token {
                text.push_str(&format!("token = {}\n", q(t)));
            }
            if let Some(r) = resolved_url {
                text.push_str(&format!("resolved_url = {}\n", q(r)));
            }
        }
        Config::from_toml_str(&text, Path::new("<sandbox>"))
    }

    fn missing(&self, key: &str, env: Option<&str>, why: &str) -> ConfigError {
        let message = match env {
            Some(env) => format!("missing key {key} (or set {env}); {why}"),
            None => format!("missing key {key}; {why}"),
        };
        ConfigError {
            kind: ConfigErrorKind::MissingKey,
            file: self.path.display().to_string(),
            line: None,
            key: Some(key.to_string()),
            message,
        }
    }

    /// What every command that talks to Discourse needs: `api_key` (and `api_username`, which
    /// defaults to `system`). Returns `(username, key)`.
    pub fn require_api(&self) -> Result<(&str, &Secret), ConfigError> {
        let key = self.discourse.api_key.as_ref().ok_or_else(|| {
            self.missing(
                "discourse.api_key",
                Some(ENV_API_KEY),
                "an admin API key is needed to talk to Discourse",
            )
        })?;
        if self.discourse.api_username.is_empty() {
            return Err(self.missing(
                "discourse.api_username",
                None,
                "the admin the API key acts as",
            ));
        }
        Ok((&self.discourse.api_username, key))
    }

    /// What the sync-sso strategy needs: `sso_secret` and `default_avatar_url`.
    pub fn require_sync_sso(&self) -> Result<(&Secret, &Url), ConfigError> {
        let secret = self.discourse.sso_secret.as_ref().ok_or_else(|| {
            self.missing(
                "discourse.sso_secret",
                Some(ENV_SSO_SECRET),
                "the sync-sso strategy signs its payload with the DiscourseConnect secret",
            )
        })?;
        let url = self.discourse.default_avatar_url.as_ref().ok_or_else(|| {
            self.missing(
                "discourse.default_avatar_url",
                None,
                "the sync-sso strategy replaces the photo with this image",
            )
        })?;
        Ok((secret, url))
    }

    /// The main app, if configured, with its token. `Ok(None)` when there is no `[main_app]`.
    pub fn require_main_app(&self) -> Result<Option<(&MainAppConfig, &Secret)>, ConfigError> {
        match &self.main_app {
            None => Ok(None),
            Some(m) => {
                let token = m.token.as_ref().ok_or_else(|| {
                    self.missing(
                        "main_app.token",
                        Some(ENV_MAIN_APP_TOKEN),
                        "sent as a Bearer token to the main app",
                    )
                })?;
                Ok(Some((m, token)))
            }
        }
    }
}

/// A TOML basic string literal for `s`.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

/// Where the config path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathSource {
    Flag,
    Env,
    Default,
}

impl PathSource {
    pub fn describe(self) -> &'static str {
        match self {
            PathSource::Flag => "--config",
            PathSource::Env => "$AVATAR_CONSOLE_CONFIG",
            PathSource::Default => "default location",
        }
    }
}

/// Reads a config file that must be a regular file of at most [`MAX_CONFIG_BYTES`]. A FIFO would
/// block the open and `/dev/zero` would never end: both are refused before reading, and the read
/// itself stops past the limit whatever the file turns into meanwhile.
fn read_config_text(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file (a pipe, socket or device)"
        };
        return Err(std::io::Error::other(format!(
            "the config file is {what}: give the path of a TOML file"
        )));
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(std::io::Error::other(format!(
            "the config file is {} bytes, more than the {MAX_CONFIG_BYTES} a config can be",
            meta.len()
        )));
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Never block on open, should the path have become a FIFO since the check.
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let f = opts.open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other(
            "the config file is not a regular file",
        ));
    }
    let mut bytes = Vec::new();
    f.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(std::io::Error::other(format!(
            "the config file is larger than the {MAX_CONFIG_BYTES} bytes a config can be"
        )));
    }
    String::from_utf8(bytes).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the config file is not UTF-8 text",
        )
    })
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "avatar-console")
}

/// The config file to use: `--config`, then `$AVATAR_CONSOLE_CONFIG`, then
/// `<config dir>/avatar-console/config.toml`.
pub fn config_path(cli_path: Option<&Path>) -> (PathBuf, PathSource) {
    if let Some(p) = cli_path {
        return (p.to_path_buf(), PathSource::Flag);
    }
    if let Some(p) = std::env::var_os(ENV_CONFIG).filter(|v| !v.is_empty()) {
        return (PathBuf::from(p), PathSource::Env);
    }
    let dir = project_dirs()
        .map(|d| d.config_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".avatar-console"));
    (dir.join("config.toml"), PathSource::Default)
}

/// Writes the example config to `path`, creating its folder, readable by its owner only (the
/// file is where secrets go). Refuses to overwrite: `Err` says so when the file exists.
pub fn init_file(path: &Path) -> Result<(), String> {
    if path.exists() {
        return Err(format!(
            "{} already exists: not overwritten (edit it, or move it away first)",
            path.display()
        ));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the folder {}: {e}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    // create_new: a file that appeared meanwhile is not truncated.
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            format!("{} already exists: not overwritten", path.display())
        }
        _ => format!("cannot write {}: {e}", path.display()),
    })?;
    std::io::Write::write_all(&mut file, EXAMPLE.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// When a config file holds a secret and others than its owner may read it, what to say (as
/// ssh does of a private key): the mode and the `chmod` that fixes it. `None` when all is well,
/// or on systems without Unix modes.
pub fn exposed_secrets_warning(path: &Path, config_from_file: &Config) -> Option<String> {
    let holds_secret = config_from_file.discourse.api_key.is_some()
        || config_from_file.discourse.sso_secret.is_some()
        || config_from_file
            .main_app
            .as_ref()
            .is_some_and(|m| m.token.is_some());
    if !holds_secret {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Some(format!(
                "{} holds secrets and can be read by others (mode {mode:04o}): chmod 600 {}",
                path.display(),
                path.display()
            ));
        }
    }
    None
}

/// The data dir (audit log, application log): `$AVATAR_CONSOLE_DATA_DIR`, else the project
/// data dir (`.avatar-console` in the working directory when there is no home directory).
pub fn data_dir() -> PathBuf {
    if let Some(p) = std::env::var_os(ENV_DATA_DIR).filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    project_dirs()
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".avatar-console"))
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[discourse]\nurl = \"https://forum.example.com\"\n";

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str(text, Path::new("config.toml"))
    }

    fn err(text: &str) -> ConfigError {
        parse(text).expect_err("should fail")
    }

    #[test]
    fn minimal_gets_defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.discourse.url.as_str(), "https://forum.example.com/");
        assert_eq!(c.discourse.api_username, "system");
        assert_eq!(c.discourse.requests_per_minute, 60);
        assert_eq!(c.discourse.timeout_secs, 15);
        assert_eq!(
            c.discourse.review_types,
            vec!["ReviewableUser", "ReviewableFlaggedPost"]
        );
        assert!(c.discourse.api_key.is_none());
        assert!(c.main_app.is_none());
        assert_eq!(c.reset.strategy, ResetStrategy::Auto);
        assert!(c.reset.verify);
        assert_eq!(c.reset.verify_timeout_secs, 60);
        assert_eq!(c.ui.theme, Theme::Auto);
        assert!(!c.ui.mouse);
        assert_eq!(c.ui.images, ImageMode::Auto);
    }

    #[test]
    fn full_file_parses() {
        let text = r#"
[discourse]
url = "https://forum.example.com"
api_username = "admin1"
api_key = "k-123456"
sso_secret = "s-123456"
default_avatar_url = "http://10.0.0.5/avatars/default.png"
requests_per_minute = 30
timeout_secs = 5
review_types = ["ReviewableUser"]

[main_app]
flagged_url = "https://app.example.com/api/moderation/flagged-avatars"
token = "t-123456"
resolved_url = "https://app.example.com/api/moderation/resolved"

[main_app.fields]
items = "data"
external_id = "id"

[reset]
strategy = "sync-sso"
verify = false
verify_timeout_secs = 10

[ui]
theme = "mono"
mouse = true
images = "halfblocks"
"#;
        let c = parse(text).unwrap();
        assert_eq!(c.discourse.api_username, "admin1");
        assert_eq!(c.discourse.api_key.as_ref().unwrap().expose(), "k-123456");
        assert_eq!(
            c.discourse.default_avatar_url.as_ref().unwrap().as_str(),
            "http://10.0.0.5/avatars/default.png"
        );
        assert!(is_internal_host(
            c.discourse.default_avatar_url.as_ref().unwrap()
        ));
        let m = c.main_app.as_ref().unwrap();
        assert_eq!(m.fields.items, "data");
        assert_eq!(m.fields.external_id, "id");
        assert_eq!(m.fields.next, "next");
        assert_eq!(c.reset.strategy, ResetStrategy::SyncSso);
        assert!(!c.reset.verify);
        assert_eq!(c.ui.theme, Theme::Mono);
        assert!(c.ui.mouse);
        assert_eq!(c.ui.images, ImageMode::Halfblocks);
        assert!(c.require_api().is_ok());
        assert!(c.require_sync_sso().is_ok());
        assert!(c.require_main_app().unwrap().is_some());
        // Secrets never show in Debug.
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("k-123456") && !dbg.contains("s-123456") && !dbg.contains("t-123456")
        );
    }

    #[test]
    fn syntax_error_names_line() {
        let e = err("[discourse]\nurl = \"https://forum.example.com\"\napi_key = \n");
        assert_eq!(e.kind, ConfigErrorKind::Syntax);
        assert_eq!(e.line, Some(3));
        assert!(
            e.to_string()
                .starts_with("config.toml:3: TOML syntax error"),
            "{e}"
        );
    }

    #[test]
    fn unknown_key_names_line_key_and_section() {
        let e = err("[discourse]\nurl = \"https://forum.example.com\"\n\n\n\n\napi_kye = \"x\"\n");
        assert_eq!(e.kind, ConfigErrorKind::UnknownKey);
        assert_eq!(
            e.to_string(),
            "config.toml:7: unknown key \"api_kye\" in [discourse]"
        );
        assert_eq!(e.key.as_deref(), Some("discourse.api_kye"));
    }

    #[test]
    fn unknown_key_in_nested_and_other_sections() {
        let e = err(&format!(
            "{MINIMAL}[main_app]\nflagged_url = \"https://a.example\"\n[main_app.fields]\nitemz = \"x\"\n"
        ));
        assert_eq!(
            e.to_string(),
            "config.toml:6: unknown key \"itemz\" in [main_app.fields]"
        );
        let e = err(&format!("{MINIMAL}[ui]\ncolour = \"x\"\n"));
        assert_eq!(
            e.to_string(),
            "config.toml:4: unknown key \"colour\" in [ui]"
        );
        let e = err(&format!(
            "{MINIMAL}[reset]\nverify = true\nstrateg = \"pick\"\n"
        ));
        assert_eq!(
            e.to_string(),
            "config.toml:5: unknown key \"strateg\" in [reset]"
        );
        // Dotted keys and inline tables.
        let e = err("discourse = { url = \"https://f.example\", apikey = \"x\" }\n");
        assert_eq!(e.kind, ConfigErrorKind::UnknownKey);
        assert_eq!(e.line, Some(1));
        assert!(e.message.contains("\"apikey\" in [discourse]"), "{e}");
    }

    #[test]
    fn unknown_section() {
        let e = err(&format!("{MINIMAL}\n[discoruse]\nurl = \"x\"\n"));
        assert_eq!(e.kind, ConfigErrorKind::UnknownKey);
        assert_eq!(e.line, Some(4));
        assert!(e.message.contains("unknown section [discoruse]"), "{e}");
    }

    #[test]
    fn missing_url() {
        let e = err("[discourse]\napi_key = \"x\"\n");
        assert_eq!(e.kind, ConfigErrorKind::MissingKey);
        assert_eq!(e.line, Some(1));
        assert!(e.to_string().contains("missing key discourse.url"), "{e}");
        let e = err("[ui]\nmouse = true\n");
        assert_eq!(e.kind, ConfigErrorKind::MissingKey);
        assert!(e.to_string().contains("discourse.url"), "{e}");
        let e = err("");
        assert!(
            e.to_string()
                .starts_with("config.toml: missing section [discourse]"),
            "{e}"
        );
    }

    #[test]
    fn bad_url() {
        let e = err("[discourse]\n\nurl = \"forum example com\"\n");
        assert_eq!(e.kind, ConfigErrorKind::InvalidValue);
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("discourse.url"), "{e}");
        let e = err("[discourse]\nurl = \"ftp://forum.example.com\"\n");
        assert!(e.message.contains("unsupported scheme"), "{e}");
    }

    #[test]
    fn plain_http_only_for_loopback() {
        let e = err("[discourse]\nurl = \"http://forum.example.com\"\n");
        assert_eq!(e.kind, ConfigErrorKind::InvalidValue);
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("plain http"), "{e}");
        for ok in [
            "http://localhost:4200",
            "http://127.0.0.1:3000",
            "http://127.8.9.10",
            "http://[::1]:8080/forum",
            "http://LOCALHOST",
        ] {
            parse(&format!("[discourse]\nurl = \"{ok}\"\n"))
                .unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "http://10.0.0.1",
            "http://128.0.0.1",
            "http://[::2]",
            "http://localhost.evil.com",
        ] {
            assert!(
                parse(&format!("[discourse]\nurl = \"{bad}\"\n")).is_err(),
                "{bad}"
            );
        }
        // The main app's URLs carry a token: same rule.
        let e = err(&format!(
            "{MINIMAL}[main_app]\nflagged_url = \"http://app.example.com/f\"\n"
        ));
        assert_eq!(e.line, Some(4));
        assert!(e.message.contains("main_app.flagged_url"), "{e}");
        // The default avatar is fetched by Discourse, not sent credentials: http is fine.
        parse(&format!(
            "{MINIMAL}default_avatar_url = \"http://cdn.example.com/a.png\"\n"
        ))
        .unwrap();
    }

    #[test]
    fn invalid_enums_and_zero_rate() {
        let e = err(&format!("{MINIMAL}[reset]\nstrategy = \"nuke\"\n"));
        assert_eq!(
            e.to_string(),
            "config.toml:4: invalid value \"nuke\" for reset.strategy (expected auto, pick or sync-sso)"
        );
        let e = err(&format!("{MINIMAL}[ui]\ntheme = \"pink\"\n"));
        assert_eq!(e.line, Some(4));
        assert!(e.message.contains("ui.theme"), "{e}");
        let e = err(&format!("{MINIMAL}[ui]\nimages = \"sixel\"\n"));
        assert_eq!(
            e.to_string(),
            "config.toml:4: invalid value \"sixel\" for ui.images (expected auto, halfblocks or off)"
        );
        let e = err(&format!("{MINIMAL}requests_per_minute = 0\n"));
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("discourse.requests_per_minute"), "{e}");
    }

    #[test]
    fn wrong_type_names_key_and_line() {
        let e = err(&format!("{MINIMAL}\ntimeout_secs = \"15\"\n"));
        assert_eq!(e.kind, ConfigErrorKind::InvalidValue);
        assert_eq!(e.line, Some(4));
        assert!(e.message.contains("discourse.timeout_secs"), "{e}");
        let e = err(&format!("{MINIMAL}[ui]\nmouse = \"yes\"\n"));
        assert_eq!(e.line, Some(4));
        assert!(e.message.contains("ui.mouse"), "{e}");
    }

    #[test]
    fn require_names_key_and_env() {
        let c = parse(MINIMAL).unwrap();
        let e = c.require_api().unwrap_err();
        assert_eq!(
            e.to_string(),
            "config.toml: missing key discourse.api_key (or set AVATAR_CONSOLE_API_KEY); an admin API key is needed to talk to Discourse"
        );
        let e = c.require_sync_sso().unwrap_err();
        assert!(
            e.to_string()
                .contains("discourse.sso_secret (or set AVATAR_CONSOLE_SSO_SECRET)")
        );
        let c = parse(&format!("{MINIMAL}sso_secret = \"abcdefgh\"\n")).unwrap();
        let e = c.require_sync_sso().unwrap_err();
        assert!(
            e.to_string().contains("discourse.default_avatar_url"),
            "{e}"
        );
        let c = parse(&format!(
            "{MINIMAL}[main_app]\nflagged_url = \"https://a.example/f\"\n"
        ))
        .unwrap();
        let e = c.require_main_app().unwrap_err();
        assert!(
            e.to_string()
                .contains("main_app.token (or set AVATAR_CONSOLE_MAIN_APP_TOKEN)")
        );
    }

    #[test]
    fn env_secrets_win() {
        let mut c = parse(&format!(
            "{MINIMAL}api_key = \"file-key\"\n[main_app]\nflagged_url = \"https://a.example/f\"\n"
        ))
        .unwrap();
        c.apply_env(|k| match k {
            ENV_API_KEY => Some("env-key".into()),
            ENV_SSO_SECRET => Some("env-secret".into()),
            ENV_MAIN_APP_TOKEN => Some("env-token".into()),
            _ => None,
        });
        assert_eq!(c.discourse.api_key.as_ref().unwrap().expose(), "env-key");
        assert_eq!(
            c.discourse.sso_secret.as_ref().unwrap().expose(),
            "env-secret"
        );
        assert_eq!(
            c.main_app
                .as_ref()
                .unwrap()
                .token
                .as_ref()
                .unwrap()
                .expose(),
            "env-token"
        );
        // Empty environment values do not erase the file's.
        let mut c = parse(&format!("{MINIMAL}api_key = \"file-key\"\n")).unwrap();
        c.apply_env(|_| Some(String::new()));
        assert_eq!(c.discourse.api_key.as_ref().unwrap().expose(), "file-key");
    }

    /// Lines like `#key = value` / `#[section]` are optional settings in the example.
    fn uncomment_settings(text: &str) -> String {
        text.lines()
            .map(|l| match l.strip_prefix('#') {
                Some(rest)
                    if rest.starts_with('[')
                        || rest.starts_with(|c: char| c.is_ascii_lowercase()) =>
                {
                    rest
                }
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[cfg(unix)]
    #[test]
    fn init_writes_the_example_privately_and_never_overwrites() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("ac-init-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("nested/avatar-console/config.toml");
        init_file(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), EXAMPLE);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::write(&path, "# mine\n").unwrap();
        let e = init_file(&path).unwrap_err();
        assert!(e.contains("already exists"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine\n");

        // The warning: only for a file with a secret in it, readable by group or others.
        let secret = format!("{MINIMAL}api_key = \"k\"\n");
        std::fs::write(&path, &secret).unwrap();
        let c = Config::load_file(&path).unwrap();
        assert_eq!(exposed_secrets_warning(&path, &c), None, "0600 is fine");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let w = exposed_secrets_warning(&path, &c).unwrap();
        assert!(w.contains("mode 0644") && w.contains("chmod 600"), "{w}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(exposed_secrets_warning(&path, &c).is_some());
        std::fs::write(&path, MINIMAL).unwrap();
        let c = Config::load_file(&path).unwrap();
        assert_eq!(exposed_secrets_warning(&path, &c), None, "no secret in it");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn keys_remap_and_clashes_name_file_line_and_both_actions() {
        use crate::tui::keymap::{Action, Key};
        let c = parse(&format!(
            "{MINIMAL}[keys]\nreset = \"x\"\ndown = [\"n\", \"down\"]\n"
        ))
        .unwrap();
        assert_eq!(c.keys.keys(Action::Reset), &[Key::parse("x").unwrap()]);
        assert_eq!(c.keys.label(Action::Down), "n / ↓");
        assert_eq!(parse(MINIMAL).unwrap().keys.hint(Action::Reset), "r");

        // A clash: the line of the entry, and both actions.
        let e = err(&format!("{MINIMAL}[keys]\nmark = \"x\"\nreset = \"j\"\n"));
        assert_eq!(e.line, Some(5), "{e}");
        assert_eq!(e.key.as_deref(), Some("keys.reset"));
        assert!(
            e.to_string().contains("bound to both reset and down"),
            "{e}"
        );
        assert!(e.to_string().starts_with("config.toml:5: "), "{e}");
        let e = err(&format!("{MINIMAL}[keys]\nreset = \"x\"\nmark = \"x\"\n"));
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.to_string().contains("reset and mark"), "{e}");
        // An unknown action and an unknown key, on their lines.
        let e = err(&format!("{MINIMAL}[keys]\nrest = \"x\"\n"));
        assert_eq!(
            (e.kind, e.line),
            (ConfigErrorKind::UnknownKey, Some(4)),
            "{e}"
        );
        let e = err(&format!("{MINIMAL}[keys]\n\nreset = \"meta-x\"\n"));
        assert_eq!(e.line, Some(5), "{e}");
        assert!(e.to_string().contains("unknown key \"meta-x\""), "{e}");
        // Not a string or a list of strings: said in the file's words, not serde's.
        let e = err(&format!("{MINIMAL}[keys]\nreset = 5\n"));
        assert_eq!(e.line, Some(4), "{e}");
        assert!(
            e.to_string()
                .contains("keys.reset: must be a key in quotes"),
            "{e}"
        );
        assert!(!e.to_string().contains("untagged"), "{e}");
    }

    #[test]
    fn demo_reads_only_the_keys_table() {
        use crate::tui::keymap::Action;
        let keys = |t: &str| Config::keys_from_toml_str(t, Path::new("config.toml"));
        // A file with only `[keys]`, or one whose other tables would not load, still gives them.
        assert_eq!(
            keys("[keys]\nreset = \"x\"\n").unwrap().hint(Action::Reset),
            "x"
        );
        assert_eq!(
            keys("[discourse]\nurl = \"ftp://nope\"\n[keys]\nreset = \"x\"\n")
                .unwrap()
                .hint(Action::Reset),
            "x"
        );
        assert_eq!(keys("").unwrap(), crate::tui::keymap::Keymap::default());
        // Keys that cannot work are the same error as outside the demo, on their line.
        let e = keys("[keys]\nreset = \"x\"\nmark = \"x\"\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.to_string().contains("reset and mark"), "{e}");
        let e = keys("[keys\n").unwrap_err();
        assert_eq!(e.kind, ConfigErrorKind::Syntax, "{e}");
        // No file at the default place is no keys; a named one must exist.
        let missing = std::env::temp_dir().join(format!("ac-no-such-{}.toml", std::process::id()));
        let e = Config::load_keys(Some(&missing)).unwrap_err();
        assert_eq!(e.kind, ConfigErrorKind::NotFound, "{e}");
        assert!(e.to_string().contains("--config"), "{e}");
    }

    #[test]
    fn example_parses_as_is_and_with_every_setting() {
        let c = parse(EXAMPLE).unwrap_or_else(|e| panic!("example: {e}"));
        assert_eq!(c.discourse.requests_per_minute, 60);
        let full = uncomment_settings(EXAMPLE);
        let c = parse(&full).unwrap_or_else(|e| panic!("example, all settings on: {e}\n{full}"));
        assert!(c.main_app.is_some());
        assert!(c.require_api().is_ok());
        assert!(c.require_sync_sso().is_ok());
        assert!(c.require_main_app().unwrap().is_some());
        // Every key of the interface appears in the example.
        for key in [
            "url",
            "api_username",
            "api_key",
            "sso_secret",
            "default_avatar_url",
            "requests_per_minute",
            "timeout_secs",
            "review_types",
            "flagged_url",
            "token",
            "resolved_url",
            "items",
            "next",
            "external_id",
            "username",
            "email",
            "reason",
            "flagged_at",
            "photo_url",
            "strategy",
            "verify",
            "verify_timeout_secs",
            "theme",
            "mouse",
            "images",
        ] {
            assert!(
                full.lines().any(|l| l.starts_with(&format!("{key} ="))),
                "{key}"
            );
        }
        // Every action's name, with its default keys (uncommented, they change nothing).
        assert_eq!(c.keys, crate::tui::keymap::Keymap::default());
        for (_, name, ..) in crate::tui::keymap::ACTIONS {
            let key = *name;
            assert!(
                full.lines().any(|l| l.starts_with(&format!("{key} ="))),
                "{key}"
            );
        }
    }

    #[test]
    fn for_sandbox_builds_valid_config() {
        let c = Config::for_sandbox(
            "http://127.0.0.1:4000",
            "key\"with\\quotes",
            "system",
            "secret",
            "http://127.0.0.1:4000/default.png",
            Some("http://127.0.0.1:4000/app/flagged"),
            Some("tok"),
            None,
        )
        .unwrap();
        assert_eq!(c.discourse.api_key.unwrap().expose(), "key\"with\\quotes");
        assert!(c.main_app.unwrap().resolved_url.is_none());
    }

    #[test]
    fn values_that_cannot_work_are_refused_naming_the_key() {
        for (text, key, line) in [
            (
                "[discourse]\nurl = \"https://f.example.com/?x=1\"\n",
                "discourse.url",
                2,
            ),
            (
                "[discourse]\nurl = \"https://f.example.com/#top\"\n",
                "discourse.url",
                2,
            ),
            (
                &format!("{MINIMAL}[main_app]\nflagged_url = \"https://a.example/f#x\"\n"),
                "main_app.flagged_url",
                4,
            ),
            (
                &format!("{MINIMAL}[reset]\nverify_timeout_secs = 9223372036854775807\n"),
                "reset.verify_timeout_secs",
                4,
            ),
            (
                &format!("{MINIMAL}timeout_secs = 86400\n"),
                "discourse.timeout_secs",
                3,
            ),
            (
                &format!("{MINIMAL}requests_per_minute = 4294967295\n"),
                "discourse.requests_per_minute",
                3,
            ),
            (
                &format!("{MINIMAL}requests_per_minute = 4294967296\n"),
                "discourse.requests_per_minute",
                3,
            ),
            (
                &format!("{MINIMAL}timeout_secs = -1\n"),
                "discourse.timeout_secs",
                3,
            ),
        ] {
            let e = err(text);
            assert_eq!(e.key.as_deref(), Some(key), "{text}: {e}");
            assert_eq!(e.line, Some(line), "{text}: {e}");
            assert!(e.message.contains(key), "{text}: {e}");
        }
        let e = err(&format!("{MINIMAL}[reset]\nverify_timeout_secs = 7200\n"));
        assert!(e.message.contains("3600"), "{e}");
        // A query is fine on a page URL.
        parse(&format!(
            "{MINIMAL}[main_app]\nflagged_url = \"https://a.example/f?status=open\"\n"
        ))
        .unwrap();
    }

    #[test]
    fn userinfo_in_urls_is_refused_and_never_echoed() {
        for key in ["url", "default_avatar_url"] {
            let text = if key == "url" {
                "[discourse]\nurl = \"https://admin:pw-s3cret@f.example.com\"\n".to_string()
            } else {
                format!("{MINIMAL}default_avatar_url = \"https://u:pw-s3cret@cdn.example/a.png\"\n")
            };
            let e = err(&text);
            assert_eq!(e.key.as_deref(), Some(&*format!("discourse.{key}")));
            assert!(!e.to_string().contains("pw-s3cret"), "{e}");
            assert!(e.message.contains("user name and password"), "{e}");
        }
        let e = err("[discourse]\nurl = \"ftp://admin:pw-s3cret@f.example.com\"\n");
        assert!(!e.to_string().contains("pw-s3cret"), "{e}");
    }

    #[test]
    fn only_regular_files_of_bounded_size_are_read() {
        let dir = std::env::temp_dir().join(format!("ac-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = Config::load_file(&dir).unwrap_err();
        assert_eq!(e.kind, ConfigErrorKind::Io);
        assert!(e.message.contains("directory"), "{e}");
        let big = dir.join("big.toml");
        std::fs::write(&big, "#".repeat(MAX_CONFIG_BYTES as usize + 1)).unwrap();
        assert!(
            Config::load_file(&big)
                .unwrap_err()
                .message
                .contains("bytes")
        );
        #[cfg(unix)]
        {
            let started = std::time::Instant::now();
            let e = Config::load_file(Path::new("/dev/zero")).unwrap_err();
            assert!(e.message.contains("not a regular file"), "{e}");
            let fifo = dir.join("fifo");
            let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            let e = Config::load_file(&fifo).unwrap_err();
            assert!(e.message.contains("not a regular file"), "{e}");
            assert!(started.elapsed() < std::time::Duration::from_secs(2));
        }
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn paths_follow_flag_then_env() {
        let (p, s) = config_path(Some(Path::new("/x/c.toml")));
        assert_eq!((p, s), (PathBuf::from("/x/c.toml"), PathSource::Flag));
    }
}
