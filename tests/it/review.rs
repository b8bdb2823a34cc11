//! `review` and `undo` over loopback against the sandbox: the items' own actions, perform with
//! the item's version, a 409 from a stale version, refusals that send nothing, the audit log,
//! and undo by pick and by sync-sso with its refusals.

use std::path::PathBuf;

use avatar_console::audit::{AuditEntry, Phase, read_entries};
use avatar_console::config::Config;
use avatar_console::model::Outcome;
use avatar_console::review::{self, ReviewOutcome, Subject};
use avatar_console::session::Session;
use discourse_sandbox::{Sandbox, Scenario};
use serde_json::Value;

use super::common::{Run, Scratch, run};

struct Env {
    sandbox: Sandbox,
    scratch: Scratch,
    config: PathBuf,
}

async fn env(tag: &str, overrides_avatar: bool) -> Env {
    let sandbox = Sandbox::start(Scenario {
        overrides_avatar,
        download_delay: std::time::Duration::from_millis(100),
        ..Scenario::default()
    })
    .await
    .unwrap();
    let scratch = Scratch::new(tag);
    let config = scratch.write("config.toml", &sandbox.config_toml());
    Env {
        sandbox,
        scratch,
        config,
    }
}

impl Env {
    async fn run(&self, args: &[&str]) -> Run {
        run(self.scratch.with_config(&self.config, args)).await
    }

    fn audit(&self) -> Vec<AuditEntry> {
        read_entries(&self.scratch.path("data/audit.jsonl"))
    }

    fn writes(&self) -> Vec<String> {
        self.sandbox
            .requests()
            .iter()
            .filter(|r| r.method == "PUT" || r.method == "POST")
            .filter(|r| !r.path.starts_with("/logs"))
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    async fn control(&self, method: &str, path: &str) -> Value {
        let c = reqwest::Client::new();
        let url = format!("{}/sandbox/{path}", self.sandbox.url());
        let req = if method == "POST" {
            c.post(url)
        } else {
            c.get(url)
        };
        req.send().await.unwrap().json().await.unwrap()
    }
}

fn actions(item: &Value) -> Vec<String> {
    item["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn review_lists_each_items_own_actions() {
    let e = env("review-list", true).await;
    let r = e.run(&["review", "alice", "--json"]).await;
    assert_eq!(r.code, 0, "{}", r.all());
    let items = r.json();
    let items = items.as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", r.all());
    let it = &items[0];
    assert_eq!(it["type"], "ReviewableUser");
    assert_eq!(it["version"], 0);
    assert!(it["created_at"].is_string());
    assert_eq!(it["reasons"][0], "inappropriate profile photo");
    let a = actions(it);
    assert!(a.contains(&"approve_user".into()) && a.contains(&"remove_avatar".into()));

    // A flagged post offers post and user actions, and no Remove avatar.
    let r = e.run(&["review", "nosso", "--json"]).await;
    assert_eq!(r.code, 0, "{}", r.all());
    let a = actions(&r.json()[0]);
    assert!(a.contains(&"hide_post".into()), "{a:?}");
    assert!(!a.contains(&"remove_avatar".into()), "{a:?}");

    // Human form, and a user with no item.
    let r = e.run(&["review", "external:684"]).await;
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("remove_avatar"), "{}", r.all());
    let r = e.run(&["review", "bob.smith", "--json"]).await;
    assert_eq!(r.json(), serde_json::json!([]));
    assert!(e.writes().is_empty(), "listing wrote: {:?}", e.writes());
}

#[tokio::test]
async fn perform_sends_the_version_audits_and_remove_avatar_keeps_the_item() {
    let e = env("review-perform", true).await;
    let before = e.sandbox.user("alice").unwrap();
    assert!(before.uploaded_avatar_id.is_some() && before.custom_upload_id.is_some());

    let r = e
        .run(&[
            "review",
            "alice",
            "--perform",
            "remove_avatar",
            "--yes",
            "--json",
        ])
        .await;
    assert_eq!(r.code, 0, "{}", r.all());
    let out = r.json();
    assert_eq!(out[0]["action"], "remove_avatar");
    assert_eq!(out[0]["outcome"], "done", "{}", r.all());
    let id = out[0]["id"].as_u64().unwrap();
    assert_eq!(
        e.writes(),
        [format!("PUT /review/{id}/perform/remove_avatar")]
    );
    let req = e
        .sandbox
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .unwrap();
    assert_eq!(req.query.as_deref(), Some("version=0"));

    // Discourse's reset: both slots gone, a staff action logged, the item still pending.
    let after = e.sandbox.user("alice").unwrap();
    assert_eq!(
        (after.uploaded_avatar_id, after.custom_upload_id),
        (None, None)
    );
    let book = e.control("GET", "review").await;
    assert_eq!(book["staff_actions"][0]["action"], "removed_avatar");
    assert_eq!(book["staff_actions"][0]["target_user"], "alice");
    let r = e.run(&["review", "alice", "--json"]).await;
    let items = r.json();
    assert_eq!(items[0]["version"], 1, "{}", r.all());
    assert!(!actions(&items[0]).contains(&"remove_avatar".into()));

    // Intent before, outcome after, both naming the item, action and version.
    let audit = e.audit();
    let lines: Vec<&AuditEntry> = audit.iter().filter(|a| a.action == "review").collect();
    assert_eq!(lines.len(), 2, "{audit:?}");
    assert_eq!(lines[0].phase, Phase::Intent);
    assert_eq!(lines[1].phase, Phase::Outcome);
    assert_eq!(lines[1].outcome, Some(Outcome::Verified));
    let rr = lines[0].review.as_ref().unwrap();
    assert_eq!(
        (rr.id, rr.action.as_str(), rr.version),
        (id, "remove_avatar", 0)
    );
    assert_eq!(lines[0].user.username.as_deref(), Some("alice"));
    assert_eq!(lines[0].user.external_id.as_deref(), Some("684"));

    // Approving resolves it: the user has no pending item left.
    let r = e
        .run(&[
            "review",
            "alice",
            "--perform",
            "approve_user",
            "--yes",
            "--json",
        ])
        .await;
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.json()[0]["message"]
            .as_str()
            .unwrap()
            .contains("approved")
    );
    let r = e.run(&["review", "alice", "--json"]).await;
    assert_eq!(r.json(), serde_json::json!([]));
    let text = std::fs::read_to_string(e.scratch.path("data/audit.jsonl")).unwrap();
    assert!(!text.contains(&e.sandbox.api_key()));
}

