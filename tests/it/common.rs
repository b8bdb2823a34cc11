//! What the integration tests that run the real binary share: a scratch directory with a clean
//! environment, and the result of a run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_avatar-console");

/// A scratch directory (config files, data dir, home), removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "avatar-console-it-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        Scratch(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// The binary with a clean environment (no `AVATAR_CONSOLE_*`, proxies or log filters from
    /// the caller), home and data dir in this scratch, standard input closed.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("AVATAR_CONSOLE_") {
                c.env_remove(&k);
            }
        }
        for k in [
            "RUST_LOG",
            "NO_COLOR",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "http_proxy",
            "https_proxy",
        ] {
            c.env_remove(k);
        }
        c.env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("home/.config"))
            .env("XDG_DATA_HOME", self.path("home/.local/share"))
            .env("AVATAR_CONSOLE_DATA_DIR", self.path("data"))
            .stdin(Stdio::null());
        c
    }

    /// `avatar-console --config CONFIG ARGS…`.
    pub fn with_config(&self, config: &Path, args: &[&str]) -> Command {
        let mut c = self.cmd();
        c.arg("--config").arg(config).args(args);
        c
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a run of the binary gave.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// Standard output as exactly one JSON document.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", self.all()))
    }

    /// Everything, for assertion messages and "never in any output" checks.
    pub fn all(&self) -> String {
        format!(
            "exit {}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub fn run_sync(mut c: Command) -> Run {
    let started = Instant::now();
    let out = c.output().expect("run the binary");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// Runs the binary from a blocking task, so a sandbox on the test's runtime keeps serving.
pub async fn run(c: Command) -> Run {
    tokio::task::spawn_blocking(move || run_sync(c))
        .await
        .unwrap()
}

/// A sandbox and a reset engine's session over it, with the audit in a scratch data dir: the
/// setup the engine tests (`reset`, `trust`) share.
pub struct EngineSetup {
    pub sandbox: discourse_sandbox::Sandbox,
    pub session: avatar_console::session::Session,
    pub config: avatar_console::config::Config,
    pub data_dir: PathBuf,
}

/// `rpm` overrides the console's `requests_per_minute` (the sandbox's own limit is unchanged).
pub async fn engine_setup(
    tag: &str,
    scenario: discourse_sandbox::Scenario,
    rpm: Option<u32>,
) -> EngineSetup {
    let sandbox = discourse_sandbox::Sandbox::start(scenario).await.unwrap();
    let mut config = avatar_console::config::Config::from_toml_str(
        &sandbox.config_toml(),
        Path::new("sandbox.toml"),
    )
    .unwrap();
    if let Some(r) = rpm {
        config.discourse.requests_per_minute = r;
    }
    let data_dir = std::env::temp_dir().join(format!(
        "ac-engine-{tag}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
    ));
    std::fs::create_dir_all(&data_dir).unwrap();
    let session = avatar_console::session::Session::new(&config, &data_dir).unwrap();
    EngineSetup {
        sandbox,
        session,
        config,
        data_dir,
    }
}

impl EngineSetup {
    pub fn engine(
        &self,
        f: impl FnOnce(&mut avatar_console::reset::ResetOptions),
    ) -> avatar_console::reset::Engine {
        let mut opts =
            avatar_console::session::Session::reset_options(&self.config, None, false, false);
        f(&mut opts);
        self.session.engine(opts)
    }

    pub fn audit(&self) -> Vec<avatar_console::audit::AuditEntry> {
        avatar_console::audit::read_entries(&self.data_dir.join("audit.jsonl"))
    }

    /// Requests that change something on the server (log polls left out), as `METHOD path`.
    pub fn writes(&self) -> Vec<String> {
        self.sandbox
            .requests()
            .iter()
            .filter(|r| r.method == "PUT" || r.method == "POST")
            .filter(|r| !r.path.starts_with("/logs"))
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }
}
