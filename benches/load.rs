//! Loading the queue at fetch speed: `queue --json` (the real binary) and the console's load (its
//! real backend, effects runner, `update` and throttled settle, without a terminal) against a
//! bare keep-alive fetch of the very same pages, at 20,000 and 100,000 flagged users on the
//! sandbox (no request limit). Each contender runs in a process of its own, started by a small
//! launcher process, so its wall time and peak RSS (`wait4`'s `ru_maxrss`, what `/usr/bin/time -v`
//! reports) are its alone and not the sandbox's.
//!
//! `cargo bench --bench load` (release). `LOAD_USERS=20000,100000` and `LOAD_RUNS=3` change the
//! sizes and the runs per contender (alternating; the median is reported).
//!
//! The bare fetch gets the page list from the sandbox's own request record of the `queue` run:
//! the same URLs, in the same order per source, both sources at once, as the clients fetch them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROLE: &str = "LOAD_BENCH_ROLE";
/// Set for the launcher that measures one contender (see [`spawn_measured`]).
const LAUNCH: &str = "LOAD_BENCH_LAUNCH";

fn main() {
    if std::env::var_os(LAUNCH).is_some() {
        return launch();
    }
    match std::env::var(ROLE).as_deref() {
        Ok("bare") => return child(bare),
        Ok("console") => return child(console),
        _ => {}
    }
    let sizes: Vec<usize> = std::env::var("LOAD_USERS")
        .unwrap_or_else(|_| "20000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let runs: usize = std::env::var("LOAD_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let rt = tokio::runtime::Runtime::new().unwrap();
    for n in sizes {
        rt.block_on(compare(n, runs.max(1)));
    }
}

/// One contender's run: wall time and peak RSS.
#[derive(Clone, Copy)]
struct Run {
    wall: Duration,
    rss_mb: f64,
}

async fn compare(n: usize, runs: usize) {
    let started = Instant::now();
    let sb = discourse_sandbox::Sandbox::start(discourse_sandbox::Scenario {
        flagged: n,
        admin_rate_limit: 0,
        login_interval: None,
        ..discourse_sandbox::Scenario::default()
    })
    .await
    .expect("start the sandbox");
    let dir = std::env::temp_dir().join(format!("ac-bench-load-{}-{n}", std::process::id()));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let config = dir.join("config.toml");
    // The console paces itself to `requests_per_minute` (Discourse's default budget, 60): with
    // no server limit here, a budget that never binds measures the loading itself.
    let toml = sb
        .config_toml()
        .replace("requests_per_minute = 60", "requests_per_minute = 100000");
    assert!(toml.contains("requests_per_minute = 100000"), "{toml}");
    std::fs::write(&config, toml).unwrap();
    // It holds the sandbox's secrets: owner-only, as the console asks of a config.
    std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    println!(
        "\n{n} flagged users (sandbox up in {:.1} s)",
        started.elapsed().as_secs_f64()
    );

    // The pages, as `queue` fetches them.
    sb.clear_records();
    let first = spawn_measured(queue_cmd(&config, &dir)).await;
    let (app_urls, review_urls) = pages(&sb);
    let list = dir.join("pages.txt");
    let mut text = String::new();
    for u in &app_urls {
        text.push_str(&format!("app {}{u}\n", sb.url()));
    }
    for u in &review_urls {
        text.push_str(&format!("review {}{u}\n", sb.url()));
    }
    std::fs::write(&list, text).unwrap();
    println!(
        "  pages: {} main-app, {} review (first queue run {:.2} s)",
        app_urls.len(),
        review_urls.len(),
        first.wall.as_secs_f64()
    );

    let mut bare = Vec::new();
    let mut queue = Vec::new();
    let mut cons = Vec::new();
    for _ in 0..runs {
        bare.push(spawn_measured(self_cmd("bare", &config, &list, &dir)).await);
        queue.push(spawn_measured(queue_cmd(&config, &dir)).await);
        cons.push(spawn_measured(self_cmd("console", &config, &list, &dir)).await);
    }
    let (b, q, c) = (median(bare), median(queue), median(cons));
    let row = |name: &str, r: Run| {
        println!(
            "  {name:<34} {:>7.3} s  {:>6.2}×  peak RSS {:>6.1} MB",
            r.wall.as_secs_f64(),
            r.wall.as_secs_f64() / b.wall.as_secs_f64(),
            r.rss_mb
        );
    };
    row("bare keep-alive fetch", b);
    row("queue --json (merged, printed)", q);
    row("console load (backend+update)", c);
    sb.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

fn median(mut v: Vec<Run>) -> Run {
    v.sort_by_key(|r| r.wall);
    v[v.len() / 2]
}

fn queue_cmd(config: &Path, dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_avatar-console"));
    c.arg("--config")
        .arg(config)
        .args(["queue", "--json"])
        .env("AVATAR_CONSOLE_DATA_DIR", dir.join("data"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    c
}

fn self_cmd(role: &str, config: &Path, list: &Path, dir: &Path) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.env(ROLE, role)
        .env("LOAD_BENCH_CONFIG", config)
        .env("LOAD_BENCH_PAGES", list)
        .env("AVATAR_CONSOLE_DATA_DIR", dir.join("data"))
        .stdout(std::process::Stdio::null());
    c
}

/// Runs the command to its end (the sandbox keeps serving meanwhile); its wall time and peak RSS.
///
/// Through a launcher (this binary again, [`LAUNCH`] set): a child started straight from here
/// would inherit this process's high-water mark at its `exec` (Linux keeps the larger of the old
/// and the new image's in `ru_maxrss`), and this process holds the whole sandbox. The launcher is
/// freshly exec'd and small (about 5 MB), so what it reports is the contender's own.
async fn spawn_measured(cmd: Command) -> Run {
    tokio::task::spawn_blocking(move || {
        let mut launcher = Command::new(std::env::current_exe().unwrap());
        launcher
            .env(LAUNCH, "1")
            .arg(cmd.get_program())
            .args(cmd.get_args())
            .stdout(std::process::Stdio::piped());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => launcher.env(k, v),
                None => launcher.env_remove(k),
            };
        }
        let out = launcher.output().expect("run the launcher");
        assert!(out.status.success(), "a contender failed ({})", out.status);
        let text = String::from_utf8_lossy(&out.stdout);
        let mut it = text.split_whitespace().map(|w| w.parse::<u64>().unwrap());
        let (nanos, kb) = (it.next().unwrap(), it.next().unwrap());
        Run {
            wall: Duration::from_nanos(nanos),
            // Linux reports kilobytes.
            rss_mb: kb as f64 / 1024.0,
        }
    })
    .await
    .unwrap()
}

/// The launcher: runs its arguments as a command (environment inherited, output discarded),
/// prints `<wall ns> <peak RSS kB>` of it, and fails when it does.
fn launch() {
    let mut args = std::env::args_os().skip(1);
    let program = args.next().expect("a program to launch");
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_remove(LAUNCH)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let started = Instant::now();
    let child = cmd.spawn().expect("spawn a contender");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter; the pid is our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(got, pid, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "a contender failed (status {status})"
    );
    // wait4 reaped it; `child` must not be waited for again.
    std::mem::forget(child);
    println!("{} {}", wall.as_nanos(), usage.ru_maxrss);
}

/// The GETs of the last run, per source, in order: main-app pages and review pages.
fn pages(sb: &discourse_sandbox::Sandbox) -> (Vec<String>, Vec<String>) {
    let mut app = Vec::new();
    let mut review = Vec::new();
    for r in sb.requests() {
        if r.method != "GET" {
            continue;
        }
        let url = match &r.query {
            Some(q) => format!("{}?{q}", r.path),
            None => r.path.clone(),
        };
        if r.path.ends_with("/flagged-avatars") {
            app.push(url);
        } else if r.path == "/review.json" {
            review.push(url);
        }
    }
    (app, review)
}

// ----- children -----

fn child(f: fn(&Path, &Path)) {
    let config = PathBuf::from(std::env::var("LOAD_BENCH_CONFIG").unwrap());
    let list = PathBuf::from(std::env::var("LOAD_BENCH_PAGES").unwrap());
    f(&config, &list);
}

/// GETs every listed page with one keep-alive client, both sources at once, reading each body
/// whole and nothing more.
fn bare(config: &Path, list: &Path) {
    let cfg = avatar_console::config::Config::load_file(config).expect("config");
    let text = std::fs::read_to_string(list).unwrap();
    let (mut app, mut review) = (Vec::new(), Vec::new());
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("app", u)) => app.push(u.to_string()),
            Some(("review", u)) => review.push(u.to_string()),
            _ => {}
        }
    }
    let token = cfg
        .main_app
        .as_ref()
        .and_then(|m| m.token.as_ref())
        .map(|t| t.expose().to_string())
        .unwrap_or_default();
    let key = cfg
        .discourse
        .api_key
        .as_ref()
        .map(|k| k.expose().to_string())
        .unwrap_or_default();
    let user = cfg.discourse.api_username.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let http = reqwest::Client::new();
        let h = http.clone();
        let a = async move {
            let mut bytes = 0;
            for u in app {
                let r = h.get(&u).bearer_auth(&token).send().await.unwrap();
                assert!(r.status().is_success(), "{u}: {}", r.status());
                bytes += r.bytes().await.unwrap().len();
            }
            bytes
        };
        let d = async move {
            let mut bytes = 0;
            for u in review {
                let r = http
                    .get(&u)
                    .header("Api-Key", &key)
                    .header("Api-Username", &user)
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "{u}: {}", r.status());
                bytes += r.bytes().await.unwrap().len();
            }
            bytes
        };
        let (x, y) = tokio::join!(a, d);
        assert!(x + y > 0);
    });
}

