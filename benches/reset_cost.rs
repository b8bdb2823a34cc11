//! What resets cost in requests and time, against a sandbox limited like a default Discourse
//! (60 admin requests a minute, shared). `cargo bench --bench reset_cost` (release; about two
//! minutes, most of it the 60-a-minute limit). Prints one line per scenario.

use std::path::Path;
use std::time::{Duration, Instant};

use avatar_console::config::Config;
use avatar_console::model::Outcome;
use avatar_console::reset::{CancelToken, Target};
use avatar_console::session::Session;
use discourse_sandbox::{Sandbox, Scenario};

struct Case {
    name: &'static str,
    scenario: Scenario,
    users: usize,
    /// Give the engine what the queue knows (external id, email), as the console does.
    known: bool,
}

async fn run(case: Case) {
    let sandbox = Sandbox::start(case.scenario).await.expect("sandbox");
    let config =
        Config::from_toml_str(&sandbox.config_toml(), Path::new("bench.toml")).expect("config");
    let dir = std::env::temp_dir().join(format!(
        "ac-bench-{}-{}",
        std::process::id(),
        case.name.replace(' ', "-")
    ));
    let session = Session::new(&config, &dir).expect("session");
    let engine = session.engine(Session::reset_options(&config, None, false, false));
    let settings_cost = {
        let before = session.discourse.requests_sent();
        engine.decision().await;
        session.discourse.requests_sent() - before
    };
    let users: Vec<_> = sandbox
        .users()
        .into_iter()
        .filter(|u| u.sso.is_some() && u.uploaded_avatar_id.is_some() && u.active && u.id >= 100)
        .take(case.users)
        .collect();
    let targets: Vec<Target> = users
        .iter()
        .map(|u| {
            let mut t = Target::from_input(&u.username).expect("target");
            if case.known {
                t.known_external_id = u.sso.as_ref().map(|s| s.external_id.clone());
                t.known_email = Some(u.email.clone());
            }
            t
        })
        .collect();
    let before = session.discourse.requests_sent();
    let started = Instant::now();
    let reports = engine.run(targets, CancelToken::default(), None).await;
    let elapsed = started.elapsed();
    let sent = session.discourse.requests_sent() - before;
    let verified = reports
        .iter()
        .filter(|r| r.outcome == Outcome::Verified)
        .count();
    println!(
        "{:<44} {verified:>3}/{:<3} verified in {:>6.1}s  {:>5.2} requests/reset (+{settings_cost} for settings, once)  429s seen: {}",
        case.name,
        users.len(),
        elapsed.as_secs_f64(),
        sent as f64 / users.len().max(1) as f64,
        sandbox
            .requests()
            .iter()
            .filter(|r| r.status == 429)
            .count(),
    );
    assert!(
        sandbox.violations().is_empty(),
        "{:?}",
        sandbox.violations()
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let limited = |overrides_avatar: bool, overrides_groups: bool| Scenario {
        flagged: 120,
        admin_rate_limit: 60,
        overrides_avatar,
        overrides_groups,
        download_delay: Duration::from_millis(1000),
        ..Scenario::default()
    };
    rt.block_on(async {
        run(Case {
            name: "single sync-sso",
            scenario: limited(true, true),
            users: 1,
            known: false,
        })
        .await;
        run(Case {
            name: "single pick",
            scenario: limited(false, true),
            users: 1,
            known: false,
        })
        .await;
        run(Case {
            name: "bulk 50 sync-sso, ext ids known, groups off",
            scenario: limited(true, false),
            users: 50,
            known: true,
        })
        .await;
        run(Case {
            name: "bulk 50 sync-sso, ext ids known, groups on",
            scenario: limited(true, true),
            users: 50,
            known: true,
        })
        .await;
        run(Case {
            name: "bulk 50 sync-sso, usernames only",
            scenario: limited(true, true),
            users: 50,
            known: false,
        })
        .await;
        run(Case {
            name: "bulk 50 pick, custom slot cleared",
            scenario: limited(false, true),
            users: 50,
            known: false,
        })
        .await;
        // Issue 14: the fast path (external id known, email and groups not overridden): no
        // per-user read; 30 should verify inside the first 60-second window.
        run(Case {
            name: "fast path 30 sync-sso, email+groups off",
            scenario: Scenario {
                overrides_email: false,
                ..limited(true, false)
            },
            users: 30,
            known: true,
        })
        .await;
        run(Case {
            name: "single pick, custom slot cleared",
            scenario: limited(false, true),
            users: 1,
            known: false,
        })
        .await;
    });
}
