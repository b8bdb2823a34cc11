//! Verification: re-read the user until the change shows, with backoff and inside the shared
//! budget, never idling where the change is already there to see.
//!
//! - Pick is synchronous (`users_controller.rb#pick_avatar`, no job): the first re-read comes at
//!   once, and it reads `GET /u/{username}.json`, the only answer that shows the custom slot
//!   (`custom_avatar_upload_id`, staff only, `user_serializer.rb`).
//! - Sync-sso queues a download (§5): polls start early and back off. While several resets
//!   verify at once on a server that splits `filter=a,b,c`, their polls are coalesced into one
//!   `/admin/users/list/all.json` request. That list shows only the current avatar, which is
//!   enough: `UserAvatar.import_url_for_user` (`app/models/user_avatar.rb`) puts the new upload
//!   in the custom slot and, with `override_gravatar` (overrides avatar on, the only case
//!   sync-sso is used), makes it the current avatar too, so one new `uploaded_avatar_id` proves
//!   both slots hold the default image.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{CancelToken, Engine, plan};
use crate::discourse::client::DiscourseClient;
use crate::model::UserDetail;

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

/// What one pick re-read saw: the current upload and the custom slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Slots {
    pub uploaded: Option<u64>,
    pub custom: Option<u64>,
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

/// Long enough for resets sent together to share a poll, short enough not to idle.
const GATHER: Duration = Duration::from_millis(15);

/// Polls fall on a shared grid of this step, so resets sent a little apart still share them.
const GRID: Duration = Duration::from_millis(100);

/// Sync-sso: the download job usually lands within a second; poll early, then back off so a
/// slow Sidekiq does not eat the budget. The last interval repeats.
pub const SYNC_INTERVALS: &[u64] = &[250, 500, 750, 1000, 1500, 2000, 3000, 5000];

/// `wait` from now, pushed to the next grid line.
fn on_grid(wait: Duration) -> Duration {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(std::time::Instant::now);
    let at = epoch.elapsed() + wait;
    let step = GRID.as_nanos();
    let aligned = at.as_nanos().div_ceil(step) * step;
    wait + Duration::from_nanos((aligned - at.as_nanos()) as u64)
}
/// Pick: at once, then a few slower re-reads in case a proxy cached the first answer.
const PICK_INTERVALS: &[u64] = &[0, 250, 500, 1000, 2000, 4000];

/// Sleeps `wait`, waking early when the run is hurried; true when it was.
async fn sleep_or_cancel(wait: Duration, cancel: &CancelToken) -> bool {
    let end = Instant::now() + wait;
    while Instant::now() < end {
        if cancel.is_hurried() {
            return true;
        }
        tokio::time::sleep((end - Instant::now()).min(Duration::from_millis(50))).await;
    }
    cancel.is_hurried()
}

/// Re-reads a picked user until `done` holds for their slots, or the timeout. Returns the last
/// slots seen with the verdict.
pub async fn poll_pick(
    engine: &Engine,
    client: &DiscourseClient,
    username: &str,
    cancel: &CancelToken,
    done: impl Fn(Slots) -> bool,
) -> (Verdict, Option<Slots>) {
    let deadline = Instant::now()
        .checked_add(engine.opts.verify_timeout)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(24 * 3600));
    let mut last = None;
    for step in 0.. {
        let wait = Duration::from_millis(PICK_INTERVALS[step.min(PICK_INTERVALS.len() - 1)]);
        if Instant::now() + wait > deadline {
            return (Verdict::Timeout, last);
        }
        if sleep_or_cancel(wait, cancel).await {
            return (Verdict::Stopped, last);
        }
        match client.user(username).await {
            Ok(u) => {
                let slots = Slots {
                    uploaded: u.uploaded_avatar_id.unwrap_or_else(|| {
                        u.avatar_template
                            .as_deref()
                            .and_then(plan::upload_id_from_template)
                    }),
                    custom: u.custom_avatar_upload_id,
                };
                last = Some(slots);
                if done(slots) {
                    return (Verdict::Done(None), last);
                }
            }
            Err(e) if e.is_not_found() => {
                return (
                    Verdict::Error(format!("user {username} no longer found")),
                    last,
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, user = %username, "verification re-read failed");
                if step >= PICK_INTERVALS.len() {
                    return (Verdict::Error(e.to_string()), last);
                }
            }
        }
    }
    (Verdict::Timeout, last)
}

/// Polls a synced user until the avatar points at the default image's upload (or, while that
/// id is unknown, at any upload other than `before`).
pub async fn poll_sync(
    engine: &Engine,
    client: &DiscourseClient,
    user: &UserDetail,
    before: Option<Option<u64>>,
    default_upload: Option<u64>,
    cancel: &CancelToken,
) -> Verdict {
    // Checked: a configured timeout must never be able to panic the poll (after a sync was sent).
    let deadline = Instant::now()
        .checked_add(engine.opts.verify_timeout)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(24 * 3600));
    let intervals = &engine.opts.poll_intervals;
    let mut step = 0;
    loop {
        let wait = on_grid(intervals[step.min(intervals.len() - 1)]);
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
        let seen = match observe(engine, client, user).await {
            Ok(Some(s)) => s,
            Ok(None) => return Verdict::Error(format!("user {} no longer found", user.username)),
            Err(e) => {
                tracing::warn!(error = %e, user = %user.username, "verification poll failed");
                continue;
            }
        };
        let known = default_upload.or(*engine.default_upload.lock().unwrap());
        if plan::sync_done(before, seen, known) {
            return Verdict::Done(seen);
        }
    }
}

async fn observe(engine: &Engine, client: &DiscourseClient, user: &UserDetail) -> Seen {
    let batch = *engine.batch_supported.lock().unwrap() != Some(false);
    if !batch {
        return client
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
        let mut result = client.users_by_filter(&terms, false).await;
        if let Ok(rows) = &result
            && rows.is_empty()
            && terms.len() > 1
        {
            // An old server matched "a,b,c" as one substring: poll one by one from now on
            // (the error makes each poller try again, not give up).
            *engine.batch_supported.lock().unwrap() = Some(false);
            result = Err(crate::discourse::client::ClientError::Decode {
                method: "GET".into(),
                path: "/admin/users/list/all.json".into(),
                message: "this server does not split filter=a,b,c".into(),
            });
        }
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
