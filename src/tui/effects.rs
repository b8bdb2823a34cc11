//! What the console asks of the world, and the runner that does it.
//!
//! `update` returns [`Effect`]s; the event loop hands each one to [`Runner::run`], which spawns a
//! tokio task that calls the [`Backend`] and sends the answer back as a [`Msg`]. The UI never
//! awaits the network. The real backend (Discourse client, main-app client, reset engine) is
//! implemented by the command code; tests use a fake.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::BoxFuture;
use tokio::sync::{broadcast, mpsc};

use crate::images::{Renderer, decode};
use crate::model::{Exchange, FlagItem, LogLine, Outcome, ResetReport, Source, Strategy};
use crate::model::{UserDetail, UserRef};

use super::app::{Effect, Msg};
use crate::discourse::review::ReviewItem;
use crate::review::{ReviewResult, Subject};

/// One page of flagged users from one source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueuePage {
    pub items: Vec<FlagItem>,
    /// The cursor for the next page (a URL or an offset, opaque to the console); `None` at the end.
    pub next: Option<String>,
    /// Items the source sent that cannot be queued (no external id): said, never hidden.
    pub skipped: usize,
}

/// What the header shows about the site: the strategy a reset would use, and why, and the
/// verbose logging switches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteInfo {
    pub strategy: Strategy,
    /// Why, e.g. `overrides avatar on` or `configured`.
    pub why: String,
    pub verbose_sso: Option<bool>,
    pub verbose_upload: Option<bool>,
    /// Setup warnings that never block (e.g. a default avatar URL Discourse may refuse).
    pub warnings: Vec<String>,
    /// Changes the audit log shows started but never finished (a killed process), named once
    /// at start; empty on later loads.
    pub interrupted: Vec<String>,
    /// The default image's upload, once a verified reset put it in place (from the audit):
    /// the AVATAR column says `default` for it, not `custom`.
    pub default_upload: Option<u64>,
}

/// A user's Discourse record plus the audit lines that concern them (already formatted, one line
/// each, newest last).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub detail: UserDetail,
    pub audit: Vec<String>,
}

/// The request budget of the Discourse client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetStatus {
    pub left: u32,
    pub per_minute: u32,
    /// Seconds until a running `Retry-After` pause ends.
    pub retry_after_secs: Option<u64>,
    /// With nothing left: seconds until the next request may go (Discourse's 60-second window).
    pub next_slot_secs: Option<u64>,
}

/// The two site settings the console can switch (issue 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Setting {
    VerboseSso,
    VerboseUpload,
}

impl Setting {
    /// The Discourse name of the setting.
    pub fn name(self) -> &'static str {
        match self {
            Setting::VerboseSso => "verbose_discourse_connect_logging",
            Setting::VerboseUpload => "verbose_upload_logging",
        }
    }
}

/// Steps of one reset, reported as they happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetStep {
    /// Waiting in the batch.
    Queued,
    /// Reading the user and the settings.
    Resolving,
    /// The `intent` audit line is on disk; the change is being sent.
    Sending(Strategy),
    /// Sent; re-reading the avatar until it changes.
    Verifying,
    /// Finished, with the report `reset --json` would print.
    Done(ResetReport),
}

