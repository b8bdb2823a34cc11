//! Issue 12 and 14 over loopback against the sandbox: the custom slot cleared, lost answers
//! re-read, cancel that cancels, one reset per user, the observed cause, the fast path and
//! verification without idle time. `reset --json` and the audit agree in every case.

use std::sync::Arc;
use std::time::{Duration, Instant};

use avatar_console::audit::{AuditEntry, Phase};
use avatar_console::model::{Outcome, ResetPath, ResetReport, Strategy};
use avatar_console::reset::{CancelToken, Stage, Target};
use discourse_sandbox::{Faults, Scenario};

use super::common::{EngineSetup as Setup, engine_setup as setup};

impl Setup {
    /// Every report agrees with the audit: each reset that wrote an intent has exactly one
    /// outcome after it, with the report's outcome and path.
    fn assert_agrees(&self, reports: &[ResetReport]) {
        let entries: Vec<AuditEntry> = self
            .audit()
            .into_iter()
            .filter(|e| e.action == "reset-avatar")
            .collect();
        let mut open = 0i64;
        for e in &entries {
            match e.phase {
                Phase::Intent => open += 1,
                Phase::Outcome => open -= 1,
            }
        }
        // A pick refused with 422 writes its own outcome before sync-sso takes over.
        assert!(open <= 0, "intents without an outcome: {entries:#?}");
        for r in reports {
            let Some(name) = r.username.as_deref() else {
                continue;
            };
            let last = entries.iter().rev().find(|e| {
                e.phase == Phase::Outcome
                    && (e.user.username.as_deref() == Some(name)
                        || (e.user.external_id.is_some() && e.user.external_id == r.external_id))
            });
            let intent = entries.iter().any(|e| {
                e.phase == Phase::Intent
                    && (e.user.username.as_deref() == Some(name)
                        || (e.user.external_id.is_some() && e.user.external_id == r.external_id))
            });
            if !intent {
                continue;
            }
            let last = last.unwrap_or_else(|| panic!("no outcome for {r:?}"));
            assert_eq!(last.outcome, Some(r.outcome), "{r:?} vs {last:?}");
            assert_eq!(last.message, r.message);
            assert_eq!(last.path, r.path, "{r:?}");
        }
    }
}

fn targets(inputs: &[&str]) -> Vec<Target> {
    inputs
        .iter()
        .map(|i| Target::from_input(i).unwrap())
        .collect()
}

fn pick_scenario() -> Scenario {
    Scenario {
        overrides_avatar: false,
        ..Scenario::default()
    }
}

/// Issue 12.1: after a verified pick the photo is neither the avatar nor in the custom slot;
/// the before-state records the slot; the placeholder is uploaded once and de-duplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pick_clears_the_custom_slot_and_records_it() {
    let s = setup("slot", pick_scenario(), None).await;
    let dave = s.sandbox.user("dave").unwrap();
    let photo = dave.uploaded_avatar_id.unwrap();
    assert_eq!(dave.custom_upload_id, Some(photo));
    let engine = s.engine(|_| {});
    // One by one: a single reset reads the user's record, slot included (a batch row has no
    // slot, and a bulk pick then clears it without recording it).
    let mut reports = engine
        .run(targets(&["dave"]), CancelToken::default(), None)
        .await;
    reports.extend(
        engine
            .run(targets(&["alice"]), CancelToken::default(), None)
            .await,
    );
    for r in &reports {
        assert_eq!(r.outcome, Outcome::Verified, "{r:?}");
        assert_eq!(r.path, Some(ResetPath::ReadFirst));
    }
    let after = s.sandbox.user("dave").unwrap();
    assert_eq!(after.uploaded_avatar_id, None);
    let slot = after.custom_upload_id.expect("placeholder in the slot");
    assert_ne!(slot, photo);
    assert_eq!(
        s.sandbox.user("alice").unwrap().custom_upload_id,
        Some(slot)
    );
    let uploads = s
        .writes()
        .iter()
        .filter(|w| w.starts_with("POST /uploads"))
        .count();
    assert_eq!(uploads, 1, "{:?}", s.writes());
    let intent = s
        .audit()
        .into_iter()
        .find(|e| e.phase == Phase::Intent && e.user.username.as_deref() == Some("dave"))
        .unwrap();
    assert_eq!(intent.before.custom_avatar_upload_id, Some(photo));
    assert_eq!(intent.before.uploaded_avatar_id, Some(photo));
    s.assert_agrees(&reports);

    // Another engine (a later run) knows the placeholder from the audit: no second upload.
    let engine = s.engine(|_| {});
    let reports = engine
        .run(targets(&["emoji_fan"]), CancelToken::default(), None)
        .await;
    assert_eq!(reports[0].outcome, Outcome::Verified, "{:?}", reports[0]);
    let uploads = s
        .writes()
        .iter()
        .filter(|w| w.starts_with("POST /uploads"))
        .count();
    assert_eq!(uploads, 1);
    // And the same bytes uploaded again get the same id (the server de-duplicates).
    let again = s
        .session
        .discourse
        .upload_avatar("x.png", discourse_sandbox::png::solid(96, [200, 200, 200]))
        .await
        .unwrap();
    let twice = s
        .session
        .discourse
        .upload_avatar("y.png", discourse_sandbox::png::solid(96, [200, 200, 200]))
        .await
        .unwrap();
    assert_eq!(again, twice);
}