#[tokio::test]
async fn refusals_send_nothing() {
    let e = env("review-refuse", true).await;
    // An action no item offers: exit 2, no perform.
    let r = e
        .run(&["review", "alice", "--perform", "hide_post", "--yes"])
        .await;
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("offered: approve_user"), "{}", r.all());
    // Read-only: exit 2 before any request.
    e.sandbox.clear_records();
    let r = run(e.scratch.with_config(
        &e.config,
        &[
            "--read-only",
            "review",
            "alice",
            "--perform",
            "remove_avatar",
            "--yes",
        ],
    ))
    .await;
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(e.sandbox.requests().is_empty());
    // Without --yes and without a terminal: exit 2.
    let r = e
        .run(&["review", "alice", "--perform", "remove_avatar"])
        .await;
    assert_eq!(r.code, 2, "{}", r.all());
    // Dry run: shown and audited as dry-run, never sent.
    let r = run(e.scratch.with_config(
        &e.config,
        &[
            "--dry-run",
            "review",
            "alice",
            "--perform",
            "remove_avatar",
            "--json",
        ],
    ))
    .await;
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(r.json()[0]["outcome"], "dry-run");
    assert!(
        r.json()[0]["message"]
            .as_str()
            .unwrap()
            .contains("version=0")
    );
    assert!(e.writes().is_empty(), "{:?}", e.writes());
    let audit = e.audit();
    assert!(audit.iter().all(|a| a.dry_run), "{audit:?}");
    assert_eq!(audit.last().unwrap().outcome, Some(Outcome::DryRun));
    assert!(
        e.sandbox
            .user("alice")
            .unwrap()
            .uploaded_avatar_id
            .is_some()
    );
}

