//! Verification: re-read the user until the avatar changed, with backoff and inside the shared
//! budget. While several resets verify at once on a server that splits `filter=a,b,c`, their
//! polls are coalesced into one `/admin/users/list/all.json` request.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{CancelToken, Engine, plan};
use crate::model::{Strategy, UserDetail};

pub enum Verdict {
    /// Verified; for sync-sso, the upload the avatar now points at.
    Done(Option<u64>),
    Timeout,
    /// The run was cancelled while waiting: the outcome is written now, unverified.
    Stopped,
    Error(String),
}

impl Verdict {
    /// Why a sent change is unverified when polling itself could not finish.
    pub fn unverified_reason(&self, user: &str) -> String {
        match self {
            Verdict::Error(e) => format!("sent, but could not re-read the user: {e}"),
            Verdict::Stopped => plan::stopped_message(user),
            Verdict::Timeout | Verdict::Done(_) => String::new(),
        }
    }
}

/// What one poll saw: `Some(upload id or None)` when the user was found.
type Seen = Result<Option<Option<u64>>, String>;

struct Waiter {
    term: String,
    username: String,
    reply: oneshot::Sender<Seen>,
}

/// Collects concurrent polls for a short moment and answers them with one request.
#[derive(Default)]
pub struct Coalescer {
    waiting: Mutex<Vec<Waiter>>,
}

const GATHER: Duration = Duration::from_millis(250);

pub async fn poll(
    engine: &Engine,
    user: &UserDetail,
    strategy: Strategy,
    default_upload: Option<u64>,
    cancel: &CancelToken,
) -> Verdict {
    // Checked: a configured timeout must never be able to panic the poll (after a sync was sent).
    let deadline = Instant::now()
        .checked_add(engine.opts.verify_timeout)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(24 * 3600));
    let before = user.uploaded_avatar_id;
    let mut step = 0;
    loop {
        let wait = engine.opts.poll_intervals[step.min(engine.opts.poll_intervals.len() - 1)];
        step += 1;
        if Instant::now() + wait > deadline {
            if sleep_or_cancel(deadline - Instant::now(), cancel).await {
                return Verdict::Stopped;
            }
            return Verdict::Timeout;
        }
        if sleep_or_cancel(wait, cancel).await {
            return Verdict::Stopped;
        }
        let seen = match observe(engine, user).await {
            Ok(Some(s)) => s,
            Ok(None) => return Verdict::Error(format!("user {} no longer found", user.username)),
            Err(e) => {
                tracing::warn!(error = %e, user = %user.username, "verification poll failed");
                continue;
            }
        };
        let done = match strategy {
            Strategy::Pick => plan::pick_done(Some(seen)),
            Strategy::SyncSso => plan::sync_done(before, seen, default_upload),
        };
        if done {
            return Verdict::Done(seen);
        }
    }
}

/// Sleeps `wait`, waking early when the run is hurried; true when it was.
async fn sleep_or_cancel(wait: Duration, cancel: &CancelToken) -> bool {
    let end = Instant::now() + wait;
    while Instant::now() < end {
        if cancel.is_hurried() {
            return true;
        }
        tokio::time::sleep((end - Instant::now()).min(Duration::from_millis(100))).await;
    }
    cancel.is_hurried()
}

async fn observe(engine: &Engine, user: &UserDetail) -> Seen {
    let batch = *engine.batch_supported.lock().unwrap() == Some(true);
    if !batch {
        return engine
            .client
            .user(&user.username)
            .await
            .map(|u| {
                Some(u.uploaded_avatar_id.unwrap_or_else(|| {
                    u.avatar_template
                        .as_deref()
                        .and_then(plan::upload_id_from_template)
                }))
            })
            .map_err(|e| e.to_string());
    }
    let (tx, rx) = oneshot::channel();
    let term = user
        .email
        .clone()
        .filter(|e| !e.contains([',', ' ']))
        .unwrap_or_else(|| user.username.clone());
    engine.coalescer.waiting.lock().unwrap().push(Waiter {
        term,
        username: user.username.clone(),
        reply: tx,
    });
    // Every poller waits a moment, then flushes whatever is waiting (its own entry included,
    // unless another poller took it first). No entry depends on another task staying alive.
    tokio::time::sleep(GATHER).await;
    let mut rest: Vec<Waiter> = std::mem::take(&mut *engine.coalescer.waiting.lock().unwrap());
    while !rest.is_empty() {
        let tail = rest.split_off(rest.len().min(100));
        let chunk = std::mem::replace(&mut rest, tail);
        let terms: Vec<String> = chunk.iter().map(|w| w.term.clone()).collect();
        let result = engine.client.users_by_filter(&terms, false).await;
        for w in chunk {
            let seen = match &result {
                Ok(rows) => Ok(rows
                    .iter()
                    .find(|r| r.username.eq_ignore_ascii_case(&w.username))
                    .map(|r| {
                        r.avatar_template
                            .as_deref()
                            .and_then(plan::upload_id_from_template)
                    })),
                Err(e) => Err(e.to_string()),
            };
            let _ = w.reply.send(seen);
        }
    }
    rx.await
        .unwrap_or_else(|_| Err("verification was dropped".into()))
}
