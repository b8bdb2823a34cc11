//! The decisions of a reset, as plain functions over data: which strategy, what payload, whether
//! the avatar really changed, what to tell the operator when it did not.

use url::Url;

use crate::discourse::settings::DcSettings;
use crate::model::{Strategy, UserDetail};
use crate::net::{self, HostClass};

/// What the operator asked for (`--strategy`, `reset.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StrategyChoice {
    #[default]
    Auto,
    Pick,
    SyncSso,
}

impl StrategyChoice {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(StrategyChoice::Auto),
            "pick" => Some(StrategyChoice::Pick),
            "sync-sso" => Some(StrategyChoice::SyncSso),
            _ => None,
        }
    }
}

/// The strategy in force and why, e.g. `sync-sso (overrides avatar on)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub strategy: Strategy,
    pub reason: String,
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.strategy.as_str(), self.reason)
    }
}

/// interface.md "Reset rules": overrides off → pick; on → sync-sso. Unknown (settings not
/// readable) → pick, and a 422 FAILED switches to sync-sso.
pub fn choose(choice: StrategyChoice, settings: Option<&DcSettings>) -> Decision {
    let d = |strategy, reason: &str| Decision {
        strategy,
        reason: reason.to_string(),
    };
    match choice {
        StrategyChoice::Pick => d(Strategy::Pick, "forced"),
        StrategyChoice::SyncSso => d(Strategy::SyncSso, "forced"),
        StrategyChoice::Auto => match settings.and_then(DcSettings::overrides_avatar) {
            Some(true) => d(Strategy::SyncSso, "overrides avatar on"),
            Some(false) => d(Strategy::Pick, "overrides avatar off"),
            None => d(
                Strategy::Pick,
                "overrides avatar unknown; sync-sso if pick is refused",
            ),
        },
    }
}

pub const NO_SSO_RECORD: &str = "no DiscourseConnect record: this user has never logged in through SSO, \
     so sync-sso cannot reach them. To clear this avatar: turn discourse_connect_overrides_avatar off, \
     reset with --strategy pick, then turn it back on";

/// The sync_sso payload that changes the avatar and nothing else (interface.md "Reset rules",
/// discourse-api.md §5 "Safest minimal payload"). Never `title`, `website`, `location`, `bio`,
/// `admin`, `moderator`, `add_groups` or `remove_groups`: each of those can change the user.
///
/// `overrides_groups`: `Some(true)` sends the current manual groups (without them
/// `synchronize_groups` would remove every one); `Some(false)` leaves `groups` out; `None`
/// (setting unknown) sends them too, because Discourse ignores `groups` when the setting is off.
pub fn sync_payload(
    user: &UserDetail,
    default_avatar_url: &str,
    overrides_groups: Option<bool>,
) -> Result<Vec<(String, String)>, String> {
    let external_id = user
        .external_id()
        .filter(|e| !e.trim().is_empty())
        .ok_or(NO_SSO_RECORD)?;
    // Older servers set the email to nil when it is left out with overrides_email on (§3).
    let email = user
        .email
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .ok_or("the user's email could not be read (the API user must be an admin); refusing to send a payload without it")?;
    let active = user
        .active
        .ok_or("the user's active flag could not be read; refusing to risk activating the user")?;
    let mut fields = vec![
        ("external_id".to_string(), external_id.to_string()),
        ("email".to_string(), email.to_string()),
        ("avatar_url".to_string(), default_avatar_url.to_string()),
        ("avatar_force_update".to_string(), "true".to_string()),
        ("suppress_welcome_message".to_string(), "true".to_string()),
    ];
    if !active {
        // Without it an inactive user is activated (and welcomed) by the sync.
        fields.push(("require_activation".to_string(), "true".to_string()));
    }
    if overrides_groups != Some(false) {
        if !user.groups_read {
            return Err("the user's groups could not be read; refusing: with discourse_connect_overrides_groups on, \
                 a sync without them removes every manual group"
                .into());
        }
        fields.push(("groups".to_string(), user.manual_groups().join(",")));
    }
    Ok(fields)
}

