//! `avatar-console sandbox` through the binary: its modes on the command line reach the running
//! sandbox, and the global flags that mean nothing there are refused.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::{Scratch, run};

/// Kills the sandbox process when the test ends, however it ends.
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn sandbox_refuses_demo_read_only_and_dry_run() {
    let s = Scratch::new("sandbox-flags");
    for flags in [
        &["--demo"][..],
        &["--read-only"],
        &["--dry-run"],
        &["--read-only", "--dry-run"],
    ] {
        let mut c = s.cmd();
        c.args(flags).arg("sandbox");
        let r = run(c).await;
        assert_eq!(r.code, 2, "{flags:?}: {}", r.all());
        for f in flags {
            assert!(r.stderr.contains(f), "{flags:?} names {f}: {}", r.all());
        }
        assert!(r.elapsed < Duration::from_secs(10), "refused, not served");
        assert!(!s.path("data/sandbox-config.toml").exists());
    }
    // The flags after the subcommand too (they are global, hidden from `sandbox --help`).
    for flags in [
        &["sandbox", "--dry-run"][..],
        &["sandbox", "--demo"],
        &["sandbox", "--read-only"],
        &["sandbox", "--config", "mine.toml"],
        &["--config", "mine.toml", "sandbox"],
    ] {
        let mut c = s.cmd();
        c.args(flags);
        let r = run(c).await;
        assert_eq!(r.code, 2, "{flags:?}: {}", r.all());
        assert!(r.stderr.contains("does not take"), "{flags:?}: {}", r.all());
    }
    // A bad mode value is a usage error as well.
    let mut c = s.cmd();
    c.args(["sandbox", "--plus-bug", "maybe"]);
    let r = run(c).await;
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr.contains("on") && r.stderr.contains("off"),
        "{}",
        r.all()
    );
}

