//! On-call commands through the sandbox: `logs` (`--user`, `--follow`, `--json`) and `check`
//! (exit codes for a healthy setup, an internal default avatar URL, a user without SSO record,
//! a bad key, a secret mismatch), with no request to a private address and no secret in any
//! output.
//!
//! The sandbox runs on the test's (multi-thread) tokio runtime; the real binary is run from a
//! blocking task so the sandbox keeps answering.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use discourse_sandbox::{LoginKind, Sandbox, Scenario};

use crate::common::{Run, Scratch, run};
use serde_json::Value;

/// `avatar-console --config CONFIG ARGS…`, without colour so the human text is plain.
fn bin(s: &Scratch, config: &Path, args: &[&str]) -> Command {
    let mut c = s.with_config(config, args);
    c.env("NO_COLOR", "1");
    c
}

/// Replaces `key = …` in the sandbox's config (first occurrence).
fn set_key(toml: &str, key: &str, value: &str) -> String {
    let mut done = false;
    toml.lines()
        .map(|l| {
            if !done && l.trim_start().starts_with(&format!("{key} =")) {
                done = true;
                format!("{key} = \"{value}\"")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

async fn sandbox() -> Sandbox {
    Sandbox::start(Scenario::default()).await.unwrap()
}

/// Every secret the run could leak: the sandbox's key, SSO secret and token, and the config's.
fn assert_no_secret(sb: &Sandbox, run: &Run, extra: &[&str]) {
    let all = run.all();
    for s in [sb.api_key(), sb.sso_secret(), sb.main_app_token()]
        .iter()
        .map(String::as_str)
        .chain(extra.iter().copied())
    {
        assert!(!all.contains(s), "a secret leaked into the output:\n{all}");
    }
}

/// `check` is read-only: GETs, plus Logster's POST (a read). Never another host's path.
fn assert_read_only(sb: &Sandbox) {
    for r in sb.requests() {
        let ok = r.method == "GET" || (r.method == "POST" && r.path == "/logs/messages.json");
        assert!(ok, "check sent a change: {} {}", r.method, r.path);
    }
}

// ---------------------------------------------------------------------------------------------
// logs
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_user_shows_that_users_lines_and_no_one_elses() {
    let sb = sandbox().await;
    let s = Scratch::new("logs-user");
    let cfg = s.write("config.toml", &sb.config_toml());
    // Logster stamps lines in milliseconds; space them so "newest last" is well defined.
    for (sev, msg) in [
        (
            2,
            "Verbose SSO log: User was logged on alice\n\nusername: alice\nexternal_id: 684",
        ),
        (
            2,
            "Verbose Upload Logging: Downloading sso-avatar from https://cdn.example.com/a.png for external_id: 684",
        ),
        (3, "Job exception: mail to alice@example.com bounced"),
        // Not alice: another user, a longer name, a longer id.
        (
            2,
            "Verbose SSO log: User was logged on malice\n\nusername: malice\nexternal_id: 6840",
        ),
        (
            2,
            "Verbose SSO log: User was logged on alice.smith\n\nusername: alice.smith",
        ),
        (
            2,
            "Verbose SSO log: User was logged on bob.smith\n\nexternal_id: 1001",
        ),
    ] {
        sb.add_log(sev, msg);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let r = run(bin(&s, &cfg, &["logs", "--user", "alice", "--json"])).await;
    assert_eq!(r.code, 0, "{}", r.all());
    let lines = r.json();
    let msgs: Vec<&str> = lines
        .as_array()
        .expect("an array")
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(msgs.len(), 3, "{msgs:#?}");
    assert!(
        msgs[0].starts_with("Verbose SSO log: User was logged on alice\n"),
        "whole message: {msgs:?}"
    );
    assert!(msgs[1].contains("Downloading sso-avatar"));
    assert!(msgs[2].contains("alice@example.com"));
    for m in &msgs {
        assert!(!m.contains("malice") && !m.contains("alice.smith") && !m.contains("bob"));
    }
    let marks: Vec<&str> = lines
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mark"].as_str().unwrap())
        .collect();
    assert_eq!(marks, ["SSO", "UPLOAD", "ERR"]);

    // By external id, human text: one line each, compact, the same three lines.
    let r = run(bin(&s, &cfg, &["logs", "--user", "external:684"])).await;
    assert_eq!(r.code, 0, "{}", r.all());
    let out: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(out.len(), 3, "{}", r.stdout);
    assert!(out[0].contains(" SSO ") && out[0].contains("logged on alice | username: alice"));
    assert!(out[1].contains(" UPLOAD "));
    assert!(out[2].contains(" ERR "));
    assert!(!r.stdout.contains("malice") && !r.stdout.contains("bob.smith"));

    // Everyone's lines without --user, newest last.
    let r = run(bin(&s, &cfg, &["logs"])).await;
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("bob.smith") && r.stdout.contains("malice"));
    assert!(r.stdout.lines().last().unwrap().contains("bob.smith"));

    // What this console is not about (Sidekiq memory, severity 2, not SSO or upload) only with
    // --all.
    sb.add_log(
        2,
        "Sidekiq is consuming too much memory (using: 612M), restarting",
    );
    let r = run(bin(&s, &cfg, &["logs"])).await;
    assert!(!r.stdout.contains("Sidekiq"), "{}", r.stdout);
    assert!(r.stdout.contains(" ERR ") && r.stdout.contains(" SSO "));
    let r = run(bin(&s, &cfg, &["logs", "--all", "--json"])).await;
    assert_eq!(r.code, 0, "{}", r.all());
    let marks: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mark"].as_str().unwrap().to_string())
        .collect();
    assert!(marks.iter().any(|m| m == "LOG"), "{marks:?}");

    // An unknown user is a failure, not an empty list.
    let r = run(bin(&s, &cfg, &["logs", "--user", "nobody-here"])).await;
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("nobody-here"));
    assert_no_secret(&sb, &r, &[]);
}

/// Reads a child's stdout lines on a thread.
fn line_reader(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits (without blocking the runtime) for a line matching `pred`; returns every line seen.
async fn wait_for(
    rx: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    timeout: Duration,
    pred: impl Fn(&str) -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        while let Ok(l) = rx.try_recv() {
            let hit = pred(&l);
            seen.push(l);
            if hit {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_follow_sees_new_lines() {
    let sb = sandbox().await;
    sb.set_setting("verbose_discourse_connect_logging", "true");
    let s = Scratch::new("logs-follow");
    let cfg = s.write("config.toml", &sb.config_toml());
    // An error line: shown without --all.
    sb.add_log(3, "marker before follow");

    let mut child = bin(&s, &cfg, &["logs", "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rx = line_reader(&mut child);
    let mut seen = Vec::new();
    let initial = wait_for(&rx, &mut seen, Duration::from_secs(20), |l| {
        l.contains("marker before follow")
    })
    .await;
    // A login after the follower started.
    sb.simulate_login(LoginKind::Ok);
    let new = initial
        && wait_for(&rx, &mut seen, Duration::from_secs(25), |l| {
            l.contains("User was logged on")
        })
        .await;
    // Ctrl-C (SIGINT) ends the follow cleanly.
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    let mut code = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while interrupted && code.is_none() && Instant::now() < deadline {
        code = child.try_wait().unwrap().map(|s| s.code());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if code.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(initial, "the existing lines were not printed: {seen:#?}");
    assert!(new, "the new login was not printed: {seen:#?}");
    // Followed with after=<last key>, at background priority, within the budget.
    let polls: Vec<_> = sb
        .requests()
        .into_iter()
        .filter(|r| r.path == "/logs/messages.json")
        .collect();
    assert!(
        polls.iter().skip(1).any(|r| r.body.contains("after=")),
        "{polls:#?}"
    );
    assert!(polls.len() < 20, "{} polls", polls.len());
    if interrupted {
        assert_eq!(
            code,
            Some(Some(0)),
            "logs --follow did not stop cleanly on SIGINT"
        );
    }
    // Each line once.
    let marker = seen
        .iter()
        .filter(|l| l.contains("marker before follow"))
        .count();
    assert_eq!(marker, 1, "{seen:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_follow_json_user_prints_one_object_a_line_for_that_user_only() {
    let sb = sandbox().await;
    let s = Scratch::new("logs-follow-json");
    let cfg = s.write("config.toml", &sb.config_toml());
    sb.add_log(2, "Verbose SSO log: earlier line for alice");

    let mut child = bin(&s, &cfg, &["logs", "--follow", "--json", "--user", "alice"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rx = line_reader(&mut child);
    let mut seen = Vec::new();
    let initial = wait_for(&rx, &mut seen, Duration::from_secs(20), |l| {
        l.contains("earlier line for alice")
    })
    .await;
    sb.add_log(3, "Job exception: something about dave");
    sb.add_log(3, "Job exception: download failed for alice");
    let new = initial
        && wait_for(&rx, &mut seen, Duration::from_secs(25), |l| {
            l.contains("download failed for alice")
        })
        .await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(initial && new, "{seen:#?}");
    for l in &seen {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v.is_object(), "{l}");
        assert!(v["message"].as_str().unwrap().contains("alice"), "{l}");
        assert!(!l.contains("dave"), "{l}");
    }
    assert_eq!(seen.len(), 2, "{seen:#?}");
}

// ---------------------------------------------------------------------------------------------
// check
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_healthy_setup_exits_0_with_the_report() {
    let sb = sandbox().await;
    let s = Scratch::new("check-healthy");
    let cfg = s.write("config.toml", &sb.config_toml());
    sb.add_log(2, "Verbose Upload Logging: Downloading sso-avatar from https://cdn.example.com/x.png for alice");
    // Audit lines about alice and about someone else.
    let audit = [
        r#"{"at":"2026-11-20T10:00:00Z","operator":"t (as system)","phase":"intent","action":"reset-avatar","user":{"id":1,"username":"alice","external_id":"684"},"strategy":"sync-sso","before":{"avatar_template":null,"uploaded_avatar_id":1000,"external_avatar_url":null},"outcome":null,"message":"","dry_run":false}"#,
        r#"{"at":"2026-11-20T10:00:05Z","operator":"t (as system)","phase":"outcome","action":"reset-avatar","user":{"id":1,"username":"alice","external_id":"684"},"strategy":"sync-sso","before":{"avatar_template":null,"uploaded_avatar_id":1000,"external_avatar_url":null},"outcome":"verified","message":"changed","dry_run":false}"#,
        r#"{"at":"2026-11-20T10:01:00Z","operator":"t (as system)","phase":"intent","action":"reset-avatar","user":{"id":2,"username":"bob.smith","external_id":"1001"},"strategy":"sync-sso","before":{"avatar_template":null,"uploaded_avatar_id":null,"external_avatar_url":null},"outcome":null,"message":"","dry_run":false}"#,
    ];
    s.write("data/audit.jsonl", &(audit.join("\n") + "\n"));
    sb.clear_records();

    let r = run(bin(&s, &cfg, &["check", "alice", "--json"])).await;
    assert_eq!(r.code, 0, "{}", r.all());
    let v = r.json();
    assert_eq!(v["strategy"], "sync-sso");
    assert_eq!(v["settings"]["enable_discourse_connect"], "true");
    assert_eq!(v["settings"]["discourse_connect_overrides_avatar"], "true");
    assert!(v["settings"].get("discourse_connect_secret").is_none());
    assert_eq!(v["secret"], "match");
    assert_eq!(v["site"]["key"], "valid-admin");
    let u = &v["user"];
    assert_eq!(u["id"], 1);
    assert_eq!(u["username"], "alice");
    assert_eq!(u["external_id"], "684");
    assert_eq!(u["email"], "alice@example.com");
    assert_eq!(u["active"], true);
    assert_eq!(u["avatar"], "custom");
    assert!(
        u["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "beta_testers")
    );
    let fields = u["sso_record"]["last_payload_fields"].as_array().unwrap();
    assert!(
        fields
            .iter()
            .any(|f| f[0] == "external_id" && f[1] == "684"),
        "{fields:?}"
    );
    assert_eq!(v["problems"].as_array().unwrap().len(), 0);
    assert!(v["warnings"].is_array());
    let audit = v["audit"].as_array().unwrap();
    assert_eq!(audit.len(), 2);
    assert!(audit.iter().all(|e| e["user"]["username"] == "alice"));
    let logs = v["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1, "{logs:?}");
    // The forum's own host: allowed, and not fetched from here.
    assert_eq!(v["default_avatar_url"]["allowed_internal"], "forum host");
    assert!(v["default_avatar_url"]["probe"].is_null());
    // A handful of requests, none of them a change.
    let n = sb.requests().len();
    assert!((3..=8).contains(&n), "{n} requests: {:#?}", sb.requests());
    assert_eq!(v["requests"], n as u64);
    assert_read_only(&sb);
    assert_no_secret(&sb, &r, &[]);

    // Human text: readable, to stdout.
    let r = run(bin(&s, &cfg, &["check", "alice"])).await;
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("OK: no problem found"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("Strategy:         sync-sso (overrides avatar on)")
    );
    assert!(r.stdout.contains("external_id = 684"));
    assert!(
        r.stdout
            .contains("matches the server's discourse_connect_secret")
    );
    assert_no_secret(&sb, &r, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_loopback_default_url_is_a_problem_unless_allowed_and_is_never_contacted() {
    let sb = sandbox().await;
    let s = Scratch::new("check-loopback");
    // A listener on another loopback address: the forum is 127.0.0.1, so this host is not the
    // forum's own. If anything connected to it, the listener would see it.
    let (listener, host) = match std::net::TcpListener::bind("127.0.0.2:0") {
        Ok(l) => (l, "127.0.0.2"),
        Err(_) => (
            std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
            "localhost",
        ),
    };
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = format!("http://{host}:{port}/avatars/default.png");
    let cfg = s.write(
        "config.toml",
        &set_key(&sb.config_toml(), "default_avatar_url", &url),
    );

    let r = run(bin(&s, &cfg, &["check", "alice", "--json"])).await;
    assert_eq!(r.code, 1, "{}", r.all());
    let v = r.json();
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].as_str().unwrap().contains("loopback"),
        "{problems:?}"
    );
    assert!(
        problems[0]
            .as_str()
            .unwrap()
            .contains("allowed_internal_hosts")
    );
    assert!(v["default_avatar_url"]["probe"].is_null());
    assert_eq!(v["default_avatar_url"]["host_class"], "loopback");

    // Listed in allowed_internal_hosts: valid, exit 0, still not fetched from here.
    sb.set_setting("allowed_internal_hosts", host);
    let r = run(bin(&s, &cfg, &["check", "alice", "--json"])).await;
    assert_eq!(r.code, 0, "{}", r.all());
    let v = r.json();
    assert_eq!(
        v["default_avatar_url"]["allowed_internal"],
        "allowed_internal_hosts"
    );
    assert!(v["default_avatar_url"]["probe"].is_null());

    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "check connected to the loopback default avatar URL"
    );
    assert_read_only(&sb);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_private_default_url_is_a_problem_and_not_contacted() {
    let sb = sandbox().await;
    let s = Scratch::new("check-private");
    let cfg = s.write(
        "config.toml",
        &set_key(
            &sb.config_toml(),
            "default_avatar_url",
            "http://10.255.255.1/x.png",
        ),
    );
    sb.clear_records();
    let r = run(bin(&s, &cfg, &["check", "alice", "--json"])).await;
    assert_eq!(r.code, 1, "{}", r.all());
    let v = r.json();
    let problems: Vec<&str> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("10.255.255.1") && p.contains("private")),
        "{problems:?}"
    );
    assert_eq!(v["default_avatar_url"]["host_class"], "private");
    assert!(v["default_avatar_url"]["probe"].is_null());
    // A connection attempt to an unroutable address would hang for the connect timeout (10 s);
    // the bound leaves room for a loaded CI machine.
    assert!(r.elapsed < Duration::from_secs(8), "took {:?}", r.elapsed);
    // Only the sandbox was asked, and only its API paths.
    for req in sb.requests() {
        assert!(!req.path.contains("x.png"), "{req:?}");
    }
    assert_read_only(&sb);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_user_without_sso_record_needs_sync_sso_exits_1() {
    let sb = sandbox().await;
    let s = Scratch::new("check-nosso");
    let cfg = s.write("config.toml", &sb.config_toml());
    let r = run(bin(&s, &cfg, &["check", "nosso", "--json"])).await;
    assert_eq!(r.code, 1, "{}", r.all());
    let v = r.json();
    assert_eq!(v["strategy"], "sync-sso");
    assert!(v["user"]["external_id"].is_null());
    assert!(v["user"]["sso_record"].is_null());
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0]
            .as_str()
            .unwrap()
            .contains("no DiscourseConnect record")
    );

    // With overrides off, pick needs no SSO record: healthy.
    sb.set_setting("discourse_connect_overrides_avatar", "false");
    let r = run(bin(&s, &cfg, &["check", "nosso", "--json"])).await;
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(r.json()["strategy"], "pick");

    // A user who does not exist.
    let r = run(bin(&s, &cfg, &["check", "nobody-here", "--json"])).await;
    assert_eq!(r.code, 1, "{}", r.all());
    let v = r.json();
    assert!(v["user"].is_null());
    assert!(v["problems"][0].as_str().unwrap().contains("missing"));
    assert_no_secret(&sb, &r, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_bad_key_exits_1_and_says_why() {
    let sb = sandbox().await;
    let s = Scratch::new("check-badkey");
    let bad = "not-the-key-0123456789abcdef";
    let cfg = s.write("config.toml", &set_key(&sb.config_toml(), "api_key", bad));
    sb.clear_records();
    let r = run(bin(&s, &cfg, &["check", "alice", "--json"])).await;
    assert_eq!(r.code, 1, "{}", r.all());
    let v = r.json();
    assert_eq!(v["site"]["key"], "invalid");
    assert_eq!(v["site"]["reachable"], true);
    assert!(
        v["problems"][0].as_str().unwrap().contains("invalid"),
        "{v}"
    );
    assert!(v["user"].is_null());
    // The settings read, then one request to tell a bad key from a non-admin; nothing more.
    assert!(sb.requests().len() <= 3, "{:#?}", sb.requests());
    assert_no_secret(&sb, &r, &[bad]);

    let r = run(bin(&s, &cfg, &["check", "alice"])).await;
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("INVALID"), "{}", r.stdout);
    assert_no_secret(&sb, &r, &[bad]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_secret_mismatch_exits_1_without_printing_either_secret() {
    let sb = sandbox().await;
    let s = Scratch::new("check-secret");
    let wrong = "configured-secret-that-differs-42";
    let cfg = s.write(
        "config.toml",
        &set_key(&sb.config_toml(), "sso_secret", wrong),
    );
    let r = run(bin(&s, &cfg, &["check", "alice", "--json"])).await;
    assert_eq!(r.code, 1, "{}", r.all());
    let v = r.json();
    assert_eq!(v["secret"], "mismatch");
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0]
            .as_str()
            .unwrap()
            .contains("discourse_connect_secret")
    );
    assert_no_secret(&sb, &r, &[wrong]);

    let r = run(bin(&s, &cfg, &["check", "alice"])).await;
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("DOES NOT MATCH"));
    assert_no_secret(&sb, &r, &[wrong]);

    // A server that hides its secret: nothing to compare, no problem.
    let hidden = Sandbox::start(Scenario {
        expose_secret_in_settings: false,
        ..Scenario::default()
    })
    .await
    .unwrap();
    let cfg = s.write(
        "hidden.toml",
        &set_key(&hidden.config_toml(), "sso_secret", wrong),
    );
    let r = run(bin(&s, &cfg, &["check", "alice", "--json"])).await;
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(r.json()["secret"], "not-revealed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_from_the_server_is_sanitized_in_human_output() {
    let sb = sandbox().await;
    let s = Scratch::new("hostile");
    let cfg = s.write("config.toml", &sb.config_toml());
    sb.add_log(
        3,
        "Job exception for eve: \u{1b}[2J\u{1b}]0;pwned\u{7}cleared \u{202e}txt.exe",
    );
    for args in [&["check", "eve"][..], &["logs", "--user", "eve"][..]] {
        let r = run(bin(&s, &cfg, args)).await;
        assert!(r.code == 0 || r.code == 1, "{args:?}: {}", r.all());
        assert!(r.stdout.contains("eve"), "{args:?}: {}", r.stdout);
        for bad in ['\u{1b}', '\u{7}', '\u{202e}', '\u{9b}'] {
            assert!(
                !r.stdout.contains(bad),
                "{args:?} printed {bad:?}: {:?}",
                r.stdout
            );
        }
    }
}

/// The console's verbose-logging switches go through the real backend to the sandbox, audited;
/// under read-only they send nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_toggles_change_the_sandboxes_settings() {
    use avatar_console::commands::console::ConsoleBackend;
    use avatar_console::config::Config;
    use avatar_console::session::Session;
    use avatar_console::tui::{Backend, Setting};

    let sb = Sandbox::start(Scenario {
        verbose_logging: false,
        ..Scenario::default()
    })
    .await
    .unwrap();
    let scratch = Scratch::new("toggles");
    let config = Config::from_toml_str(&sb.config_toml(), Path::new("sandbox.toml")).unwrap();
    let session = Session::new(&config, &scratch.path("data")).unwrap();

    let backend = ConsoleBackend::new(&config, &session, false, false);
    assert_eq!(
        sb.setting("verbose_upload_logging").as_deref(),
        Some("false")
    );
    assert_eq!(
        backend.set_setting(Setting::VerboseUpload, true).await,
        Ok(true)
    );
    assert_eq!(
        sb.setting("verbose_upload_logging").as_deref(),
        Some("true")
    );
    assert_eq!(
        backend.set_setting(Setting::VerboseSso, true).await,
        Ok(true)
    );
    assert_eq!(
        sb.setting("verbose_discourse_connect_logging").as_deref(),
        Some("true")
    );
    assert_eq!(
        backend.set_setting(Setting::VerboseSso, false).await,
        Ok(false)
    );
    assert_eq!(
        sb.setting("verbose_discourse_connect_logging").as_deref(),
        Some("false")
    );
    let site = backend.site().await.unwrap();
    assert_eq!(
        site.verbose_upload,
        Some(false),
        "the first read is the engine's, from before the toggles"
    );
    let site = backend.site().await.unwrap();
    assert_eq!(
        site.verbose_upload,
        Some(true),
        "a refresh reads them again"
    );
    assert_eq!(site.verbose_sso, Some(false));

    let audit = std::fs::read_to_string(scratch.path("data/audit.jsonl")).unwrap();
    assert_eq!(
        audit
            .lines()
            .filter(|l| l.contains("set-site-setting"))
            .count(),
        6,
        "{audit}"
    );

    // Dry run: audited as dry-run, nothing sent, the value unchanged.
    let dry = ConsoleBackend::new(&config, &session, true, false);
    let puts = |sb: &Sandbox| sb.requests().iter().filter(|r| r.method == "PUT").count();
    let before = puts(&sb);
    assert_eq!(
        dry.set_setting(Setting::VerboseUpload, false).await,
        Ok(true)
    );
    assert_eq!(puts(&sb), before);
    assert_eq!(
        sb.setting("verbose_upload_logging").as_deref(),
        Some("true")
    );
    let audit = std::fs::read_to_string(scratch.path("data/audit.jsonl")).unwrap();
    assert!(
        audit.lines().last().unwrap().contains("\"dry_run\":true"),
        "{audit}"
    );

    let read_only = ConsoleBackend::new(&config, &session, false, true);
    let puts = |sb: &Sandbox| sb.requests().iter().filter(|r| r.method == "PUT").count();
    let before = puts(&sb);
    assert!(
        read_only
            .set_setting(Setting::VerboseUpload, false)
            .await
            .is_err()
    );
    assert_eq!(puts(&sb), before);
    assert_eq!(
        sb.setting("verbose_upload_logging").as_deref(),
        Some("true")
    );
}