/// The upload id an avatar template points at: the part before `_` in the last segment of
/// `/user_avatar/<host>/<username>/{size}/<upload_id>_<version>.png` (§9).
pub fn upload_id_from_template(template: &str) -> Option<u64> {
    if !template.contains("/user_avatar/") {
        return None;
    }
    let last = template.rsplit('/').next()?;
    last.split('_').next()?.parse().ok()
}

/// Has a reset to the letter avatar taken effect?
pub fn pick_done(uploaded_avatar_id: Option<Option<u64>>) -> bool {
    uploaded_avatar_id == Some(None)
}

/// Has a sync-sso reset taken effect? The avatar must point at a different upload than before,
/// or at the default image's upload when it is known (uploads are de-duplicated by content, so a
/// user whose old picture already was that image keeps the same id). `before`: `Some(None)` was
/// the letter avatar; `None` means the before-state is unknown, and then only the default's
/// known upload can prove anything.
pub fn sync_done(
    before: Option<Option<u64>>,
    after: Option<u64>,
    default_upload: Option<u64>,
) -> bool {
    match (after, default_upload, before) {
        (Some(a), Some(d), _) => a == d,
        (Some(a), None, Some(b)) => Some(a) != b,
        _ => false,
    }
}

/// Already on the target: nothing needs sending. For pick that includes the custom slot:
/// `placeholder` is `Some(placeholder upload id)` when the slot was read, `None` when unknown.
pub fn already_done(
    strategy: Strategy,
    user: &UserDetail,
    default_avatar_url: Option<&str>,
    default_upload: Option<u64>,
    placeholder: Option<Option<u64>>,
) -> bool {
    match strategy {
        Strategy::Pick => {
            pick_done(user.uploaded_avatar_id)
                && placeholder.is_some_and(|p| {
                    user.custom_avatar_upload_id.is_none() || user.custom_avatar_upload_id == p
                })
        }
        Strategy::SyncSso => {
            let url_matches = user
                .sso
                .as_ref()
                .and_then(|s| s.external_avatar_url.as_deref())
                .is_some_and(|u| Some(u) == default_avatar_url);
            let current = user.uploaded_avatar_id.flatten();
            url_matches && default_upload.is_some() && current == default_upload
        }
    }
}

/// Warnings (never blocking) about a default avatar URL Discourse may refuse to download.
pub fn avatar_url_warnings(
    url: &str,
    forum: &Url,
    allowed_internal_hosts: &[String],
) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(parsed) = Url::parse(url) else {
        out.push(format!("default_avatar_url {url:?} is not a valid URL"));
        return out;
    };
    // Over loopback the download never crosses a network (the demo's own image is one).
    if parsed.scheme() == "http" && net::classify_url(&parsed) != Some(HostClass::Loopback) {
        out.push(format!(
            "default_avatar_url {url} is plain http; use https on a public host"
        ));
    }
    if let Some(class) = net::classify_url(&parsed)
        && class.is_internal()
        && !net::allowed_internal(&parsed, forum, allowed_internal_hosts)
    {
        let what = if class == HostClass::Loopback {
            "a loopback"
        } else {
            "a private"
        };
        out.push(format!(
            "default_avatar_url {url} is on {what} address: Discourse refuses to download it unless its host is in allowed_internal_hosts"
        ));
    }
    out
}

/// What to say when a run was cancelled after the change was sent but before it was verified.
pub fn stopped_message(user: &str) -> String {
    format!(
        "sent, but not verified: the run was stopped before the avatar was re-read; \
         run `avatar-console check {user}` to see whether it changed"
    )
}

/// When a sync may skip the per-user read (issue 14): with `auth_overrides_email` off the
/// email is never changed, so it can be left out; with `discourse_connect_overrides_groups` off
/// no groups are needed. Both must be known off.
pub fn fast_path(settings: Option<&DcSettings>) -> Result<(), &'static str> {
    let s = settings.ok_or("site settings unknown")?;
    if s.overrides_email() != Some(false) {
        return Err("auth_overrides_email is on (or unknown): the current email must be sent");
    }
    if s.overrides_groups() != Some(false) {
        return Err(
            "discourse_connect_overrides_groups is on (or unknown): the current groups must be sent",
        );
    }
    Ok(())
}