/// A stale version (someone else changed the item after it was read) gets a 409; the item is
/// re-read and the message says what changed. A resolved item gets a 403, explained.
#[tokio::test]
async fn stale_versions_conflict_and_say_what_changed() {
    let e = env("review-409", true).await;
    let config =
        Config::from_toml_str(&e.sandbox.config_toml(), std::path::Path::new("s.toml")).unwrap();
    let session = Session::new(&config, &e.scratch.path("data")).unwrap();
    let client = &session.discourse;
    let user = review::resolve_user(client, "alice").await.unwrap();
    let subject = Subject::from_user(&user);
    let items = client
        .review_items_for(&subject.username, Some(subject.id))
        .await
        .unwrap();
    let item = items[0].clone();

    let bumped = e.control("POST", &format!("review/{}/bump", item.id)).await;
    assert_eq!(bumped["version"], 1);
    let r = review::perform(
        client,
        &session.audit,
        &subject,
        &item,
        "remove_avatar",
        false,
    )
    .await;
    assert_eq!(r.outcome, ReviewOutcome::Failed, "{}", r.message);
    assert!(r.message.contains("409"), "{}", r.message);
    assert!(
        r.message.contains("version went from 0 to 1"),
        "{}",
        r.message
    );
    assert!(
        e.sandbox
            .user("alice")
            .unwrap()
            .uploaded_avatar_id
            .is_some()
    );
    let book = e.control("GET", "review").await;
    assert_eq!(book["performs"][0]["status"], 409);
    let last = session.audit.read_all().pop().unwrap();
    assert_eq!(last.outcome, Some(Outcome::Failed));

    // With the re-read item's version it goes through.
    let fresh = r.item.clone().unwrap();
    let r = review::perform(
        client,
        &session.audit,
        &subject,
        &fresh,
        "remove_avatar",
        false,
    )
    .await;
    assert_eq!(r.outcome, ReviewOutcome::Done, "{}", r.message);

    // Claimed by another moderator: 422, explained, not applied.
    let claimed = r.item.clone().unwrap();
    e.control("POST", &format!("review/{}/claim?by=carol", item.id))
        .await;
    let r = review::perform(
        client,
        &session.audit,
        &subject,
        &claimed,
        "approve_user",
        false,
    )
    .await;
    assert_eq!(r.outcome, ReviewOutcome::Failed, "{}", r.message);
    assert!(
        r.message.contains("422") && r.message.contains("claimed"),
        "{}",
        r.message
    );
    assert!(r.message.contains("not applied"), "{}", r.message);
    e.control("POST", &format!("review/{}/claim?by=", item.id))
        .await;
    let r = review::perform(
        client,
        &session.audit,
        &subject,
        &claimed,
        "approve_user",
        false,
    )
    .await;
    assert_eq!(r.outcome, ReviewOutcome::Done, "{}", r.message);

    // Another moderator resolved it meanwhile: 403, explained as such.
    let stale = claimed.clone();
    e.control(
        "POST",
        &format!("review/{}/status?status=approved", item.id),
    )
    .await;
    let r = review::perform(
        client,
        &session.audit,
        &subject,
        &stale,
        "approve_user",
        false,
    )
    .await;
    assert_eq!(r.outcome, ReviewOutcome::Failed);
    assert!(r.message.contains("403"), "{}", r.message);
    assert!(r.message.contains("no longer pending"), "{}", r.message);
    assert!(r.message.contains("approved"), "{}", r.message);
}

fn upload_of(e: &Env, user: &str) -> Option<u64> {
    e.sandbox.user(user).unwrap().uploaded_avatar_id
}