/// The console's load without a terminal: the real backend and effects runner, every message
/// through `update`, the loop's throttled settle, until both sources are done.
fn console(config: &Path, _list: &Path) {
    use avatar_console::model::Source;
    use avatar_console::tui::effects::Runner;
    use avatar_console::tui::{App, AppConfig, Msg, update};

    let cfg = avatar_console::config::Config::load_file(config).expect("config");
    let data = PathBuf::from(std::env::var("AVATAR_CONSOLE_DATA_DIR").unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let session = avatar_console::session::Session::new(&cfg, &data).expect("session");
        let backend: Arc<dyn avatar_console::tui::Backend> = Arc::new(
            avatar_console::commands::console::ConsoleBackend::new(&cfg, &session, false, true),
        );
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Msg>();
        let mut runner = Runner::new(backend.clone(), tx.clone());
        avatar_console::tui::effects::forward_exchanges(backend.as_ref(), &tx);
        let mut app = App::new(AppConfig {
            site: "bench".into(),
            api_user: cfg.discourse.api_username.clone(),
            read_only: true,
            sources: vec![Source::App, Source::Discourse],
            ..AppConfig::default()
        });
        update(
            &mut app,
            Msg::Resize {
                width: 160,
                height: 50,
            },
        );
        for e in app.init() {
            runner.run(e);
        }
        while app.is_loading() {
            let Some(msg) = rx.recv().await else { break };
            for e in update(&mut app, msg) {
                runner.run(e);
            }
            while let Ok(msg) = rx.try_recv() {
                for e in update(&mut app, msg) {
                    runner.run(e);
                }
            }
            app.settle_throttled(Instant::now());
        }
        app.settle();
        assert!(!app.queue().is_empty());
        assert_eq!(app.visible().len(), app.queue().len());
    });
}
