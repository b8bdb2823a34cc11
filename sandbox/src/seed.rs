//! Deterministic seed data: the same `seed` and `flagged` always give the same forum.
//!
//! Fixed users (always present, whatever the seed; ids are stable):
//!
//! | id | username | external id | notes |
//! |---|---|---|---|
//! | -1 | `system` | — | the admin the API key acts as (`api_username`), like Discourse's system user |
//! | 1 | `alice` | `"684"` | active, custom avatar, SSO record, manual group `beta_testers`, title/website/location/bio set; flagged by the app and by Discourse (`ReviewableUser`) |
//! | 2 | `bob.smith` | `"1001"` | **inactive**, custom avatar; flagged by the app |
//! | 3 | `nosso` | — | **no SSO record**, custom avatar; flagged by Discourse only (`ReviewableFlaggedPost`) |
//! | 4 | `山田太郎` | `"2002"` | CJK username and name; the app sends its id as the number `2002` |
//! | 5 | `carol-dev_x` | `"3003"` | already on the letter avatar (`uploaded_avatar_id` null, `custom_upload_id` still set); flagged by the app |
//! | 6 | `dave` | `"4004"` | manual groups `beta_testers` and `vip`; flagged by both (post flag) |
//! | 7 | `eve` | `"5005"` | hostile name and reasons: ANSI escapes, BEL, bidi override; flagged by both |
//! | 8 | `mia_mod` | `"6006"` | moderator, not flagged; flags posts |
//! | 9 | `zoe.u` | `"7007"` | combining marks in the name; flagged by Discourse (`ReviewableUser`) |
//! | 10 | `tilde` | `"ext~77"` | `~` in email and external id (raw-`~` encoders produce a `+` in Base64) |
//! | 11 | `rtl_user` | `"8008"` | Arabic (RTL) name; flagged by the app |
//! | 12 | `emoji_fan` | `"9009"` | emoji name; the app sends id as a number; flagged by both |
//! | 13 | `longname` | `"1010"` | a 300-character name; flagged by the app |
//! | 14 | `ghost` | `"1111"` | `uploaded_avatar_id` points to a deleted upload (avatar "missing"); flagged by the app |
//! | 15 | `frank` | `"1212"` | active, custom avatar, not flagged (used by simulated logins) |
//!
//! With `Scenario::demo_outcomes` (`--demo`), after the generated users: `sam.stuck`
//! (`"1313"`, flagged by the app; its avatar job raises, so a reset is `unverified` with the job
//! exception as cause) and `rita.review` (`"1414"`, flagged by both; a second moderator changes
//! its `ReviewableUser` item as you act on it, so `review rita.review --perform …` meets a 409).
//! With `alice` (verified) and `nosso` (failed: no SSO record) they are README's four outcomes.
//!
//! The main app also lists `departed` (external id `"99999"`, unknown to Discourse) and one
//! item without any `external_id`. Generated users follow from id 100.

use super::Scenario;
use super::logster::LogStore;
use super::prng::Prng;
use super::ratelimit::Limiter;
use super::state::*;
use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use std::collections::HashMap;
use std::sync::Arc;

/// How a demo-outcome user's reset ends (besides `alice`, verified, and `nosso`, failed).
#[derive(Clone, Copy)]
enum DemoOutcome {
    /// Their avatar job raises: the sync is accepted, the avatar never changes, and /logs has
    /// the job exception (with the job's env) that says why: `unverified`.
    JobFails,
    /// Their `ReviewableUser` item is changed by a second moderator just as you perform an
    /// action on it: 409, the item re-read and described.
    ReviewConflict,
}

/// (username, name, external id, the main app's reason, outcome).
const DEMO_OUTCOMES: &[(&str, &str, &str, &str, DemoOutcome)] = &[
    (
        "sam.stuck",
        "Sam Stuck",
        "1313",
        "nudity",
        DemoOutcome::JobFails,
    ),
    (
        "rita.review",
        "Rita Review",
        "1414",
        "impersonation",
        DemoOutcome::ReviewConflict,
    ),
];

