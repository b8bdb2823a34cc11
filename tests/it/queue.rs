//! `queue` through the real binary against the sandbox: the `--json` shape of interface.md, the
//! merge of both sources (alice once, with both), `--source`, hostile names in the human table,
//! one failing source (the other's rows still printed, exit 1, the failing one named) and the
//! warning for main-app items without an external id.
//!
//! The sandbox runs on the test's (multi-thread) tokio runtime; the binary runs from a blocking
//! task so the sandbox keeps answering.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

use discourse_sandbox::{Sandbox, Scenario};

use crate::common::{Run, Scratch, run};
use serde_json::Value;

/// `avatar-console --config CONFIG queue ARGS…` (colour allowed: hostile names must be clean
/// either way).
fn queue_cmd(s: &Scratch, config: &Path, args: &[&str]) -> Command {
    let mut c = s.with_config(config, &["queue"]);
    c.args(args);
    c
}

/// Standard output as exactly one JSON array of objects (nothing before or after it).
fn rows(r: &Run) -> Vec<serde_json::Map<String, Value>> {
    let mut docs = serde_json::Deserializer::from_str(&r.stdout).into_iter::<Value>();
    let first = match docs.next() {
        Some(Ok(v)) => v,
        other => panic!("stdout is not JSON ({other:?}):\n{}", r.all()),
    };
    assert!(
        docs.next().is_none(),
        "more than one JSON document on stdout:\n{}",
        r.all()
    );
    let Value::Array(items) = first else {
        panic!("stdout is not a JSON array:\n{}", r.all());
    };
    items
        .into_iter()
        .map(|v| match v {
            Value::Object(m) => m,
            other => panic!("an item is not an object: {other}"),
        })
        .collect()
}

async fn sandbox() -> Sandbox {
    Sandbox::start(Scenario::default()).await.unwrap()
}

