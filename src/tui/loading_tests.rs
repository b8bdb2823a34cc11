//! `update` while the queue loads: one order whatever the arrival order, the cursor held on the
//! top row until the operator moves it, the throttled settle, `--user` for an unknown user, and
//! SIGTERM/SIGHUP as a confirmed quit.

use chrono::{DateTime, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::{App, AppConfig, Effect, Msg, SETTLE_EVERY, update};
use super::effects::QueuePage;
use crate::model::{AvatarKind, FlagItem, Source};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
}

fn item(source: Source, i: u32, name: &str, mins_ago: i64) -> FlagItem {
    FlagItem {
        source,
        external_id: (source == Source::App).then(|| format!("{}", 1000 + i)),
        discourse_id: (source == Source::Discourse).then_some(u64::from(i)),
        username: Some(name.into()),
        email: None,
        reason: format!("reason {i}"),
        flagged_at: Some(t0() - chrono::Duration::minutes(mins_ago)),
        photo_url: None,
        avatar: AvatarKind::Custom,
        avatar_upload: None,
    }
}

fn new_app() -> App {
    let mut app = App::new(AppConfig {
        site: "forum.example.com".into(),
        api_user: "system".into(),
        ..AppConfig::default()
    });
    app.init();
    update(
        &mut app,
        Msg::Resize {
            width: 120,
            height: 30,
        },
    );
    app
}

fn page(app: &mut App, source: Source, items: Vec<FlagItem>, more: bool) -> Vec<Effect> {
    update(
        app,
        Msg::QueuePage {
            source,
            generation: 0,
            result: Ok(QueuePage {
                items,
                next: more.then(|| format!("{source:?}-{}", app.queue().slots())),
                skipped: 0,
            }),
        },
    )
}

fn names(app: &App) -> Vec<String> {
    app.visible()
        .iter()
        .map(|s| app.queue().get(*s).unwrap().label())
        .collect()
}

fn selected(app: &App) -> String {
    app.queue()
        .get(app.selected_slot().unwrap())
        .unwrap()
        .label()
}

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

#[test]
fn the_cursor_stays_on_the_top_row_while_newer_rows_arrive_until_moved() {
    let mut app = new_app();
    page(
        &mut app,
        Source::App,
        vec![item(Source::App, 1, "old", 50)],
        true,
    );
    app.settle();
    assert_eq!(selected(&app), "old");
    // Newer flags land above: the cursor stays on row 1, whoever is there now.
    page(
        &mut app,
        Source::App,
        vec![item(Source::App, 2, "newer", 10)],
        true,
    );
    app.settle();
    assert_eq!(
        (app.selected_index(), selected(&app).as_str()),
        (0, "newer")
    );
    page(
        &mut app,
        Source::Discourse,
        vec![item(Source::Discourse, 3, "newest", 1)],
        true,
    );
    app.settle();
    assert_eq!(names(&app), ["newest", "newer", "old"]);
    assert_eq!(
        (app.selected_index(), selected(&app).as_str()),
        (0, "newest")
    );
    // The operator moves: from now on the cursor follows the user it is on.
    update(&mut app, key('j'));
    assert_eq!(selected(&app), "newer");
    page(
        &mut app,
        Source::App,
        vec![item(Source::App, 4, "latest", 0)],
        false,
    );
    app.settle();
    assert_eq!(selected(&app), "newer");
    assert_eq!(app.selected_index(), 2);
}

#[test]
fn one_order_whichever_source_answers_first() {
    // Flag times tie in groups; the two sources overlap by name.
    let app_items: Vec<FlagItem> = (0..40)
        .map(|i| {
            item(
                Source::App,
                i,
                &format!("u{:02}", (i * 7) % 40),
                i64::from(i % 4),
            )
        })
        .collect();
    let disc_items: Vec<FlagItem> = (0..40)
        .step_by(3)
        .map(|i| {
            item(
                Source::Discourse,
                500 + i,
                &format!("u{:02}", (i * 7) % 40),
                2,
            )
        })
        .collect();
    let run = |discourse_first: bool, app_page: usize, disc_page: usize| {
        let mut a = new_app();
        let app_pages: Vec<_> = app_items.chunks(app_page).collect();
        let disc_pages: Vec<_> = disc_items.chunks(disc_page).collect();
        let n = app_pages.len().max(disc_pages.len());
        for i in 0..n {
            let mut feed = vec![
                (Source::App, app_pages.get(i), i + 1 < app_pages.len()),
                (
                    Source::Discourse,
                    disc_pages.get(i),
                    i + 1 < disc_pages.len(),
                ),
            ];
            if discourse_first {
                feed.reverse();
            }
            for (source, items, more) in feed {
                if let Some(items) = items {
                    page(&mut a, source, items.to_vec(), more);
                    a.settle();
                }
            }
        }
        let shown: Vec<String> = a
            .visible()
            .iter()
            .map(|s| {
                let u = a.queue().get(*s).unwrap();
                format!("{} {}", u.label(), u.reasons().join("/"))
            })
            .collect();
        (shown, selected(&a))
    };
    let first = run(false, 7, 3);
    assert_eq!(first.0.len(), 40);
    for (discourse_first, ap, dp) in [(true, 7, 3), (false, 40, 1), (true, 1, 40), (true, 5, 5)] {
        assert_eq!(
            run(discourse_first, ap, dp),
            first,
            "{discourse_first} {ap} {dp}"
        );
    }
}

