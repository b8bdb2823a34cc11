//! The console's effects runner and `update` together, against a fake backend: the loop's work
//! without a terminal. (The end-to-end run of the binary in a pseudo-terminal comes with the
//! command code.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use avatar_console::model::{
    AvatarKind, FlagItem, LogLine, Outcome, ResetReport, Source, Strategy, UserDetail, UserRef,
};
use avatar_console::tui::app::{Confirm, Modal, RowStatus};
use avatar_console::tui::effects::{Progress, ResetOptions, Runner};
use avatar_console::tui::{
    App, AppConfig, Backend, Effect, Msg, QueuePage, ResetStep, Setting, SiteInfo, UserInfo, update,
};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::mpsc;

/// Two app pages and one Discourse page; the second Discourse page fails. Resets take 20 ms.
#[derive(Default)]
struct FakeBackend {
    resets: Mutex<Vec<(String, bool)>>,
    settings: Mutex<Vec<(Setting, bool)>>,
    loads: AtomicUsize,
}

fn flag(source: Source, ext: Option<&str>, name: &str) -> FlagItem {
    FlagItem {
        source,
        external_id: ext.map(str::to_string),
        discourse_id: None,
        username: Some(name.into()),
        email: None,
        reason: "nudity".into(),
        flagged_at: None,
        photo_url: None,
        avatar: AvatarKind::Unknown,
    }
}

impl Backend for FakeBackend {
    fn site(&self) -> BoxFuture<'static, Result<SiteInfo, String>> {
        async {
            Ok(SiteInfo {
                strategy: Strategy::Pick,
                why: "overrides avatar off".into(),
                verbose_sso: Some(false),
                verbose_upload: Some(false),
            })
        }
        .boxed()
    }

    fn load_queue_page(
        &self,
        source: Source,
        cursor: Option<String>,
    ) -> BoxFuture<'static, Result<QueuePage, String>> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        async move {
            match (source, cursor.as_deref()) {
                (Source::App, None) => Ok(QueuePage {
                    items: vec![
                        flag(Source::App, Some("1"), "ann"),
                        flag(Source::App, Some("2"), "ben"),
                    ],
                    next: Some("page2".into()),
                }),
                (Source::App, Some("page2")) => Ok(QueuePage {
                    items: vec![flag(Source::App, Some("3"), "cat")],
                    next: None,
                }),
                (Source::Discourse, None) => Ok(QueuePage {
                    items: vec![
                        flag(Source::Discourse, None, "ANN"),
                        flag(Source::Discourse, None, "dov"),
                    ],
                    next: Some("10".into()),
                }),
                _ => Err("500 Internal Server Error".into()),
            }
        }
        .boxed()
    }

    fn load_user(&self, user: UserRef) -> BoxFuture<'static, Result<UserInfo, String>> {
        async move {
            match user {
                UserRef::Username(n) if n == "ghost" => Err("404 Not Found".into()),
                other => Ok(UserInfo {
                    detail: UserDetail {
                        id: 9,
                        username: other.to_string(),
                        ..Default::default()
                    },
                    audit: vec![],
                }),
            }
        }
        .boxed()
    }

    fn reset(
        &self,
        user: UserRef,
        options: ResetOptions,
        progress: Progress,
    ) -> BoxFuture<'static, ResetReport> {
        self.resets
            .lock()
            .unwrap()
            .push((user.to_string(), options.dry_run));
        async move {
            progress(ResetStep::Resolving);
            progress(ResetStep::Sending(Strategy::Pick));
            tokio::time::sleep(Duration::from_millis(20)).await;
            progress(ResetStep::Verifying);
            ResetReport {
                user: user.to_string(),
                username: None,
                external_id: None,
                strategy: Some(Strategy::Pick),
                outcome: Outcome::Verified,
                message: "letter avatar".into(),
            }
        }
        .boxed()
    }

    fn poll_logs(
        &self,
        _after: Option<String>,
    ) -> BoxFuture<'static, Result<Vec<LogLine>, String>> {
        async { Ok(vec![]) }.boxed()
    }

    fn set_setting(
        &self,
        setting: Setting,
        enable: bool,
    ) -> BoxFuture<'static, Result<bool, String>> {
        self.settings.lock().unwrap().push((setting, enable));
        async move { Ok(enable) }.boxed()
    }
}