/// Issue 12.3: a write applied whose answer broke off, or came back as a proxy's 502, is
/// re-read: verified when the change is there, never failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_answers_are_re_read_not_failed() {
    let s = setup("lost-pick", pick_scenario(), None).await;
    let engine = s.engine(|_| {});
    // The placeholder upload's answer lost: it is asked again (the same bytes are the same
    // upload, so that cannot make a second one).
    s.sandbox.lose_write_answers(1, false);
    let r = engine
        .run(targets(&["emoji_fan"]), CancelToken::default(), None)
        .await;
    assert_eq!(r[0].outcome, Outcome::Verified, "{:?}", r[0]);
    for (user, bad_gateway) in [("dave", false), ("alice", true)] {
        // Lose both picks' answers (custom slot, then letter avatar).
        s.sandbox.lose_write_answers(2, bad_gateway);
        let r = engine
            .run(targets(&[user]), CancelToken::default(), None)
            .await;
        assert_eq!(r[0].outcome, Outcome::Verified, "{:?}", r[0]);
        assert!(
            r[0].message.contains("the answer was lost"),
            "{}",
            r[0].message
        );
        s.assert_agrees(&r);
    }

    let s = setup("lost-sync", Scenario::default(), None).await;
    let engine = s.engine(|o| o.verify_timeout = Duration::from_secs(5));
    s.sandbox.lose_write_answers(1, false);
    let r = engine
        .run(targets(&["dave"]), CancelToken::default(), None)
        .await;
    assert_eq!(r[0].outcome, Outcome::Verified, "{:?}", r[0]);
    assert!(
        r[0].message.contains("the answer was lost"),
        "{}",
        r[0].message
    );
    s.assert_agrees(&r);
    // Lost, and the change never shows: unverified, saying the answer was lost.
    s.sandbox.set_faults(Faults {
        failing_downloads: true,
        ..Faults::default()
    });
    s.sandbox.lose_write_answers(1, true);
    let r = engine
        .run(targets(&["alice"]), CancelToken::default(), None)
        .await;
    assert_eq!(r[0].outcome, Outcome::Unverified, "{:?}", r[0]);
    assert!(
        r[0].message.contains("the answer was lost"),
        "{}",
        r[0].message
    );
    s.assert_agrees(&r);
}

