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