#[tokio::test]
async fn sandbox_modes_from_the_command_line_reach_the_server() {
    let s = Scratch::new("sandbox-modes");
    let mut c = s.cmd();
    c.args([
        "sandbox",
        "--flagged",
        "5",
        "--plus-bug",
        "off",
        "--hide-admin-emails",
        "--admin-rpm",
        "2",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    let mut child = Serving(c.spawn().expect("start the sandbox"));
    let stdout = child.0.stdout.take().unwrap();
    let url = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let url = lines
            .find_map(|l| {
                l.ok()?
                    .strip_prefix("sandbox listening on ")
                    .map(str::to_string)
            })
            .expect("prints its URL");
        // Keep reading: with its stdout closed the sandbox would die of SIGPIPE on its next line.
        std::thread::spawn(move || lines.for_each(drop));
        url
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let state: Value = http
        .get(format!("{url}/sandbox/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["plus_bug"], false);
    assert_eq!(state["hide_admin_emails"], true);
    assert_eq!(state["admin_rate_limit"], 2);

    // The config it wrote works, and the server plays the modes.
    let config = std::fs::read_to_string(s.path("data/sandbox-config.toml")).unwrap();
    let key = config
        .lines()
        .find_map(|l| l.strip_prefix("api_key = "))
        .unwrap()
        .trim_matches('"')
        .to_string();
    let get = |path: &str| {
        http.get(format!("{url}{path}"))
            .header("Api-Key", &key)
            .header("Api-Username", "system")
            .send()
    };
    let alice: Value = get("/admin/users/1.json")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(alice["username"], "alice");
    assert!(alice.get("email").is_none(), "--hide-admin-emails: {alice}");
    assert_eq!(get("/u/alice.json").await.unwrap().status(), 200);
    assert_eq!(
        get("/u/alice.json").await.unwrap().status(),
        429,
        "--admin-rpm 2: the third request in a minute"
    );
}

/// The four outcomes README's "Try each outcome in the demo" promises, through the binary.
#[tokio::test]
async fn demo_shows_each_outcome_a_moderator_meets() {
    let s = Scratch::new("demo-outcomes");
    let mut c = s.cmd();
    c.args([
        "--demo",
        "reset",
        "alice",
        "sam.stuck",
        "nosso",
        "--yes",
        "--json",
    ]);
    let r = run(c).await;
    assert_eq!(r.code, 1, "not all verified: {}", r.all());
    let outcomes: Vec<(String, String)> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["username"].as_str().unwrap().to_string(),
                x["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let of = |u: &str| {
        outcomes
            .iter()
            .find(|(n, _)| n == u)
            .map(|(_, o)| o.as_str())
            .unwrap_or("missing")
    };
    assert_eq!(of("alice"), "verified", "{outcomes:?}");
    assert_eq!(of("sam.stuck"), "unverified", "{outcomes:?}");
    assert_eq!(of("nosso"), "failed", "{outcomes:?}");
    assert!(
        r.elapsed < Duration::from_secs(45),
        "the demo's verify timeout is short: {:?}",
        r.elapsed
    );

    let mut c = s.cmd();
    c.args([
        "--demo",
        "review",
        "rita.review",
        "--perform",
        "remove_avatar",
        "--yes",
        "--json",
    ]);
    let r = run(c).await;
    assert_eq!(r.code, 1, "{}", r.all());
    let done = &r.json()[0];
    assert_eq!(done["outcome"], "failed", "{}", r.all());
    assert!(
        done["message"].as_str().unwrap().contains("409"),
        "{}",
        r.all()
    );
}

/// Each `--demo` command is a fresh sandbox: an earlier run's reset is not shown as current by
/// `check`, and `undo` has nothing to put back (it used to act on the old run's audit lines and
/// claim someone else had changed the avatar). The old lines are kept aside, not lost.
#[tokio::test]
async fn each_demo_command_reads_only_its_own_sandboxs_audit() {
    let s = Scratch::new("demo-own-audit");
    let mut c = s.cmd();
    c.args(["--demo", "reset", "alice", "--yes"]);
    let r = run(c).await;
    assert_eq!(r.code, 0, "{}", r.all());

    let mut c = s.cmd();
    c.args(["--demo", "check", "alice", "--json"]);
    let r = run(c).await;
    let report = r.json();
    assert_eq!(report["user"]["avatar"], "custom", "{}", r.all());
    assert_eq!(
        report["audit"].as_array().map(Vec::len),
        Some(0),
        "the previous sandbox's reset shown as this one's: {}",
        r.all()
    );

    let mut c = s.cmd();
    c.args(["--demo", "undo", "alice", "--yes"]);
    let r = run(c).await;
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("no verified reset"), "{}", r.all());
    assert!(!r.all().contains("someone else"), "{}", r.all());

    let mut c = s.cmd();
    c.args(["--demo", "undo", "alice", "--yes", "--force"]);
    let r = run(c).await;
    assert_eq!(r.code, 2, "--force has nothing to force: {}", r.all());

    // The reset is still on record, in an archived file.
    let demo = s.path("data/demo");
    let archived: String = std::fs::read_dir(&demo)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("audit.2")
        })
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert!(
        archived.contains("\"reset-avatar\"") && archived.contains("\"verified\""),
        "{archived}"
    );
}

/// In the demo's sandbox, `undo` after a reset by sync-sso verifies: the old SSO avatar URL is a
/// picture the sandbox serves, so its download job can fetch it again (it used to name an
/// unreachable host, and every demo undo of an SSO user ended `unverified`).
#[tokio::test]
async fn demo_reset_then_undo_by_sync_sso_verifies() {
    let s = Scratch::new("demo-undo");
    let sb = discourse_sandbox::Sandbox::start(discourse_sandbox::Scenario::demo())
        .await
        .unwrap();
    let config = s.write("demo.toml", &sb.config_toml());
    let old = sb.user("wei-xu46").unwrap();

    let r = run(s.with_config(&config, &["reset", "wei-xu46", "--yes", "--json"])).await;
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(r.json()[0]["outcome"], "verified", "{}", r.all());

    let r = run(s.with_config(&config, &["undo", "wei-xu46", "--yes", "--json"])).await;
    assert_eq!(r.code, 0, "{}", r.all());
    let done = &r.json()[0];
    assert_eq!(done["outcome"], "verified", "{}", r.all());
    assert_eq!(done["strategy"], "sync-sso", "{}", r.all());
    let now = sb.user("wei-xu46").unwrap();
    assert_eq!(
        now.sso.unwrap().external_avatar_url,
        old.sso.unwrap().external_avatar_url,
        "the old SSO avatar is back"
    );
}

/// The count `sandbox` prints is the count `queue` then shows (it used to print `--flagged`
/// alone, 60, while the queue held 63 with the demo's own cases).
#[tokio::test]
async fn sandbox_prints_the_count_the_queue_shows() {
    let s = Scratch::new("sandbox-count");
    for flagged in ["60", "7"] {
        let mut c = s.cmd();
        c.args(["sandbox", "--flagged", flagged])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = Serving(c.spawn().expect("start the sandbox"));
        let stderr = child.0.stderr.take().unwrap();
        let first = tokio::task::spawn_blocking(move || {
            let mut lines = BufReader::new(stderr).lines();
            let first = lines.next().unwrap().unwrap();
            std::thread::spawn(move || lines.for_each(drop));
            first
        })
        .await
        .unwrap();
        let printed: usize = first
            .split_once(" flagged users in the queue")
            .unwrap_or_else(|| panic!("{first}"))
            .0
            .parse()
            .unwrap();
        let r = run(s.with_config(&s.path("data/sandbox-config.toml"), &["queue", "--json"])).await;
        assert_eq!(r.code, 0, "{}", r.all());
        let shown = r.json().as_array().unwrap().len();
        assert_eq!(printed, shown, "--flagged {flagged}: {first}");
        if flagged == "60" {
            assert!(first.contains("--flagged 60 plus 3 demo cases"), "{first}");
        }
    }
}

/// Two `--demo` runs at once (a console and a command in another terminal, say) are two
/// sandboxes: the second neither moves the first's audit from under it nor reads its lines.
#[tokio::test]
async fn a_demo_run_beside_another_keeps_its_audit_apart() {
    let s = Scratch::new("demo-beside");
    // The first run: sam.stuck's reset waits 20 s for a download that never comes.
    let mut c = s.cmd();
    c.args(["--demo", "reset", "sam.stuck", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut first = Serving(c.spawn().expect("start the first demo run"));
    let audit = s.path("data/demo/audit.jsonl");
    let started = std::time::Instant::now();
    while !std::fs::read_to_string(&audit).is_ok_and(|a| a.contains("sam.stuck")) {
        assert!(started.elapsed() < Duration::from_secs(15), "no intent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The second run sees only its own sandbox.
    let mut c = s.cmd();
    c.args(["--demo", "check", "sam.stuck", "--json"]);
    let r = run(c).await;
    assert_eq!(
        r.json()["audit"].as_array().map(Vec::len),
        Some(0),
        "the other run's lines: {}",
        r.all()
    );
    let mut c = s.cmd();
    c.args(["--demo", "reset", "alice", "--yes"]);
    assert_eq!(run(c).await.code, 0);

    // The first run's file stayed where it was, and got its outcome.
    let code = tokio::task::spawn_blocking(move || first.0.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(code.code(), Some(1), "sam.stuck ends unverified");
    let mine = std::fs::read_to_string(&audit).unwrap();
    assert!(
        mine.contains("\"outcome\":\"unverified\"") && !mine.contains("alice"),
        "{mine}"
    );
    // The second runs' lines are in a directory of their own.
    let beside: String = std::fs::read_dir(s.path("data/demo"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .filter_map(|p| std::fs::read_to_string(p.join("audit.jsonl")).ok())
        .collect();
    assert!(beside.contains("alice"), "{beside}");
}