/// Issue 12.4: after cancel nothing new leaves, not even resets waiting for the budget; every
/// intent gets its outcome (`skipped` for those never sent). A second stop (hurry) ends the
/// in-flight ones at once instead of a window later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_resets_waiting_for_the_budget() {
    let s = setup(
        "cancel-budget",
        Scenario {
            flagged: 30,
            ..pick_scenario()
        },
        Some(8),
    )
    .await;
    let users: Vec<String> = s
        .sandbox
        .users()
        .into_iter()
        .filter(|u| u.uploaded_avatar_id.is_some() && u.active && u.id >= 100)
        .take(10)
        .map(|u| u.username)
        .collect();
    let engine = s.engine(|_| {});
    engine.decision().await;
    let cancel = CancelToken::default();
    let c2 = cancel.clone();
    let cancelled_at = Arc::new(std::sync::Mutex::new(None));
    let at = cancelled_at.clone();
    // Cancel once the budget is spent and resets are waiting for it; hurry a second later.
    let client = s.session.discourse.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if client.budget().remaining == 0 {
                tokio::time::sleep(Duration::from_millis(300)).await;
                *at.lock().unwrap() = Some(chrono::Utc::now());
                c2.cancel();
                tokio::time::sleep(Duration::from_secs(1)).await;
                c2.hurry();
                return;
            }
        }
    });
    let started = Instant::now();
    let inputs: Vec<&str> = users.iter().map(String::as_str).collect();
    let reports = engine.run(targets(&inputs), cancel, None).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "waited {:?}: a stopped run must not wait for the window",
        started.elapsed()
    );
    let cancelled_at = cancelled_at.lock().unwrap().expect("cancelled");
    assert_eq!(reports.len(), users.len());
    let skipped = reports
        .iter()
        .filter(|r| r.outcome == Outcome::Skipped)
        .count();
    assert!(skipped >= 3, "{reports:#?}");
    assert!(
        reports.iter().all(|r| r.outcome != Outcome::Failed),
        "{reports:#?}"
    );
    // Nothing left after the cancel (the budget was spent before it), nor later, when the
    // window refills.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let late: Vec<_> = s
        .sandbox
        .requests()
        .into_iter()
        .filter(|r| r.wall > cancelled_at + chrono::Duration::milliseconds(50))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(late.is_empty(), "sent after the cancel: {late:?}");
    s.assert_agrees(&reports);
}

/// Issue 12.9: the same user named four ways is reset once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_however_named_is_reset_once() {
    let s = setup("merge", Scenario::default(), None).await;
    let alice = s.sandbox.user("alice").unwrap();
    let ext = format!("external:{}", alice.sso.as_ref().unwrap().external_id);
    let engine = s.engine(|_| {});
    let reports = engine
        .run(
            targets(&["alice", "ALICE", &ext, &alice.email]),
            CancelToken::default(),
            None,
        )
        .await;
    assert_eq!(reports[0].outcome, Outcome::Verified, "{:?}", reports[0]);
    for r in &reports[1..] {
        assert_eq!(r.outcome, Outcome::Skipped, "{r:?}");
        assert!(
            r.message.contains("same user as \"alice\""),
            "{}",
            r.message
        );
    }
    let syncs = s.writes().iter().filter(|w| w.contains("sync_sso")).count();
    assert_eq!(syncs, 1);
    s.assert_agrees(&reports);
}

/// Issue 12.7: the three cases of an unverified sync, told apart from Discourse's log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_observed_cause_of_an_unverified_sync() {
    let s = setup(
        "cause",
        Scenario {
            verbose_logging: true,
            ..Scenario::default()
        },
        None,
    )
    .await;
    let engine = s.engine(|o| o.verify_timeout = Duration::from_secs(3));
    // 1. The job never ran (Sidekiq is down: the download waits far longer than we do).
    s.sandbox.set_download_delay(Duration::from_secs(600));
    let r = engine
        .run(targets(&["dave"]), CancelToken::default(), None)
        .await;
    assert_eq!(r[0].outcome, Outcome::Unverified);
    assert!(r[0].message.contains("never ran"), "{}", r[0].message);
    // Upload logging is on: no advice to turn it on.
    assert!(!r[0].message.contains("turn on"), "{}", r[0].message);
    // 2. It failed with a logged error, quoted.
    s.sandbox.set_download_delay(Duration::from_millis(100));
    s.sandbox.set_faults(Faults {
        failing_downloads: true,
        ..Faults::default()
    });
    let r = engine
        .run(targets(&["alice"]), CancelToken::default(), None)
        .await;
    assert_eq!(r[0].outcome, Outcome::Unverified);
    assert!(
        r[0].message
            .contains("\"Job exception: Failed to open TCP connection"),
        "{}",
        r[0].message
    );
    // 3. It ran, logged nothing, and nothing changed: a silent refusal (here: too big).
    s.sandbox.set_faults(Faults::default());
    s.sandbox.set_setting("max_image_size_kb", "0");
    let r = engine
        .run(targets(&["emoji_fan"]), CancelToken::default(), None)
        .await;
    assert_eq!(r[0].outcome, Outcome::Unverified);
    assert!(
        r[0].message.contains("refused the file silently"),
        "{}",
        r[0].message
    );
    s.assert_agrees(&r);
}

