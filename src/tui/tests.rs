//! `update` driven by key messages, and `view` rendered into a `TestBackend`.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyEventState, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

use super::app::{App, AppConfig, Confirm, Effect, Focus, Input, Modal, Msg, RowStatus, update};
use super::effects::{QueuePage, ResetStep, Setting, SiteInfo, UserInfo};
use super::view;
use crate::model::{
    AvatarKind, Exchange, FlagItem, LogKind, LogLine, Outcome, ResetReport, Source, SsoRecord,
    Strategy, UserDetail, UserRef,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
}

fn item(source: Source, ext: Option<&str>, name: &str, reason: &str, mins_ago: i64) -> FlagItem {
    FlagItem {
        source,
        external_id: ext.map(str::to_string),
        discourse_id: None,
        username: Some(name.into()),
        email: Some(format!("{name}@example.com")),
        reason: reason.into(),
        flagged_at: Some(t0() - chrono::Duration::minutes(mins_ago)),
        photo_url: None,
        avatar: AvatarKind::Custom,
        avatar_upload: None,
    }
}

fn cfg() -> AppConfig {
    AppConfig {
        site: "forum.example.com".into(),
        api_user: "system".into(),
        ..AppConfig::default()
    }
}

fn page(app: &mut App, source: Source, items: Vec<FlagItem>) -> Vec<Effect> {
    let fx = update(
        app,
        Msg::QueuePage {
            source,
            generation: 0,
            result: Ok(QueuePage {
                items,
                next: None,
                skipped: 0,
            }),
        },
    );
    app.settle();
    fx
}

/// An app with three users: alice (newest), bob, carol (oldest), in a 120×30 terminal.
fn app3(cfg: AppConfig) -> App {
    let mut app = App::new(cfg);
    app.init();
    update(
        &mut app,
        Msg::Resize {
            width: 120,
            height: 30,
        },
    );
    update(&mut app, Msg::Tick { now: t0() });
    update(&mut app, Msg::SiteLoaded(Ok(site())));
    page(
        &mut app,
        Source::App,
        vec![
            item(Source::App, Some("684"), "alice", "nudity", 1),
            item(Source::App, Some("685"), "bob", "violence", 10),
        ],
    );
    page(
        &mut app,
        Source::Discourse,
        vec![
            item(Source::Discourse, None, "carol", "spam avatar", 60),
            item(Source::Discourse, None, "alice", "flagged post", 5),
        ],
    );
    app
}

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ch(c: char) -> Msg {
    key(KeyCode::Char(c))
}

fn press(app: &mut App, keys: &str) -> Vec<Effect> {
    keys.chars().flat_map(|c| update(app, ch(c))).collect()
}

fn names(app: &App) -> Vec<String> {
    app.visible()
        .iter()
        .map(|s| app.queue().get(*s).unwrap().label())
        .collect()
}

fn selected_name(app: &App) -> String {
    app.queue()
        .get(app.selected_slot().unwrap())
        .unwrap()
        .label()
}

fn render(app: &App, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view(app, f)).unwrap();
    t.backend().buffer().clone()
}

fn text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

// ----- update -----

#[test]
fn queue_merges_and_orders_newest_first() {
    let app = app3(cfg());
    assert_eq!(names(&app), ["alice", "bob", "carol"]);
    let alice = app.queue().get(app.visible()[0]).unwrap();
    assert_eq!(alice.sources(), vec![Source::App, Source::Discourse]);
    assert_eq!(alice.flags.len(), 2);
}

#[test]
fn moving_with_vim_keys_arrows_and_pages() {
    let mut app = app3(cfg());
    assert_eq!(selected_name(&app), "alice");
    press(&mut app, "j");
    assert_eq!(selected_name(&app), "bob");
    update(&mut app, key(KeyCode::Down));
    assert_eq!(selected_name(&app), "carol");
    press(&mut app, "j"); // stays at the end
    assert_eq!(selected_name(&app), "carol");
    press(&mut app, "k");
    assert_eq!(selected_name(&app), "bob");
    press(&mut app, "g");
    assert_eq!(selected_name(&app), "alice");
    press(&mut app, "G");
    assert_eq!(selected_name(&app), "carol");
    update(&mut app, key(KeyCode::Home));
    assert_eq!(app.selected_index(), 0);
    update(&mut app, key(KeyCode::PageDown));
    assert_eq!(app.selected_index(), 2);
    update(&mut app, key(KeyCode::PageUp));
    assert_eq!(app.selected_index(), 0);
    update(
        &mut app,
        Msg::Key(KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL)),
    );
    assert_eq!(app.selected_index(), 2);
    update(
        &mut app,
        Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)),
    );
    assert_eq!(app.selected_index(), 0);
}

#[test]
fn key_release_and_repeat_are_ignored() {
    let mut app = app3(cfg());
    for kind in [KeyEventKind::Release, KeyEventKind::Repeat] {
        let k = KeyEvent {
            code: KeyCode::Char('j'),
            modifiers: KeyModifiers::NONE,
            kind,
            state: KeyEventState::NONE,
        };
        update(&mut app, Msg::Key(k));
    }
    assert_eq!(app.selected_index(), 0);
}

#[test]
fn filter_as_you_type_inverts_and_clears() {
    let mut app = app3(cfg());
    press(&mut app, "/");
    assert_eq!(app.input(), &Input::Filter);
    press(&mut app, "n");
    assert_eq!(names(&app), ["alice", "bob"]);
    press(&mut app, "u");
    assert_eq!(names(&app), ["alice"]);
    // Backspace widens again.
    update(&mut app, key(KeyCode::Backspace));
    assert_eq!(names(&app), ["alice", "bob"]);
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(app.filter(), "");
    assert_eq!(names(&app).len(), 3);
    // Over external id, email and reason too.
    press(&mut app, "/685");
    assert_eq!(names(&app), ["bob"]);
    update(&mut app, key(KeyCode::Enter));
    assert_eq!(app.input(), &Input::Normal);
    assert_eq!(app.filter(), "685");
    update(&mut app, key(KeyCode::Esc)); // Esc in normal mode clears the filter
    press(&mut app, "/SPAM");
    assert_eq!(names(&app), ["carol"]);
    update(&mut app, key(KeyCode::Esc));
    press(&mut app, "/carol@example");
    assert_eq!(names(&app), ["carol"]);
    update(&mut app, key(KeyCode::Esc));
    // A leading ! inverts.
    press(&mut app, "/!nudity");
    assert_eq!(names(&app), ["bob", "carol"]);
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(names(&app).len(), 3);
}

#[test]
fn filter_keeps_the_selected_user_selected() {
    let mut app = app3(cfg());
    press(&mut app, "j"); // bob
    press(&mut app, "/n");
    assert_eq!(selected_name(&app), "bob");
}

#[test]
fn space_marks_and_moves_v_marks_a_range() {
    let mut app = app3(cfg());
    press(&mut app, " ");
    assert_eq!(app.marked(), vec![app.visible()[0]]);
    assert_eq!(app.selected_index(), 1);
    press(&mut app, "g "); // unmark alice
    assert!(app.marked().is_empty());
    press(&mut app, "gvjjv");
    assert_eq!(app.marked().len(), 3);
    // Esc cancels a range in progress without marking.
    press(&mut app, "gv");
    update(&mut app, key(KeyCode::Esc));
    press(&mut app, "v"); // a new range starts, nothing more marked
    assert_eq!(app.marked().len(), 3);
}

#[test]
fn a_range_in_progress_is_shown_before_it_is_marked() {
    let mut app = app3(cfg());
    press(&mut app, "gvj");
    let screen = text(&render(&app, 120, 30));
    assert_eq!(screen.matches('○').count(), 2, "{screen}");
    assert!(app.marked().is_empty());
    press(&mut app, "v");
    let screen = text(&render(&app, 120, 30));
    assert_eq!(screen.matches('●').count(), 2, "{screen}");
    assert_eq!(screen.matches('○').count(), 0);
}