impl ResetStep {
    pub fn label(&self) -> String {
        match self {
            ResetStep::Queued => "waiting".into(),
            ResetStep::Resolving => "reading the user".into(),
            ResetStep::Sending(s) => format!("sending ({})", s.as_str()),
            ResetStep::Verifying => "verifying".into(),
            ResetStep::Done(r) => r.outcome.as_str().into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResetOptions {
    /// Build and show, never send (the backend must honour it too).
    pub dry_run: bool,
}

/// Feeds the backend's API exchanges (if it has them) into the loop as [`Msg::Exchange`]: the
/// console's event loop and the load bench run the same. A lagging receiver skips what it
/// missed rather than stopping.
pub fn forward_exchanges(backend: &dyn Backend, tx: &mpsc::UnboundedSender<Msg>) {
    let Some(mut feed) = backend.exchanges() else {
        return;
    };
    let tx = tx.clone();
    tokio::spawn(async move {
        loop {
            match feed.recv().await {
                Ok(e) => {
                    if tx.send(Msg::Exchange(e)).is_err() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}

/// Called by the reset engine at each step.
pub type Progress = Arc<dyn Fn(ResetStep) + Send + Sync>;

/// Called at each step of each user of a batch, with the user's queue slot.
pub type BatchProgress = Arc<dyn Fn(usize, ResetStep) + Send + Sync>;

/// The report of a user whose reset never started because the batch was cancelled.
pub fn cancelled_report(user: &UserRef) -> ResetReport {
    ResetReport {
        user: user.to_string(),
        username: None,
        external_id: None,
        strategy: None,
        outcome: Outcome::Skipped,
        message: "cancelled before it started".into(),
        path: None,
    }
}

/// Everything the console needs from the servers. Each call returns a `'static` future: an
/// implementation clones its clients (cheap `Arc`s) into the future.
pub trait Backend: Send + Sync {
    /// The strategy in force and the verbose logging switches.
    fn site(&self) -> BoxFuture<'static, Result<SiteInfo, String>>;
    /// One page of one source; `cursor` is `None` for the first page.
    fn load_queue_page(
        &self,
        source: Source,
        cursor: Option<String>,
    ) -> BoxFuture<'static, Result<QueuePage, String>>;
    /// A user's Discourse record (and audit lines), for the detail pane and `:user`.
    fn load_user(&self, user: UserRef) -> BoxFuture<'static, Result<UserInfo, String>>;
    /// Resets one user (audit, send, verify), reporting steps through `progress`. Never fails:
    /// failures are a `failed` report.
    fn reset(
        &self,
        user: UserRef,
        options: ResetOptions,
        progress: Progress,
    ) -> BoxFuture<'static, ResetReport>;
    /// Resets a batch, reporting each user's steps as `(slot, step)`; users not started when
    /// `cancel` is set come back `skipped`. The default runs [`Backend::reset`] one user after
    /// the other (it creates every future first, so `reset` must do nothing until polled); a
    /// backend that can share lookups and polls across users overrides it.
    fn reset_batch(
        &self,
        users: Vec<(usize, UserRef)>,
        options: ResetOptions,
        progress: BatchProgress,
        cancel: Arc<AtomicBool>,
    ) -> BoxFuture<'static, ()> {
        let calls: Vec<_> = users
            .into_iter()
            .map(|(slot, user)| {
                let p = progress.clone();
                let step_progress: Progress = Arc::new(move |step| {
                    if !matches!(step, ResetStep::Done(_)) {
                        p(slot, step);
                    }
                });
                (slot, user.clone(), self.reset(user, options, step_progress))
            })
            .collect();
        Box::pin(async move {
            for (slot, user, call) in calls {
                let report = if cancel.load(Ordering::SeqCst) {
                    cancelled_report(&user)
                } else {
                    call.await
                };
                progress(slot, ResetStep::Done(report));
            }
        })
    }
    /// Discourse log lines newer than the key `after` (all recent ones when `None`), oldest first.
    fn poll_logs(&self, after: Option<String>) -> BoxFuture<'static, Result<Vec<LogLine>, String>>;
    /// Sets a site setting; answers its new value.
    fn set_setting(
        &self,
        setting: Setting,
        enable: bool,
    ) -> BoxFuture<'static, Result<bool, String>>;
    /// The user's pending review items, with who they are (for [`Backend::perform_review`]).
    fn review_items(
        &self,
        _user: UserRef,
    ) -> BoxFuture<'static, Result<(Subject, Vec<ReviewItem>), String>> {
        Box::pin(async { Err("review actions are not available here".to_string()) })
    }
    /// Performs one review action (audited, re-read). Never fails: failures are a report.
    fn perform_review(
        &self,
        _subject: Subject,
        item: ReviewItem,
        action: String,
        _dry_run: bool,
    ) -> BoxFuture<'static, ReviewResult> {
        Box::pin(async move {
            ReviewResult {
                id: item.id,
                action,
                outcome: crate::review::ReviewOutcome::Failed,
                message: "review actions are not available here".into(),
                item: None,
            }
        })
    }
    /// Undoes the user's last verified reset; `Err` when refused before sending.
    fn undo(
        &self,
        _user: UserRef,
        _dry_run: bool,
    ) -> BoxFuture<'static, Result<ResetReport, String>> {
        Box::pin(async { Err("undo is not available here".to_string()) })
    }
    /// The request budget now, read on every tick (must be cheap and not block).
    fn budget(&self) -> Option<BudgetStatus> {
        None
    }
    /// A feed of every HTTP exchange, for the log pane. Subscribed once by `run`.
    fn exchanges(&self) -> Option<broadcast::Receiver<Exchange>> {
        None
    }
    /// The bytes of a picture: a plain GET without the API key, outside the request budget,
    /// read up to a cap (`images::fetch`).
    fn fetch_image(&self, url: String) -> BoxFuture<'static, Result<Vec<u8>, String>> {
        let _ = url;
        Box::pin(async { Err("pictures are not available here".to_string()) })
    }
}

/// Turns effects into spawned tasks whose results come back on `tx`.
pub struct Runner {
    backend: Arc<dyn Backend>,
    tx: mpsc::UnboundedSender<Msg>,
    /// The cancel flag of the batch that is running, if any.
    cancel: Option<Arc<AtomicBool>>,
    /// How pictures are encoded for this terminal; `None` when they are off.
    renderer: Option<Renderer>,
}

impl Runner {
    pub fn new(backend: Arc<dyn Backend>, tx: mpsc::UnboundedSender<Msg>) -> Self {
        Self {
            backend,
            tx,
            cancel: None,
            renderer: None,
        }
    }

    pub fn with_renderer(mut self, renderer: Option<Renderer>) -> Self {
        self.renderer = renderer;
        self
    }

    /// Starts the work for one effect. Returns `false` for [`Effect::Quit`], which the loop
    /// handles. Must be called inside a tokio runtime.
    pub fn run(&mut self, effect: Effect) -> bool {
        let tx = self.tx.clone();
        match effect {
            Effect::Quit => return false,
            Effect::LoadSite => {
                let fut = self.backend.site();
                tokio::spawn(async move {
                    let _ = tx.send(Msg::SiteLoaded(fut.await));
                });
            }
            Effect::LoadQueuePage {
                source,
                generation,
                cursor,
            } => {
                let fut = self.backend.load_queue_page(source, cursor);
                tokio::spawn(async move {
                    let result = fut.await;
                    let _ = tx.send(Msg::QueuePage {
                        source,
                        generation,
                        result,
                    });
                });
            }
            Effect::LoadUser { req, user } => {
                let fut = self.backend.load_user(user);
                tokio::spawn(async move {
                    let _ = tx.send(Msg::UserLoaded {
                        req,
                        result: fut.await,
                    });
                });
            }
            Effect::PollLogs { after } => {
                let fut = self.backend.poll_logs(after);
                tokio::spawn(async move {
                    let _ = tx.send(Msg::DiscourseLog(fut.await));
                });
            }
            Effect::ToggleSetting { setting, enable } => {
                let fut = self.backend.set_setting(setting, enable);
                tokio::spawn(async move {
                    let _ = tx.send(Msg::SettingChanged {
                        setting,
                        result: fut.await,
                    });
                });
            }
            Effect::LoadReview { slot, user } => {
                let fut = self.backend.review_items(user);
                tokio::spawn(async move {
                    let _ = tx.send(Msg::ReviewItems {
                        slot,
                        result: fut.await,
                    });
                });
            }
            Effect::PerformReview {
                slot,
                subject,
                item,
                action,
                dry_run,
            } => {
                let fut = self
                    .backend
                    .perform_review(*subject, *item, action, dry_run);
                tokio::spawn(async move {
                    let _ = tx.send(Msg::ReviewPerformed {
                        slot,
                        result: fut.await,
                    });
                });
            }
            Effect::Undo {
                slot,
                user,
                dry_run,
            } => {
                let fut = self.backend.undo(user, dry_run);
                tokio::spawn(async move {
                    let _ = tx.send(Msg::Undone {
                        slot,
                        result: fut.await,
                    });
                });
            }
            Effect::FetchImage { url } => {
                let fut = self.backend.fetch_image(url.clone());
                let renderer = self.renderer.clone();
                tokio::spawn(async move {
                    let result = match (fut.await, renderer) {
                        (Ok(bytes), Some(r)) => {
                            // Decoding and scaling are CPU work: off the loop's thread.
                            tokio::task::spawn_blocking(move || decode::picture(&bytes, &r))
                                .await
                                .unwrap_or_else(|_| Err("the decoder failed".into()))
                        }
                        (Ok(_), None) => Err("pictures are off".into()),
                        (Err(e), _) => Err(e),
                    };
                    let _ = tx.send(Msg::ImageLoaded {
                        url,
                        result: result.map(Arc::new),
                    });
                });
            }
            Effect::OpenUrl { url, what } => {
                tokio::spawn(async move {
                    let result = super::pictures::open_url(url).await;
                    let _ = tx.send(Msg::Opened { what, result });
                });
            }
            Effect::CancelResets => {
                if let Some(c) = &self.cancel {
                    c.store(true, Ordering::SeqCst);
                }
            }
            Effect::Reset {
                batch,
                users,
                dry_run,
            } => {
                let cancel = Arc::new(AtomicBool::new(false));
                self.cancel = Some(cancel.clone());
                let backend = self.backend.clone();
                tokio::spawn(run_batch(
                    backend,
                    tx,
                    batch,
                    users,
                    ResetOptions { dry_run },
                    cancel,
                ));
            }
        }
        true
    }
}

/// One batch, through [`Backend::reset_batch`]; every step comes back as a message.
async fn run_batch(
    backend: Arc<dyn Backend>,
    tx: mpsc::UnboundedSender<Msg>,
    batch: u64,
    users: Vec<(usize, UserRef)>,
    options: ResetOptions,
    cancel: Arc<AtomicBool>,
) {
    let ptx = tx.clone();
    let progress: BatchProgress = Arc::new(move |slot, step| {
        let _ = ptx.send(Msg::ResetProgress { batch, slot, step });
    });
    backend.reset_batch(users, options, progress, cancel).await;
    let _ = tx.send(Msg::ResetFinished { batch });
}