pub const MANUAL_GROUPS: &[(u64, &str, &str)] = &[
    (41, "beta_testers", "Beta testers"),
    (42, "vip", "VIP members"),
    (43, "translators", "Translators"),
    (44, "staff-alumni", "Staff alumni"),
];

fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
        .single()
        .expect("valid date")
}

fn hex(p: &mut Prng, bytes: usize) -> String {
    let mut s = String::with_capacity(bytes * 2);
    while s.len() < bytes * 2 {
        s.push_str(&format!("{:016x}", p.next_u64()));
    }
    s.truncate(bytes * 2);
    s
}

pub fn settings(s: &Scenario, secret: &str) -> Vec<Setting> {
    let b = |v: bool| if v { "true" } else { "false" }.to_string();
    let mk = |name, value: String, default, kind, category, description, secret| Setting {
        name,
        value,
        default,
        kind,
        category,
        description,
        secret,
    };
    vec![
        mk(
            "enable_discourse_connect",
            b(true),
            "false",
            "bool",
            "login",
            "Enable sign on via DiscourseConnect.",
            false,
        ),
        mk(
            "discourse_connect_url",
            "https://app.example.com/discourse/sso".into(),
            "",
            "url",
            "login",
            "URL of DiscourseConnect endpoint.",
            false,
        ),
        mk(
            "discourse_connect_secret",
            secret.to_string(),
            "",
            "secret",
            "login",
            "Secret string used to authenticate DiscourseConnect information.",
            true,
        ),
        mk(
            "discourse_connect_overrides_avatar",
            b(s.overrides_avatar),
            "false",
            "bool",
            "login",
            "Overrides user avatar with value from DiscourseConnect payload.",
            false,
        ),
        mk(
            "discourse_connect_overrides_groups",
            b(s.overrides_groups),
            "false",
            "bool",
            "login",
            "Synchronize all manual group membership with groups specified in the groups attribute.",
            false,
        ),
        mk(
            "discourse_connect_overrides_bio",
            b(false),
            "false",
            "bool",
            "login",
            "Overrides user bio in user profile.",
            false,
        ),
        mk(
            "auth_overrides_email",
            b(s.overrides_email),
            "false",
            "bool",
            "login",
            "Overrides local email with external site email on every login.",
            false,
        ),
        mk(
            "auth_overrides_username",
            b(false),
            "false",
            "bool",
            "login",
            "Overrides local username with external site username on every login.",
            false,
        ),
        mk(
            "auth_overrides_name",
            b(false),
            "false",
            "bool",
            "login",
            "Overrides local full name with external site full name on every login.",
            false,
        ),
        mk(
            "verbose_discourse_connect_logging",
            b(s.verbose_logging),
            "false",
            "bool",
            "login",
            "Log verbose DiscourseConnect related diagnostics to /logs.",
            false,
        ),
        mk(
            "verbose_upload_logging",
            b(s.verbose_logging),
            "false",
            "bool",
            "files",
            "Enable verbose logging of uploads.",
            false,
        ),
        mk(
            "max_image_size_kb",
            "4096".into(),
            "4096",
            "integer",
            "files",
            "The maximum image upload size in kB.",
            false,
        ),
        mk(
            "allowed_internal_hosts",
            String::new(),
            "",
            "list",
            "security",
            "Internal hosts that the system can crawl for onebox and other reasons.",
            false,
        ),
        mk(
            "blocked_ip_blocks",
            String::new(),
            "",
            "list",
            "security",
            "A list of private IP blocks that should never be crawled.",
            false,
        ),
        mk(
            "external_system_avatars_enabled",
            b(true),
            "true",
            "bool",
            "files",
            "Use external system avatars service.",
            false,
        ),
        mk(
            "external_system_avatars_url",
            "/letter_avatar_proxy/v4/letter/{first_letter}/{color}/{size}.png".into(),
            "/letter_avatar_proxy/v4/letter/{first_letter}/{color}/{size}.png",
            "string",
            "files",
            "URL of the external system avatars service.",
            false,
        ),
        mk(
            "selectable_avatars_mode",
            "disabled".into(),
            "disabled",
            "enum",
            "files",
            "Allow users to select an avatar from a list.",
            false,
        ),
        mk(
            "unicode_usernames",
            b(true),
            "false",
            "bool",
            "users",
            "Allow usernames and group names to contain Unicode letters and numbers.",
            false,
        ),
        mk(
            "must_approve_users",
            b(false),
            "false",
            "bool",
            "login",
            "Staff must approve all new user accounts.",
            false,
        ),
    ]
}