struct Harness {
    app: App,
    runner: Runner,
    rx: mpsc::UnboundedReceiver<Msg>,
    backend: Arc<FakeBackend>,
}

impl Harness {
    fn new() -> Self {
        let backend = Arc::new(FakeBackend::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let runner = Runner::new(backend.clone(), tx);
        let mut app = App::new(AppConfig {
            site: "forum.test".into(),
            ..AppConfig::default()
        });
        update(
            &mut app,
            Msg::Resize {
                width: 120,
                height: 40,
            },
        );
        let mut h = Self {
            app,
            runner,
            rx,
            backend,
        };
        let fx = h.app.init();
        h.run(fx);
        h
    }

    fn run(&mut self, fx: Vec<Effect>) {
        for e in fx {
            self.runner.run(e);
        }
    }

    fn send(&mut self, msg: Msg) {
        let fx = update(&mut self.app, msg);
        self.run(fx);
    }

    fn keys(&mut self, keys: &str) {
        for c in keys.chars() {
            self.send(Msg::Key(KeyEvent::new(
                KeyCode::Char(c),
                KeyModifiers::NONE,
            )));
        }
    }

    /// Handles messages until `done` holds (or fails after 2 s).
    async fn pump_until(&mut self, done: impl Fn(&App) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while !done(&self.app) {
            let msg = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .expect("timed out waiting for the console")
                .expect("channel closed");
            self.send(msg);
            self.app.settle();
        }
    }
}

#[tokio::test]
async fn both_sources_load_merge_and_a_failing_page_is_reported() {
    let mut h = Harness::new();
    h.pump_until(|a| !a.is_loading() && a.site().is_some())
        .await;
    // ann (app) and ANN (discourse) are one user.
    assert_eq!(h.app.queue().len(), 4);
    assert_eq!(h.backend.loads.load(Ordering::SeqCst), 4);
    let err = h
        .app
        .source_state(Source::Discourse)
        .unwrap()
        .error
        .clone()
        .unwrap();
    assert!(err.contains("500"));
    assert!(h.app.source_state(Source::App).unwrap().error.is_none());
    assert_eq!(h.app.strategy_text(), "pick (overrides avatar off)");
}

#[tokio::test]
async fn a_batch_reports_each_step_and_cancelling_skips_the_rest() {
    let mut h = Harness::new();
    h.pump_until(|a| !a.is_loading()).await;
    h.keys("gvGv");
    h.keys("R");
    assert!(
        matches!(h.app.modal(), Some(Modal::Confirm(Confirm::Reset { slots })) if slots.len() == 4)
    );
    h.keys("y");
    // Wait for the first user to be sent, then cancel.
    h.pump_until(|a| {
        a.visible()
            .iter()
            .any(|s| matches!(a.row_status(*s), Some(RowStatus::Running(_))))
    })
    .await;
    h.send(Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
    h.pump_until(|a| a.batch().is_none()).await;
    let outcomes: Vec<Outcome> = h
        .app
        .visible()
        .iter()
        .filter_map(|s| match h.app.row_status(*s) {
            Some(RowStatus::Done { outcome, .. }) => Some(*outcome),
            _ => None,
        })
        .collect();
    assert_eq!(outcomes.len(), 4);
    assert_eq!(
        outcomes.iter().filter(|o| **o == Outcome::Verified).count(),
        1
    );
    assert_eq!(
        outcomes.iter().filter(|o| **o == Outcome::Skipped).count(),
        3
    );
    assert_eq!(h.backend.resets.lock().unwrap().len(), 1);
    assert!(h.app.message().unwrap().contains("cancelled"));
}

#[tokio::test]
async fn user_lookup_and_setting_toggle_go_through_the_backend() {
    let mut h = Harness::new();
    h.pump_until(|a| !a.is_loading() && a.site().is_some())
        .await;
    h.keys(":user ghost");
    h.send(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    h.pump_until(|a| a.message().is_some_and(|m| m.contains("not found")))
        .await;

    h.keys("U");
    h.keys("y");
    h.pump_until(|a| a.site().unwrap().verbose_upload == Some(true))
        .await;
    assert_eq!(
        *h.backend.settings.lock().unwrap(),
        vec![(Setting::VerboseUpload, true)]
    );
}

/// A backend with many users and exchanges, for trying the real terminal loop by hand:
/// `tmux new 'cargo test --test it live_console -- --ignored --nocapture'`.
struct LiveBackend {
    fake: FakeBackend,
    exchanges: tokio::sync::broadcast::Sender<avatar_console::model::Exchange>,
}

impl Backend for LiveBackend {
    fn site(&self) -> BoxFuture<'static, Result<SiteInfo, String>> {
        self.fake.site()
    }
    fn load_queue_page(
        &self,
        source: Source,
        cursor: Option<String>,
    ) -> BoxFuture<'static, Result<QueuePage, String>> {
        async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            let page: usize = cursor.as_deref().unwrap_or("0").parse().unwrap_or(0);
            let items = (page * 500..page * 500 + 500)
                .map(|i| FlagItem {
                    flagged_at: Some(chrono::Utc::now() - chrono::Duration::minutes(i as i64)),
                    email: Some(format!("user{i}@example.com")),
                    ..flag(
                        source,
                        (source == Source::App).then(|| i.to_string()).as_deref(),
                        &format!("user{i}"),
                    )
                })
                .collect();
            Ok(QueuePage {
                items,
                next: (page < 19).then(|| (page + 1).to_string()),
            })
        }
        .boxed()
    }
    fn load_user(&self, user: UserRef) -> BoxFuture<'static, Result<UserInfo, String>> {
        self.fake.load_user(user)
    }
    fn reset(
        &self,
        user: UserRef,
        options: ResetOptions,
        progress: Progress,
    ) -> BoxFuture<'static, ResetReport> {
        let tx = self.exchanges.clone();
        let path = format!("/u/{user}/preferences/avatar/pick");
        let fut = self.fake.reset(user, options, progress);
        async move {
            let r = fut.await;
            let _ = tx.send(avatar_console::model::Exchange {
                at: chrono::Utc::now(),
                method: "PUT".into(),
                path,
                status: Some(200),
                latency_ms: 41,
                summary: "200 OK".into(),
                request_body: Some("type=system".into()),
                response_body: Some("{\"success\":\"OK\"}".into()),
            });
            r
        }
        .boxed()
    }
    fn poll_logs(&self, after: Option<String>) -> BoxFuture<'static, Result<Vec<LogLine>, String>> {
        async move {
            if after.is_some() {
                return Ok(vec![]);
            }
            Ok(vec![LogLine {
                key: "k1".into(),
                at: chrono::Utc::now(),
                severity: 2,
                kind: avatar_console::model::LogKind::Sso,
                message:
                    "Verbose SSO log: Signature verification failed\nsso=bm9uY2U9MQ%3D%3D&sig=ab"
                        .into(),
                count: 3,
            }])
        }
        .boxed()
    }
    fn set_setting(
        &self,
        setting: Setting,
        enable: bool,
    ) -> BoxFuture<'static, Result<bool, String>> {
        self.fake.set_setting(setting, enable)
    }
    fn budget(&self) -> Option<avatar_console::tui::BudgetStatus> {
        Some(avatar_console::tui::BudgetStatus {
            left: 55,
            per_minute: 60,
            retry_after_secs: None,
        })
    }
    fn exchanges(
        &self,
    ) -> Option<tokio::sync::broadcast::Receiver<avatar_console::model::Exchange>> {
        Some(self.exchanges.subscribe())
    }
}

#[tokio::test]
#[ignore = "needs a terminal: run by hand in tmux"]
async fn live_console() {
    let backend = Arc::new(LiveBackend {
        fake: FakeBackend::default(),
        exchanges: tokio::sync::broadcast::channel(256).0,
    });
    let app = App::new(AppConfig {
        site: "forum.test".into(),
        api_user: "system".into(),
        ..AppConfig::default()
    });
    avatar_console::tui::run(app, backend).await.unwrap();
}