#[test]
fn the_reset_dialog_warns_when_sync_sso_cannot_reach_the_user() {
    let mut app = app3(cfg());
    update(&mut app, Msg::Tick { now: t0() });
    let fx = update(&mut app, Msg::Tick { now: t0() });
    let [Effect::LoadUser { req, .. }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    let detail = UserDetail {
        id: 3,
        username: "alice".into(),
        sso: None,
        ..Default::default()
    };
    update(
        &mut app,
        Msg::UserLoaded {
            req: *req,
            result: Ok(UserInfo {
                detail,
                audit: vec![],
            }),
        },
    );
    press(&mut app, "r");
    let screen = text(&render(&app, 120, 30));
    assert!(screen.contains("no DiscourseConnect record"), "{screen}");
}

#[test]
fn r_opens_a_modal_and_y_emits_one_reset() {
    let mut app = app3(cfg());
    assert!(press(&mut app, "r").is_empty());
    let slot = app.visible()[0];
    assert_eq!(
        app.modal(),
        Some(&Modal::Confirm(Confirm::Reset { slots: vec![slot] }))
    );
    // Other keys do nothing: never default-yes.
    assert!(press(&mut app, "xj ").is_empty());
    assert!(app.modal().is_some());
    let fx = press(&mut app, "y");
    assert_eq!(
        fx,
        vec![Effect::Reset {
            batch: 1,
            users: vec![(slot, UserRef::ExternalId("684".into()))],
            dry_run: false
        }]
    );
    assert!(app.modal().is_none());
    assert_eq!(app.row_status(slot), Some(&RowStatus::Waiting));
    assert!(app.batch().is_some());
}

#[test]
fn enter_confirms_and_n_or_esc_cancel() {
    let mut app = app3(cfg());
    press(&mut app, "r");
    assert!(press(&mut app, "n").is_empty());
    assert!(app.modal().is_none());
    press(&mut app, "r");
    assert!(update(&mut app, key(KeyCode::Esc)).is_empty());
    assert!(app.modal().is_none() && app.batch().is_none());
    press(&mut app, "r");
    let fx = update(&mut app, key(KeyCode::Enter));
    assert!(matches!(fx.as_slice(), [Effect::Reset { .. }]));
}

#[test]
fn shift_r_resets_marked_in_queue_order_with_progress_and_hiding() {
    let mut app = app3(cfg());
    assert!(press(&mut app, "R").is_empty());
    assert!(app.message().unwrap().contains("no marked users"));
    press(&mut app, "G g ");
    let fx = press(&mut app, "R");
    assert!(fx.is_empty());
    let Some(Modal::Confirm(Confirm::Reset { slots })) = app.modal().cloned() else {
        panic!("no modal")
    };
    assert_eq!(slots.len(), 2);
    let fx = press(&mut app, "y");
    let Effect::Reset { batch, users, .. } = &fx[0] else {
        panic!()
    };
    let refs: Vec<String> = users.iter().map(|(_, u)| u.to_string()).collect();
    assert_eq!(refs, ["external:684", "carol"]);
    assert!(app.marked().is_empty());
    // Rows update live.
    let (s0, s1) = (users[0].0, users[1].0);
    update(
        &mut app,
        Msg::ResetProgress {
            batch: *batch,
            slot: s0,
            step: ResetStep::Verifying,
        },
    );
    assert_eq!(
        app.row_status(s0),
        Some(&RowStatus::Running(ResetStep::Verifying))
    );
    let report = |outcome| ResetReport {
        user: "x".into(),
        username: None,
        external_id: None,
        strategy: Some(Strategy::SyncSso),
        outcome,
        message: "avatar changed".into(),
        path: None,
    };
    update(
        &mut app,
        Msg::ResetProgress {
            batch: *batch,
            slot: s0,
            step: ResetStep::Done(report(Outcome::Verified)),
        },
    );
    assert_eq!(app.batch().unwrap().done, 1);
    assert!(app.row_status(s0).unwrap().is_done());
    // Esc cancels the rest.
    assert_eq!(
        update(&mut app, key(KeyCode::Esc)),
        vec![Effect::CancelResets]
    );
    assert!(app.batch().unwrap().cancelling);
    update(
        &mut app,
        Msg::ResetProgress {
            batch: *batch,
            slot: s1,
            step: ResetStep::Done(report(Outcome::Skipped)),
        },
    );
    update(&mut app, Msg::ResetFinished { batch: *batch });
    assert!(app.batch().is_none());
    assert!(app.message().unwrap().contains("1 verified"));
    // The log pane got a line per outcome.
    assert!(app.log_entries().any(|e| e.tag() == "RESET"));
    // h hides the finished rows (the verified reset), not the skipped one.
    press(&mut app, "h");
    assert_eq!(names(&app), ["bob", "carol"]);
    press(&mut app, "h");
    assert_eq!(names(&app).len(), 3);
}

#[test]
fn read_only_refuses_and_says_why() {
    let mut app = app3(AppConfig {
        read_only: true,
        ..cfg()
    });
    for k in ["r", "R", "S", "U"] {
        assert!(press(&mut app, k).is_empty());
        assert!(app.modal().is_none(), "{k}");
        assert!(app.message().unwrap().contains("read-only"), "{k}");
    }
}

#[test]
fn q_quits_at_once_but_asks_while_resets_run() {
    let mut app = app3(cfg());
    assert_eq!(press(&mut app, "q"), vec![Effect::Quit]);

    let mut app = app3(cfg());
    press(&mut app, "ry");
    assert!(press(&mut app, "q").is_empty());
    assert_eq!(app.modal(), Some(&Modal::Confirm(Confirm::Quit)));
    assert!(press(&mut app, "n").is_empty());
    assert!(!app.should_quit());
    press(&mut app, "q");
    // Confirmed: the resets not started are cancelled, those in flight write their outcome
    // first, and only then does the console quit.
    assert_eq!(press(&mut app, "y"), vec![Effect::CancelResets]);
    assert!(!app.should_quit());
    assert!(app.message().unwrap().contains("then quitting"));
    let batch = app.batch().unwrap().id;
    assert_eq!(
        update(&mut app, Msg::ResetFinished { batch }),
        vec![Effect::Quit]
    );
    assert!(app.should_quit());
}

#[test]
fn ctrl_c_quits_from_everywhere_and_asks_while_resets_run() {
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    // From a dialog, the help, a text shown whole, the filter and the command line: out.
    for keys in ["r", "?", "/al", ":us"] {
        let mut app = app3(cfg());
        press(&mut app, keys);
        assert_eq!(
            update(&mut app, Msg::Key(ctrl_c)),
            vec![Effect::Quit],
            "after {keys:?}"
        );
        assert!(app.should_quit());
    }
    // Nothing was sent by the reset dialog it closed.
    let mut app = app3(cfg());
    press(&mut app, "r");
    let fx = update(&mut app, Msg::Key(ctrl_c));
    assert!(!fx.iter().any(|e| matches!(e, Effect::Reset { .. })));

    // While resets run it asks, as q does; Ctrl-c again is the answer: the resets in flight
    // finish and write their outcome, then the console quits.
    let mut app = app3(cfg());
    press(&mut app, "ry");
    assert!(app.batch().is_some());
    press(&mut app, "?");
    assert!(update(&mut app, Msg::Key(ctrl_c)).is_empty());
    assert_eq!(app.modal(), Some(&Modal::Confirm(Confirm::Quit)));
    assert_eq!(
        update(&mut app, Msg::Key(ctrl_c)),
        vec![Effect::CancelResets]
    );
    assert!(!app.should_quit(), "outcomes first");
    let batch = app.batch().unwrap().id;
    let fx = update(&mut app, Msg::ResetFinished { batch });
    assert_eq!(fx, vec![Effect::Quit]);
}

#[test]
fn command_line_user_refresh_and_quit() {
    let mut app = app3(cfg());
    press(&mut app, "/alice");
    update(&mut app, key(KeyCode::Enter));
    let fx = press(&mut app, ":user external:999");
    assert!(fx.is_empty());
    assert_eq!(app.input(), &Input::Command("user external:999".into()));
    let fx = update(&mut app, key(KeyCode::Enter));
    let [Effect::LoadUser { req, user }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(user, &UserRef::ExternalId("999".into()));
    // A user that is not queued is added at the top and selected, even under a filter.
    let detail = UserDetail {
        id: 77,
        username: "zed".into(),
        sso: Some(SsoRecord {
            external_id: "999".into(),
            ..Default::default()
        }),
        uploaded_avatar_id: Some(Some(3)),
        ..Default::default()
    };
    update(
        &mut app,
        Msg::UserLoaded {
            req: *req,
            result: Ok(UserInfo {
                detail,
                audit: vec![],
            }),
        },
    );
    assert_eq!(names(&app), ["zed", "alice", "bob", "carol"]);
    assert_eq!(selected_name(&app), "zed");

    let fx = press(&mut app, ":refresh");
    assert!(fx.is_empty());
    let fx = update(&mut app, key(KeyCode::Enter));
    assert!(fx.contains(&Effect::LoadSite));
    assert!(fx.contains(&Effect::LoadQueuePage {
        source: Source::App,
        generation: 1,
        cursor: None
    }));
    assert_eq!(app.queue().len(), 0);
    // Pages of the old queue are ignored.
    page(
        &mut app,
        Source::App,
        vec![item(Source::App, Some("1"), "old", "r", 1)],
    );
    assert_eq!(app.queue().len(), 0);

    press(&mut app, ":nonsense");
    update(&mut app, key(KeyCode::Enter));
    assert!(app.message().unwrap().contains("unknown command"));
    press(&mut app, ":q");
    assert_eq!(update(&mut app, key(KeyCode::Enter)), vec![Effect::Quit]);
}

#[test]
fn refresh_keeps_finished_work_and_marks() {
    let mut app = app3(cfg());
    // Reset the first row (alice) to the end, and mark bob.
    press(&mut app, "ry");
    let batch = app.batch().unwrap().id;
    let slot = app.selected_slot().unwrap();
    let report = crate::model::ResetReport {
        user: "external:684".into(),
        username: Some("alice".into()),
        external_id: Some("684".into()),
        strategy: Some(Strategy::SyncSso),
        outcome: crate::model::Outcome::Verified,
        message: "default avatar in place".into(),
        path: None,
    };
    update(
        &mut app,
        Msg::ResetProgress {
            batch,
            slot,
            step: ResetStep::Done(report),
        },
    );
    update(&mut app, Msg::ResetFinished { batch });
    let bob = app
        .queue()
        .iter()
        .find(|(_, u)| u.username.as_deref() == Some("bob"))
        .unwrap()
        .0;
    app.marks.insert(bob);
    press(&mut app, ":refresh");
    update(&mut app, key(KeyCode::Enter));
    assert_eq!(app.queue().len(), 0);
    let fresh = |app: &mut App, source, items| {
        update(
            app,
            Msg::QueuePage {
                source,
                generation: 1,
                result: Ok(QueuePage {
                    items,
                    next: None,
                    skipped: 0,
                }),
            },
        );
        app.settle();
    };
    fresh(
        &mut app,
        Source::App,
        vec![
            item(Source::App, Some("684"), "alice", "nudity", 1),
            item(Source::App, Some("685"), "bob", "violence", 10),
        ],
    );
    let find = |app: &App, name: &str| {
        app.queue()
            .iter()
            .find(|(_, u)| u.username.as_deref() == Some(name))
            .unwrap()
            .0
    };
    let (alice, bob) = (find(&app, "alice"), find(&app, "bob"));
    assert!(
        matches!(
            app.row_status(alice),
            Some(RowStatus::Done {
                outcome: Outcome::Verified,
                ..
            })
        ),
        "{:?}",
        app.row_status(alice)
    );
    assert_eq!(app.marked(), vec![bob]);
}

#[test]
fn a_source_whose_next_comes_back_round_is_stopped() {
    let mut app = app3(cfg());
    let send = |app: &mut App, next: &str| {
        update(
            app,
            Msg::QueuePage {
                source: Source::App,
                generation: 0,
                result: Ok(QueuePage {
                    items: vec![],
                    next: Some(next.into()),
                    skipped: 0,
                }),
            },
        )
    };
    assert_eq!(send(&mut app, "p2").len(), 1);
    assert_eq!(send(&mut app, "p3").len(), 1);
    // p2 again: a loop. No further page is asked for, and the operator is told.
    assert!(send(&mut app, "p2").is_empty());
    assert!(
        app.source_state(Source::App)
            .unwrap()
            .error
            .as_deref()
            .unwrap()
            .contains("paging stopped")
    );
}

#[test]
fn a_failing_source_reports_while_the_other_keeps_loading() {
    let mut app = App::new(cfg());
    let fx = app.init();
    assert!(fx.contains(&Effect::LoadQueuePage {
        source: Source::App,
        generation: 0,
        cursor: None
    }));
    assert!(fx.contains(&Effect::LoadQueuePage {
        source: Source::Discourse,
        generation: 0,
        cursor: None
    }));
    update(
        &mut app,
        Msg::QueuePage {
            source: Source::App,
            generation: 0,
            result: Err("503 Service Unavailable".into()),
        },
    );
    let fx = update(
        &mut app,
        Msg::QueuePage {
            source: Source::Discourse,
            generation: 0,
            result: Ok(QueuePage {
                items: vec![item(Source::Discourse, None, "dan", "r", 1)],
                next: Some("/review.json?offset=10".into()),
                skipped: 0,
            }),
        },
    );
    app.settle();
    assert_eq!(
        fx,
        vec![Effect::LoadQueuePage {
            source: Source::Discourse,
            generation: 0,
            cursor: Some("/review.json?offset=10".into())
        }]
    );
    assert!(app.is_loading());
    assert_eq!(app.queue().len(), 1);
    assert!(
        app.source_state(Source::App)
            .unwrap()
            .error
            .as_deref()
            .unwrap()
            .contains("503")
    );
    assert!(app.log_entries().any(|e| e.tag() == "ERR"));
    let screen = text(&render(&app, 100, 24));
    assert!(screen.contains("app failed: 503"), "{screen}");
    assert!(screen.contains("1 queued"));
}

#[test]
fn the_selected_row_loads_its_details_on_tick_once() {
    let mut app = app3(cfg());
    // The first tick sees alice selected; the next, still alice, loads her (a row merely
    // scrolled past is not loaded).
    assert!(update(&mut app, Msg::Tick { now: t0() }).is_empty());
    let fx = update(&mut app, Msg::Tick { now: t0() });
    let [Effect::LoadUser { req, user }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(user, &UserRef::ExternalId("684".into()));
    assert!(
        update(&mut app, Msg::Tick { now: t0() }).is_empty(),
        "cached"
    );
    let detail = UserDetail {
        id: 42,
        username: "alice".into(),
        email: Some("alice@example.com".into()),
        uploaded_avatar_id: Some(None),
        ..Default::default()
    };
    update(
        &mut app,
        Msg::UserLoaded {
            req: *req,
            result: Ok(UserInfo {
                detail,
                audit: vec![],
            }),
        },
    );
    let u = app.queue().get(app.selected_slot().unwrap()).unwrap();
    assert_eq!(u.discourse_id, Some(42));
    assert_eq!(u.avatar, AvatarKind::System);
    // Moving on every tick loads nothing (bob, then carol, the last row).
    for _ in 0..2 {
        press(&mut app, "j");
        let fx = update(&mut app, Msg::Tick { now: t0() });
        assert!(
            !fx.iter().any(|e| matches!(e, Effect::LoadUser { .. })),
            "{fx:?}"
        );
    }
}

fn assert_verified(app: &App, slot: usize) {
    assert!(
        matches!(
            app.row_status(slot),
            Some(RowStatus::Done {
                outcome: Outcome::Verified,
                ..
            })
        ),
        "{:?}",
        app.row_status(slot)
    );
}

/// A finished sync-sso reset of one row, as the backend reports it.
fn reset_done(outcome: Outcome, message: &str) -> ResetStep {
    ResetStep::Done(ResetReport {
        user: "u".into(),
        username: None,
        external_id: None,
        strategy: Some(Strategy::SyncSso),
        outcome,
        message: message.into(),
        path: None,
    })
}

/// The site the tests' console sees: sync-sso, upload log on.
fn site() -> SiteInfo {
    SiteInfo {
        strategy: Strategy::SyncSso,
        why: "overrides avatar on".into(),
        verbose_sso: Some(false),
        verbose_upload: Some(true),
        warnings: vec![],
        interrupted: vec![],
        default_upload: None,
    }
}

fn exchange(path: &str, body: Option<&str>) -> Exchange {
    Exchange {
        at: t0(),
        method: "PUT".into(),
        path: path.into(),
        status: Some(200),
        latency_ms: 41,
        summary: "200 OK".into(),
        request_body: body.map(str::to_string),
        response_body: Some("{\"success\":\"OK\"}".into()),
    }
}

#[test]
fn log_pane_narrows_to_the_selected_user_and_shows_lines_whole() {
    let decoder: super::app::SsoDecoder = Arc::new(|p: &str| {
        p.starts_with("sso=")
            .then(|| vec![("external_id".to_string(), "684".to_string())])
    });
    let mut app = app3(cfg()).with_sso_decoder(decoder);
    update(
        &mut app,
        Msg::Exchange(exchange("/u/alice/preferences/avatar/pick", None)),
    );
    update(
        &mut app,
        Msg::Exchange(exchange("/u/bob/preferences/avatar/pick", None)),
    );
    update(
        &mut app,
        Msg::DiscourseLog(Ok(vec![LogLine {
            key: "k1".into(),
            at: t0() - chrono::Duration::seconds(30),
            severity: 2,
            kind: LogKind::Sso,
            message: "Verbose SSO log: Signature verification failed\nsso=bm9uY2U9MQ%3D%3D&sig=ab"
                .into(),
            count: 1,
        }])),
    );
    // Interleaved by time: the older SSO line comes first.
    let tags: Vec<&str> = app.log_entries().map(|e| e.tag()).collect();
    assert_eq!(&tags[tags.len() - 3..], ["SSO", "API", "API"]);
    press(&mut app, "u"); // alice selected
    assert!(app.log_narrow().is_some());
    let paths: Vec<String> = app
        .log_entries()
        .filter_map(|e| match e {
            super::app::LogEntry::Api(x) => Some(x.path.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(paths, ["/u/alice/preferences/avatar/pick"]);
    press(&mut app, "u");
    assert!(app.log_narrow().is_none());

    // Focus the log, go to the SSO line, Enter shows it decoded.
    update(&mut app, key(KeyCode::Tab));
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(app.focus(), Focus::Log);
    press(&mut app, "kk");
    update(&mut app, key(KeyCode::Enter));
    let Some(Modal::Text { lines, .. }) = app.modal() else {
        panic!("{:?}", app.modal())
    };
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Signature verification failed"))
    );
    assert!(
        lines.iter().any(|l| l.contains("external_id=684")),
        "{lines:?}"
    );
    update(&mut app, key(KeyCode::Esc));
    // `/` in the log pane searches the log, not the queue.
    let all = app.log_entries().count();
    press(&mut app, "/SIGNATURE");
    assert_eq!(app.input(), &Input::LogSearch);
    assert_eq!(app.log_entries().count(), 1);
    assert_eq!(app.filter(), "");
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(app.log_entries().count(), all);
    // A search kept with Enter is cleared by Esc in the log pane.
    press(&mut app, "/signature");
    update(&mut app, key(KeyCode::Enter));
    assert_eq!(app.log_entries().count(), 1);
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(app.log_entries().count(), all);
    // An exchange shows request and response.
    press(&mut app, "G");
    update(&mut app, key(KeyCode::Enter));
    let Some(Modal::Text { lines, .. }) = app.modal() else {
        panic!()
    };
    assert!(lines.iter().any(|l| l.starts_with("Request: PUT /u/bob")));
    assert!(lines.iter().any(|l| l.contains("success")));
}

/// Ticks `app` for `secs` simulated seconds, answering every log poll at once (empty); answers
/// how many polls it asked for.
fn polls_in(app: &mut App, secs: u64) -> usize {
    let mut polls = 0;
    for _ in 0..secs * 1000 / super::app::TICK_MS {
        let fx = update(app, Msg::Tick { now: t0() });
        for _ in fx.iter().filter(|e| matches!(e, Effect::PollLogs { .. })) {
            polls += 1;
            update(app, Msg::DiscourseLog(Ok(vec![])));
        }
    }
    polls
}

#[test]
fn idle_browsing_polls_the_logs_slowly_and_work_or_the_log_pane_fast() {
    let mut app = app3(cfg());
    // init asked for the first poll.
    update(&mut app, Msg::DiscourseLog(Ok(vec![])));
    // Browsing: at most 2 of the 60 shared admin requests a minute.
    let idle = polls_in(&mut app, 120);
    assert!(idle <= 4, "{idle} polls in 2 idle minutes");
    assert!(idle >= 3, "still polled: {idle}");
    let shown = text(&render(&app, 120, 30));
    assert!(
        shown.contains("Discourse logs every 30 s (idle)"),
        "{shown}"
    );
    // The log pane focused: every 5 s, from the next tick on.
    update(&mut app, key(KeyCode::Tab));
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(app.focus(), Focus::Log);
    let fast = polls_in(&mut app, 60);
    assert!(
        (11..=13).contains(&fast),
        "{fast} polls in a minute, log focused"
    );
    assert!(text(&render(&app, 120, 30)).contains("every 5 s (log pane in use)"));
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(app.focus(), Focus::Queue);
    assert!(polls_in(&mut app, 60) <= 2);
    // An undo in flight, then the minute after it: fast again; then back to slow.
    press(&mut app, "z");
    let fx = press(&mut app, "y");
    let Some(Effect::Undo { slot, .. }) = fx.first().cloned() else {
        panic!("{fx:?}")
    };
    assert!(polls_in(&mut app, 30) >= 5);
    update(
        &mut app,
        Msg::Undone {
            slot,
            result: Err("nothing to undo".into()),
        },
    );
    let after = polls_in(&mut app, 55);
    assert!(after >= 9, "{after} polls in the minute after the undo");
    polls_in(&mut app, 10);
    assert!(polls_in(&mut app, 60) <= 2);
}

#[test]
fn setting_toggles_ask_first() {
    let mut app = app3(cfg());
    press(&mut app, "S");
    assert_eq!(
        app.modal(),
        Some(&Modal::Confirm(Confirm::Toggle {
            setting: Setting::VerboseSso,
            enable: true
        }))
    );
    assert_eq!(
        press(&mut app, "y"),
        vec![Effect::ToggleSetting {
            setting: Setting::VerboseSso,
            enable: true
        }]
    );
    update(
        &mut app,
        Msg::SettingChanged {
            setting: Setting::VerboseSso,
            result: Ok(true),
        },
    );
    assert_eq!(app.site().unwrap().verbose_sso, Some(true));
    press(&mut app, "U");
    assert_eq!(
        app.modal(),
        Some(&Modal::Confirm(Confirm::Toggle {
            setting: Setting::VerboseUpload,
            enable: false
        }))
    );
    assert!(press(&mut app, "n").is_empty());
}

#[test]
fn dry_run_shows_what_would_be_sent() {
    let mut app = app3(AppConfig {
        dry_run: true,
        ..cfg()
    });
    let fx = press(&mut app, "ry");
    let [
        Effect::Reset {
            batch,
            users,
            dry_run: true,
        },
    ] = fx.as_slice()
    else {
        panic!("{fx:?}")
    };
    let report = ResetReport {
        user: "external:684".into(),
        username: Some("alice".into()),
        external_id: Some("684".into()),
        strategy: Some(Strategy::SyncSso),
        outcome: Outcome::DryRun,
        message: "POST /admin/users/sync_sso\nexternal_id=684\navatar_force_update=true".into(),
        path: None,
    };
    update(
        &mut app,
        Msg::ResetProgress {
            batch: *batch,
            slot: users[0].0,
            step: ResetStep::Done(report),
        },
    );
    let Some(Modal::Text { lines, .. }) = app.modal() else {
        panic!()
    };
    assert_eq!(lines[0], "POST /admin/users/sync_sso");
    // Toggles under dry-run show the request; the effect goes to the backend, which audits it
    // as dry-run and sends nothing. The header keeps the real state.
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(
        press(&mut app, "S"),
        vec![Effect::ToggleSetting {
            setting: Setting::VerboseSso,
            enable: true
        }]
    );
    assert!(matches!(app.modal(), Some(Modal::Text { .. })));
    update(
        &mut app,
        Msg::SettingChanged {
            setting: Setting::VerboseSso,
            result: Ok(false),
        },
    );
    assert_eq!(app.site().unwrap().verbose_sso, Some(false));
}

// ----- view -----

#[test]
fn main_screen_shows_header_rows_log_and_status() {
    let mut app = app3(AppConfig {
        read_only: true,
        dry_run: true,
        ..cfg()
    });
    update(
        &mut app,
        Msg::Exchange(exchange("/u/alice/preferences/avatar/pick", None)),
    );
    update(
        &mut app,
        Msg::Budget(super::effects::BudgetStatus {
            left: 57,
            per_minute: 60,
            retry_after_secs: Some(12),
            next_slot_secs: None,
        }),
    );
    let screen = text(&render(&app, 120, 30));
    for needle in [
        "READ-ONLY",
        "DRY-RUN",
        "forum.example.com as system",
        "sync-sso (overrides avatar on)",
        "budget 57/60 a minute · retry in 12s",
        "verbose SSO log off · upload log on",
        "USER",
        "EXT ID",
        "alice",
        "684",
        "A D",
        "2× nudity, flagged post",
        "1m",
        "custom",
        "3 queued",
        "PUT /u/alice/preferences/avatar/pick 200 41ms",
        "API",
        "j/k move",
        "Flags (2)",
    ] {
        assert!(screen.contains(needle), "missing {needle:?} in\n{screen}");
    }
}

#[test]
fn confirm_modal_names_user_and_strategy_and_help_lists_keys() {
    let mut app = app3(cfg());
    press(&mut app, "r");
    let screen = text(&render(&app, 100, 24));
    assert!(
        screen.contains("Reset the avatar of alice (external:684)?"),
        "{screen}"
    );
    assert!(screen.contains("Strategy: sync-sso (overrides avatar on)"));
    assert!(screen.contains("y or Enter: go"));
    assert!(screen.contains("n or Esc: cancel"));
    press(&mut app, "n");

    press(&mut app, "gvGv");
    press(&mut app, "R");
    let screen = text(&render(&app, 100, 24));
    assert!(screen.contains("Reset the avatars of 3 users?"), "{screen}");
    for n in ["alice", "bob", "carol"] {
        assert!(screen.contains(&format!("  {n}")));
    }
    press(&mut app, "n?");
    let screen = text(&render(&app, 100, 40));
    for needle in [
        "filter as you type",
        "leading ! inverts",
        "reset every marked user",
        ":user NAME",
        "verbose_upload_logging",
    ] {
        assert!(screen.contains(needle), "help lacks {needle:?}:\n{screen}");
    }
}

#[test]
fn small_terminals_never_panic_and_too_small_says_so() {
    let mut app = app3(cfg());
    press(&mut app, "r");
    for w in 1..=45u16 {
        for h in 1..=14u16 {
            update(
                &mut app,
                Msg::Resize {
                    width: w,
                    height: h,
                },
            );
            render(&app, w, h);
        }
    }
    press(&mut app, "n");
    update(
        &mut app,
        Msg::Resize {
            width: 40,
            height: 12,
        },
    );
    let screen = text(&render(&app, 40, 12));
    assert!(
        screen.contains("alice") && screen.contains("3 queued"),
        "{screen}"
    );
    assert!(!screen.contains("too small"));
    assert!(
        screen.contains("? help") && screen.contains("q quit"),
        "{screen}"
    );
    for (w, h) in [(39, 12), (40, 11), (20, 5)] {
        let screen = text(&render(&app, w, h));
        assert!(screen.contains("too small"), "{w}×{h}:\n{screen}");
    }
    // Every pane and modal at the minimum.
    for keys in ["\t", "\t\t", "l", "?", "r"] {
        let mut app = app3(cfg());
        update(
            &mut app,
            Msg::Resize {
                width: 40,
                height: 12,
            },
        );
        press(&mut app, keys);
        render(&app, 40, 12);
    }
}

#[test]
fn hostile_names_never_reach_the_buffer_and_wide_names_align() {
    let mut app = App::new(cfg());
    update(
        &mut app,
        Msg::Resize {
            width: 120,
            height: 30,
        },
    );
    update(&mut app, Msg::Tick { now: t0() });
    page(
        &mut app,
        Source::App,
        vec![
            item(
                Source::App,
                Some("1"),
                "evil\u{1b}[2J\u{1b}]0;owned\u{7}\u{9b}31m\u{202e}x",
                "\u{1b}[5mblink",
                1,
            ),
            item(
                Source::App,
                Some("2"),
                "山田太郎山田太郎山田太郎山田太郎",
                "r",
                2,
            ),
            item(Source::App, Some("3"), "😀🎉👍🏽 emoji", "r", 3),
            item(Source::App, Some("4"), "e\u{301}mile", "r", 4),
            item(Source::App, Some("5"), "plain", "r", 5),
        ],
    );
    update(
        &mut app,
        Msg::Exchange(exchange("/u/evil\u{1b}[31m/x", None)),
    );
    let buf = render(&app, 120, 30);
    for cell in buf.content() {
        assert!(
            !cell
                .symbol()
                .chars()
                .any(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)),
            "control character in the buffer: {:?}",
            cell.symbol()
        );
    }
    let screen = text(&buf);
    // The bidi override is shown for what it is (issue 10), never applied.
    assert!(screen.contains("evil\\u{202e}x"), "{screen}");
    // The external id column starts at the same x on every row, whatever the name's width.
    let mut xs = Vec::new();
    let queue_rows = (0..buf.area.height).filter(|y| {
        let row: String = (0..60).map(|x| buf[(x, *y)].symbol()).collect();
        row.contains(" A   ")
    });
    for y in queue_rows {
        let mut col = 0u16;
        let mut x = 0u16;
        while x < buf.area.width {
            let sym = buf[(x, y)].symbol();
            if (1..=5).any(|i| sym == i.to_string()) && col > 0 {
                // the first digit after the name column
                let before = buf[(x - 1, y)].symbol();
                if before == " " {
                    xs.push(x);
                    break;
                }
            }
            col += 1;
            x += 1;
        }
    }
    let rows = xs;
    assert!(rows.len() == 5, "{rows:?}\n{screen}");
    assert!(
        rows.iter().all(|x| *x == rows[0]),
        "misaligned {rows:?}\n{screen}"
    );
}

#[test]
fn no_color_and_mono_draw_without_colour() {
    use ratatui::style::Color;
    for cfg in [
        AppConfig {
            no_color: true,
            ..cfg()
        },
        AppConfig {
            theme: super::ThemeChoice::Mono,
            ..cfg()
        },
    ] {
        let mut app = app3(AppConfig {
            read_only: true,
            ..cfg
        });
        press(&mut app, "r");
        let buf = render(&app, 100, 30);
        assert!(
            buf.content()
                .iter()
                .all(|c| c.fg == Color::Reset && c.bg == Color::Reset)
        );
    }
}

// ----- issue 13: the rough edges a moderator hits every day -----

fn loaded(app: &mut App, req: u64, detail: UserDetail) {
    update(
        app,
        Msg::UserLoaded {
            req,
            result: Ok(UserInfo {
                detail,
                audit: vec![],
            }),
        },
    );
}

/// Ticks until the selected row asks for its details; returns the request id.
fn detail_request(app: &mut App) -> u64 {
    for _ in 0..3 {
        for e in update(app, Msg::Tick { now: t0() }) {
            if let Effect::LoadUser { req, .. } = e {
                return req;
            }
        }
    }
    panic!("no detail request");
}

#[test]
fn counts_say_each_thing_once_and_in_good_english() {
    let mut app = app3(cfg());
    press(&mut app, "gvjjv");
    let screen = text(&render(&app, 120, 30));
    assert!(screen.contains("3 marked"), "{screen}");
    assert!(!screen.contains("3 marked · 3 marked"), "{screen}");
    assert!(
        screen.contains("range of 3 added: R resets every marked user"),
        "{screen}"
    );

    // One match, several matches.
    let mut app = app3(cfg());
    press(&mut app, "/bob");
    assert!(text(&render(&app, 120, 30)).contains("1 match "));
    update(&mut app, key(KeyCode::Esc));
    press(&mut app, "/example");
    assert!(text(&render(&app, 120, 30)).contains("3 matches"));

    // `:user` of someone no source flagged is shown, but not counted as queued.
    let mut app = app3(cfg());
    press(&mut app, ":user zoe");
    let fx = update(&mut app, key(KeyCode::Enter));
    let [Effect::LoadUser { req, .. }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    loaded(
        &mut app,
        *req,
        UserDetail {
            id: 77,
            username: "zoe".into(),
            ..Default::default()
        },
    );
    let screen = text(&render(&app, 120, 30));
    assert!(screen.contains("3 queued · 1 looked up"), "{screen}");
}

#[test]
fn an_enlarged_log_leaves_the_queue_rows_at_the_smallest_size() {
    let mut app = app3(cfg());
    update(
        &mut app,
        Msg::Resize {
            width: 40,
            height: 12,
        },
    );
    press(&mut app, "l");
    let screen = text(&render(&app, 40, 12));
    assert!(screen.contains("alice"), "{screen}");
    assert!(screen.contains("Log"), "{screen}");
    // And moving still keeps the selection in view.
    press(&mut app, "G");
    assert!(text(&render(&app, 40, 12)).contains("carol"));
}

#[test]
fn the_no_sso_record_warning_keeps_the_keys_line() {
    let mut app = app3(cfg());
    let req = detail_request(&mut app);
    loaded(
        &mut app,
        req,
        UserDetail {
            id: 3,
            username: "alice".into(),
            ..Default::default()
        },
    );
    press(&mut app, "r");
    for (w, h) in [(120, 30), (64, 16), (50, 14), (40, 12)] {
        let screen = text(&render(&app, w, h));
        assert!(screen.contains("no DiscourseConnect"), "{w}x{h}\n{screen}");
        assert!(screen.contains("y or Enter: go"), "{w}x{h}\n{screen}");
    }
}

#[test]
fn the_avatar_column_says_what_a_verified_reset_put_in_place() {
    let mut app = app3(cfg());
    assert!(text(&render(&app, 120, 30)).contains("custom"));
    press(&mut app, "ry");
    let batch = app.batch().unwrap().id;
    let slot = app.selected_slot().unwrap();
    update(
        &mut app,
        Msg::ResetProgress {
            batch,
            slot,
            step: ResetStep::Done(ResetReport {
                user: "external:684".into(),
                username: Some("alice".into()),
                external_id: Some("684".into()),
                strategy: Some(Strategy::SyncSso),
                outcome: Outcome::Verified,
                message: "default avatar in place".into(),
                path: None,
            }),
        },
    );
    update(&mut app, Msg::ResetFinished { batch });
    let screen = text(&render(&app, 120, 30));
    let row = screen.lines().find(|l| l.contains("nudity")).unwrap();
    assert!(row.contains("default"), "{row}");
    assert!(!row.contains("custom"), "{row}");
    // Still after `:refresh`, when the source sends the row again (its avatar, an upload).
    press(&mut app, ":refresh");
    update(&mut app, key(KeyCode::Enter));
    let fx = update(
        &mut app,
        Msg::QueuePage {
            source: Source::App,
            generation: 1,
            result: Ok(QueuePage {
                items: vec![item(Source::App, Some("684"), "alice", "nudity", 1)],
                next: None,
                skipped: 0,
            }),
        },
    );
    assert!(fx.is_empty());
    app.settle();
    let screen = text(&render(&app, 120, 30));
    let row = screen.lines().find(|l| l.contains("nudity")).unwrap();
    assert!(row.contains("default"), "{row}");
}

#[test]
fn refresh_keeps_the_external_id_of_discourse_flagged_users() {
    let mut app = app3(cfg());
    press(&mut app, "G"); // carol, flagged by Discourse only: no external id in the queue
    let req = detail_request(&mut app);
    loaded(
        &mut app,
        req,
        UserDetail {
            id: 9,
            username: "carol".into(),
            sso: Some(SsoRecord {
                external_id: "9001".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    assert!(text(&render(&app, 120, 30)).contains("9001"));
    press(&mut app, ":refresh");
    update(&mut app, key(KeyCode::Enter));
    let mut carol = item(Source::Discourse, None, "carol", "spam avatar", 60);
    carol.discourse_id = Some(9);
    update(
        &mut app,
        Msg::QueuePage {
            source: Source::Discourse,
            generation: 1,
            result: Ok(QueuePage {
                items: vec![carol],
                next: None,
                skipped: 0,
            }),
        },
    );
    app.settle();
    let screen = text(&render(&app, 120, 30));
    assert!(screen.contains("9001"), "{screen}");
}

fn logster(key: &str, message: &str, count: u64, secs: i64) -> LogLine {
    LogLine {
        key: key.into(),
        at: t0() + chrono::Duration::seconds(secs),
        severity: 2,
        kind: LogKind::classify(message, 2),
        message: message.into(),
        count,
    }
}

#[test]
fn log_search_matches_what_is_shown_and_logster_lines_are_counted_once() {
    let mut app = app3(cfg());
    update(
        &mut app,
        Msg::DiscourseLog(Ok(vec![
            logster(
                "k1",
                "Verbose SSO log: User was logged on alice\n\nusername: alice\nfailed: \n",
                1,
                1,
            ),
            logster(
                "k2",
                "Verbose SSO log: Signature verification failed\n\nfailed: true",
                1,
                2,
            ),
            logster("k3", "Job exception: Net::ReadTimeout", 2, 3),
        ])),
    );
    // The same key again with Logster's new count, and the same text under another key.
    update(
        &mut app,
        Msg::DiscourseLog(Ok(vec![
            logster("k3", "Job exception: Net::ReadTimeout", 3, 4),
            logster("k9", "Job exception: Net::ReadTimeout", 1, 5),
        ])),
    );
    let jobs: Vec<_> = app
        .log_entries()
        .filter(|e| matches!(e, super::app::LogEntry::Discourse(l) if l.message.contains("ReadTimeout")))
        .collect();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert!(super::ui::log::compact(jobs[0]).contains("×4"));

    // `/failed` finds the line that says failed, not every dump with a `failed:` field.
    update(&mut app, key(KeyCode::Tab));
    update(&mut app, key(KeyCode::Tab));
    press(&mut app, "/failed");
    assert_eq!(app.focus(), Focus::Log);
    let shown: Vec<String> = app.log_entries().map(super::ui::log::compact).collect();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(shown[0].contains("Signature verification failed"));
}

#[test]
fn a_key_that_does_nothing_says_so() {
    let mut app = app3(cfg());
    for (k, shown) in [
        (key(KeyCode::Char('x')), "x"),
        (key(KeyCode::F(5)), "F5"),
        (ch('X'), "X"),
    ] {
        assert!(update(&mut app, k).is_empty());
        assert_eq!(
            app.message(),
            Some(format!("{shown}: no such key, ? for help").as_str())
        );
    }
    assert!(text(&render(&app, 120, 30)).contains("X: no such key, ? for help"));
}

#[test]
fn command_lines_are_recalled_with_up_and_down() {
    let mut app = app3(cfg());
    for c in [":user bob", ":user carol"] {
        press(&mut app, c);
        update(&mut app, key(KeyCode::Enter));
    }
    press(&mut app, ":us");
    update(&mut app, key(KeyCode::Up));
    assert_eq!(app.input(), &Input::Command("user carol".into()));
    update(&mut app, key(KeyCode::Up));
    assert_eq!(app.input(), &Input::Command("user bob".into()));
    update(&mut app, key(KeyCode::Up));
    assert_eq!(
        app.input(),
        &Input::Command("user bob".into()),
        "oldest stays"
    );
    update(&mut app, key(KeyCode::Down));
    update(&mut app, key(KeyCode::Down));
    assert_eq!(
        app.input(),
        &Input::Command("us".into()),
        "back to the draft"
    );
    update(&mut app, key(KeyCode::Up));
    press(&mut app, "x");
    let fx = update(&mut app, key(KeyCode::Enter));
    assert!(
        matches!(fx.as_slice(), [Effect::LoadUser { user, .. }] if user == &UserRef::parse("carolx"))
    );
    assert_eq!(app.cmd_history, ["user bob", "user carol", "user carolx"]);
}

#[test]
fn remapped_keys_act_and_the_help_and_hints_show_them() {
    let keymap = super::keymap::Keymap::with(&[
        ("reset".into(), vec!["x".into()]),
        ("down".into(), vec!["n".into(), "down".into()]),
        ("help".into(), vec!["f1".into()]),
    ])
    .unwrap();
    let mut app = app3(AppConfig { keymap, ..cfg() });
    press(&mut app, "n");
    assert_eq!(app.selected_index(), 1);
    press(&mut app, "r");
    assert!(app.modal().is_none());
    assert_eq!(app.message(), Some("r: no such key, F1 for help"));
    let screen = text(&render(&app, 160, 30));
    assert!(screen.contains("x reset"), "{screen}");
    assert!(screen.contains("n/k move"), "{screen}");
    assert!(screen.contains("F1 help"), "{screen}");
    press(&mut app, "x");
    assert!(matches!(
        app.modal(),
        Some(Modal::Confirm(Confirm::Reset { .. }))
    ));
    update(&mut app, key(KeyCode::Esc));
    update(&mut app, key(KeyCode::F(1)));
    assert!(matches!(app.modal(), Some(Modal::Help { .. })));
    let screen = text(&render(&app, 120, 50));
    assert!(screen.contains("n / ↓"), "{screen}");
    assert!(screen.contains("x  "), "{screen}");
    // Messages name the keys in force too.
    update(&mut app, key(KeyCode::Esc));
    press(&mut app, "R");
    assert_eq!(
        app.message(),
        Some("no marked users: mark with space, or v for a range")
    );
    let mut ro = app3(AppConfig {
        read_only: true,
        keymap: app.config().keymap.clone(),
        ..cfg()
    });
    press(&mut ro, "x");
    assert!(
        ro.message().unwrap().contains("reset (x) is disabled"),
        "{:?}",
        ro.message()
    );
}

// ----- the newcomer's pass (issue 13): marks, messages, prompts -----

fn reset_one(app: &mut App, name: &str, outcome: Outcome, message: &str) -> usize {
    let i = names(app).iter().position(|n| n == name).unwrap();
    app.select(i);
    press(app, "r");
    let fx = press(app, "y");
    let Some(Effect::Reset { batch, users, .. }) = fx.first().cloned() else {
        panic!("{fx:?}")
    };
    let slot = users[0].0;
    update(
        app,
        Msg::ResetProgress {
            batch,
            slot,
            step: ResetStep::Done(ResetReport {
                user: name.into(),
                username: Some(name.into()),
                external_id: None,
                strategy: Some(Strategy::SyncSso),
                outcome,
                message: message.into(),
                path: None,
            }),
        },
    );
    update(app, Msg::ResetFinished { batch });
    slot
}

fn review_result(
    outcome: crate::review::ReviewOutcome,
    message: &str,
) -> crate::review::ReviewResult {
    crate::review::ReviewResult {
        id: 45,
        action: "approve_user".into(),
        outcome,
        message: message.into(),
        item: None,
    }
}

/// The row's first cells as drawn: reset mark, USER, EXT ID, SRC.
fn row_text(app: &App, name: &str) -> String {
    text(&render(app, 120, 30))
        .lines()
        .find(|l| l.starts_with('│') && l.contains(&format!(" {name} ")))
        .unwrap_or_else(|| panic!("no row {name}"))
        .to_string()
}

#[test]
fn h_hides_only_verified_resets_never_unverified_or_failed_ones() {
    let mut app = app3(cfg());
    reset_one(
        &mut app,
        "alice",
        Outcome::Verified,
        "default avatar in place",
    );
    reset_one(
        &mut app,
        "bob",
        Outcome::Unverified,
        "the avatar did not change",
    );
    reset_one(&mut app, "carol", Outcome::Failed, "no SSO record");
    press(&mut app, "h");
    assert_eq!(names(&app), ["bob", "carol"]);
    assert!(row_text(&app, "bob").contains('?'));
    assert!(row_text(&app, "carol").contains('✗'));
}

#[test]
fn review_outcomes_have_their_own_mark_and_leave_the_reset_mark_alone() {
    use crate::review::ReviewOutcome;
    let mut app = app3(cfg());
    // approve_user on a row never reset: no ✓ (its avatar is still custom), and h keeps it.
    let carol = app.visible()[names(&app).iter().position(|n| n == "carol").unwrap()];
    update(
        &mut app,
        Msg::ReviewPerformed {
            slot: carol,
            result: review_result(ReviewOutcome::Done, "approved"),
        },
    );
    assert_eq!(app.row_status(carol), None);
    let row = row_text(&app, "carol");
    assert!(!row.contains('✓'), "{row}");
    assert!(row.contains("D+"), "{row}");
    press(&mut app, "h");
    assert!(names(&app).contains(&"carol".to_string()));
    press(&mut app, "h");
    // A refused review (409) after a verified reset: the reset stays ✓, the review says !.
    let alice = reset_one(
        &mut app,
        "alice",
        Outcome::Verified,
        "default avatar in place",
    );
    update(
        &mut app,
        Msg::ReviewPerformed {
            slot: alice,
            result: review_result(
                ReviewOutcome::Failed,
                "#45: changed by someone else (version 0, now 1). Refresh and try again.",
            ),
        },
    );
    assert!(app.row_status(alice).unwrap().is_finished());
    let row = row_text(&app, "alice");
    assert!(row.starts_with("│✓"), "{row}");
    assert!(row.contains("D!"), "{row}");
    // The detail pane says both, each under its own name.
    let screen = text(&render(&app, 120, 30));
    assert!(screen.contains("Last reset verified"), "{screen}");
    assert!(
        screen.contains("Review review approve_user: #45: changed"),
        "{screen}"
    );
    // The refused review keeps the row in view under h: it needs another look.
    press(&mut app, "h");
    assert!(names(&app).contains(&"alice".to_string()));
}

#[test]
fn an_undone_reset_is_not_shown_as_verified_nor_hidden() {
    let mut app = app3(cfg());
    let alice = reset_one(
        &mut app,
        "alice",
        Outcome::Verified,
        "default avatar in place",
    );
    assert!(row_text(&app, "alice").contains("default"));
    press(&mut app, "z");
    press(&mut app, "y");
    assert!(app.work_text().unwrap().contains("undoing alice"));
    update(
        &mut app,
        Msg::Undone {
            slot: alice,
            result: Ok(ResetReport {
                user: "external:684".into(),
                username: Some("alice".into()),
                external_id: Some("684".into()),
                strategy: Some(Strategy::SyncSso),
                outcome: Outcome::Verified,
                message: "old avatar back (upload 1000)".into(),
                path: None,
            }),
        },
    );
    let row = row_text(&app, "alice");
    assert!(row.starts_with("│↶"), "{row}");
    assert!(row.contains("custom"), "{row}");
    press(&mut app, "h");
    assert!(names(&app).contains(&"alice".to_string()));
    // The whole outcome in the log pane, under the row's name.
    assert!(app.log_entries().any(|e| matches!(e,
        super::app::LogEntry::Note { tag: "UNDO", text, .. }
            if text == "undo alice: verified — old avatar back (upload 1000)")));
    // Refused before sending: the row shows its reset again.
    press(&mut app, "h");
    let bob = reset_one(&mut app, "bob", Outcome::Verified, "ok");
    press(&mut app, "z");
    press(&mut app, "y");
    update(
        &mut app,
        Msg::Undone {
            slot: bob,
            result: Err("nothing to undo".into()),
        },
    );
    assert!(app.row_status(bob).unwrap().is_finished());
}

#[test]
fn summaries_go_to_the_log_and_the_status_line_shortens_with_an_ellipsis() {
    let mut app = app3(cfg());
    reset_one(
        &mut app,
        "alice",
        Outcome::Verified,
        "default avatar in place",
    );
    // Esc was not pressed and nothing skipped: finished, not cancelled.
    assert!(app.log_entries().any(|e| matches!(e,
        super::app::LogEntry::Note { tag: "RESET", text, .. }
            if text == "resets finished (1 user): 1 verified")));
    // The summary leaves the status line after a while, not the log pane.
    for _ in 0..60 {
        update(&mut app, Msg::Tick { now: t0() });
    }
    assert_eq!(app.message(), None);
    assert!(app.log_entries().any(|e| e.tag() == "RESET"));
    // A long message is cut with an ellipsis at the width.
    let long = "review remove_avatar: #45: changed by someone else (version 0, now 1): someone acted on it meanwhile. Refresh and try again.";
    app.say(long, true);
    let screen = text(&render(&app, 80, 24));
    let status = screen.lines().nth(22).unwrap();
    assert!(status.trim_end().ends_with('…'), "{status:?}");
    assert!(status.contains("review remove_avatar: #45"), "{status:?}");
    // Cut after a whole word.
    let shown = status.trim_end().trim_end_matches('…');
    let shown = &shown[shown.find("review").unwrap()..];
    assert!(long.starts_with(&format!("{shown} ")), "{status:?}");
}

#[test]
fn esc_during_the_last_reset_says_finished_cancelled_only_when_skipped() {
    for (second, word) in [
        (
            Outcome::Unverified,
            "resets finished (2 users): 1 verified, 1 unverified",
        ),
        (
            Outcome::Skipped,
            "resets cancelled (2 users): 1 verified, 1 skipped",
        ),
    ] {
        let mut app = app3(cfg());
        press(&mut app, "  ");
        press(&mut app, "R");
        let fx = press(&mut app, "y");
        let Some(Effect::Reset { batch, users, .. }) = fx.first().cloned() else {
            panic!()
        };
        // The status line says what runs, however long it takes.
        for _ in 0..100 {
            update(&mut app, Msg::Tick { now: t0() });
        }
        assert!(text(&render(&app, 120, 30)).contains("resetting 0/2…"));
        update(&mut app, key(KeyCode::Esc));
        for ((slot, _), outcome) in users.iter().zip([Outcome::Verified, second]) {
            update(
                &mut app,
                Msg::ResetProgress {
                    batch,
                    slot: *slot,
                    step: ResetStep::Done(ResetReport {
                        user: "x".into(),
                        username: None,
                        external_id: None,
                        strategy: Some(Strategy::SyncSso),
                        outcome,
                        message: "m".into(),
                        path: None,
                    }),
                },
            );
        }
        update(&mut app, Msg::ResetFinished { batch });
        assert_eq!(app.message(), Some(word));
    }
}

#[test]
fn backspace_on_an_empty_prompt_keeps_it_open() {
    let mut app = app3(cfg());
    press(&mut app, "/zh");
    for _ in 0..5 {
        update(&mut app, key(KeyCode::Backspace));
    }
    assert_eq!(app.input(), &Input::Filter);
    // Letters typed now filter; none runs as a command (u, o).
    let fx = press(&mut app, "uo");
    assert!(fx.is_empty());
    assert_eq!(app.filter(), "uo");
    assert_eq!(app.log_narrow(), None);
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(app.input(), &Input::Normal);
    press(&mut app, ":");
    update(&mut app, key(KeyCode::Backspace));
    update(&mut app, key(KeyCode::Backspace));
    assert_eq!(app.input(), &Input::Command(String::new()));
    update(&mut app, key(KeyCode::Enter));
    assert_eq!(app.input(), &Input::Normal);
    // The log search too.
    update(&mut app, key(KeyCode::BackTab));
    assert_eq!(app.focus(), Focus::Log);
    press(&mut app, "/");
    update(&mut app, key(KeyCode::Backspace));
    assert_eq!(app.input(), &Input::LogSearch);
}

#[test]
fn the_help_scrolls_and_says_so_with_the_keys_in_force() {
    let keymap = super::keymap::Keymap::with(&[(
        "down".to_string(),
        vec!["n".to_string(), "down".to_string()],
    )])
    .unwrap();
    let mut app = app3(AppConfig { keymap, ..cfg() });
    press(&mut app, "?");
    let screen = text(&render(&app, 120, 30));
    assert!(screen.contains("Keys (n/k scroll, Esc closes)"), "{screen}");
    assert!(screen.contains("n/k scroll"), "{screen}");
    press(&mut app, "nn");
    assert_eq!(app.modal(), Some(&Modal::Help { scroll: 2 }));
    // j is no key any more: it does not scroll.
    press(&mut app, "j");
    assert_eq!(app.modal(), Some(&Modal::Help { scroll: 2 }));
    update(&mut app, key(KeyCode::Down));
    assert_eq!(app.modal(), Some(&Modal::Help { scroll: 3 }));
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(app.modal(), None);
    // The review menu moves with them as well, and says so.
    press(&mut app, "a");
    let Some(Modal::ReviewMenu(menu)) = app.modal().cloned() else {
        panic!()
    };
    let action = |id: &str| crate::discourse::review::ReviewAction {
        id: id.into(),
        label: None,
    };
    let item = crate::discourse::review::ReviewItem {
        id: 45,
        kind: "ReviewableUser".into(),
        status: Some(0),
        version: Some(0),
        created_at: None,
        user_id: Some(1),
        username: Some("alice".into()),
        reasons: vec![],
        actions: vec![action("approve_user"), action("remove_avatar")],
    };
    let subject = crate::review::Subject {
        id: 1,
        username: "alice".into(),
        external_id: None,
        before: Default::default(),
    };
    update(
        &mut app,
        Msg::ReviewItems {
            slot: menu.slot,
            result: Ok((subject, vec![item])),
        },
    );
    assert!(text(&render(&app, 120, 30)).contains("n/k choose"));
    press(&mut app, "n");
    let Some(Modal::ReviewMenu(menu)) = app.modal().cloned() else {
        panic!()
    };
    assert_eq!(menu.sel, 1);
}

#[test]
fn g_in_the_detail_pane_stops_at_the_last_line() {
    let mut app = app3(cfg());
    update(&mut app, Msg::Tick { now: t0() });
    let req = detail_request(&mut app);
    loaded(
        &mut app,
        req,
        UserDetail {
            id: 7,
            username: "alice".into(),
            ..Default::default()
        },
    );
    // A terminal so short that the detail does not fit.
    update(
        &mut app,
        Msg::Resize {
            width: 120,
            height: 20,
        },
    );
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(app.focus(), Focus::Detail);
    press(&mut app, "G");
    let max = super::ui::detail::max_scroll(&app);
    assert!(max > 0);
    assert_eq!(app.detail_scroll, max);
    let screen = text(&render(&app, 120, 20));
    assert!(
        screen.contains("Flags (2)") || screen.contains("flagged post"),
        "{screen}"
    );
    // One k moves up at once: no blank page to climb back through.
    press(&mut app, "k");
    assert_eq!(app.detail_scroll, max - 1);
}

#[test]
fn small_words_badges_and_arabic_reasons() {
    // "1 line".
    let mut app = app3(cfg());
    update(&mut app, key(KeyCode::BackTab));
    update(&mut app, Msg::Exchange(exchange("/u/zz-only.json", None)));
    press(&mut app, "/zz-only");
    let screen = text(&render(&app, 120, 30));
    assert!(screen.contains("  1 line"), "{screen}");
    assert!(!screen.contains("1 lines"), "{screen}");
    // A read-only refusal reads as a sentence.
    let mut app = app3(AppConfig {
        read_only: true,
        ..cfg()
    });
    press(&mut app, "a");
    assert_eq!(
        app.message(),
        Some("read-only (--read-only): the review menu (a) is disabled and nothing is sent")
    );
    // The demo says so in the header.
    let app = app3(AppConfig {
        demo: true,
        ..cfg()
    });
    assert!(
        text(&render(&app, 120, 30))
            .lines()
            .next()
            .unwrap()
            .starts_with(" DEMO ")
    );
    // An Arabic reason (a lam-alef pair) and combining marks keep the AVATAR cell in place.
    let mut app = app3(cfg());
    page(
        &mut app,
        Source::App,
        vec![
            item(Source::App, Some("700"), "maryam", "صورة غير لائقة", 2),
            item(
                Source::App,
                Some("701"),
                "zoe",
                "nai\u{308}ve cafe\u{301}",
                3,
            ),
        ],
    );
    let buf = render(&app, 120, 30);
    let col = |name: &str| {
        let y = (0..buf.area.height)
            .find(|y| {
                let line: String = (0..buf.area.width).map(|x| buf[(x, *y)].symbol()).collect();
                line.contains(&format!(" {name} "))
            })
            .unwrap();
        // The x of "custom" in that row.
        (0..buf.area.width - 6)
            .find(|x| (0..6).map(|i| buf[(x + i, y)].symbol()).collect::<String>() == "custom")
            .unwrap()
    };
    assert_eq!(col("maryam"), col("bob"));
    assert_eq!(col("zoe"), col("bob"));
}

/// A console opened after the reset (a new process) knows the default image's upload from the
/// audit log (`SiteInfo::default_upload`): a row whose avatar is that upload says `default`.
#[test]
fn a_reopened_console_names_the_default_image_from_the_audit() {
    let mut app = app3(cfg());
    let mut alice = item(Source::App, Some("684"), "alice", "nudity", 1);
    alice.avatar_upload = Some(2_000_000);
    let mut bob = item(Source::App, Some("685"), "bob", "violence", 10);
    bob.avatar_upload = Some(77);
    page(&mut app, Source::App, vec![alice, bob]);
    app.settle();
    let row = |app: &App, reason: &str| {
        text(&render(app, 120, 30))
            .lines()
            .find(|l| l.contains(reason))
            .unwrap()
            .to_string()
    };
    assert!(
        row(&app, "nudity").contains("custom"),
        "{}",
        row(&app, "nudity")
    );
    update(
        &mut app,
        Msg::SiteLoaded(Ok(SiteInfo {
            default_upload: Some(2_000_000),
            ..site()
        })),
    );
    assert!(
        row(&app, "nudity").contains("default"),
        "{}",
        row(&app, "nudity")
    );
    assert!(
        row(&app, "violence").contains("custom"),
        "{}",
        row(&app, "violence")
    );
}

/// A big queue's load is thousands of page reads: only the newest log entries keep a read's
/// answer body (memory at 100,000 users); a change's answer is always kept.
#[test]
fn old_reads_keep_their_line_but_not_their_answer() {
    let mut app = app3(cfg());
    let mut sync = exchange("/admin/users/sync_sso", Some("sso=…"));
    sync.method = "POST".into();
    update(&mut app, Msg::Exchange(sync));
    for i in 0..400 {
        let mut e = exchange(&format!("/review.json?offset={i}"), None);
        e.method = "GET".into();
        e.response_body = Some(format!("page {i}"));
        update(&mut app, Msg::Exchange(e));
    }
    let body = |path: &str| {
        app.log
            .iter()
            .find_map(|e| match e {
                super::app::LogEntry::Api(x) if x.path == path => x.response_body.clone(),
                _ => None,
            })
            .unwrap()
    };
    assert!(body("/review.json?offset=0").starts_with("(not kept"));
    assert_eq!(body("/review.json?offset=399"), "page 399");
    assert_eq!(body("/admin/users/sync_sso"), "{\"success\":\"OK\"}");
}

/// A moderator going down the queue with `r y j r y …` while the first reset still runs loses
/// none: each one asked for meanwhile is queued (its row waiting) and they start, as one batch,
/// when the running one finishes. Esc drops the queued ones with the rest.
#[test]
fn resets_asked_for_while_one_runs_are_queued_not_refused() {
    let mut app = app3(cfg());
    let fx = press(&mut app, "ry");
    let Some(Effect::Reset { batch, users, .. }) = fx.first() else {
        panic!("{fx:?}");
    };
    let (batch, first) = (*batch, users[0].0);
    // Two more, typed at once while the first runs.
    assert!(press(&mut app, "jry").is_empty());
    assert!(press(&mut app, "jry").is_empty());
    assert_eq!(app.queued_resets.len(), 2);
    assert!(
        app.message().unwrap().contains("queued"),
        "{:?}",
        app.message()
    );
    for &s in &app.queued_resets {
        assert_eq!(app.row_status(s), Some(&RowStatus::Waiting));
    }
    let queued = app.queued_resets.clone();
    // The same row again is not queued twice.
    press(&mut app, "ry");
    assert_eq!(app.queued_resets.len(), 2);
    update(
        &mut app,
        Msg::ResetProgress {
            batch,
            slot: first,
            step: reset_done(Outcome::Verified, "m"),
        },
    );
    // The first batch ends: the queued ones start together, in the order asked.
    let fx = update(&mut app, Msg::ResetFinished { batch });
    let Some(Effect::Reset {
        batch: next, users, ..
    }) = fx.first()
    else {
        panic!("the queued resets did not start: {fx:?}");
    };
    assert_ne!(*next, batch);
    assert_eq!(users.iter().map(|(s, _)| *s).collect::<Vec<_>>(), queued);
    assert!(app.queued_resets.is_empty());

    // Queued behind a batch that is then cancelled: they never start, and the row queued (the
    // first one, verified earlier) shows its ✓ again, not a `-`.
    press(&mut app, "gry");
    assert_eq!(app.queued_resets, vec![first]);
    assert_eq!(
        update(&mut app, key(KeyCode::Esc)),
        vec![Effect::CancelResets]
    );
    assert!(app.queued_resets.is_empty());
    assert_verified(&app, first);
    // The same inside a batch: a verified row reset again, then skipped, keeps its ✓.
    let (next, s2) = (*next, users[0].0);
    update(
        &mut app,
        Msg::ResetProgress {
            batch: next,
            slot: s2,
            step: reset_done(Outcome::Verified, "m"),
        },
    );
    assert!(update(&mut app, Msg::ResetFinished { batch: next }).is_empty());
    let fx = press(&mut app, "gry");
    let Some(Effect::Reset { batch: third, .. }) = fx.first() else {
        panic!("no batch: {fx:?}");
    };
    let third = *third;
    update(&mut app, key(KeyCode::Esc));
    update(
        &mut app,
        Msg::ResetProgress {
            batch: third,
            slot: first,
            step: reset_done(Outcome::Skipped, "m"),
        },
    );
    assert_verified(&app, first);
}

/// `G`/End go to the help's last line, and no key scrolls past it into blank rows.
#[test]
fn the_help_scrolls_to_its_end_and_no_further() {
    let mut app = app3(cfg());
    press(&mut app, "?");
    let scroll = |app: &App| match app.modal() {
        Some(Modal::Help { scroll }) => *scroll,
        other => panic!("{other:?}"),
    };
    let max = super::ui::dialogs::modal_max_scroll(&app);
    assert!(max > 0, "the help is longer than 30 rows");
    press(&mut app, "G");
    assert_eq!(scroll(&app), max);
    press(&mut app, "jjj");
    assert_eq!(scroll(&app), max);
    let screen = text(&render(&app, 120, 30));
    assert!(screen.contains("quit"), "the last lines show:\n{screen}");
    update(&mut app, key(KeyCode::Home));
    assert_eq!(scroll(&app), 0);
    update(&mut app, key(KeyCode::End));
    assert_eq!(scroll(&app), max);
}

/// The log pane's hints name the filter key once (as "search log"), and leave out an action
/// bound to no key instead of showing `-`. `:user external:` is a usage slip, not a lookup.
#[test]
fn log_hints_say_each_key_once_and_user_without_an_id_is_usage() {
    let mut c = cfg();
    c.keymap = crate::tui::keymap::Keymap::with(&[("verbose_sso".into(), vec![])]).unwrap();
    let mut app = app3(c);
    update(&mut app, key(KeyCode::Tab));
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(app.focus(), Focus::Log);
    let screen = text(&render(&app, 200, 30));
    let hints = screen.lines().last().unwrap().to_string();
    assert_eq!(hints.matches("/ ").count(), 1, "{hints}");
    assert!(hints.contains("/ search log"), "{hints}");
    assert!(
        hints.contains("U verbose logs") && !hints.contains("-/U"),
        "{hints}"
    );

    update(&mut app, key(KeyCode::BackTab));
    update(&mut app, key(KeyCode::BackTab));
    press(&mut app, ":user external:");
    let fx = update(&mut app, key(KeyCode::Enter));
    assert!(fx.is_empty(), "{fx:?}");
    assert!(
        app.message().unwrap().contains("usage: :user NAME"),
        "{:?}",
        app.message()
    );
}

/// With `h` on, the row just verified stays until the cursor leaves it: a moderator who waits
/// for the ✓ and then presses `j` lands on the next row, not the one after it.
#[test]
fn hide_done_keeps_the_selected_row_until_the_cursor_leaves_it() {
    let mut app = app3(cfg());
    press(&mut app, "h");
    let order: Vec<usize> = app.visible().to_vec();
    assert!(order.len() >= 3);
    let fx = press(&mut app, "ry");
    let Some(Effect::Reset { batch, .. }) = fx.first() else {
        panic!("{fx:?}");
    };
    let batch = *batch;
    update(
        &mut app,
        Msg::ResetProgress {
            batch,
            slot: order[0],
            step: reset_done(Outcome::Verified, "m"),
        },
    );
    update(&mut app, Msg::ResetFinished { batch });
    // Verified, still shown and selected.
    assert_eq!(app.selected_slot(), Some(order[0]));
    assert!(app.visible().contains(&order[0]));
    press(&mut app, "j");
    assert_eq!(app.selected_slot(), Some(order[1]), "j skipped a row");
    assert!(
        !app.visible().contains(&order[0]),
        "the closed case is hidden once left"
    );
}

/// A verified reset that warns the photo comes back at the next login is marked `!`, not a
/// plain ✓, and the batch's summary counts it.
#[test]
fn a_verified_reset_with_a_warning_is_marked_apart() {
    let mut app = app3(cfg());
    let fx = press(&mut app, "ry");
    let Some(Effect::Reset { batch, users, .. }) = fx.first() else {
        panic!("{fx:?}");
    };
    let (batch, slot) = (*batch, users[0].0);
    update(
        &mut app,
        Msg::ResetProgress {
            batch,
            slot,
            step: reset_done(
                Outcome::Verified,
                &format!(
                    "default avatar in place. {}the SSO record's last login payload still sends the flagged photo",
                    crate::reset::WARNING
                ),
            ),
        },
    );
    update(&mut app, Msg::ResetFinished { batch });
    let screen = text(&render(&app, 120, 30));
    let row = screen.lines().find(|l| l.contains("nudity")).unwrap();
    assert!(row.contains('!') && !row.contains('✓'), "{row}");
    assert!(
        app.message()
            .unwrap()
            .contains("1 verified (1 with a warning (!)"),
        "{:?}",
        app.message()
    );
}