#[test]
fn pages_settle_at_most_every_interval_while_loading_and_at_once_at_the_end() {
    let mut app = new_app();
    let start = std::time::Instant::now();
    page(
        &mut app,
        Source::App,
        vec![item(Source::App, 1, "a", 5)],
        true,
    );
    // The first page shows at once.
    app.settle_throttled(start);
    assert_eq!(names(&app), ["a"]);
    page(
        &mut app,
        Source::App,
        vec![item(Source::App, 2, "b", 1)],
        true,
    );
    app.settle_throttled(std::time::Instant::now());
    assert_eq!(names(&app), ["a"], "settled again within {SETTLE_EVERY:?}");
    app.settle_throttled(std::time::Instant::now() + SETTLE_EVERY);
    assert_eq!(names(&app), ["b", "a"]);
    page(
        &mut app,
        Source::App,
        vec![item(Source::App, 3, "c", 0)],
        true,
    );
    // A key settles first: it acts on the rows shown.
    update(&mut app, key('G'));
    assert_eq!(names(&app), ["c", "b", "a"]);
    // Both sources done: the last page settles at once.
    page(
        &mut app,
        Source::App,
        vec![item(Source::App, 4, "d", 9)],
        false,
    );
    page(&mut app, Source::Discourse, vec![], false);
    app.settle_throttled(std::time::Instant::now());
    assert_eq!(names(&app), ["c", "b", "a", "d"]);
}

#[test]
fn an_unknown_initial_user_is_named_and_a_page_warning_does_not_hide_it() {
    let mut app = App::new(AppConfig {
        initial_user: Some("nobody".into()),
        ..AppConfig::default()
    });
    let fx = app.init();
    let req = fx
        .iter()
        .find_map(|e| match e {
            Effect::LoadUser { req, .. } => Some(*req),
            _ => None,
        })
        .expect("--user looks the user up");
    update(
        &mut app,
        Msg::UserLoaded {
            req,
            result: Err("no such user: nobody".into()),
        },
    );
    assert_eq!(
        app.message(),
        Some("user not found: no such user: nobody"),
        "as :user says it"
    );
    update(
        &mut app,
        Msg::QueuePage {
            source: Source::App,
            generation: 0,
            result: Ok(QueuePage {
                items: vec![item(Source::App, 1, "a", 1)],
                next: None,
                skipped: 2,
            }),
        },
    );
    assert_eq!(app.message(), Some("user not found: no such user: nobody"));
    let log: Vec<String> = app
        .log_entries()
        .map(|e| format!("{e:?}"))
        .filter(|e| e.contains("nobody"))
        .collect();
    assert_eq!(log.len(), 1, "said in the log pane too");
}

#[test]
fn a_termination_signal_quits_as_a_confirmed_quit() {
    // Nothing running: quit at once.
    let mut app = new_app();
    page(
        &mut app,
        Source::App,
        vec![item(Source::App, 1, "a", 1)],
        false,
    );
    assert_eq!(
        update(&mut app, Msg::Terminate { signal: "SIGTERM" }),
        vec![Effect::Quit]
    );
    assert!(app.should_quit());

    // A reset in flight: the rest are cancelled, the console quits once it has its outcome.
    let mut app = new_app();
    page(
        &mut app,
        Source::App,
        vec![item(Source::App, 1, "a", 1)],
        false,
    );
    app.settle();
    update(&mut app, key('r'));
    let fx = update(&mut app, key('y'));
    assert!(
        fx.iter().any(|e| matches!(e, Effect::Reset { .. })),
        "{fx:?}"
    );
    assert_eq!(
        update(&mut app, Msg::Terminate { signal: "SIGHUP" }),
        vec![Effect::CancelResets]
    );
    assert!(!app.should_quit());
    assert!(app.modal().is_none());
    let batch = app.batch().unwrap().id;
    assert_eq!(
        update(&mut app, Msg::ResetFinished { batch }),
        vec![Effect::Quit]
    );
    assert!(app.should_quit());
}
