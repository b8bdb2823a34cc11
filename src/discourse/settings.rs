//! The DiscourseConnect site settings the console reads, under their new names with the old
//! `sso_*` names as fallback (discourse-api.md §7, `RenameSsoSiteSettings`).

use std::collections::BTreeMap;

use crate::secret::Secret;

/// (new name, old name). The old names exist only on servers before 2.7/2.8.
pub const SETTINGS: &[(&str, Option<&str>)] = &[
    ("enable_discourse_connect", Some("enable_sso")),
    (
        "discourse_connect_overrides_avatar",
        Some("sso_overrides_avatar"),
    ),
    (
        "discourse_connect_overrides_groups",
        Some("sso_overrides_groups"),
    ),
    ("auth_overrides_email", Some("sso_overrides_email")),
    (
        "verbose_discourse_connect_logging",
        Some("verbose_sso_logging"),
    ),
    ("verbose_upload_logging", None),
    ("max_image_size_kb", None),
    ("allowed_internal_hosts", Some("whitelist_internal_hosts")),
    ("discourse_connect_secret", Some("sso_secret")),
];

/// The settings as read, by their current Discourse names, plus which name the server really
/// uses (so a toggle writes the name the server knows).
#[derive(Debug, Clone, Default)]
pub struct DcSettings {
    /// Values by *new* name (secret left out), as Discourse sent them (strings).
    pub values: BTreeMap<String, String>,
    /// new name → the name the server answered to, when that was the old one.
    pub legacy_names: BTreeMap<String, String>,
    /// `discourse_connect_secret`, when the server reveals it to admins.
    pub secret: Option<Secret>,
}

impl DcSettings {
    /// Builds from a name → value map holding whichever names the server knows.
    pub fn from_raw(raw: &BTreeMap<String, String>) -> Self {
        let mut out = DcSettings::default();
        for (new, old) in SETTINGS {
            let (name, value) = match raw.get(*new) {
                Some(v) => (*new, v),
                None => match old.and_then(|o| raw.get(o).map(|v| (o, v))) {
                    Some((o, v)) => {
                        out.legacy_names.insert(new.to_string(), o.to_string());
                        (o, v)
                    }
                    None => continue,
                },
            };
            let _ = name;
            if *new == "discourse_connect_secret" {
                if !value.is_empty() {
                    out.secret = Some(Secret::new(value.clone()));
                }
            } else {
                out.values.insert(new.to_string(), value.clone());
            }
        }
        out
    }

    fn flag(&self, name: &str) -> Option<bool> {
        self.values.get(name).map(|v| v == "true" || v == "t")
    }

    pub fn enabled(&self) -> Option<bool> {
        self.flag("enable_discourse_connect")
    }
    pub fn overrides_avatar(&self) -> Option<bool> {
        self.flag("discourse_connect_overrides_avatar")
    }
    pub fn overrides_groups(&self) -> Option<bool> {
        self.flag("discourse_connect_overrides_groups")
    }
    pub fn overrides_email(&self) -> Option<bool> {
        self.flag("auth_overrides_email")
    }
    pub fn verbose_sso(&self) -> Option<bool> {
        self.flag("verbose_discourse_connect_logging")
    }
    pub fn verbose_upload(&self) -> Option<bool> {
        self.flag("verbose_upload_logging")
    }
    pub fn max_image_size_kb(&self) -> Option<u64> {
        self.values
            .get("max_image_size_kb")
            .and_then(|v| v.trim().parse().ok())
    }
    /// `allowed_internal_hosts` is a `|`-separated list in Discourse's list settings.
    pub fn allowed_internal_hosts(&self) -> Vec<String> {
        self.values
            .get("allowed_internal_hosts")
            .map(|v| {
                v.split(['|', ','])
                    .map(|h| h.trim().to_ascii_lowercase())
                    .filter(|h| !h.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The name to write when changing `new_name` on this server.
    pub fn server_name<'a>(&'a self, new_name: &'a str) -> &'a str {
        self.legacy_names
            .get(new_name)
            .map(String::as_str)
            .unwrap_or(new_name)
    }

    /// Every name to ask for, new and old.
    pub fn all_names() -> Vec<&'static str> {
        SETTINGS
            .iter()
            .flat_map(|(n, o)| std::iter::once(*n).chain(*o))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_names_win_and_old_names_fill_in() {
        let raw: BTreeMap<String, String> = [
            ("enable_sso", "true"),
            ("sso_overrides_avatar", "true"),
            ("discourse_connect_overrides_avatar", "false"),
            ("sso_secret", "s3cr3t-value"),
            ("allowed_internal_hosts", "a.example|B.example"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let s = DcSettings::from_raw(&raw);
        assert_eq!(s.enabled(), Some(true));
        assert_eq!(s.overrides_avatar(), Some(false));
        assert_eq!(s.server_name("enable_discourse_connect"), "enable_sso");
        assert_eq!(
            s.server_name("discourse_connect_overrides_avatar"),
            "discourse_connect_overrides_avatar"
        );
        assert_eq!(s.secret.as_ref().unwrap().expose(), "s3cr3t-value");
        assert!(!s.values.values().any(|v| v.contains("s3cr3t")));
        assert_eq!(s.allowed_internal_hosts(), vec!["a.example", "b.example"]);
        assert_eq!(s.overrides_groups(), None);
    }
}
