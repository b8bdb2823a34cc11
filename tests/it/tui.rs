//! The console's effects runner and `update` together, against a fake backend: the loop's work
//! without a terminal; then the real binary end to end in a tmux pane against the sandbox.

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
    resets: Arc<Mutex<Vec<(String, bool)>>>,
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
        avatar_upload: None,
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
                warnings: vec!["default_avatar_url is plain http".into()],
                interrupted: vec![],
                default_upload: None,
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
                    skipped: 0,
                }),
                (Source::App, Some("page2")) => Ok(QueuePage {
                    items: vec![flag(Source::App, Some("3"), "cat")],
                    next: None,
                    skipped: 1,
                }),
                (Source::Discourse, None) => Ok(QueuePage {
                    items: vec![
                        flag(Source::Discourse, None, "ANN"),
                        flag(Source::Discourse, None, "dov"),
                    ],
                    next: Some("10".into()),
                    skipped: 0,
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
        // Recorded when the future runs, not when it is made: `Backend::reset_batch` makes every
        // user's future up front and drops the ones a cancel skips.
        let resets = self.resets.clone();
        async move {
            resets
                .lock()
                .unwrap()
                .push((user.to_string(), options.dry_run));
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
                path: None,
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
    // Setup warnings reach the log pane.
    assert!(
        h.app
            .log_entries()
            .any(|e| format!("{e:?}").contains("plain http"))
    );
    // The item the main app sent without an external id is said, not hidden.
    assert!(
        h.app
            .log_entries()
            .any(|e| format!("{e:?}").contains("without an external_id skipped"))
    );
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

// ---------------------------------------------------------------------------------------------
// End to end: the real binary in a tmux pane against a sandbox started by the test.
// ---------------------------------------------------------------------------------------------

const BIN: &str = env!("CARGO_BIN_EXE_avatar-console");

/// A private tmux server (`-L <unique socket>`) holding one detached session; dropping it kills
/// the server, the pane and the binary in it.
struct Tmux {
    socket: String,
    session: String,
    dir: std::path::PathBuf,
}

/// A scratch directory, removed on drop.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Tmux {
    /// `tmux -L <socket> <args…>`, outside any tmux the tests may run in.
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new("tmux")
            .env_remove("TMUX")
            .env_remove("TMUX_PANE")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run tmux")
    }

    /// Starts `sh script` in a detached 160×45 session.
    fn start(tag: &str, script: &std::path::Path) -> Tmux {
        let have_tmux = std::process::Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            have_tmux,
            "tmux is not installed: the end-to-end console test drives the binary in a tmux pane \
             (apt-get install tmux; .ci/run installs it on CI)"
        );
        let unique = format!(
            "{}-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0),
            tag
        );
        let t = Tmux {
            socket: format!("ac-it-{unique}"),
            session: format!("ac-{unique}"),
            dir: script.parent().unwrap().to_path_buf(),
        };
        let out = t.cmd(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            &t.session,
            "-x",
            "160",
            "-y",
            "45",
            &format!("sh {}", script.display()),
        ]);
        assert!(
            out.status.success(),
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t
    }

    fn send(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.session];
        args.extend_from_slice(keys);
        let out = self.cmd(&args);
        assert!(
            out.status.success(),
            "tmux send-keys {keys:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The visible screen, as text.
    fn screen(&self) -> String {
        String::from_utf8_lossy(
            &self
                .cmd(&["capture-pane", "-p", "-t", &self.session])
                .stdout,
        )
        .into_owned()
    }

    /// The visible screen with its colours as escape sequences.
    fn screen_escapes(&self) -> String {
        String::from_utf8_lossy(
            &self
                .cmd(&["capture-pane", "-e", "-p", "-t", &self.session])
                .stdout,
        )
        .into_owned()
    }

    /// `#{alternate_on}` of the pane: `1` while the UI holds the alternate screen.
    fn alternate_on(&self) -> String {
        let out = self.cmd(&[
            "display-message",
            "-p",
            "-t",
            &self.session,
            "#{alternate_on}",
        ]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
    }

    /// Captures the screen every 100 ms until `done` holds on one capture; panics with the last
    /// screen (and the binary's stderr) after `timeout`. `done` may keep state across captures.
    fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&str) -> bool,
    ) -> String {
        let started = std::time::Instant::now();
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            if started.elapsed() > timeout {
                panic!(
                    "timed out after {timeout:?} waiting for {what}; last screen:\n{screen}\nstderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// Quotes for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A console run: the scratch directory (config, data dir, the run script, the binary's stderr and
/// exit code) for the binary started in a tmux pane against `sb`.
struct Console {
    dir: std::path::PathBuf,
    _scratch: Scratch,
}

impl Console {
    fn new(sb: &discourse_sandbox::Sandbox, tag: &str) -> Console {
        Console::build(sb, tag, "", true, "", "")
    }

    /// `config_extra` is appended to the sandbox's config; `no_color` sets NO_COLOR; `before` is
    /// a shell line run in the pane before the binary.
    fn new_with(
        sb: &discourse_sandbox::Sandbox,
        tag: &str,
        config_extra: &str,
        no_color: bool,
        before: &str,
    ) -> Console {
        Console::build(sb, tag, config_extra, no_color, "", before)
    }

    /// As [`Console::new`], with more arguments for the binary (already quoted for `sh`).
    fn with_args(sb: &discourse_sandbox::Sandbox, tag: &str, args: &str) -> Console {
        Console::build(sb, tag, "", true, args, "")
    }

    fn build(
        sb: &discourse_sandbox::Sandbox,
        tag: &str,
        config_extra: &str,
        no_color: bool,
        args: &str,
        before: &str,
    ) -> Console {
        let dir = std::env::temp_dir().join(format!(
            "ac-it-tui-{tag}-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
        ));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let scratch = Scratch(dir.clone());
        std::fs::write(
            dir.join("config.toml"),
            format!("{}{config_extra}", sb.config_toml()),
        )
        .unwrap();
        let q = |name: &str| sh_quote(&dir.join(name).display().to_string());
        // Clean environment: no AVATAR_CONSOLE_* from the caller, no proxy, no colours; the exit
        // code lands in a file (written whole, then renamed), then the terminal's modes (`stty
        // -a`); the pane then stays, so the test can look at the terminal the console gave back.
        // The shell's pid is written first: the binary is its child.
        let script = format!(
            "unset AVATAR_CONSOLE_CONFIG AVATAR_CONSOLE_API_KEY AVATAR_CONSOLE_SSO_SECRET \
             AVATAR_CONSOLE_MAIN_APP_TOKEN RUST_LOG HTTP_PROXY HTTPS_PROXY http_proxy https_proxy\n\
             export AVATAR_CONSOLE_DATA_DIR={data} HOME={home} XDG_CONFIG_HOME={home}/.config \
             XDG_DATA_HOME={home}/.local/share {no_color}TERM=tmux-256color\n\
             {before}\n\
             echo $$ >{shpid}\n\
             {bin} --config {config} {args} 2>{stderr}\n\
             code=$?\n\
             stty -a >{stty} 2>&1\n\
             echo \"EXIT=$code\" >{exit}.tmp && mv {exit}.tmp {exit}\n\
             exec sleep 120\n",
            data = q("data"),
            home = q("home"),
            bin = sh_quote(BIN),
            config = q("config.toml"),
            stderr = q("stderr"),
            exit = q("exit"),
            shpid = q("shpid"),
            stty = q("stty"),
            no_color = if no_color { "NO_COLOR=1 " } else { "" },
            before = before,
        );
        std::fs::write(dir.join("run.sh"), script).unwrap();
        Console {
            dir,
            _scratch: scratch,
        }
    }

    /// Starts the binary in its pane and waits until the UI is up (its footer is drawn: keys
    /// typed from now on reach it).
    fn start(&self, tag: &str) -> Tmux {
        let t = Tmux::start(tag, &self.dir.join("run.sh"));
        t.wait_for("the console's footer", Duration::from_secs(20), |s| {
            s.contains("? help") && s.contains("q quit")
        });
        t
    }

    /// Presses `q` and checks the binary exits 0, gives the terminal back (alternate screen off)
    /// and wrote nothing to stderr while the UI ran.
    fn quit(&self, t: &Tmux) {
        t.send(&["q"]);
        let exit_file = self.dir.join("exit");
        let started = std::time::Instant::now();
        let code = loop {
            if let Ok(text) = std::fs::read_to_string(&exit_file) {
                break text.trim().to_string();
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the console did not exit after q; screen:\n{}\nstderr:\n{}",
                t.screen(),
                t.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(
            code,
            "EXIT=0",
            "q exits 0; screen:\n{}\nstderr:\n{}",
            t.screen(),
            t.stderr()
        );
        assert_eq!(
            t.alternate_on(),
            "0",
            "alternate screen still on after exit"
        );
        let stderr = t.stderr();
        assert!(
            stderr.trim().is_empty(),
            "the console wrote to stderr:\n{stderr}"
        );
    }

    fn audit(&self) -> Vec<avatar_console::audit::AuditEntry> {
        avatar_console::audit::read_entries(&self.dir.join("data/audit.jsonl"))
    }
}

/// Runs `drive` on a blocking thread (the sandbox keeps serving on the runtime), passing its
/// panic on as is; answers how long it took.
async fn drive(f: impl FnOnce() + Send + 'static) -> Duration {
    let driver = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        f();
        started.elapsed()
    });
    match driver.await {
        Ok(d) => d,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

fn sync_sso_requests(sb: &discourse_sandbox::Sandbox) -> Vec<discourse_sandbox::RecordedRequest> {
    sb.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/admin/users/sync_sso")
        .collect()
}

/// The moderator's path through the console: open it on the sandbox, filter to alice, `r`, read
/// the confirm modal, `y`, watch the sync_sso exchange and the verified outcome arrive, `q`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_resets_a_user_end_to_end_in_a_terminal() {
    let sb = discourse_sandbox::Sandbox::start(discourse_sandbox::Scenario::default())
        .await
        .unwrap();
    let before = sb.user("alice").unwrap();
    let console = Arc::new(Console::new(&sb, "one"));

    let c = console.clone();
    let took = drive(move || {
        let t = c.start("one");
        t.send(&["/", "a", "l", "i", "c", "e", "Enter"]);
        // alice (external id 684) is the only row left, selected: the detail pane carries her name.
        let screen = t.wait_for(
            "the queue filtered to alice",
            Duration::from_secs(20),
            |s| {
                s.lines()
                    .any(|l| l.contains(" alice ") && l.contains(" 684 "))
                    && s.contains("┌ alice ")
                    && s.contains("1 shown")
            },
        );
        assert!(screen.contains("Queue /alice"), "{screen}");

        t.send(&["r"]);
        // The whole modal, down to its key line (a capture may catch a frame half drawn).
        let modal = t.wait_for("the confirm modal", Duration::from_secs(10), |s| {
            s.contains("Reset avatar") && s.contains("y or Enter")
        });
        assert!(
            modal.contains("Reset the avatar of alice"),
            "the modal names the user:\n{modal}"
        );
        assert!(
            modal.contains("sync-sso (overrides avatar on)"),
            "the modal names the strategy and why:\n{modal}"
        );
        assert!(modal.contains("n or Esc"), "{modal}");

        t.send(&["y"]);
        // The log pane scrolls, so remember the exchange once it has been on screen.
        let mut saw_sync = false;
        let done = t.wait_for(
            "POST sync_sso 200 in the log pane and alice verified",
            Duration::from_secs(45),
            |s| {
                saw_sync |= s.contains("POST /admin/users/sync_sso 200");
                let row_verified = s
                    .lines()
                    .any(|l| l.contains('✓') && l.contains(" alice ") && l.contains(" 684 "));
                let status_verified = s.contains("1 verified");
                saw_sync && (row_verified || status_verified)
            },
        );
        assert!(done.contains("verified"), "{done}");
        c.quit(&t);
    })
    .await;
    eprintln!("end-to-end console run (one user) took {took:?}");

    // The server side: alice's avatar changed, exactly one sync_sso, no client rule broken.
    let after = sb.user("alice").unwrap();
    assert_ne!(
        (after.uploaded_avatar_id, &after.avatar_template),
        (before.uploaded_avatar_id, &before.avatar_template),
        "alice's avatar did not change"
    );
    let syncs = sync_sso_requests(&sb);
    assert_eq!(syncs.len(), 1, "one sync_sso: {syncs:#?}");
    assert_eq!(syncs[0].status, 200);
    assert!(sb.violations().is_empty(), "{:#?}", sb.violations());

    // The audit log holds the intent and the verified outcome for alice.
    let audit = console.audit();
    let alice: Vec<_> = audit
        .iter()
        .filter(|e| e.user.username.as_deref() == Some("alice"))
        .collect();
    assert!(
        alice
            .iter()
            .any(|e| e.phase == avatar_console::audit::Phase::Intent),
        "{audit:#?}"
    );
    assert!(
        alice.iter().any(|e| e.outcome == Some(Outcome::Verified)),
        "{audit:#?}"
    );
}

/// Three rows marked with a range (`g v j j v`), `R`, the modal gives the count and the names,
/// `y`: every row ends verified, each user's avatar changed with one sync_sso each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_resets_three_marked_users_end_to_end_in_a_terminal() {
    let sb = discourse_sandbox::Sandbox::start(discourse_sandbox::Scenario::default())
        .await
        .unwrap();
    let console = Arc::new(Console::new(&sb, "batch"));
    let before = sb.users();

    let c = console.clone();
    let names = Arc::new(Mutex::new(Vec::<String>::new()));
    let marked = names.clone();
    let took = drive(move || {
        let t = c.start("batch");
        // Wait for the queue to be loaded, so the first rows stay put: the status line loses its
        // spinner and starts with the count.
        t.wait_for("the queue loaded", Duration::from_secs(20), |s| {
            s.lines()
                .any(|l| l.starts_with(|c: char| c.is_ascii_digit()) && l.contains(" queued"))
        });
        t.send(&["g", "v", "j", "j", "v"]);
        t.wait_for("three marked rows", Duration::from_secs(10), |s| {
            s.lines().filter(|l| l.starts_with("│ ●")).count() == 3
        });
        t.send(&["R"]);
        let modal = t.wait_for("the batch confirm modal", Duration::from_secs(10), |s| {
            s.contains("Reset 3 avatars")
                && s.contains("y or Enter")
                && s.matches("(external:").count() == 3
        });
        assert!(modal.contains("Reset the avatars of 3 users"), "{modal}");
        assert!(modal.contains("sync-sso (overrides avatar on)"), "{modal}");
        // Each name is listed as `name (external:ID)`.
        let listed: Vec<String> = modal
            .lines()
            .filter_map(|l| {
                let inner = l.split('│').find(|p| p.contains("(external:"))?;
                Some(inner.trim().split(' ').next()?.to_string())
            })
            .collect();
        assert_eq!(listed.len(), 3, "three names in the modal:\n{modal}");
        *marked.lock().unwrap() = listed.clone();

        t.send(&["y"]);
        let done = t.wait_for("three verified", Duration::from_secs(60), |s| {
            s.contains("resets finished (3 users)")
        });
        assert!(done.contains("3 verified"), "{done}");
        // Verified: ✓, or ! when the SSO record's last payload still sends the photo (the
        // sandbox's users mostly do: the main app has not removed it).
        for name in &listed {
            assert!(
                done.lines()
                    .any(|l| (l.starts_with("│✓") || l.starts_with("│!"))
                        && l.contains(&format!(" {name} "))),
                "{name}'s row is not verified:\n{done}"
            );
        }
        c.quit(&t);
    })
    .await;
    eprintln!("end-to-end console run (three users) took {took:?}");

    let names = names.lock().unwrap().clone();
    for name in &names {
        let was = before.iter().find(|u| &u.username == name).unwrap();
        let now = sb.user(name).unwrap();
        assert_ne!(
            (now.uploaded_avatar_id, &now.avatar_template),
            (was.uploaded_avatar_id, &was.avatar_template),
            "{name}'s avatar did not change"
        );
    }
    let syncs = sync_sso_requests(&sb);
    assert_eq!(syncs.len(), 3, "one sync_sso per user: {syncs:#?}");
    assert!(syncs.iter().all(|r| r.status == 200), "{syncs:#?}");
    assert!(sb.violations().is_empty(), "{:#?}", sb.violations());
    let verified = console
        .audit()
        .iter()
        .filter(|e| e.outcome == Some(Outcome::Verified))
        .count();
    assert_eq!(verified, 3);
}

/// A newcomer tries their own keys in the demo, as the README says: a config file holding only
/// `[keys]` (`reset = "x"`), `--demo`. The hints and the help show `x`, `r` is no key any more,
/// and `x` resets alice to verified, audited in the demo's own audit file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_console_runs_on_the_keys_of_a_keys_only_config() {
    // The pane's binary plays its own sandbox (`--demo`); this one only gives `build` its shape.
    let sb = discourse_sandbox::Sandbox::start(discourse_sandbox::Scenario::default())
        .await
        .unwrap();
    let console = Arc::new(Console::with_args(&sb, "keys", "--demo"));
    std::fs::write(
        console.dir.join("config.toml"),
        "# only keys: the demo needs nothing else\n[keys]\nreset = \"x\"\n",
    )
    .unwrap();
    std::fs::set_permissions(
        console.dir.join("config.toml"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();

    let c = console.clone();
    drive(move || {
        let t = c.start("keys");
        let screen = t.wait_for("the queue loaded", Duration::from_secs(20), |s| {
            s.lines()
                .any(|l| l.starts_with(|c: char| c.is_ascii_digit()) && l.contains(" queued"))
        });
        assert!(screen.contains("x reset "), "the hints show x:\n{screen}");
        assert!(
            !screen.contains("r reset "),
            "the hints still show r:\n{screen}"
        );

        t.send(&["?"]);
        let help = t.wait_for("the help", Duration::from_secs(10), |s| {
            s.contains("reset the selected user's avatar")
        });
        let line = help
            .lines()
            .find(|l| l.contains("reset the selected user's avatar"))
            .unwrap();
        let keys = line.split("reset the selected").next().unwrap();
        assert!(
            keys.contains(" x ") && !keys.contains(" r "),
            "help line: {line}"
        );
        t.send(&["Escape"]);

        t.send(&["/", "a", "l", "i", "c", "e", "Enter"]);
        t.wait_for(
            "the queue filtered to alice",
            Duration::from_secs(10),
            |s| s.contains("┌ alice ") && s.contains("1 shown"),
        );
        t.send(&["r"]);
        t.wait_for("r is no key now", Duration::from_secs(10), |s| {
            s.contains("r: no such key, ? for help")
        });
        t.send(&["x"]);
        t.wait_for("the confirm modal", Duration::from_secs(10), |s| {
            s.contains("Reset the avatar of alice") && s.contains("y or Enter")
        });
        t.send(&["y"]);
        t.wait_for("alice verified", Duration::from_secs(45), |s| {
            s.contains("1 verified") || s.lines().any(|l| l.contains('✓') && l.contains(" alice "))
        });
        c.quit(&t);
    })
    .await;

    let audit = avatar_console::audit::read_entries(&console.dir.join("data/demo/audit.jsonl"));
    assert!(
        audit
            .iter()
            .any(|e| e.user.username.as_deref() == Some("alice")
                && e.outcome == Some(Outcome::Verified)),
        "{audit:#?}"
    );
}

/// Keys that cannot work stop the demo before its screen opens, with the file, the line and both
/// actions (a warning would be lost behind the console's screen).
#[test]
fn demo_refuses_keys_that_clash() {
    let dir = std::env::temp_dir().join(format!("ac-it-demo-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _scratch = Scratch(dir.clone());
    let config = dir.join("keys.toml");
    std::fs::write(&config, "[keys]\nreset = \"x\"\nmark = \"x\"\n").unwrap();
    let out = std::process::Command::new(BIN)
        .args(["--demo", "--config"])
        .arg(&config)
        .env("AVATAR_CONSOLE_DATA_DIR", dir.join("data"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("keys.toml:2"), "{stderr}");
    assert!(stderr.contains("reset and mark"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// Loading, order and signals, through the real binary.
// ---------------------------------------------------------------------------------------------

impl Tmux {
    /// `#{cursor_flag}` of the pane: `1` while the cursor is shown.
    fn cursor_flag(&self) -> String {
        let out = self.cmd(&[
            "display-message",
            "-p",
            "-t",
            &self.session,
            "#{cursor_flag}",
        ]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Console {
    /// The console's pid: the child of the pane's shell.
    fn pid(&self) -> String {
        let sh = std::fs::read_to_string(self.dir.join("shpid")).unwrap();
        let out = std::process::Command::new("pgrep")
            .args(["-P", sh.trim()])
            .output()
            .expect("run pgrep");
        let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            !pid.is_empty() && !pid.contains('\n'),
            "one child of {sh}: {pid:?}"
        );
        pid
    }

    /// Waits for the binary to exit; answers `EXIT=<code>`.
    fn wait_exit(&self, t: &Tmux, timeout: Duration) -> String {
        let started = std::time::Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(self.dir.join("exit")) {
                return text.trim().to_string();
            }
            assert!(
                started.elapsed() < timeout,
                "the console did not exit; screen:\n{}\nstderr:\n{}",
                t.screen(),
                t.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// After exit: raw mode off (`stty` shows canonical input and echo), the alternate screen
    /// left, the cursor shown.
    fn assert_terminal_restored(&self, t: &Tmux) {
        let stty = std::fs::read_to_string(self.dir.join("stty")).unwrap_or_default();
        let flags: Vec<&str> = stty.split_whitespace().collect();
        assert!(
            flags.contains(&"icanon") && flags.contains(&"echo"),
            "the terminal is still raw:\n{stty}"
        );
        assert_eq!(
            t.alternate_on(),
            "0",
            "alternate screen still on after exit"
        );
        assert_eq!(
            t.cursor_flag(),
            "1",
            "the cursor is still hidden after exit"
        );
    }
}

/// The console's loaded screen: the queue finished loading (the status line starts with the
/// count) and the detail pane shows the selected row.
fn loaded(s: &str) -> bool {
    s.lines()
        .any(|l| l.starts_with(|c: char| c.is_ascii_digit()) && l.contains(" queued"))
}

/// The queue pane's rows (left pane, below the column heads), as drawn.
fn queue_rows(s: &str) -> Vec<String> {
    s.lines()
        .skip_while(|l| !l.contains(" USER "))
        .skip(1)
        .take_while(|l| l.starts_with('│'))
        .map(|l| l.split('│').nth(1).unwrap_or("").trim_end().to_string())
        .filter(|l| !l.trim().is_empty())
        .collect()
}

/// The user named in the detail pane's title (the selected row).
fn detail_title(s: &str) -> Option<String> {
    let line = s.lines().find(|l| l.contains("┌ Queue"))?;
    let rest = line.split("┐┌ ").nth(1)?;
    Some(rest.split(" ─").next()?.trim().to_string())
}

fn row_user(row: &str) -> String {
    row.split_whitespace().next().unwrap_or("").to_string()
}

/// Three starts on the same forum: the same rows in the same order each time, the cursor on the
/// top row (the detail pane shows its user), and `--user` for an unknown user says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_opens_on_the_top_row_in_one_order_every_run() {
    let sb = discourse_sandbox::Sandbox::start(discourse_sandbox::Scenario::default())
        .await
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::<Vec<String>>::new()));
    for run in 0..3 {
        let console = Arc::new(Console::new(&sb, &format!("order{run}")));
        let c = console.clone();
        let rows = seen.clone();
        drive(move || {
            let t = c.start(&format!("order{run}"));
            let screen = t.wait_for(
                "the queue loaded, the top row's details shown",
                Duration::from_secs(30),
                |s| {
                    let rows = queue_rows(s);
                    loaded(s)
                        && !rows.is_empty()
                        && detail_title(s).is_some_and(|d| d == row_user(&rows[0]))
                },
            );
            // A moment later it still is (no page moved it).
            std::thread::sleep(Duration::from_millis(600));
            let again = t.screen();
            assert_eq!(queue_rows(&again), queue_rows(&screen));
            assert_eq!(
                detail_title(&again),
                Some(row_user(&queue_rows(&again)[0])),
                "{again}"
            );
            rows.lock().unwrap().push(queue_rows(&again));
            c.quit(&t);
        })
        .await;
    }
    let seen = seen.lock().unwrap().clone();
    assert!(seen[0].len() >= 10, "{:#?}", seen[0]);
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0], seen[2]);

    let console = Arc::new(Console::with_args(&sb, "nouser", "--user nobody"));
    let c = console.clone();
    drive(move || {
        let t = c.start("nouser");
        let screen = t.wait_for("the unknown user named", Duration::from_secs(30), |s| {
            loaded(s) && s.contains("user not found") && s.contains("nobody")
        });
        assert!(!queue_rows(&screen).is_empty(), "{screen}");
        c.quit(&t);
    })
    .await;
}

/// SIGTERM during a batch: nothing new is sent, the resets already sent write their outcome,
/// the console exits and gives the terminal back. SIGHUP when idle: the same, at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_quits_cleanly_on_sigterm_and_sighup() {
    let sb = discourse_sandbox::Sandbox::start(discourse_sandbox::Scenario::default())
        .await
        .unwrap();
    let console = Arc::new(Console::new(&sb, "sigterm"));
    let c = console.clone();
    drive(move || {
        let t = c.start("sigterm");
        t.wait_for("the queue loaded", Duration::from_secs(30), loaded);
        t.send(&["g", "v", "j", "j", "j", "j", "v", "R"]);
        t.wait_for("the batch confirm modal", Duration::from_secs(10), |s| {
            s.contains("Reset 5 avatars") && s.contains("y or Enter")
        });
        t.send(&["y"]);
        t.wait_for("the batch running", Duration::from_secs(10), |s| {
            s.contains("POST /admin/users/sync_sso")
        });
        let kill = std::process::Command::new("kill")
            .args(["-TERM", &c.pid()])
            .status()
            .unwrap();
        assert!(kill.success());
        let code = c.wait_exit(&t, Duration::from_secs(60));
        assert_eq!(code, "EXIT=0", "stderr:\n{}", t.stderr());
        c.assert_terminal_restored(&t);
    })
    .await;
    // Every reset begun has its outcome: each intent is followed by an outcome line.
    let audit = console.audit();
    let intents: Vec<_> = audit
        .iter()
        .filter(|e| e.phase == avatar_console::audit::Phase::Intent)
        .collect();
    assert!(!intents.is_empty(), "{audit:#?}");
    for i in &intents {
        assert!(
            audit
                .iter()
                .any(|e| e.phase == avatar_console::audit::Phase::Outcome
                    && e.user.username == i.user.username
                    && e.outcome.is_some()),
            "no outcome for {:?}:\n{audit:#?}",
            i.user
        );
    }
    assert!(sb.violations().is_empty(), "{:#?}", sb.violations());

    let console = Arc::new(Console::new(&sb, "sighup"));
    let c = console.clone();
    drive(move || {
        let t = c.start("sighup");
        t.wait_for("the queue loaded", Duration::from_secs(30), loaded);
        let kill = std::process::Command::new("kill")
            .args(["-HUP", &c.pid()])
            .status()
            .unwrap();
        assert!(kill.success());
        let code = c.wait_exit(&t, Duration::from_secs(20));
        assert_eq!(code, "EXIT=0", "stderr:\n{}", t.stderr());
        c.assert_terminal_restored(&t);
    })
    .await;
}

/// The captions under the two pictures once both are drawn (16-cell boxes, 2 apart).
const PICTURES_SHOWN: &str = "avatar            app photo       ";

/// The moderator looks at alice: her avatar and her main-app photo are drawn in the detail pane
/// in half blocks, in the sandbox's colours for her (tmux keeps 24-bit colours, and
/// `capture-pane -e` gives them back as `48;2;R;G;B`). No API key went with the pictures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_draws_the_avatar_and_the_photo_in_the_detail_pane() {
    let sb = discourse_sandbox::Sandbox::start(discourse_sandbox::Scenario::default())
        .await
        .unwrap();
    let alice = sb.user("alice").unwrap();
    let upload = alice.uploaded_avatar_id.expect("alice has a custom avatar");
    let photo = discourse_sandbox::pictures::colors_of("photo:684");
    let avatar = discourse_sandbox::pictures::colors_of(&format!("avatar:alice:{upload}"));
    let console = Arc::new(Console::new_with(
        &sb,
        "pictures",
        "\n[ui]\nimages = \"halfblocks\"\n",
        false,
        "",
    ));
    let c = console.clone();
    drive(move || {
        let t = c.start("pictures");
        t.send(&["/", "a", "l", "i", "c", "e", "Enter"]);
        t.wait_for("alice's pictures", Duration::from_secs(20), |s| {
            // Both captions plain (not `avatar: loading…`, `app photo: load…`), side by side.
            s.contains("┌ alice ") && s.contains(PICTURES_SHOWN)
        });
        let rgb = |c: [u8; 3]| format!("48;2;{};{};{}m", c[0], c[1], c[2]);
        let screen = t.screen_escapes();
        // The pictures' rows: the detail pane is the right 40 % of the screen, from its top.
        let rows: Vec<&str> = screen.lines().skip(3).take(8).collect();
        for (what, colour) in [
            ("photo background", photo.background),
            ("avatar background", avatar.background),
        ] {
            let n: usize = rows.iter().map(|l| l.matches(&rgb(colour)).count()).sum();
            assert!(n >= 8, "{what} {colour:?} drawn {n} times:\n{screen}");
        }
        c.quit(&t);
    })
    .await;
    let pictures: Vec<_> = sb
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/user_avatar/") || r.path.starts_with("/app/photos/"))
        .collect();
    assert!(pictures.len() >= 2, "{pictures:#?}");
    assert!(
        pictures.iter().all(|r| r
            .headers
            .iter()
            .all(|(k, _)| k != "api-key" && k != "authorization")),
        "{pictures:#?}"
    );
    assert!(sb.violations().is_empty(), "{:#?}", sb.violations());
}

/// `ui.mouse = true`: the console turns mouse reporting on, a click (an SGR mouse sequence, as
/// a terminal sends it) selects the row under it, and quitting turns reporting off again so the
/// shell's text selection works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_mouse_selects_rows_and_is_off_again_after_quit() {
    let sb = discourse_sandbox::Sandbox::start(discourse_sandbox::Scenario::default())
        .await
        .unwrap();
    let console = Arc::new(Console::new_with(
        &sb,
        "mouse",
        "\n[ui]\nmouse = true\n",
        true,
        "",
    ));
    let c = console.clone();
    drive(move || {
        let t = c.start("mouse");
        let flag = |t: &Tmux| {
            let out = t.cmd(&[
                "display-message",
                "-p",
                "-t",
                &t.session,
                "#{mouse_any_flag}",
            ]);
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        assert_eq!(
            flag(&t),
            "1",
            "mouse reporting is on while the console runs"
        );
        // Every page in (no spinner before the count): rows no longer move under the pointer.
        let screen = t.wait_for("the queue loaded", Duration::from_secs(20), |s| {
            let status = s.lines().rev().nth(1).unwrap_or("");
            status.starts_with(|c: char| c.is_ascii_digit()) && status.contains("queued")
        });
        // The third user row (screen row 6, 1-based 7): its name, then a click on it.
        let row = screen.lines().nth(6).unwrap().to_string();
        let name = row
            .split_whitespace()
            .nth(1)
            .unwrap_or_else(|| panic!("{screen}"))
            .to_string();
        t.send(&["-l", "\x1b[<0;10;7M\x1b[<0;10;7m"]);
        t.wait_for("the clicked row selected", Duration::from_secs(10), |s| {
            s.contains(&format!("┌ {name} "))
        });
        c.quit(&t);
        assert_eq!(flag(&t), "0", "mouse reporting is off after quitting");
    })
    .await;

    // SIGTERM: the same way out, mouse reporting off too.
    let console = Arc::new(Console::new_with(
        &sb,
        "mouse-term",
        "\n[ui]\nmouse = true\n",
        true,
        "",
    ));
    let c = console.clone();
    drive(move || {
        let t = c.start("mouse-term");
        let flag = |t: &Tmux| {
            let out = t.cmd(&[
                "display-message",
                "-p",
                "-t",
                &t.session,
                "#{mouse_any_flag}",
            ]);
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        assert_eq!(flag(&t), "1");
        let kill = std::process::Command::new("kill")
            .args(["-TERM", &c.pid()])
            .status()
            .unwrap();
        assert!(kill.success());
        assert_eq!(c.wait_exit(&t, Duration::from_secs(30)), "EXIT=0");
        assert_eq!(flag(&t), "0", "mouse reporting is off after SIGTERM");
    })
    .await;
}

/// `ui.images = auto` asks the terminal what it can draw. In a tmux pane whose passthrough is on
/// but whose outer terminal never answers (a detached session), the question times out: the
/// console still starts, draws half blocks, and the operator's first key is not swallowed by
/// the query's reader. With passthrough off (tmux's default) nothing is asked at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_images_auto_in_tmux_keeps_the_first_key() {
    let sb = discourse_sandbox::Sandbox::start(discourse_sandbox::Scenario::default())
        .await
        .unwrap();
    for (tag, passthrough) in [("probe-on", "on"), ("probe-off", "off")] {
        let console = Arc::new(Console::new_with(
            &sb,
            tag,
            "",
            false,
            &format!("tmux set-option -p allow-passthrough {passthrough}"),
        ));
        let c = console.clone();
        let tag = tag.to_string();
        drive(move || {
            let t = c.start(&tag);
            // The first key after start opens the help.
            t.send(&["?"]);
            t.wait_for(
                "the help, from the first key",
                Duration::from_secs(10),
                |s| s.contains("this help"),
            );
            t.send(&["Escape"]);
            t.wait_for("the first row's pictures", Duration::from_secs(20), |s| {
                // The avatar's caption, plain (the first row may have no app photo).
                s.contains("avatar            ")
            });
            c.quit(&t);
        })
        .await;
    }
}

/// Closing the case in a terminal: reset alice (pick), `a` then approve_user resolves her review
/// item (her D mark goes), `z` puts her old avatar back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_resolves_a_review_item_and_undoes_a_reset_in_a_terminal() {
    let sb = discourse_sandbox::Sandbox::start(discourse_sandbox::Scenario {
        overrides_avatar: false,
        ..discourse_sandbox::Scenario::default()
    })
    .await
    .unwrap();
    let old = sb.user("alice").unwrap().uploaded_avatar_id;
    assert!(old.is_some());
    let console = Arc::new(Console::new(&sb, "review"));
    let c = console.clone();
    drive(move || {
        let t = c.start("review");
        t.send(&["/", "a", "l", "i", "c", "e", "Enter"]);
        t.wait_for("alice alone", Duration::from_secs(20), |s| {
            s.contains("1 shown") && s.contains("┌ alice ")
        });
        t.send(&["r"]);
        t.wait_for("the reset confirm", Duration::from_secs(10), |s| {
            s.contains("Reset avatar") && s.contains("y or Enter")
        });
        t.send(&["y"]);
        t.wait_for("alice reset", Duration::from_secs(30), |s| {
            s.contains("1 verified")
        });
        t.send(&["a"]);
        let menu = t.wait_for("the review menu", Duration::from_secs(15), |s| {
            s.contains("Review: alice") && s.contains("› approve_user")
        });
        assert!(menu.contains("ReviewableUser"), "{menu}");
        t.send(&["Enter"]);
        t.wait_for("the review confirm", Duration::from_secs(10), |s| {
            s.contains("Perform") && s.contains("y or Enter")
        });
        t.send(&["y"]);
        let done = t.wait_for("the item resolved", Duration::from_secs(20), |s| {
            s.contains("approve_user done")
        });
        assert!(done.contains("approved"), "{done}");
        t.wait_for("alice's D mark gone", Duration::from_secs(20), |s| {
            s.lines()
                .any(|l| l.contains(" alice ") && l.contains(" 684 ") && !l.contains(" A D "))
        });
        t.send(&["z"]);
        t.wait_for("the undo confirm", Duration::from_secs(10), |s| {
            s.contains("Undo the last reset") && s.contains("y or Enter")
        });
        t.send(&["y"]);
        t.wait_for("the undo verified", Duration::from_secs(30), |s| {
            s.contains("old avatar back")
        });
        c.quit(&t);
    })
    .await;
    assert_eq!(sb.user("alice").unwrap().uploaded_avatar_id, old);
    let audit = console.audit();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "review" && e.outcome == Some(Outcome::Verified))
    );
    assert!(
        audit
            .iter()
            .any(|e| e.action == "undo" && e.outcome == Some(Outcome::Verified))
    );
}

/// `kill -9` during a reset leaves an intent without an outcome; the next console start names
/// it in the status line and the log pane, with what to do (issue 12, point 6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_names_a_reset_killed_before_its_outcome() {
    let sb = discourse_sandbox::Sandbox::start(discourse_sandbox::Scenario::default())
        .await
        .unwrap();
    // The download waits, so the reset is still verifying when it is killed.
    sb.set_download_delay(Duration::from_secs(60));
    let console = Arc::new(Console::new(&sb, "killed"));
    let c = console.clone();
    drive(move || {
        let data = c.dir.join("data");
        let mut child = std::process::Command::new(BIN)
            .args(["--config"])
            .arg(c.dir.join("config.toml"))
            .args(["reset", "alice", "--yes"])
            .env("AVATAR_CONSOLE_DATA_DIR", &data)
            .env_remove("AVATAR_CONSOLE_CONFIG")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let audit = data.join("audit.jsonl");
        let started = std::time::Instant::now();
        while !std::fs::read_to_string(&audit).is_ok_and(|t| t.contains("\"intent\"")) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no intent written"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        child.kill().unwrap(); // SIGKILL: no outcome can be written
        child.wait().unwrap();
        let text = std::fs::read_to_string(&audit).unwrap();
        assert!(!text.contains("\"phase\":\"outcome\""), "{text}");

        let t = c.start("killed");
        let screen = t.wait_for("the unfinished reset named", Duration::from_secs(30), |s| {
            s.contains("never finished")
        });
        assert!(screen.contains("alice"), "{screen}");
        c.quit(&t);
    })
    .await;
}

/// A window that grew while the console ran, then `q`: the shell gets its screen back with
/// nothing of the console left on it (tmux copies the main screen back through a resize that
/// keeps alternate-screen lines below the old height; the console blanks its screen before
/// leaving it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quitting_after_the_window_grew_leaves_no_frame_behind() {
    let sb = discourse_sandbox::Sandbox::start(discourse_sandbox::Scenario::default())
        .await
        .unwrap();
    let console = Arc::new(Console::new(&sb, "grow"));
    let c = console.clone();
    drive(move || {
        let t = c.start("grow");
        t.wait_for("the queue loaded", Duration::from_secs(20), loaded);
        let out = t.cmd(&["resize-window", "-t", &t.session, "-x", "220", "-y", "70"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Drawn again at the new size: the key line is at the bottom of 70 rows.
        t.wait_for(
            "the console redrawn at 220×70",
            Duration::from_secs(10),
            |s| s.lines().nth(69).is_some_and(|l| l.contains("q quit")),
        );
        c.quit(&t);
        let screen = t.screen();
        for piece in ["┌", "└", "│", "queued", "q quit"] {
            assert!(
                !screen.contains(piece),
                "{piece:?} of the console's frame left on the screen after quitting:\n{screen}"
            );
        }
    })
    .await;
}

/// Without a terminal the console says what it needs and what to use instead, exit 2, before
/// the screen is touched.
#[test]
fn the_console_without_a_terminal_says_it_needs_one() {
    let dir = std::env::temp_dir().join(format!("ac-it-no-tty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _scratch = Scratch(dir.clone());
    let out = std::process::Command::new(BIN)
        .arg("--demo")
        .env("AVATAR_CONSOLE_DATA_DIR", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("xdg"))
        .env_remove("AVATAR_CONSOLE_CONFIG")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the console needs a terminal: stdin and stdout must be a TTY"),
        "{stderr}"
    );
    assert!(stderr.contains("avatar-console queue"), "{stderr}");
    assert!(stderr.contains("avatar-console check USER"), "{stderr}");
    assert!(!stderr.contains("os error"), "{stderr}");
}