fn fast_scenario(limit: u32, download: Duration) -> Scenario {
    Scenario {
        flagged: 60,
        admin_rate_limit: limit,
        overrides_email: false,
        overrides_groups: false,
        download_delay: download,
        ..Scenario::default()
    }
}

/// Targets the way the console builds them from main-app rows: the external id is known.
fn known_targets(s: &Setup, n: usize, sso: bool) -> Vec<Target> {
    let users: Vec<_> = s
        .sandbox
        .users()
        .into_iter()
        .filter(|u| u.sso.is_some() && u.uploaded_avatar_id.is_some() && u.active && u.id >= 100)
        .take(n)
        .collect();
    assert_eq!(users.len(), n);
    users
        .iter()
        .map(|u| {
            let mut t = Target::from_input(&u.username).unwrap();
            if sso {
                t.known_external_id = u.sso.as_ref().map(|s| s.external_id.clone());
            }
            t
        })
        .collect()
}

/// Issue 14.1: 30 users with known external ids, verified inside the first 60-second window at
/// Discourse's default limit, in ≤ 20 s, at ≤ 1.5 requests each, no 429, no rule broken; the
/// before-state comes from the sync's answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_path_thirty_in_the_first_window() {
    let s = setup("fast", fast_scenario(60, Duration::from_secs(1)), None).await;
    let before: Vec<_> = s.sandbox.users();
    let t = known_targets(&s, 30, true);
    let engine = s.engine(|_| {});
    let sent0 = s.session.discourse.requests_sent();
    let started = Instant::now();
    let reports = engine.run(t, CancelToken::default(), None).await;
    let elapsed = started.elapsed();
    let sent = s.session.discourse.requests_sent() - sent0;
    for r in &reports {
        assert_eq!(r.outcome, Outcome::Verified, "{r:?}");
        assert_eq!(r.path, Some(ResetPath::Fast), "{r:?}");
    }
    let per = sent as f64 / 30.0;
    eprintln!("fast path: 30 verified in {elapsed:?}, {per:.2} requests per reset");
    assert!(elapsed <= Duration::from_secs(20), "{elapsed:?}");
    assert!(per <= 1.5, "{per:.2} requests per reset");
    assert!(s.sandbox.requests().iter().all(|r| r.status != 429));
    assert!(
        s.sandbox.violations().is_empty(),
        "{:?}",
        s.sandbox.violations()
    );
    let audit = s.audit();
    for r in &reports {
        let name = r.username.as_deref().unwrap();
        let was = before.iter().find(|u| u.username == name).unwrap();
        let intent = audit
            .iter()
            .find(|e| e.phase == Phase::Intent && e.user.external_id == r.external_id)
            .unwrap();
        assert!(
            intent.message.contains("before-state not read"),
            "{intent:?}"
        );
        assert_eq!(intent.path, Some(ResetPath::Fast));
        let outcome = audit
            .iter()
            .find(|e| e.phase == Phase::Outcome && e.user.username.as_deref() == Some(name))
            .unwrap();
        assert_eq!(outcome.before.uploaded_avatar_id, was.uploaded_avatar_id);
    }
    s.assert_agrees(&reports);
}