/// Replaces `key = …` in `section` of the sandbox's config.
fn set_key(toml: &str, section: &str, key: &str, value: &str) -> String {
    let mut current = String::new();
    let mut done = false;
    let out: Vec<String> = toml
        .lines()
        .map(|l| {
            let t = l.trim();
            if t.starts_with('[') {
                current = t.to_string();
            }
            if !done && current == format!("[{section}]") && t.starts_with(&format!("{key} =")) {
                done = true;
                format!("{key} = \"{value}\"")
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(done, "no {key} in [{section}]:\n{toml}");
    out.join("\n") + "\n"
}

/// The sandbox's config without its `[main_app]` section.
fn without_main_app(toml: &str) -> String {
    let mut keep = true;
    let mut out = String::new();
    for l in toml.lines() {
        if l.trim().starts_with('[') {
            keep = !l.trim().starts_with("[main_app");
        }
        if keep {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

fn username(row: &serde_json::Map<String, Value>) -> Option<&str> {
    row.get("username").and_then(Value::as_str)
}

fn sources(row: &serde_json::Map<String, Value>) -> Vec<&str> {
    row["sources"]
        .as_array()
        .unwrap_or_else(|| panic!("sources is not a list: {row:?}"))
        .iter()
        .map(|s| s.as_str().expect("a source is a string"))
        .collect()
}

fn by_name(
    rows: &[serde_json::Map<String, Value>],
) -> HashMap<String, &serde_json::Map<String, Value>> {
    rows.iter()
        .filter_map(|r| username(r).map(|n| (n.to_string(), r)))
        .collect()
}

/// interface.md: `{"username", "external_id", "sources", "reasons", "flagged_at", "avatar"}`,
/// `sources` a non-empty list of `app`/`discourse` (each once), `avatar` one of `custom`,
/// `system`, `unknown`.
fn assert_contract(rows: &[serde_json::Map<String, Value>]) {
    let keys: BTreeSet<&str> = [
        "username",
        "external_id",
        "sources",
        "reasons",
        "flagged_at",
        "avatar",
    ]
    .into_iter()
    .collect();
    for row in rows {
        let got: BTreeSet<&str> = row.keys().map(String::as_str).collect();
        assert_eq!(got, keys, "keys of {row:?}");
        assert!(
            row["username"].is_string() || row["username"].is_null(),
            "{row:?}"
        );
        assert!(
            row["external_id"].is_string() || row["external_id"].is_null(),
            "external_id is a string (numbers from the app included): {row:?}"
        );
        let s = sources(row);
        assert!(!s.is_empty(), "a row without a source: {row:?}");
        assert!(
            s.iter().all(|s| matches!(*s, "app" | "discourse")),
            "{row:?}"
        );
        let unique: BTreeSet<_> = s.iter().collect();
        assert_eq!(unique.len(), s.len(), "a source listed twice: {row:?}");
        let reasons = row["reasons"].as_array().expect("reasons is a list");
        assert!(reasons.iter().all(Value::is_string), "{row:?}");
        match &row["flagged_at"] {
            Value::Null => {}
            Value::String(t) => {
                chrono::DateTime::parse_from_rfc3339(t)
                    .unwrap_or_else(|e| panic!("flagged_at {t:?} is not RFC 3339: {e}"));
            }
            other => panic!("flagged_at is {other}"),
        }
        assert!(
            matches!(
                row["avatar"].as_str(),
                Some("custom" | "system" | "unknown")
            ),
            "{row:?}"
        );
    }
    // One row per user.
    let mut seen = BTreeSet::new();
    for name in rows.iter().filter_map(username) {
        assert!(
            seen.insert(name.to_lowercase()),
            "{name} is listed twice in the queue"
        );
    }
}

/// What the sandbox's main app lists, read directly: (external ids of the items that have one,
/// number of items without one).
async fn app_feed(sb: &Sandbox) -> (BTreeSet<String>, usize) {
    let client = reqwest::Client::new();
    let mut url = url::Url::parse(&sb.flagged_url()).unwrap();
    let mut ids = BTreeSet::new();
    let mut missing = 0;
    loop {
        let page: Value = client
            .get(url.clone())
            .bearer_auth(sb.main_app_token())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for item in page["users"].as_array().unwrap() {
            match &item["external_id"] {
                Value::String(s) => {
                    ids.insert(s.clone());
                }
                Value::Number(n) => {
                    ids.insert(n.to_string());
                }
                _ => missing += 1,
            }
        }
        match page["next"].as_str() {
            Some(next) => url = url.join(next).unwrap(),
            None => return (ids, missing),
        }
    }
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_json_is_one_array_in_the_contract_shape_with_both_sources_merged() {
    let sb = sandbox().await;
    let s = Scratch::new("json");
    let cfg = s.write("config.toml", &sb.config_toml());
    let r = run(queue_cmd(&s, &cfg, &["--json"])).await;
    assert_eq!(r.code, 0, "{}", r.all());
    let rows = rows(&r);
    assert!(rows.len() >= 50, "{} rows:\n{}", rows.len(), r.all());
    assert_contract(&rows);
    let users = by_name(&rows);

    // alice: flagged by the app and by Discourse, one row with both.
    let alice = users.get("alice").expect("alice is queued");
    assert_eq!(sources(alice), ["app", "discourse"], "{alice:?}");
    assert_eq!(alice["external_id"], "684");
    assert_eq!(alice["avatar"], "custom");
    let reasons: Vec<&str> = alice["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(reasons.contains(&"nudity"), "{reasons:?}");
    assert_eq!(
        rows.iter()
            .filter(|r| r["external_id"] == "684" || username(r) == Some("alice"))
            .count(),
        1
    );
    // The app sends 山田太郎's id as the number 2002: a string here.
    assert_eq!(
        users.get("山田太郎").expect("山田太郎")["external_id"],
        "2002"
    );
    // Discourse only (no SSO record), app only (unknown to Discourse).
    assert_eq!(sources(users.get("nosso").expect("nosso")), ["discourse"]);
    let departed = users.get("departed").expect("departed");
    assert_eq!(sources(departed), ["app"]);
    assert_eq!(departed["avatar"], "unknown");
    // An item without an external id is not a row.
    assert!(!users.contains_key("no_external_id"));

    // Human text (the warning, the count) goes to stderr, never into the JSON.
    assert!(!r.stdout.contains("queued"), "{}", r.all());
    assert!(sb.violations().is_empty(), "{:#?}", sb.violations());
    // Read-only: nothing but reads.
    for q in sb.requests() {
        assert!(q.method == "GET", "queue sent {} {}", q.method, q.path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_source_filters_to_one_source_and_all_is_their_union() {
    let sb = sandbox().await;
    let s = Scratch::new("source");
    let cfg = s.write("config.toml", &sb.config_toml());

    let all = run(queue_cmd(&s, &cfg, &["--json", "--source", "all"])).await;
    assert_eq!(all.code, 0, "{}", all.all());

    sb.clear_records();
    let disc = run(queue_cmd(&s, &cfg, &["--json", "--source", "discourse"])).await;
    assert_eq!(disc.code, 0, "{}", disc.all());
    let disc_rows = rows(&disc);
    assert_contract(&disc_rows);
    assert!(!disc_rows.is_empty());
    for r in &disc_rows {
        assert_eq!(sources(r), ["discourse"], "{r:?}");
    }
    let d = by_name(&disc_rows);
    assert!(d.contains_key("alice") && d.contains_key("nosso"), "{d:?}");
    assert!(!d.contains_key("departed"), "departed is the app's only");
    // The review queue names users by Discourse id; the external id comes from the admin
    // record, as in the console's EXT ID column. Without an SSO record it stays null.
    assert_eq!(d["alice"]["external_id"], "684", "{:?}", d["alice"]);
    assert!(d["nosso"]["external_id"].is_null(), "{:?}", d["nosso"]);
    // The main app is not asked; so no warning about its items.
    let app_path = url::Url::parse(&sb.flagged_url())
        .unwrap()
        .path()
        .to_string();
    assert!(
        sb.requests().iter().all(|q| q.path != app_path),
        "--source discourse asked the main app"
    );
    assert!(!disc.stderr.contains("external_id"), "{}", disc.all());

    sb.clear_records();
    let app = run(queue_cmd(&s, &cfg, &["--json", "--source", "app"])).await;
    assert_eq!(app.code, 0, "{}", app.all());
    let app_rows = rows(&app);
    assert_contract(&app_rows);
    for r in &app_rows {
        assert_eq!(sources(r), ["app"], "{r:?}");
    }
    let a = by_name(&app_rows);
    assert!(
        a.contains_key("alice") && a.contains_key("departed"),
        "{a:?}"
    );
    assert!(!a.contains_key("nosso"), "nosso is Discourse's only");
    assert!(
        sb.requests().iter().all(|q| !q.path.starts_with("/review")),
        "--source app read the review queue"
    );
    // Exactly the main app's external ids.
    let (feed_ids, _) = app_feed(&sb).await;
    let got: BTreeSet<String> = app_rows
        .iter()
        .map(|r| {
            r["external_id"]
                .as_str()
                .expect("app rows have an id")
                .to_string()
        })
        .collect();
    assert_eq!(got, feed_ids);

    // all = app ∪ discourse, one row per user.
    let names = |rows: &[serde_json::Map<String, Value>]| -> BTreeSet<String> {
        rows.iter()
            .filter_map(username)
            .map(str::to_string)
            .collect()
    };
    let all_rows = rows(&all);
    let union: BTreeSet<String> = names(&app_rows)
        .union(&names(&disc_rows))
        .cloned()
        .collect();
    assert_eq!(names(&all_rows), union);
    let both = by_name(&all_rows)
        .into_iter()
        .filter(|(_, r)| sources(r).len() == 2)
        .map(|(n, _)| n)
        .collect::<BTreeSet<_>>();
    let in_both: BTreeSet<String> = names(&app_rows)
        .intersection(&names(&disc_rows))
        .cloned()
        .collect();
    assert_eq!(both, in_both);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_source_app_without_a_main_app_is_a_usage_error() {
    let sb = sandbox().await;
    let s = Scratch::new("no-app");
    let cfg = s.write("config.toml", &without_main_app(&sb.config_toml()));
    let r = run(queue_cmd(&s, &cfg, &["--json", "--source", "app"])).await;
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("main_app"), "{}", r.all());
    // Without --source, Discourse's queue alone, no error.
    let r = run(queue_cmd(&s, &cfg, &["--json"])).await;
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(rows(&r).iter().all(|row| sources(row) == ["discourse"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_human_table_carries_no_escape_sequences_from_hostile_text() {
    let sb = sandbox().await;
    let s = Scratch::new("hostile");
    let cfg = s.write("config.toml", &sb.config_toml());
    // Colour allowed (NO_COLOR unset): still no escape from the data may pass.
    let r = run(queue_cmd(&s, &cfg, &[])).await;
    assert_eq!(r.code, 0, "{}", r.all());
    for (name, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        for (i, line) in text.lines().enumerate() {
            let bad: Vec<char> = line
                .chars()
                .filter(|c| {
                    (c.is_control() && *c != '\t')
                        || matches!(*c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
                })
                .collect();
            assert!(
                bad.is_empty(),
                "{name} line {} carries {bad:?}: {line:?}",
                i + 1
            );
        }
    }
    // eve (ANSI escapes, BEL and a bidi override in the sandbox) is listed, cleaned.
    let eve = r
        .stdout
        .lines()
        .find(|l| l.starts_with("eve ") && l.contains("5005"))
        .unwrap_or_else(|| panic!("no row for eve:\n{}", r.stdout));
    assert!(eve.contains("cleared your screen"), "{eve:?}");
    assert!(!eve.contains("[2J") && !eve.contains("]0;"), "{eve:?}");
    // The header and the user count.
    assert!(r.stdout.starts_with("USERNAME"), "{}", r.all());
    assert!(r.stderr.contains("queued"), "{}", r.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_with_a_failing_main_app_prints_discourses_rows_and_exits_1() {
    let sb = sandbox().await;
    let s = Scratch::new("app-401");
    let bad_token = "not-the-token";
    let cfg = s.write(
        "config.toml",
        &set_key(&sb.config_toml(), "main_app", "token", bad_token),
    );
    let r = run(queue_cmd(&s, &cfg, &["--json"])).await;
    assert_eq!(r.code, 1, "{}", r.all());
    let rows = rows(&r);
    assert_contract(&rows);
    assert!(
        !rows.is_empty(),
        "Discourse's rows are missing:\n{}",
        r.all()
    );
    for row in &rows {
        assert_eq!(sources(row), ["discourse"], "{row:?}");
    }
    assert!(by_name(&rows).contains_key("alice"));
    let err = r.stderr.to_lowercase();
    assert!(err.contains("main app"), "{}", r.all());
    assert!(err.contains("401"), "the status is named:\n{}", r.all());
    assert!(!r.all().contains(&sb.main_app_token()), "token leaked");
    // The app answered 401 for its only request: no retry storm, Discourse read to the end.
    let app_path = url::Url::parse(&sb.flagged_url())
        .unwrap()
        .path()
        .to_string();
    let app_calls: Vec<u16> = sb
        .requests()
        .iter()
        .filter(|q| q.path == app_path)
        .map(|q| q.status)
        .collect();
    assert_eq!(app_calls, [401], "{app_calls:?}");

    // The human table too: rows on stdout, the error on stderr, exit 1.
    let r = run(queue_cmd(&s, &cfg, &[])).await;
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stdout.lines().any(|l| l.starts_with("alice ")),
        "{}",
        r.all()
    );
    assert!(r.stderr.to_lowercase().contains("main app"), "{}", r.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_with_a_failing_discourse_prints_the_apps_rows_and_exits_1() {
    let sb = sandbox().await;
    let s = Scratch::new("discourse-bad-key");
    let cfg = s.write(
        "config.toml",
        &set_key(
            &sb.config_toml(),
            "discourse",
            "api_key",
            "0000-not-the-key",
        ),
    );
    let r = run(queue_cmd(&s, &cfg, &["--json"])).await;
    assert_eq!(r.code, 1, "{}", r.all());
    let rows = rows(&r);
    assert_contract(&rows);
    assert!(!rows.is_empty(), "the app's rows are missing:\n{}", r.all());
    for row in &rows {
        assert_eq!(sources(row), ["app"], "{row:?}");
    }
    assert!(by_name(&rows).contains_key("alice"));
    assert!(r.stderr.contains("Discourse"), "{}", r.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_warns_about_main_app_items_without_an_external_id() {
    let sb = sandbox().await;
    let s = Scratch::new("no-ext");
    let cfg = s.write("config.toml", &sb.config_toml());
    let (_, missing) = app_feed(&sb).await;
    assert!(
        missing >= 1,
        "the sandbox lists an item without external_id"
    );
    let r = run(queue_cmd(&s, &cfg, &["--json", "--source", "app"])).await;
    assert_eq!(r.code, 0, "{}", r.all());
    let warning = r
        .stderr
        .lines()
        .find(|l| l.to_lowercase().contains("warning") && l.contains("external_id"))
        .unwrap_or_else(|| panic!("no warning about items without external_id:\n{}", r.all()));
    assert!(
        warning.contains(&missing.to_string()),
        "the warning gives the count ({missing}): {warning}"
    );
    assert!(!r.stdout.contains("no_external_id"));
    // A warning is not a failure, and stdout is still one JSON document.
    assert_contract(&rows(&r));
}

/// After a verified reset to the default image, `queue`, `check` and a later run all say so
/// (`default`), not `custom`: the default image is an upload too, and the audit log knows its
/// id. (`--json` keeps interface.md's `custom`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_reset_to_the_default_image_shows_default_in_queue_and_check() {
    let sb = sandbox().await;
    let s = Scratch::new("default-label");
    let cfg = s.write("config.toml", &sb.config_toml());
    let alice_row = |r: &Run| {
        r.stdout
            .lines()
            .find(|l| l.starts_with("alice "))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no alice row:\n{}", r.all()))
    };
    // (Before the reset her row says `custom`: queue_json_is_one_array… checks it. Each
    // `queue` run also reads up to 60 admin records, so this test runs it once.)
    let reset = run(s.with_config(&cfg, &["reset", "alice", "--yes"])).await;
    assert_eq!(reset.code, 0, "{}", reset.all());

    let after = run(queue_cmd(&s, &cfg, &[])).await;
    assert_eq!(after.code, 0, "{}", after.all());
    let row = alice_row(&after);
    assert!(row.contains(" default "), "{row}");

    let check = run(s.with_config(&cfg, &["check", "alice"])).await;
    assert_eq!(check.code, 0, "{}", check.all());
    assert!(
        check
            .stdout
            .contains("avatar:           default image (upload "),
        "{}",
        check.all()
    );
}