#[tokio::test]
async fn undo_by_pick_puts_the_old_upload_back() {
    let e = env("undo-pick", false).await;
    let old = upload_of(&e, "alice").expect("alice starts with a custom avatar");
    // Nothing to undo yet: exit 2, nothing sent.
    let r = e.run(&["undo", "alice", "--yes"]).await;
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("nothing to undo"), "{}", r.all());
    assert!(e.writes().is_empty());

    let r = e
        .run(&["reset", "alice", "--yes", "--strategy", "pick"])
        .await;
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(upload_of(&e, "alice"), None);

    let r = run(e
        .scratch
        .with_config(&e.config, &["--read-only", "undo", "alice", "--yes"]))
    .await;
    assert_eq!(r.code, 2, "{}", r.all());
    let r = e.run(&["undo", "alice", "--yes", "--json"]).await;
    assert_eq!(r.code, 0, "{}", r.all());
    let out = r.json();
    assert_eq!(out[0]["outcome"], "verified", "{}", r.all());
    assert_eq!(out[0]["strategy"], "pick");
    assert_eq!(out[0]["username"], "alice");
    assert_eq!(upload_of(&e, "alice"), Some(old));
    let pick = e
        .sandbox
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.method == "PUT")
        .unwrap();
    assert!(pick.body.contains("type=custom") && pick.body.contains(&format!("upload_id={old}")));
    let audit = e.audit();
    let undo: Vec<&AuditEntry> = audit.iter().filter(|a| a.action == "undo").collect();
    assert_eq!(undo.len(), 2);
    assert_eq!(undo[0].phase, Phase::Intent);
    assert_eq!(undo[1].outcome, Some(Outcome::Verified));
    assert_eq!(undo[1].after_uploaded_avatar_id, Some(old));

    // Undone already: a second undo is refused.
    let r = e.run(&["undo", "alice", "--yes"]).await;
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("already undone"), "{}", r.all());
}

#[tokio::test]
async fn undo_refuses_when_the_avatar_changed_unless_forced() {
    let e = env("undo-changed", false).await;
    let old = upload_of(&e, "alice").unwrap();
    let r = e
        .run(&["reset", "alice", "--yes", "--strategy", "pick"])
        .await;
    assert_eq!(r.code, 0, "{}", r.all());
    // Someone else picks an avatar after the reset.
    let c = reqwest::Client::new();
    let resp = c
        .put(format!(
            "{}/u/alice/preferences/avatar/pick",
            e.sandbox.url()
        ))
        .header("Api-Key", e.sandbox.api_key())
        .header("Api-Username", "system")
        .form(&[("type", "custom"), ("upload_id", &old.to_string())])
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let writes = e.writes().len();
    let r = e.run(&["undo", "alice", "--yes"]).await;
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("changed since the reset"), "{}", r.all());
    assert_eq!(e.writes().len(), writes, "a refused undo sent something");
    let r = e
        .run(&["undo", "alice", "--yes", "--force", "--json"])
        .await;
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(r.json()[0]["outcome"], "verified");
}

#[tokio::test]
async fn undo_by_sync_sso_syncs_the_old_avatar_url_back() {
    let e = env("undo-sync", true).await;
    let other = format!("{}/images/other-avatar.png", e.sandbox.url());
    let default = e.sandbox.default_avatar_url();
    // First give alice an avatar URL the sandbox can download, then reset her to the default.
    let first = e.scratch.write(
        "first.toml",
        &e.sandbox.config_toml().replace(&default, &other),
    );
    let r = run(e.scratch.with_config(
        &first,
        &["reset", "alice", "--yes", "--strategy", "sync-sso"],
    ))
    .await;
    assert_eq!(r.code, 0, "{}", r.all());
    let with_other = upload_of(&e, "alice");
    let r = e
        .run(&["reset", "alice", "--yes", "--strategy", "sync-sso"])
        .await;
    assert_eq!(r.code, 0, "{}", r.all());
    let on_default = upload_of(&e, "alice");
    assert_ne!(with_other, on_default);

    let r = e.run(&["undo", "alice", "--yes", "--json"]).await;
    assert_eq!(r.code, 0, "{}", r.all());
    let out = r.json();
    assert_eq!(out[0]["outcome"], "verified", "{}", r.all());
    assert_eq!(out[0]["strategy"], "sync-sso");
    let alice = e.sandbox.user("alice").unwrap();
    assert_eq!(
        alice.sso.unwrap().external_avatar_url.as_deref(),
        Some(other.as_str())
    );
    assert_eq!(alice.uploaded_avatar_id, with_other);
    let sync = e
        .sandbox
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path == "/admin/users/sync_sso")
        .unwrap();
    assert!(!sync.body.contains(&e.sandbox.sso_secret()));
    assert!(
        e.sandbox.violations().is_empty(),
        "{:?}",
        e.sandbox.violations()
    );
}