/// Issue 14.1: where the email or groups are overridden the read-first path stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_first_where_email_or_groups_are_overridden() {
    let s = setup(
        "not-fast",
        Scenario {
            overrides_groups: false,
            ..Scenario::default()
        },
        None,
    )
    .await;
    let engine = s.engine(|_| {});
    let r = engine
        .run(targets(&["external:684"]), CancelToken::default(), None)
        .await;
    assert_eq!(r[0].outcome, Outcome::Verified, "{:?}", r[0]);
    assert_eq!(r[0].path, Some(ResetPath::ReadFirst));
    assert!(
        s.sandbox.violations().is_empty(),
        "{:?}",
        s.sandbox.violations()
    );
    s.assert_agrees(&r);
}

/// Issue 14.2: with no server limit, 30 verified sync-sso resets (downloads landing after
/// 0.2 s) in ≤ 3 s, and 30 verified picks, slot cleared, in ≤ 2 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_idle_verification_without_a_server_limit() {
    let s = setup(
        "idle-sync",
        fast_scenario(0, Duration::from_millis(200)),
        Some(100_000),
    )
    .await;
    let t = known_targets(&s, 30, true);
    let engine = s.engine(|_| {});
    engine.decision().await;
    let started = Instant::now();
    let reports = engine.run(t, CancelToken::default(), None).await;
    let sync_time = started.elapsed();
    assert!(
        reports.iter().all(|r| r.outcome == Outcome::Verified),
        "{reports:?}"
    );
    s.assert_agrees(&reports);

    let s = setup(
        "idle-pick",
        Scenario {
            flagged: 60,
            admin_rate_limit: 0,
            ..pick_scenario()
        },
        Some(100_000),
    )
    .await;
    let t = known_targets(&s, 30, false);
    let engine = s.engine(|_| {});
    engine.decision().await;
    let started = Instant::now();
    let reports = engine.run(t, CancelToken::default(), None).await;
    let pick_time = started.elapsed();
    assert!(
        reports.iter().all(|r| r.outcome == Outcome::Verified),
        "{reports:?}"
    );
    assert!(reports.iter().all(|r| r.strategy == Some(Strategy::Pick)));
    s.assert_agrees(&reports);
    eprintln!("no limit: 30 sync-sso in {sync_time:?}, 30 picks in {pick_time:?}");
    assert!(sync_time <= Duration::from_secs(3), "{sync_time:?}");
    assert!(pick_time <= Duration::from_secs(2), "{pick_time:?}");
}

/// Issue 12.2: the record's last login payload still sends the flagged photo: said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warns_when_the_next_login_brings_the_photo_back() {
    let s = setup("comes-back", Scenario::default(), None).await;
    let engine = s.engine(|_| {});
    let notes = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let n2 = notes.clone();
    let progress: avatar_console::reset::ProgressFn = Arc::new(move |p| {
        if let Stage::Done(r) = p.stage {
            n2.lock().unwrap().push(r.message);
        }
    });
    let r = engine
        .run(targets(&["dave"]), CancelToken::default(), Some(progress))
        .await;
    assert_eq!(r[0].outcome, Outcome::Verified, "{:?}", r[0]);
    assert!(
        r[0].message.contains("next login brings it back"),
        "{}",
        r[0].message
    );
    assert_eq!(notes.lock().unwrap().len(), 1);
    s.assert_agrees(&r);
}

fn command(s: &Setup, args: &[&str]) -> std::process::Command {
    let cfg = s.data_dir.join("config.toml");
    std::fs::write(&cfg, s.sandbox.config_toml()).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_avatar-console"));
    cmd.arg("--config").arg(&cfg).args(args);
    cmd.env("AVATAR_CONSOLE_DATA_DIR", &s.data_dir);
    for k in [
        "AVATAR_CONSOLE_API_KEY",
        "AVATAR_CONSOLE_SSO_SECRET",
        "AVATAR_CONSOLE_MAIN_APP_TOKEN",
        "AVATAR_CONSOLE_CONFIG",
    ] {
        cmd.env_remove(k);
    }
    cmd
}