/// The fast path's payload: keyed by the external id alone, no email, no groups. An inactive
/// user stays inactive (`require_activation=true`, safe because the email is left alone).
pub fn fast_sync_payload(external_id: &str, default_avatar_url: &str) -> Vec<(String, String)> {
    [
        ("external_id", external_id),
        ("avatar_url", default_avatar_url),
        ("avatar_force_update", "true"),
        ("suppress_welcome_message", "true"),
        ("require_activation", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// When the queue named a user whose external id Discourse links to someone else.
pub fn answer_mismatch(
    t: &super::Target,
    answer: &crate::discourse::types::AdminUserJson,
) -> Option<String> {
    let known = t.known_username.as_deref()?;
    (!known.eq_ignore_ascii_case(&answer.username)).then(|| {
        format!(
            "the external id {} belongs to Discourse user {}, not {known}",
            t.external_id().unwrap_or_default(),
            crate::sanitize::clean(&answer.username)
        )
    })
}

/// Issue 12, point 2: the SSO record's last login payload still sends the flagged photo as
/// `avatar_url`. The main app then still has it, and the next login brings it back
/// (`change_external_attributes_and_override` downloads whenever the avatar is missing or the
/// URL differs, §5).
pub fn photo_comes_back(user: &UserDetail, default_avatar_url: &str) -> Option<String> {
    let sso = user.sso.as_ref()?;
    let payload = sso.last_payload.as_deref()?;
    let sent = url::form_urlencoded::parse(payload.as_bytes())
        .find(|(k, _)| k == "avatar_url")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())?;
    if sent == default_avatar_url {
        return None;
    }
    let flagged = sso.external_avatar_url.as_deref();
    (flagged.is_none() || flagged == Some(sent.as_str())).then(|| {
        format!(
            "the SSO record's last login payload still sends the flagged photo (avatar_url={}): the main app \
             still has it, so {}'s next login brings it back; remove the photo in the main app",
            crate::sanitize::clean(&sent),
            user.username
        )
    })
}

/// What to say when Discourse accepted a sync but the avatar did not change in time (§5): the
/// cause Discourse logged when there is one, else only the guesses the settings leave open.
pub fn unverified_message(
    timeout_secs: u64,
    avatar_url: &str,
    settings: Option<&DcSettings>,
    user: &str,
    observed: Option<&super::cause::Observed>,
) -> String {
    use super::cause::Observed;
    let head =
        format!("Discourse accepted the sync but the avatar did not change within {timeout_secs}s");
    let size = settings
        .and_then(DcSettings::max_image_size_kb)
        .map(|k| format!("{k} KB"))
        .unwrap_or_else(|| "unknown".into());
    match observed {
        Some(Observed::Failed(quote)) => format!(
            "{head}. Discourse logged the download job failing: \"{quote}\". Fix what it names, then reset again."
        ),
        Some(Observed::NeverRan) => format!(
            "{head}. verbose_upload_logging is on, but Discourse logged no \"Downloading sso-avatar\" line: \
             the download job never ran (is Sidekiq running?)."
        ),
        Some(Observed::SilentRefusal) => format!(
            "{head}. The download job ran (Discourse logged \"Downloading sso-avatar from {avatar_url}\") and logged \
             no error: Discourse refused the file silently: an HTTP error from {avatar_url}, a file over \
             max_image_size_kb ({size}), or not an image."
        ),
        None => {
            let mut causes = vec![format!(
                "the URL {avatar_url} cannot be reached from the Discourse server"
            )];
            let allowed = settings
                .map(DcSettings::allowed_internal_hosts)
                .unwrap_or_default();
            let internal = Url::parse(avatar_url).ok().is_some_and(|u| {
                net::classify_url(&u).is_some_and(|c| c.is_internal())
                    && !allowed.iter().any(|h| Some(h.as_str()) == u.host_str())
            });
            if internal {
                causes.push(
                    "it is a private or loopback address not in allowed_internal_hosts".into(),
                );
            }
            causes.push(format!("the file is over max_image_size_kb ({size})"));
            causes.push("the file is not an image".into());
            causes.push("Sidekiq is not running".into());
            let logging = if settings.and_then(DcSettings::verbose_upload) == Some(true) {
                String::new()
            } else {
                " and turn on verbose_upload_logging to see the download".into()
            };
            format!(
                "{head}. Likely causes: {}. Run `avatar-console check {user}`{logging}.",
                causes.join("; ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GroupRef, SsoRecord};

    fn user() -> UserDetail {
        UserDetail {
            id: 7,
            username: "alice".into(),
            email: Some("alice@example.com".into()),
            active: Some(true),
            groups: vec![
                GroupRef {
                    id: 1,
                    name: "trust_level_0".into(),
                    automatic: true,
                },
                GroupRef {
                    id: 40,
                    name: "vip".into(),
                    automatic: false,
                },
                GroupRef {
                    id: 41,
                    name: "beta".into(),
                    automatic: false,
                },
            ],
            groups_read: true,
            uploaded_avatar_id: Some(Some(90)),
            sso: Some(SsoRecord {
                external_id: "684".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn keys(f: &[(String, String)]) -> Vec<&str> {
        f.iter().map(|(k, _)| k.as_str()).collect()
    }

    const FORBIDDEN: &[&str] = &[
        "title",
        "website",
        "location",
        "bio",
        "admin",
        "moderator",
        "add_groups",
        "remove_groups",
        "username",
        "name",
    ];

    #[test]
    fn payload_for_active_user_with_groups_overridden() {
        let f = sync_payload(&user(), "https://cdn.example.com/d.png", Some(true)).unwrap();
        assert_eq!(
            keys(&f),
            [
                "external_id",
                "email",
                "avatar_url",
                "avatar_force_update",
                "suppress_welcome_message",
                "groups"
            ]
        );
        assert_eq!(f[5].1, "vip,beta");
        assert!(FORBIDDEN.iter().all(|k| !keys(&f).contains(k)));
    }

    #[test]
    fn payload_groups_off_and_inactive_user() {
        let mut u = user();
        u.active = Some(false);
        let f = sync_payload(&u, "https://cdn.example.com/d.png", Some(false)).unwrap();
        assert!(!keys(&f).contains(&"groups"));
        assert!(f.contains(&("require_activation".into(), "true".into())));
        assert!(FORBIDDEN.iter().all(|k| !keys(&f).contains(k)));
    }

    #[test]
    fn payload_unicode_email_and_unknown_group_setting() {
        let mut u = user();
        u.email = Some("山田@例え.jp".into());
        u.groups.clear();
        let f = sync_payload(&u, "https://cdn.example.com/d.png", None).unwrap();
        assert_eq!(f[1].1, "山田@例え.jp");
        // Unknown setting: groups are sent (an empty list keeps an empty membership).
        assert!(f.contains(&("groups".into(), String::new())));
    }

    #[test]
    fn payload_refuses_without_sso_record_email_or_active() {
        let mut u = user();
        u.sso = None;
        assert_eq!(sync_payload(&u, "x", None).unwrap_err(), NO_SSO_RECORD);
        let mut u = user();
        u.email = None;
        assert!(sync_payload(&u, "x", None).unwrap_err().contains("email"));
        let mut u = user();
        u.active = None;
        assert!(sync_payload(&u, "x", None).unwrap_err().contains("active"));
    }

    #[test]
    fn payload_refuses_unread_groups_unless_groups_are_not_overridden() {
        let mut u = user();
        u.groups_read = false;
        assert!(
            sync_payload(&u, "x", Some(true))
                .unwrap_err()
                .contains("groups")
        );
        assert!(sync_payload(&u, "x", None).unwrap_err().contains("groups"));
        assert!(sync_payload(&u, "x", Some(false)).is_ok());
    }

    #[test]
    fn strategy_choice() {
        let mut s = DcSettings::default();
        assert_eq!(choose(StrategyChoice::Auto, None).strategy, Strategy::Pick);
        s.values
            .insert("discourse_connect_overrides_avatar".into(), "true".into());
        assert_eq!(
            choose(StrategyChoice::Auto, Some(&s)).to_string(),
            "sync-sso (overrides avatar on)"
        );
        s.values
            .insert("discourse_connect_overrides_avatar".into(), "false".into());
        assert_eq!(
            choose(StrategyChoice::Auto, Some(&s)).to_string(),
            "pick (overrides avatar off)"
        );
        assert_eq!(
            choose(StrategyChoice::SyncSso, Some(&s)).strategy,
            Strategy::SyncSso
        );
    }

    #[test]
    fn verdicts() {
        assert!(pick_done(Some(None)));
        assert!(!pick_done(Some(Some(3))));
        assert!(!pick_done(None));
        assert!(sync_done(Some(Some(90)), Some(91), None));
        assert!(!sync_done(Some(Some(90)), Some(90), None));
        assert!(sync_done(Some(Some(91)), Some(91), Some(91)));
        assert!(!sync_done(Some(Some(90)), Some(92), Some(91)));
        assert!(!sync_done(Some(Some(90)), None, None));
        // Letter avatar before: any upload is the change.
        assert!(sync_done(Some(None), Some(5), None));
        // Before unknown: nothing proves a change unless the default's upload is known.
        assert!(!sync_done(None, Some(5), None));
        assert!(sync_done(None, Some(5), Some(5)));
        assert_eq!(
            upload_id_from_template("/user_avatar/forum.example.com/alice/{size}/1234_2.png"),
            Some(1234)
        );
        assert_eq!(
            upload_id_from_template("/letter_avatar_proxy/v4/letter/a/f475e1/{size}.png"),
            None
        );
    }

    #[test]
    fn skip_only_when_proven() {
        let mut u = user();
        u.sso.as_mut().unwrap().external_avatar_url = Some("https://d/x.png".into());
        u.uploaded_avatar_id = Some(Some(5));
        assert!(!already_done(
            Strategy::SyncSso,
            &u,
            Some("https://d/x.png"),
            None,
            None
        ));
        assert!(already_done(
            Strategy::SyncSso,
            &u,
            Some("https://d/x.png"),
            Some(5),
            None
        ));
        assert!(!already_done(
            Strategy::SyncSso,
            &u,
            Some("https://d/x.png"),
            Some(6),
            None
        ));
        u.uploaded_avatar_id = Some(None);
        // The slot unread, or holding the photo: not done.
        assert!(!already_done(Strategy::Pick, &u, None, None, None));
        u.custom_avatar_upload_id = Some(90);
        assert!(!already_done(Strategy::Pick, &u, None, None, Some(Some(7))));
        u.custom_avatar_upload_id = Some(7);
        assert!(already_done(Strategy::Pick, &u, None, None, Some(Some(7))));
        u.custom_avatar_upload_id = None;
        assert!(already_done(Strategy::Pick, &u, None, None, Some(None)));
    }

    #[test]
    fn url_warnings() {
        let forum = Url::parse("https://forum.example.com").unwrap();
        assert!(avatar_url_warnings("https://cdn.example.com/d.png", &forum, &[]).is_empty());
        assert_eq!(
            avatar_url_warnings("http://cdn.example.com/d.png", &forum, &[]).len(),
            1
        );
        let w = avatar_url_warnings("https://192.168.1.4/d.png", &forum, &[]);
        assert!(w[0].contains("private"));
        assert!(
            avatar_url_warnings("https://10.0.0.1/d.png", &forum, &["10.0.0.1".into()]).is_empty()
        );
        assert!(avatar_url_warnings("https://forum.example.com/d.png", &forum, &[]).is_empty());
        // The demo: a loopback forum serving its own default image over http says nothing.
        let demo = Url::parse("http://127.0.0.1:4000").unwrap();
        assert!(avatar_url_warnings("http://127.0.0.1:4000/images/d.png", &demo, &[]).is_empty());
    }
}