struct Fixed {
    id: i64,
    username: &'static str,
    name: String,
    external: Option<&'static str>,
    email: String,
    active: bool,
    groups: Vec<u64>,
    avatar: AvatarSeed,
    app: Option<(&'static str, bool)>, // (reason, id as number)
    review: Option<(ReviewKind, &'static str)>,
}

#[derive(Clone, Copy)]
enum AvatarSeed {
    Custom,
    LetterWithOldCustom,
    Missing,
}

const FIRST: &[&str] = &[
    "anna", "ben", "chen", "dmitri", "elif", "fatima", "goran", "hana", "ivan", "jun", "kofi",
    "lena", "malik", "nora", "oskar", "priya", "quinn", "rosa", "sven", "tomas", "uma", "vera",
    "wei", "xavier", "yusuf", "zara",
];
const LAST: &[&str] = &[
    "abe", "berg", "costa", "dahl", "ek", "fox", "gupta", "holm", "ito", "jensen", "kim", "lund",
    "mori", "nagy", "ortiz", "park", "quist", "ruiz", "sato", "tran", "ueda", "varga", "wong",
    "xu", "yilmaz", "zhou",
];
const LONG_REASON: &str = "a very long reason that goes on and on, quoting the whole report the user filed in the main app, with every detail of why this photo is not acceptable under the community rules, section four, paragraph two, and then some more words to make sure that any table cell will have to cut it somewhere sensible";
const SEPS: &[&str] = &[".", "-", "_", ""];
const EXOTIC_NAMES: &[&str] = &[
    "王小明",
    "佐藤 花子",
    "김민준",
    "Ольга Петрова",
    "مريم الحسن",
    "דוד כהן",
    "Zoë Ångström",
    "Jose\u{0301} Nun\u{0303}ez",
    "🐙 Octo Cat",
    "Ṱ̺̺̕o͞ ̷i̲̬͇̪͙n̝̗͕v̟̜̘̦͟o̶̙̰̠kè",
    "Nguyễn Văn A",
    "Þórr Óðinsson",
];
const HOSTILE: &[&str] = &[
    "\u{1b}[2J\u{1b}[HCleared",
    "Bell\u{7}\u{7} Ringer",
    "\u{1b}]0;pwned\u{7}Title Setter",
    "Right\u{202e}txt.exe",
    "Null\u{0}Byte",
    "Back\u{8}\u{8}\u{8}space",
    "\u{1b}[31mRed\u{1b}[0m Alert",
];
const REASONS: &[&str] = &[
    "nudity",
    "violence",
    "hate symbol",
    "impersonation",
    "copyright",
    "spam link in image",
    "inappropriate",
    "reported by 3 users",
];
const HOSTILE_REASONS: &[&str] = &[
    "\u{1b}[1;31mURGENT\u{1b}[0m offensive",
    "offensive\u{7}\u{7}\u{7}",
    "see \u{1b}]8;;http://evil.example\u{7}link\u{1b}]8;;\u{7}",
    "line one\r\nline two",
];

pub fn build(s: &Scenario, host: &str, base_url: &str) -> State {
    let mut p = Prng::new(s.seed);
    let api_key = hex(&mut p, 32);
    let sso_secret = hex(&mut p, 24);
    let main_app_token = hex(&mut p, 24);
    let t0 = epoch();

    let mut groups: Vec<Group> = vec![
        Group {
            id: 1,
            name: "admins".into(),
            automatic: true,
            full_name: None,
        },
        Group {
            id: 2,
            name: "moderators".into(),
            automatic: true,
            full_name: None,
        },
        Group {
            id: 3,
            name: "staff".into(),
            automatic: true,
            full_name: None,
        },
    ];
    for t in 0..=4u64 {
        groups.push(Group {
            id: 10 + t,
            name: format!("trust_level_{t}"),
            automatic: true,
            full_name: None,
        });
    }
    for (id, name, full) in MANUAL_GROUPS {
        groups.push(Group {
            id: *id,
            name: name.to_string(),
            automatic: false,
            full_name: Some(full.to_string()),
        });
    }

    let base_user = |id: i64, username: &str, name: String, email: String| User {
        id,
        username: username.to_string(),
        name,
        email,
        active: true,
        admin: false,
        moderator: false,
        trust_level: 1,
        title: None,
        website: None,
        location: None,
        bio: None,
        manual_groups: Vec::new(),
        uploaded_avatar_id: None,
        custom_upload_id: None,
        gravatar_upload_id: None,
        sso: None,
        ip_address: Some(format!("203.0.113.{}", (id.unsigned_abs() % 250) + 1)),
        registration_ip_address: Some("198.51.100.7".into()),
        created_at: t0 - ChronoDuration::days(400)
            + ChronoDuration::minutes(id.unsigned_abs() as i64),
        last_seen_at: Some(t0 - ChronoDuration::hours((id.unsigned_abs() % 500) as i64)),
        custom_fields: Vec::new(),
    };
    let sso_for = |u: &User, external_id: &str, avatar_url: Option<String>| SsoRec {
        external_id: external_id.to_string(),
        external_username: Some(u.username.clone()),
        external_email: Some(u.email.clone()),
        external_name: Some(u.name.clone()),
        external_avatar_url: avatar_url.clone(),
        external_profile_background_url: None,
        external_card_background_url: None,
        last_payload: {
            let mut q = format!(
                "email={}&external_id={}&name={}&username={}",
                super::sso::escape(&u.email),
                super::sso::escape(external_id),
                super::sso::escape(&u.name),
                super::sso::escape(&u.username)
            );
            if let Some(a) = &avatar_url {
                q = format!("avatar_url={}&{q}", super::sso::escape(a));
            }
            q
        },
        created_at: u.created_at,
        updated_at: u.created_at + ChronoDuration::days(30),
    };

    let mut users: Vec<User> = Vec::new();
    let mut uploads: HashMap<u64, Upload> = HashMap::new();
    let mut next_upload = 1000u64;
    let mut reviewables: Vec<Reviewable> = Vec::new();
    let mut app_flags: Vec<AppFlag> = Vec::new();
    let mut next_reviewable = 1u64;
    let mut next_post = 5000u64;

    let mut system = base_user(SYSTEM_ID, "system", "system".into(), "no_email".into());
    system.admin = true;
    system.trust_level = 4;
    system.ip_address = None;
    users.push(system);

    let long_name: String = "Maximiliana Wolfeschlegelsteinhausenbergerdorff "
        .repeat(7)
        .chars()
        .take(300)
        .collect();
    let fixed = vec![
        Fixed {
            id: 1,
            username: "alice",
            name: "Alice Liddell".into(),
            external: Some("684"),
            email: "alice@example.com".into(),
            active: true,
            groups: vec![41],
            avatar: AvatarSeed::Custom,
            app: Some(("nudity", false)),
            review: Some((ReviewKind::User, "inappropriate profile photo")),
        },
        Fixed {
            id: 2,
            username: "bob.smith",
            name: "Bob Smith".into(),
            external: Some("1001"),
            email: "bob.smith@example.com".into(),
            active: false,
            groups: vec![],
            avatar: AvatarSeed::Custom,
            app: Some(("violence", false)),
            review: None,
        },
        Fixed {
            id: 3,
            username: "nosso",
            name: "No SSO Record".into(),
            external: None,
            email: "nosso@example.org".into(),
            active: true,
            groups: vec![],
            avatar: AvatarSeed::Custom,
            app: None,
            review: Some((ReviewKind::FlaggedPost, "offensive avatar in post")),
        },
        Fixed {
            id: 4,
            username: "山田太郎",
            name: "山田 太郎".into(),
            external: Some("2002"),
            email: "yamada@example.jp".into(),
            active: true,
            groups: vec![],
            avatar: AvatarSeed::Custom,
            app: Some(("不適切なプロフィール画像", true)),
            review: None,
        },
        Fixed {
            id: 5,
            username: "carol-dev_x",
            name: "Carol Dev".into(),
            external: Some("3003"),
            email: "carol@example.com".into(),
            active: true,
            groups: vec![],
            avatar: AvatarSeed::LetterWithOldCustom,
            app: Some(("copyright", false)),
            review: None,
        },
        Fixed {
            id: 6,
            username: "dave",
            name: "Dave Null".into(),
            external: Some("4004"),
            email: "dave@example.com".into(),
            active: true,
            groups: vec![41, 42],
            avatar: AvatarSeed::Custom,
            app: Some(("hate symbol", false)),
            review: Some((ReviewKind::FlaggedPost, "avatar shows a hate symbol")),
        },
        Fixed {
            id: 7,
            username: "eve",
            name: "\u{1b}[31mEve\u{1b}[0m \u{7}Mallory\u{202e}lave".into(),
            external: Some("5005"),
            email: "eve@example.net".into(),
            active: true,
            groups: vec![],
            avatar: AvatarSeed::Custom,
            app: Some(("\u{1b}[2J\u{1b}[Hcleared your screen\u{7}", false)),
            review: Some((ReviewKind::User, "\u{1b}]0;owned\u{7}title change")),
        },
        Fixed {
            id: 8,
            username: "mia_mod",
            name: "Mia Moderator".into(),
            external: Some("6006"),
            email: "mia@example.com".into(),
            active: true,
            groups: vec![],
            avatar: AvatarSeed::Custom,
            app: None,
            review: None,
        },
        Fixed {
            id: 9,
            username: "zoe.u",
            name: "Zoe\u{0308} U\u{0308}ni\u{0308}code".into(),
            external: Some("7007"),
            email: "zoe@example.com".into(),
            active: true,
            groups: vec![43],
            avatar: AvatarSeed::Custom,
            app: None,
            review: Some((ReviewKind::User, "suspicious new account")),
        },
        Fixed {
            id: 10,
            username: "tilde",
            name: "Tilde ~>~> Tester".into(),
            external: Some("ext~77"),
            email: "t~i~l~d~e@example.com".into(),
            active: true,
            groups: vec![],
            avatar: AvatarSeed::Custom,
            app: Some(("impersonation", false)),
            review: None,
        },
        Fixed {
            id: 11,
            username: "rtl_user",
            name: "مستخدم تجريبي".into(),
            external: Some("8008"),
            email: "rtl@example.com".into(),
            active: true,
            groups: vec![],
            avatar: AvatarSeed::Custom,
            app: Some(("صورة غير لائقة", false)),
            review: None,
        },
        Fixed {
            id: 12,
            username: "emoji_fan",
            name: "🦀 Ferris 🎉".into(),
            external: Some("9009"),
            email: "ferris@example.com".into(),
            active: true,
            groups: vec![42],
            avatar: AvatarSeed::Custom,
            app: Some(("🔞 explicit", true)),
            review: Some((ReviewKind::FlaggedPost, "🚩 flagged")),
        },
        Fixed {
            id: 13,
            username: "longname",
            name: long_name,
            external: Some("1010"),
            email: "long@example.com".into(),
            active: true,
            groups: vec![],
            avatar: AvatarSeed::Custom,
            app: Some((LONG_REASON, false)),
            review: None,
        },
        Fixed {
            id: 14,
            username: "ghost",
            name: "Ghost Upload".into(),
            external: Some("1111"),
            email: "ghost@example.com".into(),
            active: true,
            groups: vec![],
            avatar: AvatarSeed::Missing,
            app: Some(("inappropriate", false)),
            review: None,
        },
        Fixed {
            id: 15,
            username: "frank",
            name: "Frank Normal".into(),
            external: Some("1212"),
            email: "frank@example.com".into(),
            active: true,
            groups: vec![],
            avatar: AvatarSeed::Custom,
            app: None,
            review: None,
        },
    ];

    let mut flagged_count = 0usize;
    let mut flag_time = t0;
    for f in fixed {
        let mut u = base_user(f.id, f.username, f.name, f.email);
        u.active = f.active;
        u.manual_groups = f.groups;
        u.trust_level = if f.active { 2 } else { 0 };
        if f.username == "mia_mod" {
            u.moderator = true;
        }
        if f.username == "alice" {
            u.title = Some("Beta Tester".into());
            u.website = Some("https://alice.example.com".into());
            u.location = Some("Wonderland".into());
            u.bio = Some("Curiouser and curiouser.".into());
        }
        match f.avatar {
            AvatarSeed::Custom => {
                uploads.insert(
                    next_upload,
                    Upload {
                        id: next_upload,
                        sha: format!("seed{next_upload}"),
                        bytes: None,
                    },
                );
                u.uploaded_avatar_id = Some(next_upload);
                u.custom_upload_id = Some(next_upload);
                next_upload += 1;
            }
            AvatarSeed::LetterWithOldCustom => {
                uploads.insert(
                    next_upload,
                    Upload {
                        id: next_upload,
                        sha: format!("seed{next_upload}"),
                        bytes: None,
                    },
                );
                u.custom_upload_id = Some(next_upload);
                next_upload += 1;
            }
            AvatarSeed::Missing => {
                u.uploaded_avatar_id = Some(999_999);
                u.custom_upload_id = Some(999_999);
            }
        }
        if let Some(ext) = f.external {
            let photo = super::pictures::photo_url(base_url, ext);
            u.sso = Some(sso_for(&u, ext, Some(photo)));
        }
        let mut flagged = false;
        if let Some((reason, numeric)) = f.app {
            flag_time += ChronoDuration::minutes(7);
            let external_id = f.external.map(|e| {
                if numeric {
                    AppId::Num(e.parse().unwrap_or(0))
                } else {
                    AppId::Str(e.to_string())
                }
            });
            app_flags.push(AppFlag {
                external_id,
                username: u.username.clone(),
                email: Some(u.email.clone()),
                reason: reason.to_string(),
                flagged_at: flag_time,
                photo_url: Some(super::pictures::photo_url(
                    base_url,
                    f.external.unwrap_or("x"),
                )),
                resolved: false,
            });
            flagged = true;
        }
        if let Some((kind, reason)) = f.review {
            reviewables.push(Reviewable {
                id: next_reviewable,
                kind,
                status: 0,
                target_user: u.id,
                created_by: if kind == ReviewKind::User {
                    SYSTEM_ID
                } else {
                    8
                },
                post_id: next_post,
                topic_id: 300 + next_reviewable,
                created_at: flag_time,
                score: 9.0,
                reason: reason.to_string(),
            });
            next_reviewable += 1;
            next_post += 1;
            flagged = true;
        }
        if flagged {
            flagged_count += 1;
        }
        users.push(u);
    }
    flag_time += ChronoDuration::minutes(1);
    app_flags.push(AppFlag {
        external_id: Some(AppId::Str("99999".into())),
        username: "departed".into(),
        email: Some("departed@example.com".into()),
        reason: "account deleted on the forum".into(),
        flagged_at: flag_time,
        photo_url: None,
        resolved: false,
    });
    app_flags.push(AppFlag {
        external_id: None,
        username: "no_external_id".into(),
        email: None,
        reason: "item without an external id".into(),
        flagged_at: flag_time + ChronoDuration::seconds(30),
        photo_url: None,
        resolved: false,
    });

    // Generated users: `flagged` in total (fixed ones included), plus some unflagged ones.
    let to_flag = s.flagged.saturating_sub(flagged_count);
    let background = 20 + s.flagged / 20;
    users.reserve(to_flag + background);
    app_flags.reserve(to_flag);
    reviewables.reserve(to_flag);
    let mut next_id = 100i64;
    for i in 0..(to_flag + background) {
        let flag = i < to_flag;
        let first = *p.pick(FIRST);
        let last = *p.pick(LAST);
        let sep = *p.pick(SEPS);
        let username = format!("{first}{sep}{last}{i}");
        let roll = p.below(100);
        let name = if roll < 10 {
            p.pick(EXOTIC_NAMES).to_string()
        } else if roll < 14 {
            p.pick(HOSTILE).to_string()
        } else if roll < 16 {
            format!("{} {}", first, "Verylongsurname".repeat(12))
        } else {
            let mut n = String::with_capacity(first.len() + last.len() + 1);
            n.push_str(&first[..1].to_uppercase());
            n.push_str(&first[1..]);
            n.push(' ');
            n.push_str(&last[..1].to_uppercase());
            n.push_str(&last[1..]);
            n
        };
        let email = format!(
            "{username}@example.{}",
            if i % 3 == 0 { "org" } else { "com" }
        );
        let mut u = base_user(next_id, &username, name, email);
        u.created_at = t0 - ChronoDuration::minutes(i as i64 + 1);
        u.trust_level = (p.below(4)) as u8;
        u.active = !p.chance(0.08);
        if p.chance(0.2) {
            u.manual_groups
                .push(MANUAL_GROUPS[p.below(MANUAL_GROUPS.len() as u64) as usize].0);
            if p.chance(0.3) {
                u.manual_groups.push(42);
                u.manual_groups.sort_unstable();
                u.manual_groups.dedup();
            }
        }
        if p.chance(0.85) {
            uploads.insert(
                next_upload,
                Upload {
                    id: next_upload,
                    sha: format!("seed{next_upload}"),
                    bytes: None,
                },
            );
            u.uploaded_avatar_id = Some(next_upload);
            u.custom_upload_id = Some(next_upload);
            next_upload += 1;
        }
        let has_sso = !p.chance(0.07);
        let external = format!("{}", 20_000 + i);
        if has_sso {
            let photo = super::pictures::photo_url(base_url, &external);
            u.sso = Some(sso_for(&u, &external, Some(photo)));
        }
        if flag {
            // 0: app only, 1: Discourse only, 2: both.
            let source = match p.below(100) {
                0..=39 => 0,
                40..=64 => 1,
                _ => 2,
            };
            flag_time += ChronoDuration::seconds(37 + p.below(600) as i64);
            let hostile = p.chance(0.05);
            let reason = if hostile {
                p.pick(HOSTILE_REASONS).to_string()
            } else {
                p.pick(REASONS).to_string()
            };
            if source != 1 {
                let external_id = if p.chance(0.03) {
                    None
                } else if p.chance(0.3) {
                    Some(AppId::Num(20_000 + i as u64))
                } else {
                    Some(AppId::Str(external.clone()))
                };
                app_flags.push(AppFlag {
                    external_id,
                    username: u.username.clone(),
                    email: Some(u.email.clone()),
                    reason: reason.clone(),
                    flagged_at: flag_time,
                    photo_url: Some(super::pictures::photo_url(base_url, &external)),
                    resolved: false,
                });
            }
            if source != 0 {
                let kind = if p.chance(0.5) {
                    ReviewKind::User
                } else {
                    ReviewKind::FlaggedPost
                };
                reviewables.push(Reviewable {
                    id: next_reviewable,
                    kind,
                    status: 0,
                    target_user: u.id,
                    created_by: if kind == ReviewKind::User {
                        SYSTEM_ID
                    } else {
                        8
                    },
                    post_id: next_post,
                    topic_id: 300 + next_reviewable,
                    created_at: flag_time,
                    score: 1.0 + p.below(12) as f64,
                    reason,
                });
                next_reviewable += 1;
                next_post += 1;
            }
        } else if p.chance(0.3) {
            // Already-handled items: not pending, so the default `status=pending` hides them.
            reviewables.push(Reviewable {
                id: next_reviewable,
                kind: ReviewKind::FlaggedPost,
                status: 1 + p.below(3) as u8,
                target_user: u.id,
                created_by: 8,
                post_id: next_post,
                topic_id: 300 + next_reviewable,
                created_at: flag_time,
                score: 2.0,
                reason: "handled earlier".into(),
            });
            next_reviewable += 1;
            next_post += 1;
        }
        users.push(u);
        next_id += 1;
    }

    // Demo outcomes: the users README.md's "Try each outcome in the demo" names, flagged last.
    let mut failing_download_users = std::collections::HashSet::new();
    let mut restless_reviews = std::collections::HashSet::new();
    if s.demo_outcomes {
        for (username, name, external, app_reason, review) in DEMO_OUTCOMES {
            flag_time += ChronoDuration::minutes(3);
            let mut u = base_user(
                next_id,
                username,
                name.to_string(),
                format!("{username}@example.com"),
            );
            u.trust_level = 2;
            uploads.insert(
                next_upload,
                Upload {
                    id: next_upload,
                    sha: format!("seed{next_upload}"),
                    bytes: None,
                },
            );
            u.uploaded_avatar_id = Some(next_upload);
            u.custom_upload_id = Some(next_upload);
            next_upload += 1;
            let photo = super::pictures::photo_url(base_url, external);
            u.sso = Some(sso_for(&u, external, Some(photo.clone())));
            app_flags.push(AppFlag {
                external_id: Some(AppId::Str(external.to_string())),
                username: u.username.clone(),
                email: Some(u.email.clone()),
                reason: app_reason.to_string(),
                flagged_at: flag_time,
                photo_url: Some(photo),
                resolved: false,
            });
            match review {
                DemoOutcome::JobFails => {
                    failing_download_users.insert(u.id);
                }
                DemoOutcome::ReviewConflict => {
                    restless_reviews.insert(next_reviewable);
                    reviewables.push(Reviewable {
                        id: next_reviewable,
                        kind: ReviewKind::User,
                        status: 0,
                        target_user: u.id,
                        created_by: SYSTEM_ID,
                        post_id: next_post,
                        topic_id: 300 + next_reviewable,
                        created_at: flag_time,
                        score: 9.0,
                        reason: "inappropriate profile photo".into(),
                    });
                    next_reviewable += 1;
                    next_post += 1;
                }
            }
            users.push(u);
            next_id += 1;
        }
    }

    let mut st = State {
        host: host.to_string(),
        base_url: base_url.to_string(),
        api_key,
        main_app_token,
        users,
        by_id: HashMap::new(),
        by_username: HashMap::new(),
        by_external: HashMap::new(),
        by_email: HashMap::new(),
        groups,
        uploads,
        uploads_by_sha: HashMap::new(),
        next_upload_id: next_upload.max(2_000_000),
        next_user_id: next_id,
        reviewables,
        app_flags,
        resolved: Vec::new(),
        settings: settings(s, &sso_secret),
        logs: LogStore::default(),
        requests: Vec::new(),
        violations: Vec::new(),
        limiter: Limiter::default(),
        retry_not_before: None,
        fault_counter: 0,
        login_counter: 0,
        default_avatar_png: Arc::new(super::png::solid(64, [0x2e, 0x7d, 0x32])),
        scenario: s.clone(),
        silent_download_failures: Vec::new(),
        review: Default::default(),
        failing_download_users,
        restless_reviews,
    };
    let n = st.users.len();
    st.by_id.reserve(n);
    st.by_username.reserve(n);
    st.by_external.reserve(n);
    st.by_email.reserve(n);
    for i in 0..n {
        st.reindex(i, None, None, None);
    }
    for (id, up) in &st.uploads {
        st.uploads_by_sha.insert(up.sha.clone(), *id);
    }
    st.log(
        2,
        "Sidekiq is consuming too much memory (using: 612.41M) for 'sandbox.local', restarting",
    );
    st.log(
        3,
        "Job exception: Net::ReadTimeout\n\u{1b}[31mwith an escape sequence\u{1b}[0m from a plugin",
    );
    st
}