fn reports_of(stdout: &[u8]) -> Vec<ResetReport> {
    serde_json::from_slice(stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(stdout)))
}

/// Issue 12.9: `--from -` reads standard input; the names in it are merged like any others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_from_standard_input() {
    let s = setup("stdin", Scenario::default(), None).await;
    let mut cmd = command(&s, &["reset", "--from", "-", "--yes", "--json"]);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"# flagged today\nalice\n\nALICE\nexternal:684\n")
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let reports = reports_of(&out.stdout);
    assert_eq!(reports.len(), 3, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(reports[0].outcome, Outcome::Verified, "{:?}", reports[0]);
    assert_eq!(reports[1].outcome, Outcome::Skipped);
    assert_eq!(reports[2].outcome, Outcome::Skipped);
    assert_eq!(out.status.code(), Some(0));
    s.assert_agrees(&reports);
    // Without --yes it cannot ask on the same standard input: refused, nothing sent.
    let mut cmd = command(&s, &["reset", "--from", "-"]);
    cmd.stdin(std::process::Stdio::null());
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
}

/// Issue 12.5: SIGTERM (and SIGHUP) stop a CLI reset like the first Ctrl-C: nothing new is
/// sent, those in flight verify, and every intent gets its outcome.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sighup_write_the_outcomes() {
    for (sig, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGHUP, "SIGHUP")] {
        let s = setup(
            "signal",
            Scenario {
                download_delay: Duration::from_millis(1500),
                ..Scenario::default()
            },
            None,
        )
        .await;
        let mut cmd = command(
            &s,
            &[
                "reset",
                "alice",
                "dave",
                "emoji_fan",
                "rtl_user",
                "--yes",
                "--json",
            ],
        );
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let audit = s.data_dir.join("audit.jsonl");
        let out = tokio::task::spawn_blocking(move || {
            let child = cmd.spawn().unwrap();
            // Once the first intent is on disk, the run is under way.
            let t0 = Instant::now();
            while !std::fs::read_to_string(&audit)
                .unwrap_or_default()
                .contains("\"intent\"")
                && t0.elapsed() < Duration::from_secs(20)
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            unsafe {
                libc::kill(child.id() as i32, sig);
            }
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(name), "{stderr}");
        let reports = reports_of(&out.stdout);
        assert_eq!(reports.len(), 4);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        s.assert_agrees(&reports);
    }
}

/// Issue 12.6 and 12.8: `check USER` names a reset that never finished, and one that did not
/// take while the photo is still there (exit 1, `problems` in --json).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_unfinished_and_failed_resets() {
    let s = setup("check-history", Scenario::default(), None).await;
    s.sandbox.set_faults(Faults {
        failing_downloads: true,
        ..Faults::default()
    });
    let engine = s.engine(|o| o.verify_timeout = Duration::from_secs(2));
    let r = engine
        .run(targets(&["dave"]), CancelToken::default(), None)
        .await;
    assert_eq!(r[0].outcome, Outcome::Unverified);
    // A reset killed after its intent (kill -9): the intent line alone.
    let mut intent = s.session.audit.entry(Phase::Intent, "reset-avatar");
    intent.user.username = Some("alice".into());
    intent.user.id = s.sandbox.user("alice").map(|u| u.id as u64);
    s.session.audit.append(&intent).unwrap();
    s.sandbox.set_faults(Faults::default());
    for (user, says) in [("dave", "ended unverified"), ("alice", "never finished")] {
        let cmd = command(&s, &["check", user, "--json"]);
        let out = tokio::task::spawn_blocking(move || {
            let mut cmd = cmd;
            cmd.stdin(std::process::Stdio::null()).output().unwrap()
        })
        .await
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let problems = v["problems"].to_string();
        assert!(problems.contains(says), "{user}: {problems}");
        assert_eq!(out.status.code(), Some(1));
    }
}
