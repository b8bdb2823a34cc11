//! Tracing to `<data dir>/avatar-console.log`, never to the terminal (the UI owns it).
//!
//! The level comes from `$AVATAR_CONSOLE_LOG` (an `EnvFilter` directive such as `debug` or
//! `avatar_console=trace`), default `info`.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

/// The log file's name in the data dir.
pub const LOG_FILE: &str = "avatar-console.log";
/// Environment variable holding the filter.
pub const ENV_LOG: &str = "AVATAR_CONSOLE_LOG";
/// The demo's log is started afresh (the previous one kept as `avatar-console.log.1`) once it
/// grows past this: demo runs are many and of little worth later.
pub const DEMO_LOG_MAX: u64 = 5 * 1024 * 1024;

/// Moves `<dir>/avatar-console.log` to `avatar-console.log.1` (replacing it) when it is bigger
/// than `max` bytes. Best effort: a log that cannot be rotated keeps growing.
pub fn rotate_if_over(dir: &Path, max: u64) {
    let path = dir.join(LOG_FILE);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > max) {
        let _ = std::fs::rename(&path, dir.join(format!("{LOG_FILE}.1")));
    }
}

/// Sends tracing output to `<data_dir>/avatar-console.log` (created with the dir, appended).
/// Returns the file's path. On error nothing is installed, so logging is silently off: a log
/// that cannot be written must not stop a moderator.
pub fn init(data_dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join(LOG_FILE);
    let file = OpenOptions::new().create(true).append(true).open(&path)?;
    let filter = EnvFilter::try_from_env(ENV_LOG).unwrap_or_else(|_| EnvFilter::new("info"));
    // try_init: a second call (tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_writer(Mutex::new(SafeWriter(file)))
        .with_ansi(false)
        .with_target(true)
        .with_env_filter(filter)
        .try_init();
    Ok(path)
}

/// The log file's writer: each event (tracing writes one event per call) has its secrets
/// scrubbed, in every encoding, and its non-printing characters escaped, so a server's text can
/// neither leak a key into the file nor forge a line of it.
struct SafeWriter<W>(W);

impl<W: std::io::Write> std::io::Write for SafeWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (body, newline) = match text.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (&*text, ""),
        };
        let safe = crate::jsonfmt::escape_non_printing(&crate::sanitize::for_json(body));
        self.0.write_all(safe.as_bytes())?;
        self.0.write_all(newline.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn log_lines_are_scrubbed_and_escaped() {
        crate::secret::register(&[crate::secret::Secret::new("log-writer-secret-1")]);
        let mut w = SafeWriter(Vec::new());
        w.write_all(b"x=log-writer-secret-1 forged\nline \x1b[31m\n")
            .unwrap();
        let out = String::from_utf8(w.0).unwrap();
        assert_eq!(out, "x=[redacted] forged\\u000aline \\u001b[31m\n");
    }
}
