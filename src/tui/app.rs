//! The console's state and `update`, the only place it changes.
//!
//! `update(app, msg)` is synchronous and does no I/O: it changes the state and returns the
//! [`Effect`]s the loop must start. Tests drive it with messages and check state and effects.

use super::review_keys::{self, ReviewMenu};
use crate::discourse::review::ReviewItem;
use crate::review::{ReviewResult, Subject};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent};

use crate::model::{
    Exchange, LogLine, Outcome, QueuedUser, ResetReport, Source, Strategy, UserRef,
};
use crate::queue::Queue;
use crate::sanitize;

use super::effects::{BudgetStatus, QueuePage, ResetStep, Setting, SiteInfo, UserInfo};
use super::keymap::{Action, Key, Keymap};
use super::theme::ThemeChoice;
use super::ui;

/// The interval of [`Msg::Tick`], which the loop sends.
pub const TICK_MS: u64 = 250;
/// Discourse log polling, in ticks. Each poll is one of Discourse's shared admin requests (60 a
/// minute), so the logs are read often only while someone needs them: the log pane has the
/// focus, or work runs or ended less than [`LOG_FOLLOW_AFTER_WORK`] ago (its Sidekiq and
/// upload lines come then). Otherwise the console is being browsed and polls slowly.
const LOG_POLL_FAST: u32 = 20; // 5 s
const LOG_POLL_IDLE: u32 = 120; // 30 s
/// After a failed poll.
const LOG_POLL_MAX: u32 = 240; // 60 s
/// While resets run, logs are read at most this often, so resets keep the budget.
const LOG_POLL_DURING_RESETS: u32 = 60; // 15 s
/// How long after work ends the logs are still read fast.
const LOG_FOLLOW_AFTER_WORK: u64 = 240; // 60 s
/// A message (not an error) stays this many ticks in the status bar.
const MESSAGE_TICKS: u32 = 40; // 10 s
/// The log pane keeps this many lines.
const LOG_CAP: usize = 5_000;
/// The newest log entries whose answer body is kept (see `App::push_log`).
const KEEP_BODIES: usize = 300;
const BODY_NOT_KEPT: &str = "(not kept: only the newest 300 log entries keep a read's answer)";
/// `:` remembers this many command lines.
const HISTORY_CAP: usize = 100;
/// While pages arrive, the queue's order is brought up to date at most this often (the loop
/// asks through [`App::settle_throttled`]), so that a 100,000-user load costs a few ordering
/// passes a second rather than one per page; a key press always settles first.
pub const SETTLE_EVERY: std::time::Duration = std::time::Duration::from_millis(100);
/// While pages arrive, a frame is drawn at most this often (a key or the end of the load draws at
/// once): at 100,000 users a frame per page would cost more than the pages.
pub const FRAME_EVERY: std::time::Duration = std::time::Duration::from_millis(40);

/// Decodes a DiscourseConnect payload (`sso=…&sig=…`, a URL holding them, or bare Base64) into
/// its fields. The command code plugs in `discourse::sso::decode`.
pub type SsoDecoder = Arc<dyn Fn(&str) -> Option<Vec<(String, String)>> + Send + Sync>;

/// What the console is opened with.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The forum, as shown in the header (`forum.example.com`).
    pub site: String,
    pub api_user: String,
    pub read_only: bool,
    pub dry_run: bool,
    /// `--demo`: the forum is the built-in sandbox (the header says so).
    pub demo: bool,
    pub theme: ThemeChoice,
    /// `NO_COLOR` was set: no colour whatever the theme.
    pub no_color: bool,
    /// The sources to load (`Discourse` always; `App` when `[main_app]` is configured).
    pub sources: Vec<Source>,
    /// `--user USER`: open on that user.
    pub initial_user: Option<String>,
    /// Draw the avatar and the app photo (`ui.images` not off, colour available).
    pub images: bool,
    /// `ui.mouse`: clicks and the wheel.
    pub mouse: bool,
    /// The forum's address, to resolve avatar templates against.
    pub forum: Option<url::Url>,
    /// The main app's `flagged_url`, to resolve relative photo URLs against.
    pub main_app: Option<url::Url>,
    /// The keys in force (`[keys]` of the config over the defaults).
    pub keymap: Keymap,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            site: String::new(),
            api_user: String::new(),
            read_only: false,
            dry_run: false,
            demo: false,
            theme: ThemeChoice::Auto,
            no_color: false,
            sources: vec![Source::App, Source::Discourse],
            initial_user: None,
            images: false,
            mouse: false,
            forum: None,
            main_app: None,
            keymap: Keymap::default(),
        }
    }
}

/// Everything that happens to the console.
#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Resize {
        width: u16,
        height: u16,
    },
    /// Every [`TICK_MS`]: animations, countdowns, debounced loads, log polling.
    Tick {
        now: DateTime<Utc>,
    },
    SiteLoaded(Result<SiteInfo, String>),
    QueuePage {
        source: Source,
        generation: u64,
        result: Result<QueuePage, String>,
    },
    UserLoaded {
        req: u64,
        result: Result<UserInfo, String>,
    },
    ResetProgress {
        batch: u64,
        slot: usize,
        step: ResetStep,
    },
    ResetFinished {
        batch: u64,
    },
    Exchange(Exchange),
    DiscourseLog(Result<Vec<LogLine>, String>),
    SettingChanged {
        setting: Setting,
        result: Result<bool, String>,
    },
    Budget(BudgetStatus),
    /// The process got SIGTERM or SIGHUP (a stopped service, a closed terminal): handled as a
    /// confirmed quit, so resets in flight write their outcomes and nothing new is sent.
    Terminate {
        signal: &'static str,
    },
    /// A row's pending review items (for the `a` menu and the D mark).
    ReviewItems {
        slot: usize,
        result: Result<(Subject, Vec<ReviewItem>), String>,
    },
    ReviewPerformed {
        slot: usize,
        result: ReviewResult,
    },
    /// An undo finished, or was refused before sending (`Err`).
    Undone {
        slot: usize,
        result: Result<ResetReport, String>,
    },
    /// A picture fetched and decoded (or why not).
    ImageLoaded {
        url: String,
        result: Result<Arc<crate::images::Picture>, String>,
    },
    /// The browser was asked to open a picture: the opener's name, or why not.
    Opened {
        what: String,
        result: Result<String, String>,
    },
    Mouse(MouseEvent),
}

/// What `update` asks the world to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    LoadSite,
    LoadQueuePage {
        source: Source,
        generation: u64,
        cursor: Option<String>,
    },
    LoadUser {
        req: u64,
        user: UserRef,
    },
    /// Reset these users (queue slot, how to name them), one after the other.
    Reset {
        batch: u64,
        users: Vec<(usize, UserRef)>,
        dry_run: bool,
    },
    /// Stop the running batch after the user in progress.
    CancelResets,
    PollLogs {
        after: Option<String>,
    },
    ToggleSetting {
        setting: Setting,
        enable: bool,
    },
    LoadReview {
        slot: usize,
        user: UserRef,
    },
    PerformReview {
        slot: usize,
        subject: Box<Subject>,
        item: Box<ReviewItem>,
        action: String,
        dry_run: bool,
    },
    Undo {
        slot: usize,
        user: UserRef,
        dry_run: bool,
    },
    /// Fetch a picture (no credentials, not budgeted) and decode it off the UI thread.
    FetchImage {
        url: String,
    },
    /// Open a picture in the browser; `what` names it for the status line.
    OpenUrl {
        url: String,
        what: String,
    },
    Quit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Queue,
    Detail,
    Log,
}

/// What the keyboard is typing into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Normal,
    Filter,
    /// `/` with the log pane focused: a search over the log lines.
    LogSearch,
    Command(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    Reset {
        slots: Vec<usize>,
    },
    Toggle {
        setting: Setting,
        enable: bool,
    },
    Quit,
    Review {
        slot: usize,
        subject: Box<Subject>,
        item: Box<ReviewItem>,
        action: String,
    },
    Undo {
        slot: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modal {
    Confirm(Confirm),
    Help {
        scroll: u16,
    },
    /// `a`: the selected row's review items and their actions.
    ReviewMenu(ReviewMenu),
    /// A text shown whole: a log line, a dry-run plan.
    Text {
        title: String,
        lines: Vec<String>,
        scroll: u16,
    },
}

/// Where a row is in a reset, or in the undo of one (the avatar column's work; review
/// actions have their own [`ReviewMark`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowStatus {
    Waiting,
    Running(ResetStep),
    Done {
        outcome: Outcome,
        message: String,
    },
    /// An undo is running; `before` is what the row showed, put back if it is refused.
    Undoing {
        before: Option<Box<RowStatus>>,
    },
    /// An undo's outcome: the old avatar back (or not), so the case is open again.
    Undone {
        outcome: Outcome,
        message: String,
    },
}

impl RowStatus {
    /// No work runs on the row any more.
    pub fn is_done(&self) -> bool {
        matches!(self, RowStatus::Done { .. } | RowStatus::Undone { .. })
    }

    /// The case is closed: the reset was verified (read back). `h` hides only these; an
    /// unverified, failed or skipped reset, or an undone one, needs a look.
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            RowStatus::Done {
                outcome: Outcome::Verified,
                ..
            }
        )
    }
}

/// Where a row's review action is (`a`), apart from its reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewMark {
    pub action: String,
    pub state: ReviewState,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewState {
    Sending,
    Done,
    /// Refused (a 409: the item changed) or failed: nothing was performed.
    Failed,
    Skipped,
    DryRun,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetailState {
    Loading,
    Loaded(Box<UserInfo>),
    Failed(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceState {
    pub loading: bool,
    pub pages: u32,
    pub error: Option<String>,
    /// Cursors already followed: a source whose `next` comes back round is stopped.
    pub seen: HashSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub id: u64,
    pub total: usize,
    pub done: usize,
    pub cancelling: bool,
    pub dry_run: bool,
    /// How many of each outcome so far.
    pub outcomes: Vec<(Outcome, usize)>,
    /// Verified resets whose message warns of something still to do (`reset::WARNING`).
    pub warned: usize,
}

/// A line of the log pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEntry {
    Api(Exchange),
    Discourse(LogLine),
    /// The console's own line: a source error, a reset outcome, a dry-run plan.
    Note {
        at: DateTime<Utc>,
        tag: &'static str,
        text: String,
    },
}

impl LogEntry {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            LogEntry::Api(e) => e.at,
            LogEntry::Discourse(l) => l.at,
            LogEntry::Note { at, .. } => *at,
        }
    }

    /// The source mark: `API`, `SSO`, `UPLOAD`, `ERR`, `LOG` or the note's tag.
    pub fn tag(&self) -> &'static str {
        match self {
            LogEntry::Api(_) => "API",
            LogEntry::Discourse(l) => l.kind.label(),
            LogEntry::Note { tag, .. } => tag,
        }
    }

    /// Text to match when narrowing the pane to a user.
    fn haystack(&self) -> String {
        match self {
            LogEntry::Api(e) => format!(
                "{} {} {} {}",
                e.path,
                e.summary,
                e.request_body.as_deref().unwrap_or(""),
                e.response_body.as_deref().unwrap_or("")
            ),
            LogEntry::Discourse(l) => l.message.clone(),
            LogEntry::Note { text, .. } => text.clone(),
        }
        .to_lowercase()
    }
}

/// Narrowing the log pane to one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogNarrow {
    pub label: String,
    needles: Vec<String>,
}

/// True when `needle` occurs in `hay` with no letter, digit, `_` or `-` right before or after it
/// (so `al` does not match `alice`, nor `68` match `684`). Both are lowercase.
fn contains_word(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    hay.match_indices(needle).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

/// The console.
pub struct App {
    pub(crate) cfg: AppConfig,
    pub(crate) now: DateTime<Utc>,
    pub(crate) ticks: u64,
    pub(crate) size: (u16, u16),
    pub(crate) redraw: bool,
    pub(crate) quitting: bool,
    /// Quit was confirmed while resets ran: quit once the batch has written its outcomes.
    pub(crate) quit_after_batch: bool,
    /// The row selected at the last tick; details load when it is still selected at the next.
    pub(crate) detail_candidate: Option<usize>,

    // Header.
    pub(crate) site: Option<SiteInfo>,
    pub(crate) site_error: Option<String>,
    pub(crate) budget: Option<BudgetStatus>,

    // Queue and its derived views.
    pub(crate) queue: Queue,
    pub(crate) generation: u64,
    pub(crate) sources: HashMap<Source, SourceState>,
    /// Per slot: lowercase `username \t external id \t email \t reasons`, for the filter.
    hay: Vec<String>,
    /// Live slots in queue order.
    order: Vec<usize>,
    order_dirty: bool,
    /// Slots changed since `order` was last brought up to date (`Queue::resort` puts them back
    /// in place); empty while `order_dirty` means "unknown changes": sort everything.
    order_pending: Vec<usize>,
    last_settle: Option<std::time::Instant>,
    /// The operator moved the cursor. Until then it stays on the top row while pages arrive
    /// (and rows land above the first one shown), so an immediate `r` acts on the top row.
    pub(crate) cursor_moved: bool,
    /// The slots shown (order ∩ filter ∩ hide-done).
    pub(crate) visible: Vec<usize>,
    /// The filter `visible` was computed for, to narrow incrementally while typing.
    visible_for: Option<(String, bool)>,
    pub(crate) filter: String,
    pub(crate) hide_done: bool,
    pub(crate) sel: usize,
    pub(crate) offset: usize,
    pub(crate) marks: HashSet<usize>,
    pub(crate) range_anchor: Option<usize>,
    /// The log pane's search text (`/` with the log focused).
    pub(crate) log_search: String,
    pub(crate) status: HashMap<usize, RowStatus>,
    /// Per slot: the last review action and its outcome.
    pub(crate) review: HashMap<usize, ReviewMark>,
    /// Row status and marks kept across `:refresh`, by user identity, until the user's row
    /// comes back: a refresh must not make finished work look untouched.
    pub(crate) carried: HashMap<String, (Option<RowStatus>, bool)>,

    // Detail.
    pub(crate) details: HashMap<usize, DetailState>,
    pending_users: HashMap<u64, Option<usize>>,
    next_req: u64,
    pub(crate) detail_scroll: u16,

    // Resets.
    pub(crate) batch: Option<Batch>,
    /// Resets asked for while a batch ran: they start, as one batch, when it finishes (a
    /// moderator going `r y j r y …` down the queue loses none).
    pub(crate) queued_resets: Vec<usize>,
    /// What a row showed before it was put in a batch: a reset that is then skipped (never
    /// started) puts it back, so an earlier ✓ is not lost to a `-`.
    pub(crate) before_batch: HashMap<usize, RowStatus>,
    next_batch: u64,

    // Log pane.
    pub(crate) log: VecDeque<LogEntry>,
    pub(crate) log_visible: Vec<usize>,
    /// Selected line of `log_visible`; `None` follows the newest.
    pub(crate) log_sel: Option<usize>,
    pub(crate) log_narrow: Option<LogNarrow>,
    pub(crate) log_big: bool,
    log_after: Option<String>,
    log_poll_in: u32,
    /// The last poll failed: wait [`LOG_POLL_MAX`].
    log_failing: bool,
    log_polling: bool,
    /// The tick at which work (resets, an undo, a review action) last started or ended.
    last_work_tick: Option<u64>,

    // Interaction.
    pub(crate) focus: Focus,
    pub(crate) input: Input,
    pub(crate) modal: Option<Modal>,
    /// One-line message in the status bar (`true` for an error).
    pub(crate) message: Option<(String, bool)>,
    /// Ticks until a non-error message goes away.
    message_ttl: u32,
    sso_decode: Option<SsoDecoder>,

    // Pictures.
    pub(crate) pictures: crate::images::cache::Cache,
    /// The row `o` last opened a picture of, and how many times: `o` again opens the next one.
    pub(crate) open_turn: Option<(usize, usize)>,
    /// `:` lines run, oldest first, and where ↑/↓ is in them (`None`: the line being typed).
    pub(crate) cmd_history: Vec<String>,
    cmd_hist_pos: Option<usize>,
    /// What was being typed before ↑ went into the history.
    cmd_draft: String,
    /// Per message text, the Logster keys seen with it and their counts: one line in the pane
    /// with the sum, however many keys Logster gave the same message.
    log_groups: HashMap<String, HashMap<String, u64>>,
    /// What a verified reset put in place (`system` for pick, `default` for sync-sso), by user
    /// identity: the AVATAR column says so, and keeps saying so across `:refresh`.
    pub(crate) avatar_after: HashMap<String, &'static str>,
    /// External ids learnt from a user's details, by Discourse id: the review queue does not
    /// carry them, and `:refresh` must not lose them.
    known_external: HashMap<u64, String>,
    /// Slots `:user` added that no source had flagged.
    looked_up: HashSet<usize>,
}

impl App {
    pub fn new(cfg: AppConfig) -> Self {
        let sources = cfg
            .sources
            .iter()
            .map(|s| (*s, SourceState::default()))
            .collect();
        Self {
            cfg,
            now: Utc::now(),
            ticks: 0,
            size: (80, 24),
            redraw: true,
            quitting: false,
            quit_after_batch: false,
            detail_candidate: None,
            site: None,
            site_error: None,
            budget: None,
            queue: Queue::new(),
            generation: 0,
            sources,
            hay: Vec::new(),
            order: Vec::new(),
            order_dirty: false,
            order_pending: Vec::new(),
            last_settle: None,
            cursor_moved: false,
            visible: Vec::new(),
            visible_for: None,
            filter: String::new(),
            hide_done: false,
            sel: 0,
            offset: 0,
            marks: HashSet::new(),
            range_anchor: None,
            log_search: String::new(),
            status: HashMap::new(),
            review: HashMap::new(),
            carried: HashMap::new(),
            details: HashMap::new(),
            pending_users: HashMap::new(),
            next_req: 1,
            detail_scroll: 0,
            batch: None,
            queued_resets: Vec::new(),
            before_batch: HashMap::new(),
            next_batch: 1,
            log: VecDeque::new(),
            log_visible: Vec::new(),
            log_sel: None,
            log_narrow: None,
            log_big: false,
            log_after: None,
            log_poll_in: 0,
            log_failing: false,
            log_polling: false,
            last_work_tick: None,

            focus: Focus::Queue,
            input: Input::Normal,
            modal: None,
            message: None,
            message_ttl: 0,
            sso_decode: None,
            pictures: Default::default(),
            open_turn: None,
            cmd_history: Vec::new(),
            cmd_hist_pos: None,
            cmd_draft: String::new(),
            log_groups: HashMap::new(),
            avatar_after: HashMap::new(),
            known_external: HashMap::new(),
            looked_up: HashSet::new(),
        }
    }

    /// Plugs in the DiscourseConnect payload decoder used when a log line is shown whole.
    pub fn with_sso_decoder(mut self, decode: SsoDecoder) -> Self {
        self.sso_decode = Some(decode);
        self
    }

    /// The effects to start with: site settings, the first page of each source, the first log
    /// poll, and `--user`.
    pub fn init(&mut self) -> Vec<Effect> {
        let mut fx = vec![Effect::LoadSite];
        fx.extend(self.start_loading());
        fx.push(self.poll_logs());
        if let Some(user) = self.cfg.initial_user.clone() {
            fx.push(self.lookup(&user));
        }
        fx
    }

    // ----- read access, for the view and for tests -----

    pub fn config(&self) -> &AppConfig {
        &self.cfg
    }

    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// The slots shown, in order.
    pub fn visible(&self) -> &[usize] {
        &self.visible
    }

    pub fn selected_slot(&self) -> Option<usize> {
        self.visible.get(self.sel).copied()
    }

    pub fn selected_index(&self) -> usize {
        self.sel
    }

    pub fn marked(&self) -> Vec<usize> {
        let mut m: Vec<usize> = self.marks.iter().copied().collect();
        m.sort_unstable();
        m
    }

    pub fn modal(&self) -> Option<&Modal> {
        self.modal.as_ref()
    }

    pub fn input(&self) -> &Input {
        &self.input
    }

    pub fn focus(&self) -> Focus {
        self.focus
    }

    pub fn filter(&self) -> &str {
        &self.filter
    }

    pub fn row_status(&self, slot: usize) -> Option<&RowStatus> {
        self.status.get(&slot)
    }

    pub fn review_mark(&self, slot: usize) -> Option<&ReviewMark> {
        self.review.get(&slot)
    }

    /// Work started or ended now: the logs are followed closely for a while.
    pub(crate) fn work_ended(&mut self) {
        self.last_work_tick = Some(self.ticks);
    }

    /// An undo or a review action is being sent.
    fn single_work_running(&self) -> bool {
        self.status
            .values()
            .any(|s| matches!(s, RowStatus::Undoing { .. }))
            || self
                .review
                .values()
                .any(|r| r.state == ReviewState::Sending)
    }

    /// How often the Discourse logs are read now, in ticks, and why.
    pub fn log_poll_interval(&self) -> (u32, &'static str) {
        if self.log_failing {
            return (LOG_POLL_MAX, "after an error");
        }
        if self.batch.is_some() {
            return (LOG_POLL_DURING_RESETS, "resets running");
        }
        if self.single_work_running() {
            return (LOG_POLL_FAST, "work running");
        }
        if self
            .last_work_tick
            .is_some_and(|t| self.ticks.saturating_sub(t) < LOG_FOLLOW_AFTER_WORK)
        {
            return (LOG_POLL_FAST, "after work");
        }
        if self.focus == Focus::Log || self.log_big {
            return (LOG_POLL_FAST, "log pane in use");
        }
        (LOG_POLL_IDLE, "idle")
    }

    /// What is being done now, from the state (not a message that times out): the resets
    /// and their progress, an undo, a review action.
    pub fn work_text(&self) -> Option<String> {
        if let Some(b) = &self.batch {
            let what = if b.cancelling {
                "cancelling: finishing the resets in flight"
            } else if b.dry_run {
                "dry run: building resets"
            } else {
                "resetting"
            };
            return Some(format!("{what} {}/{}…", b.done, b.total));
        }
        let name = |slot: &usize| {
            self.queue
                .get(*slot)
                .map_or_else(|| "?".to_string(), |u| u.label())
        };
        let mut parts: Vec<String> = Vec::new();
        let mut undoing: Vec<&usize> = self
            .status
            .iter()
            .filter(|(_, s)| matches!(s, RowStatus::Undoing { .. }))
            .map(|(slot, _)| slot)
            .collect();
        undoing.sort();
        parts.extend(undoing.into_iter().map(|s| format!("undoing {}…", name(s))));
        let mut reviews: Vec<(&usize, &ReviewMark)> = self
            .review
            .iter()
            .filter(|(_, r)| r.state == ReviewState::Sending)
            .collect();
        reviews.sort_by_key(|(s, _)| **s);
        parts.extend(
            reviews
                .into_iter()
                .map(|(s, r)| format!("review {} on {}…", r.action, name(s))),
        );
        (!parts.is_empty()).then(|| parts.join(" · "))
    }

    pub fn message(&self) -> Option<&str> {
        self.message.as_ref().map(|(m, _)| m.as_str())
    }

    pub fn batch(&self) -> Option<&Batch> {
        self.batch.as_ref()
    }

    pub fn detail(&self, slot: usize) -> Option<&DetailState> {
        self.details.get(&slot)
    }

    pub fn log_entries(&self) -> impl Iterator<Item = &LogEntry> {
        self.log_visible.iter().map(|i| &self.log[*i])
    }

    pub fn log_narrow(&self) -> Option<&LogNarrow> {
        self.log_narrow.as_ref()
    }

    pub fn site(&self) -> Option<&SiteInfo> {
        self.site.as_ref()
    }

    pub fn is_loading(&self) -> bool {
        self.sources.values().any(|s| s.loading)
    }

    /// Rows shown because `:user` looked them up, not because a source flagged them.
    pub fn looked_up(&self) -> usize {
        let live: HashSet<usize> = self
            .looked_up
            .iter()
            .map(|s| self.queue.resolve(*s))
            .filter(|s| self.queue.get(*s).is_some_and(|u| u.flags.is_empty()))
            .collect();
        live.len()
    }

    pub fn source_state(&self, source: Source) -> Option<&SourceState> {
        self.sources.get(&source)
    }

    /// True once after something visible changed; the loop draws then.
    pub fn take_redraw(&mut self) -> bool {
        std::mem::take(&mut self.redraw)
    }

    pub fn should_quit(&self) -> bool {
        self.quitting
    }

    /// Brings the derived views (order, filter) up to date after queue pages: the changed
    /// users are put back in place (`Queue::resort`, linear), the filter re-run. `update` calls
    /// it after keys (which act on rows); the loop calls [`App::settle_throttled`].
    pub fn settle(&mut self) {
        if self.order_dirty {
            self.order_dirty = false;
            // Placing each changed user costs a binary search and a copy; past a few thousand
            // at once (a burst of pages in shuffled order) one full sort is cheaper, and it
            // bounds the longest settle (`cargo bench --bench ui`: "slowest message").
            let many = self.order_pending.len() > self.order.len() / 16;
            if self.order_pending.is_empty() || self.order.is_empty() || many {
                self.order = self.queue.sorted();
            } else {
                self.queue.resort(&mut self.order, &self.order_pending);
            }
            self.order_pending.clear();
            self.last_settle = Some(std::time::Instant::now());
            self.visible_for = None;
            self.refilter();
        }
    }

    /// [`App::settle`] when due: at once for the first page and once loading is over, else at
    /// most every [`SETTLE_EVERY`] while pages keep arriving.
    pub fn settle_throttled(&mut self, now: std::time::Instant) {
        let due = !self.is_loading()
            || self
                .last_settle
                .is_none_or(|t| now.saturating_duration_since(t) >= SETTLE_EVERY);
        if self.order_dirty && due {
            self.settle();
        }
    }

    /// Marks `slot` as changed for the next settle.
    pub(crate) fn reorder(&mut self, slot: usize) {
        self.order_pending.push(slot);
        self.order_dirty = true;
    }

    // ----- derived data -----

    fn hay_for(&self, slot: usize) -> String {
        let Some(u) = self.queue.get(slot) else {
            return String::new();
        };
        let mut h = String::new();
        for part in [&u.username, &u.external_id, &u.email] {
            h.push_str(part.as_deref().unwrap_or(""));
            h.push('\t');
        }
        for r in u.reasons() {
            h.push_str(r);
            h.push('\t');
        }
        h.to_lowercase()
    }

    pub(crate) fn rehay(&mut self, slot: usize) {
        if self.hay.len() < self.queue.slots() {
            self.hay.resize(self.queue.slots(), String::new());
        }
        self.hay[slot] = self.hay_for(slot);
    }

    /// Recomputes `visible` from `order`, keeping the selected slot selected.
    fn refilter(&mut self) {
        let keep = self.selected_slot();
        let (inverted, needle) = match self.filter.strip_prefix('!') {
            Some(rest) => (true, rest.to_lowercase()),
            None => (false, self.filter.to_lowercase()),
        };
        let key = (self.filter.clone(), self.hide_done);
        // Typing more of a plain filter only narrows: search the current result.
        let narrowing = !inverted
            && matches!(&self.visible_for, Some((f, h)) if *h == self.hide_done
                && !f.starts_with('!') && self.filter.starts_with(f.as_str()));
        let pool: Vec<usize> = if narrowing {
            std::mem::take(&mut self.visible)
        } else {
            self.order.clone()
        };
        let hay = &self.hay;
        let hide_done = self.hide_done;
        self.visible = pool
            .into_iter()
            .filter(|s| {
                // The selected row stays while selected, even once its case is closed: a
                // moderator who waits for the ✓ and then presses `j` gets the next row, not
                // the one after it (it goes when the cursor leaves it: `select`).
                (needle.is_empty() || hay[*s].contains(needle.as_str()) != inverted)
                    && !(hide_done && self.row_finished(*s) && Some(*s) != keep)
            })
            .collect();
        self.visible_for = Some(key);
        self.sel = if self.cursor_moved {
            keep.and_then(|k| self.visible.iter().position(|s| *s == k))
                .unwrap_or(self.sel)
                .min(self.visible.len().saturating_sub(1))
        } else {
            0
        };
        self.scroll_to_sel();
        self.redraw = true;
    }

    /// The row's case is closed (what `h` hides): its reset verified, and no review action
    /// of it refused or failed.
    pub fn row_finished(&self, slot: usize) -> bool {
        self.status.get(&slot).is_some_and(RowStatus::is_finished)
            && !self
                .review
                .get(&slot)
                .is_some_and(|r| r.state == ReviewState::Failed)
    }

    pub(crate) fn invalidate_filter(&mut self) {
        self.visible_for = None;
        self.refilter();
    }

    /// Rows of the queue pane for the current size.
    pub(crate) fn queue_rows(&self) -> usize {
        let area = ratatui::layout::Rect::new(0, 0, self.size.0, self.size.1);
        ui::layout(area, self)
            .queue
            .map(ui::queue::rows_in)
            .unwrap_or(1)
            .max(1)
    }

    fn scroll_to_sel(&mut self) {
        let rows = self.queue_rows();
        if self.sel < self.offset {
            self.offset = self.sel;
        } else if self.sel >= self.offset + rows {
            self.offset = self.sel + 1 - rows;
        }
        let max_offset = self.visible.len().saturating_sub(rows);
        self.offset = self.offset.min(max_offset);
    }

    pub(crate) fn select(&mut self, index: usize) {
        self.cursor_moved = true;
        let index = index.min(self.visible.len().saturating_sub(1));
        let left = self.selected_slot();
        if index != self.sel {
            self.detail_scroll = 0;
        }
        self.sel = index;
        // Leaving a closed case that `h` kept shown only because it was selected: now it goes.
        if self.hide_done
            && let Some(l) = left
            && Some(l) != self.selected_slot()
            && self.row_finished(l)
        {
            self.invalidate_filter();
        }
        self.scroll_to_sel();
        self.redraw = true;
    }

    fn move_sel(&mut self, delta: isize) {
        let target = (self.sel as isize + delta).max(0) as usize;
        self.select(target);
    }

    fn rebuild_log_view(&mut self) {
        let narrow = self.log_narrow.as_ref();
        let search = self.log_search.to_lowercase();
        self.log_visible = (0..self.log.len())
            .filter(|i| {
                if narrow.is_none() && search.is_empty() {
                    return true;
                }
                let entry = &self.log[*i];
                // Narrowing to a user looks into the whole line (payloads name users); the
                // search matches what the pane shows, so `/failed` does not find every verbose
                // SSO dump by its hidden `failed:` field.
                narrow.is_none_or(|n| {
                    let h = entry.haystack();
                    n.needles.iter().any(|needle| contains_word(&h, needle))
                }) && (search.is_empty()
                    || ui::log::compact(entry).to_lowercase().contains(&search))
            })
            .collect();
        if let Some(s) = self.log_sel {
            self.log_sel = Some(s.min(self.log_visible.len().saturating_sub(1)));
        }
        self.redraw = true;
    }

    fn push_log(&mut self, entry: LogEntry) {
        // Interleave by time; most lines are newest and go at the end.
        let at = entry.at();
        let pos = self.log.partition_point(|e| e.at() <= at);
        self.log.insert(pos, entry);
        while self.log.len() > LOG_CAP {
            self.log.pop_front();
        }
        // Older reads keep their line, not their answer: a queue of 100,000 users is 7,500
        // pages of up to 4,000 characters each. Changes (POST, PUT) keep theirs.
        if let Some(LogEntry::Api(e)) = self
            .log
            .len()
            .checked_sub(KEEP_BODIES + 1)
            .and_then(|i| self.log.get_mut(i))
            && e.method == "GET"
            && e.response_body.is_some()
        {
            e.response_body = Some(BODY_NOT_KEPT.into());
        }
    }

    pub(crate) fn note(&mut self, tag: &'static str, text: impl Into<String>) {
        let text = sanitize::clean(&text.into());
        // The console's own lines go after what it has seen, in the order they happen.
        let at = self.log.back().map_or(self.now, |e| e.at().max(self.now));
        self.push_log(LogEntry::Note { at, tag, text });
        self.rebuild_log_view();
    }

    pub(crate) fn say(&mut self, text: impl Into<String>, error: bool) {
        self.message = Some((sanitize::clean(&text.into()), error));
        self.message_ttl = MESSAGE_TICKS;
        self.redraw = true;
    }

    // ----- effects builders -----

    fn start_loading(&mut self) -> Vec<Effect> {
        let generation = self.generation;
        self.cfg
            .sources
            .clone()
            .into_iter()
            .map(|source| {
                self.sources.insert(
                    source,
                    SourceState {
                        loading: true,
                        ..SourceState::default()
                    },
                );
                Effect::LoadQueuePage {
                    source,
                    generation,
                    cursor: None,
                }
            })
            .collect()
    }

    fn poll_logs(&mut self) -> Effect {
        self.log_polling = true;
        Effect::PollLogs {
            after: self.log_after.clone(),
        }
    }

    fn lookup(&mut self, who: &str) -> Effect {
        let req = self.next_req;
        self.next_req += 1;
        self.pending_users.insert(req, None);
        self.say(format!("looking up {}…", sanitize::clean(who)), false);
        Effect::LoadUser {
            req,
            user: UserRef::parse(who),
        }
    }

    pub(crate) fn load_detail(&mut self, slot: usize) -> Option<Effect> {
        let user = self.queue.get(slot)?.user_ref()?;
        let req = self.next_req;
        self.next_req += 1;
        self.pending_users.insert(req, Some(slot));
        self.details.insert(slot, DetailState::Loading);
        Some(Effect::LoadUser { req, user })
    }

    /// What the header says about the strategy.
    pub fn strategy_text(&self) -> String {
        match &self.site {
            Some(s) => format!("{} ({})", s.strategy.as_str(), sanitize::clean(&s.why)),
            None => match &self.site_error {
                Some(_) => "unknown (settings unreadable)".into(),
                None => "reading settings…".into(),
            },
        }
    }

    pub fn strategy(&self) -> Option<Strategy> {
        self.site.as_ref().map(|s| s.strategy)
    }
}

/// The only place state changes.
pub fn update(app: &mut App, msg: Msg) -> Vec<Effect> {
    // Keys act on rows: the order they see must be the current one. Everything else (pages,
    // exchanges, ticks) leaves it to the loop's throttled settle.
    let settle = matches!(msg, Msg::Key(_) | Msg::Mouse(_));
    let fx = match msg {
        Msg::Key(key) => on_key(app, key),
        Msg::Resize { width, height } => {
            app.size = (width, height);
            app.scroll_to_sel();
            app.redraw = true;
            vec![]
        }
        Msg::Tick { now } => on_tick(app, now),
        Msg::SiteLoaded(Ok(site)) => {
            // Said once per load, in the log pane, where the on-call engineer looks.
            for w in &site.warnings {
                app.note("WARN", w.clone());
            }
            for w in &site.interrupted {
                app.note("WARN", w.clone());
            }
            match site.interrupted.as_slice() {
                [] => {}
                [one] => app.say(one.clone(), true),
                many => app.say(
                    format!(
                        "{} changes never finished (the process was stopped): see the log pane, and `check USER` for each",
                        many.len()
                    ),
                    true,
                ),
            }
            app.site = Some(site);
            app.site_error = None;
            app.redraw = true;
            vec![]
        }
        Msg::SiteLoaded(Err(e)) => {
            app.note("ERR", format!("site settings: {e}"));
            app.site_error = Some(e);
            app.redraw = true;
            vec![]
        }
        Msg::QueuePage {
            source,
            generation,
            result,
        } => on_page(app, source, generation, result),
        Msg::UserLoaded { req, result } => on_user(app, req, result),
        Msg::ResetProgress { batch, slot, step } => on_progress(app, batch, slot, step),
        Msg::ResetFinished { batch } => {
            if app.batch.as_ref().is_some_and(|b| b.id == batch) {
                let b = app.batch.take().unwrap();
                let summary: Vec<String> = b
                    .outcomes
                    .iter()
                    .map(|(o, n)| match o {
                        Outcome::Verified if b.warned > 0 => format!(
                            "{n} verified ({} with a warning (!): the photo comes back at the next login unless the main app removes it)",
                            b.warned
                        ),
                        _ => format!("{n} {}", o.as_str()),
                    })
                    .collect();
                // Esc after the last reset had started cancels nothing: only skipped resets
                // make the batch a cancelled one.
                let skipped = b
                    .outcomes
                    .iter()
                    .any(|(o, n)| *o == Outcome::Skipped && *n > 0);
                let text = format!(
                    "{} ({} user{}): {}",
                    if b.cancelling && skipped {
                        "resets cancelled"
                    } else {
                        "resets finished"
                    },
                    b.total,
                    if b.total == 1 { "" } else { "s" },
                    summary.join(", ")
                );
                // The status line forgets; the log pane keeps the summary.
                app.note("RESET", text.clone());
                app.say(text, false);
                app.work_ended();
                if app.hide_done {
                    app.invalidate_filter();
                }
                // `q` asked because resets were running; now none are: quit as asked.
                if app.quit_after_batch || app.modal == Some(Modal::Confirm(Confirm::Quit)) {
                    app.modal = None;
                    app.quitting = true;
                    return vec![Effect::Quit];
                }
                // Resets asked for meanwhile go next, unless this batch was cancelled (Esc
                // cancels the queued ones too: `on_escape`).
                let queued = std::mem::take(&mut app.queued_resets);
                if !queued.is_empty() {
                    return start_batch(app, queued);
                }
            }
            vec![]
        }
        Msg::Exchange(e) => {
            app.push_log(LogEntry::Api(e));
            app.rebuild_log_view();
            vec![]
        }
        Msg::DiscourseLog(result) => on_logs(app, result),
        Msg::SettingChanged { setting, result } => {
            match result {
                Ok(_) if app.cfg.dry_run => {
                    app.note(
                        "NOTE",
                        format!(
                            "dry run: {} not changed (audited as dry-run)",
                            setting.name()
                        ),
                    );
                }
                Ok(value) => {
                    if let Some(site) = app.site.as_mut() {
                        match setting {
                            Setting::VerboseSso => site.verbose_sso = Some(value),
                            Setting::VerboseUpload => site.verbose_upload = Some(value),
                        }
                    }
                    let v = if value { "on" } else { "off" };
                    app.say(format!("{} is now {v}", setting.name()), false);
                    app.note("NOTE", format!("{} set to {value}", setting.name()));
                }
                Err(e) => {
                    app.say(format!("{}: {e}", setting.name()), true);
                    app.note("ERR", format!("setting {}: {e}", setting.name()));
                }
            }
            vec![]
        }
        Msg::ReviewItems { slot, result } => review_keys::on_items(app, slot, result),
        Msg::ReviewPerformed { slot, result } => review_keys::on_performed(app, slot, result),
        Msg::Undone { slot, result } => review_keys::on_undone(app, slot, result),
        Msg::Budget(b) => {
            if app.budget != Some(b) {
                app.budget = Some(b);
                app.redraw = true;
            }
            vec![]
        }
        Msg::Terminate { signal } => {
            app.note("WARN", format!("{signal} received: quitting"));
            app.modal = None;
            confirmed(app, Confirm::Quit)
        }
        Msg::ImageLoaded { url, result } => {
            super::pictures::on_loaded(app, url, result);
            vec![]
        }
        Msg::Opened { what, result } => {
            super::pictures::on_opened(app, what, result);
            vec![]
        }
        Msg::Mouse(m) => super::mouse::on_mouse(app, m),
    };
    if settle {
        app.settle();
    }
    fx
}

fn on_tick(app: &mut App, now: DateTime<Utc>) -> Vec<Effect> {
    app.ticks += 1;
    let minute_changed = app.now.timestamp() / 60 != now.timestamp() / 60;
    app.now = now;
    let mut fx = Vec::new();
    if matches!(app.message, Some((_, false))) {
        app.message_ttl = app.message_ttl.saturating_sub(1);
        if app.message_ttl == 0 {
            app.message = None;
            app.redraw = true;
        }
    }
    // Animations and countdowns only redraw while something moves.
    if app.is_loading()
        || app.batch.is_some()
        || minute_changed
        || app
            .budget
            .is_some_and(|b| b.retry_after_secs.is_some() || b.next_slot_secs.is_some())
        || app
            .details
            .values()
            .any(|d| matches!(d, DetailState::Loading))
    {
        app.redraw = true;
    }
    // The selected row's details, once it has stayed selected over two ticks: scrolling
    // through the queue must not spend the request budget on every row passed.
    let sel = app.selected_slot();
    if sel != app.detail_candidate {
        app.detail_candidate = sel;
    } else {
        if let Some(slot) = sel
            && !app.details.contains_key(&slot)
            && let Some(e) = app.load_detail(slot)
        {
            fx.push(e);
            app.redraw = true;
        }
        // Pictures spend no budget, but are not fetched for every row passed either.
        fx.extend(super::pictures::wanted(app));
    }
    // Discourse logs, as often as they are needed now: a switch to fast polling (the log
    // pane focused, work started) takes effect at once.
    if !app.log_polling {
        let interval = app.log_poll_interval().0;
        app.log_poll_in = app.log_poll_in.min(interval).saturating_sub(1);
        if app.log_poll_in == 0 {
            fx.push(app.poll_logs());
        }
    }
    fx
}

fn on_page(
    app: &mut App,
    source: Source,
    generation: u64,
    result: Result<QueuePage, String>,
) -> Vec<Effect> {
    if generation != app.generation {
        return vec![]; // an answer to a queue we threw away (`:refresh`)
    }
    app.redraw = true;
    let state = app.sources.entry(source).or_default();
    match result {
        Ok(page) => {
            state.pages += 1;
            state.loading = page.next.is_some();
            if page.skipped > 0 {
                let text = format!(
                    "{} queue: {} flagged item(s) without an external_id skipped (fix them in the {})",
                    source.as_str(),
                    page.skipped,
                    if source == Source::App {
                        "main app"
                    } else {
                        "source"
                    }
                );
                // An error already on the status line (an unknown `--user`) stays there: this
                // warning repeats with every such page and is in the log pane anyway.
                if !matches!(app.message, Some((_, true))) {
                    app.say(text.clone(), true);
                }
                app.note("WARN", text);
            }
            let merged = app.queue.merge(page.items);
            app.order_pending.extend(merged.changed.iter().copied());
            for (from, into) in &merged.absorbed {
                app.order_pending.extend([*from, *into]);
                // Per-slot state follows the user into the slot that absorbed it.
                if app.marks.remove(from) {
                    app.marks.insert(*into);
                }
                if let Some(s) = app.status.remove(from) {
                    app.status.entry(*into).or_insert(s);
                }
                if let Some(r) = app.review.remove(from) {
                    app.review.entry(*into).or_insert(r);
                }
                app.details.remove(from);
            }
            for slot in merged.changed {
                restore_external_id(app, slot);
                app.rehay(slot);
                if !app.carried.is_empty()
                    && let Some(u) = app.queue.get(slot)
                {
                    let keys = identity_keys(u);
                    if let Some((status, marked)) =
                        keys.iter().find_map(|k| app.carried.get(k).cloned())
                    {
                        for k in &keys {
                            app.carried.remove(k);
                        }
                        if let Some(st) = status {
                            app.status.entry(slot).or_insert(st);
                        }
                        if marked {
                            app.marks.insert(slot);
                        }
                    }
                }
            }
            app.order_dirty = true;
            match page.next {
                Some(cursor) => {
                    let state = app.sources.entry(source).or_default();
                    if !state.seen.insert(cursor.clone())
                        || state.pages >= crate::sources::MAX_PAGES
                    {
                        state.loading = false;
                        let e = format!(
                            "{} queue: paging stopped: the source keeps sending more pages",
                            source.as_str()
                        );
                        state.error = Some(e.clone());
                        app.say(e.clone(), true);
                        app.note("ERR", e);
                        return vec![];
                    }
                    vec![Effect::LoadQueuePage {
                        source,
                        generation,
                        cursor: Some(cursor),
                    }]
                }
                None => vec![],
            }
        }
        Err(e) => {
            state.loading = false;
            let e = sanitize::clean(&e);
            state.error = Some(e.clone());
            app.say(format!("{}: {e}", source.as_str()), true);
            app.note("ERR", format!("{} queue: {e}", source.as_str()));
            vec![]
        }
    }
}

fn on_user(app: &mut App, req: u64, result: Result<UserInfo, String>) -> Vec<Effect> {
    let Some(target) = app.pending_users.remove(&req) else {
        return vec![];
    };
    app.redraw = true;
    if let Ok(info) = &result
        && let Some(ext) = info.detail.external_id()
    {
        app.known_external
            .insert(info.detail.id, sanitize::clean(ext));
    }
    match (target, result) {
        (Some(slot), Ok(info)) => {
            let slot = app.queue.resolve(slot);
            app.queue.complete(slot, &info.detail);
            app.rehay(slot);
            // Discourse's spelling of the name may move the row among equals.
            app.reorder(slot);
            app.settle();
            app.details
                .insert(slot, DetailState::Loaded(Box::new(info)));
            // The avatar's address is known now: fetch it without waiting for a tick.
            return super::pictures::wanted(app);
        }
        (Some(slot), Err(e)) => {
            app.details
                .insert(slot, DetailState::Failed(sanitize::clean(&e)));
        }
        (None, Ok(info)) => {
            let before = app.queue.len();
            let slot = app.queue.upsert_detail(&info.detail);
            app.rehay(slot);
            let added = app.queue.len() != before;
            app.details
                .insert(slot, DetailState::Loaded(Box::new(info)));
            if added {
                app.looked_up.insert(slot);
            }
            app.reorder(slot);
            app.settle();
            // Show it even when the filter (or hiding done rows) would hide it.
            if !app.visible.contains(&slot) {
                app.filter.clear();
                app.hide_done = false;
                app.invalidate_filter();
            }
            if let Some(i) = app.visible.iter().position(|s| *s == slot) {
                app.select(i);
            }
            let label = app.queue.get(slot).map(|u| u.label()).unwrap_or_default();
            app.say(
                if added {
                    format!("{label}: not queued, shown at the top")
                } else {
                    label
                },
                false,
            );
        }
        (None, Err(e)) => {
            let text = format!("user not found: {}", sanitize::clean(&e));
            app.note("ERR", text.clone());
            app.say(text, true);
        }
    }
    vec![]
}

fn on_progress(app: &mut App, batch: u64, slot: usize, step: ResetStep) -> Vec<Effect> {
    let Some(b) = app.batch.as_mut().filter(|b| b.id == batch) else {
        return vec![];
    };
    app.redraw = true;
    let slot = app.queue.resolve(slot);
    let ResetStep::Done(report) = step else {
        app.status.insert(slot, RowStatus::Running(step));
        return vec![];
    };
    b.done += 1;
    if report.outcome == Outcome::Verified && report.message.contains(crate::reset::WARNING) {
        b.warned += 1;
    }
    match b.outcomes.iter_mut().find(|(o, _)| *o == report.outcome) {
        Some((_, n)) => *n += 1,
        None => b.outcomes.push((report.outcome, 1)),
    }
    let single_dry_run = b.dry_run && b.total == 1;
    let name = app
        .queue
        .get(slot)
        .map(|u| u.label())
        .unwrap_or_else(|| report.user.clone());
    let message = sanitize::clean_multiline(&report.message);
    let strategy = report
        .strategy
        .map(|s| format!(" ({})", s.as_str()))
        .unwrap_or_default();
    app.note(
        if report.outcome == Outcome::Failed {
            "ERR"
        } else {
            "RESET"
        },
        format!(
            "reset {name}{strategy}: {} — {message}",
            report.outcome.as_str()
        ),
    );
    if single_dry_run {
        app.modal = Some(Modal::Text {
            title: format!("dry run: what would be sent for {name}"),
            lines: message.lines().map(str::to_string).collect(),
            scroll: 0,
        });
    }
    let earlier = app.before_batch.remove(&slot);
    match earlier {
        // Never started: the row shows again what it showed before.
        Some(prev) if report.outcome == Outcome::Skipped => {
            app.status.insert(slot, prev);
        }
        _ => {
            app.status.insert(
                slot,
                RowStatus::Done {
                    outcome: report.outcome,
                    message,
                },
            );
        }
    }
    if matches!(report.outcome, Outcome::Verified | Outcome::Applied)
        && let Some(u) = app.queue.get(slot)
    {
        let kind = match report.strategy {
            Some(Strategy::Pick) => "system",
            _ => "default",
        };
        for k in identity_keys(u) {
            app.avatar_after.insert(k, kind);
        }
    }
    // The avatar changed (or not): read it again when it is looked at.
    app.details.remove(&slot);
    if app.hide_done {
        app.invalidate_filter();
    }
    vec![]
}

fn on_logs(app: &mut App, result: Result<Vec<LogLine>, String>) -> Vec<Effect> {
    app.log_polling = false;
    match result {
        Ok(lines) => {
            app.log_failing = false;
            if !lines.is_empty() {
                for mut line in lines {
                    app.log_after = Some(line.key.clone());
                    // Logster sends a grouped message again, same key, with its new count; and
                    // the same text may come under several keys. Either way: one line, the
                    // newest time, the count of them all.
                    let group = app.log_groups.entry(line.message.clone()).or_default();
                    group.insert(line.key.clone(), line.count.max(1));
                    line.count = group.values().sum();
                    if let Some(i) = app.log.iter().rposition(|e| {
                        matches!(e, LogEntry::Discourse(l)
                            if l.key == line.key || l.message == line.message)
                    }) {
                        app.log.remove(i);
                    }
                    app.push_log(LogEntry::Discourse(line));
                }
                if app.log_groups.len() > LOG_CAP {
                    let live: HashSet<&str> = app
                        .log
                        .iter()
                        .filter_map(|e| match e {
                            LogEntry::Discourse(l) => Some(l.message.as_str()),
                            _ => None,
                        })
                        .collect();
                    app.log_groups.retain(|m, _| live.contains(m.as_str()));
                }
                app.rebuild_log_view();
            }
        }
        Err(e) => {
            app.log_failing = true;
            app.note("ERR", format!("discourse logs: {e}"));
        }
    }
    app.log_poll_in = app.log_poll_interval().0;
    vec![]
}

// ----- keys -----

pub(crate) fn on_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    if key.kind != KeyEventKind::Press {
        return vec![];
    }
    app.redraw = true;
    // Ctrl-C always means "get me out", whatever is open or being typed: it quits, as `q`
    // does (asking first while resets run, whose outcomes are still written). Pressed again at
    // that question, it is the answer.
    if ctrl(&key) && key.code == KeyCode::Char('c') {
        app.input = Input::Normal;
        if app.modal.take() == Some(Modal::Confirm(Confirm::Quit)) {
            return confirmed(app, Confirm::Quit);
        }
        return request_quit(app);
    }
    if app.modal.is_some() {
        return on_modal_key(app, key);
    }
    match app.input.clone() {
        Input::Filter => on_filter_key(app, key),
        Input::LogSearch => on_log_search_key(app, key),
        Input::Command(line) => on_command_key(app, key, line),
        Input::Normal => on_normal_key(app, key),
    }
}

fn ctrl(key: &KeyEvent) -> bool {
    key.modifiers.contains(KeyModifiers::CONTROL)
}

fn on_modal_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    let Some(modal) = app.modal.clone() else {
        return vec![];
    };
    match modal {
        Modal::ReviewMenu(m) => review_keys::menu_key(app, key, m),
        Modal::Confirm(c) => match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
                app.modal = None;
                confirmed(app, c)
            }
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc | KeyCode::Char('q') => {
                app.modal = None;
                let what = match c {
                    Confirm::Quit => "not quitting: the resets keep running",
                    _ => "cancelled: nothing sent",
                };
                app.say(what, false);
                vec![]
            }
            _ => vec![],
        },
        Modal::Help { scroll } | Modal::Text { scroll, .. } => {
            // Scrolled with the keys in force (a remapped `down` scrolls here too); the arrows,
            // pages, Home, Esc and Enter work whatever the keymap.
            let new_scroll = match (key.code, app.cfg.keymap.action(&key)) {
                (KeyCode::Down, _) | (_, Some(Action::Down)) => Some(scroll.saturating_add(1)),
                (KeyCode::Up, _) | (_, Some(Action::Up)) => Some(scroll.saturating_sub(1)),
                (KeyCode::PageDown | KeyCode::Char(' '), _)
                | (_, Some(Action::PageDown | Action::HalfPageDown)) => {
                    Some(scroll.saturating_add(10))
                }
                (KeyCode::PageUp, _) | (_, Some(Action::PageUp | Action::HalfPageUp)) => {
                    Some(scroll.saturating_sub(10))
                }
                (KeyCode::Home, _) | (_, Some(Action::Top)) => Some(0),
                (KeyCode::End, _) | (_, Some(Action::Bottom)) => Some(u16::MAX),
                (KeyCode::Esc | KeyCode::Enter, _) | (_, Some(Action::Quit | Action::Help)) => {
                    app.modal = None;
                    None
                }
                _ => Some(scroll),
            };
            // Never past the last line (an empty page scrolled into is a page that hides it).
            let new_scroll = new_scroll.map(|s| s.min(ui::dialogs::modal_max_scroll(app)));
            if let (Some(s), Some(Modal::Help { scroll } | Modal::Text { scroll, .. })) =
                (new_scroll, app.modal.as_mut())
            {
                *scroll = s;
            }
            vec![]
        }
    }
}

fn confirmed(app: &mut App, c: Confirm) -> Vec<Effect> {
    match c {
        Confirm::Quit => {
            if app.batch.is_none() {
                app.quitting = true;
                return vec![Effect::Quit];
            }
            // Nothing is lost: resets already sent finish and write their outcome line first;
            // the ones not started are skipped.
            app.quit_after_batch = true;
            if let Some(b) = app.batch.as_mut() {
                b.cancelling = true;
            }
            for s in std::mem::take(&mut app.queued_resets) {
                restore_status(app, s);
            }
            app.say(
                "finishing the resets in flight (they verify and write their outcome, up to the verify timeout), then quitting…",
                false,
            );
            vec![Effect::CancelResets]
        }
        Confirm::Review {
            slot,
            subject,
            item,
            action,
        } => review_keys::confirmed_review(app, slot, subject, item, action),
        Confirm::Undo { slot } => review_keys::confirmed_undo(app, slot),
        Confirm::Toggle { setting, enable } => {
            app.say(format!("setting {} to {enable}…", setting.name()), false);
            vec![Effect::ToggleSetting { setting, enable }]
        }
        Confirm::Reset { slots } => start_or_queue(app, slots),
    }
}

/// Starts a batch of resets, or, while one runs, queues the rows behind it.
fn start_or_queue(app: &mut App, slots: Vec<usize>) -> Vec<Effect> {
    if app.batch.is_some() {
        let mut added = Vec::new();
        for s in slots {
            let busy = app.queued_resets.contains(&s)
                || matches!(app.status.get(&s), Some(RowStatus::Waiting));
            if !busy && app.queue.get(s).and_then(|u| u.user_ref()).is_some() {
                app.queued_resets.push(s);
                if let Some(prev) = app.status.insert(s, RowStatus::Waiting) {
                    app.before_batch.insert(s, prev);
                }
                app.marks.remove(&s);
                added.push(app.queue.get(s).map(|u| u.label()).unwrap_or_default());
            }
        }
        app.range_anchor = None;
        if added.is_empty() {
            app.say("already waiting to be reset", false);
        } else {
            let text = format!(
                "queued: {} (starts when the running resets finish; {} waiting; Esc cancels)",
                added.join(", "),
                app.queued_resets.len()
            );
            app.note("RESET", text.clone());
            app.say(text, false);
        }
        return vec![];
    }
    start_batch(app, slots)
}

/// A queued row that will not be reset shows again what it showed before it was queued.
fn restore_status(app: &mut App, slot: usize) {
    match app.before_batch.remove(&slot) {
        Some(prev) => app.status.insert(slot, prev),
        None => app.status.remove(&slot),
    };
}

fn start_batch(app: &mut App, slots: Vec<usize>) -> Vec<Effect> {
    let users: Vec<(usize, UserRef)> = slots
        .iter()
        .filter_map(|s| Some((*s, app.queue.get(*s)?.user_ref()?)))
        .collect();
    if users.is_empty() {
        app.say(
            "nothing to reset: no user id known for the marked rows",
            true,
        );
        return vec![];
    }
    let id = app.next_batch;
    app.next_batch += 1;
    for (s, _) in &users {
        match app.status.insert(*s, RowStatus::Waiting) {
            Some(RowStatus::Waiting) | None => {}
            Some(prev) => {
                app.before_batch.insert(*s, prev);
            }
        }
        app.marks.remove(s);
    }
    app.range_anchor = None;
    app.batch = Some(Batch {
        id,
        total: users.len(),
        done: 0,
        cancelling: false,
        dry_run: app.cfg.dry_run,
        outcomes: Vec::new(),
        warned: 0,
    });
    // The status line shows the batch's progress while it runs (`App::work_text`).
    app.message = None;
    vec![Effect::Reset {
        batch: id,
        users,
        dry_run: app.cfg.dry_run,
    }]
}

fn on_filter_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    match key.code {
        KeyCode::Esc => {
            app.input = Input::Normal;
            app.filter.clear();
            app.refilter();
        }
        KeyCode::Enter => app.input = Input::Normal,
        // On an empty filter Backspace does nothing (as in fzf and atuin): only Esc and Enter
        // leave the prompt, so letters typed after it are never taken for commands.
        KeyCode::Backspace => {
            app.filter.pop();
            app.refilter();
        }
        KeyCode::Char('u') if ctrl(&key) => {
            app.filter.clear();
            app.refilter();
        }
        KeyCode::Down => app.move_sel(1),
        KeyCode::Up => app.move_sel(-1),
        KeyCode::Char(c) if !ctrl(&key) => {
            app.filter.push(c);
            app.refilter();
        }
        _ => {}
    }
    vec![]
}

/// The log pane's own search: case-insensitive, as you type; Esc clears it.
fn on_log_search_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    match key.code {
        KeyCode::Esc => {
            app.input = Input::Normal;
            app.log_search.clear();
        }
        KeyCode::Enter => app.input = Input::Normal,
        KeyCode::Backspace => {
            app.log_search.pop();
        }
        KeyCode::Char('u') if ctrl(&key) => app.log_search.clear(),
        KeyCode::Char(c) if !ctrl(&key) => app.log_search.push(c),
        _ => return vec![],
    }
    app.rebuild_log_view();
    vec![]
}

fn on_command_key(app: &mut App, key: KeyEvent, mut line: String) -> Vec<Effect> {
    match key.code {
        KeyCode::Esc => app.input = Input::Normal,
        KeyCode::Enter => {
            app.input = Input::Normal;
            let line = line.trim().to_string();
            remember_command(app, &line);
            return run_command(app, &line);
        }
        KeyCode::Up => {
            let n = app.cmd_history.len();
            let pos = match app.cmd_hist_pos {
                None if n == 0 => return vec![],
                None => {
                    app.cmd_draft = line;
                    n - 1
                }
                Some(p) => p.saturating_sub(1),
            };
            app.cmd_hist_pos = Some(pos);
            app.input = Input::Command(app.cmd_history[pos].clone());
        }
        KeyCode::Down => {
            let Some(p) = app.cmd_hist_pos else {
                return vec![];
            };
            if p + 1 < app.cmd_history.len() {
                app.cmd_hist_pos = Some(p + 1);
                app.input = Input::Command(app.cmd_history[p + 1].clone());
            } else {
                app.cmd_hist_pos = None;
                app.input = Input::Command(std::mem::take(&mut app.cmd_draft));
            }
        }
        KeyCode::Backspace => {
            line.pop();
            app.input = Input::Command(line);
        }
        KeyCode::Char(c) if !ctrl(&key) => {
            line.push(c);
            app.input = Input::Command(line);
        }
        _ => {}
    }
    vec![]
}

/// Keeps a `:` line for ↑/↓: the newest last, a repeat of the last one once.
fn remember_command(app: &mut App, line: &str) {
    app.cmd_hist_pos = None;
    app.cmd_draft.clear();
    if line.is_empty() || app.cmd_history.last().is_some_and(|l| l == line) {
        return;
    }
    app.cmd_history.push(line.to_string());
    if app.cmd_history.len() > HISTORY_CAP {
        app.cmd_history.remove(0);
    }
}

fn run_command(app: &mut App, line: &str) -> Vec<Effect> {
    let (cmd, arg) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let arg = arg.trim();
    match cmd {
        "" => vec![],
        "q" | "quit" | "q!" => request_quit(app),
        // `external:` without an id is a usage slip, not a user to look for.
        "user" | "u" if !arg.is_empty() => match crate::reset::parse_user(arg) {
            Ok(_) => vec![app.lookup(arg)],
            Err(e) => {
                app.say(
                    format!(
                        "{}; usage: :user NAME | external:ID | EMAIL",
                        sanitize::clean(&e)
                    ),
                    true,
                );
                vec![]
            }
        },
        "user" | "u" => {
            app.say("usage: :user NAME | external:ID | EMAIL", true);
            vec![]
        }
        "refresh" | "r" => refresh(app),
        "help" | "h" => {
            app.modal = Some(Modal::Help { scroll: 0 });
            vec![]
        }
        other => {
            app.say(
                format!("unknown command :{other} (try :user NAME, :refresh, :q)"),
                true,
            );
            vec![]
        }
    }
}

fn refresh(app: &mut App) -> Vec<Effect> {
    if app.batch.is_some() {
        app.say(
            "resets are running: refresh when they are done (Esc cancels them)",
            true,
        );
        return vec![];
    }
    app.generation += 1;
    let keep: Vec<usize> = app.status.keys().chain(app.marks.iter()).copied().collect();
    for slot in keep {
        if let Some(u) = app.queue.get(slot) {
            let entry = (app.status.get(&slot).cloned(), app.marks.contains(&slot));
            for k in identity_keys(u) {
                app.carried.insert(k, entry.clone());
            }
        }
    }
    app.queue = Queue::new();
    app.looked_up.clear();
    app.hay.clear();
    app.order.clear();
    app.order_pending.clear();
    app.cursor_moved = false;
    app.marks.clear();
    app.status.clear();
    app.review.clear();
    app.details.clear();
    app.pictures.clear();
    app.open_turn = None;
    app.pending_users.retain(|_, t| t.is_none());
    app.range_anchor = None;
    app.sel = 0;
    app.offset = 0;
    app.invalidate_filter();
    app.say("reloading the queue…", false);
    let mut fx = vec![Effect::LoadSite];
    fx.extend(app.start_loading());
    fx
}

/// Gives a review-queue row the external id its details showed before (`:refresh`).
fn restore_external_id(app: &mut App, slot: usize) {
    let Some(u) = app.queue.get(slot) else { return };
    if u.external_id.is_some() {
        return;
    }
    let Some((id, ext)) = u
        .discourse_id
        .and_then(|id| Some((id, app.known_external.get(&id)?.clone())))
    else {
        return;
    };
    let detail = crate::model::UserDetail {
        id,
        username: u.username.clone().unwrap_or_default(),
        sso: Some(crate::model::SsoRecord {
            external_id: ext,
            ..Default::default()
        }),
        ..Default::default()
    };
    app.queue.complete(slot, &detail);
}

/// What the AVATAR column says after a reset, when the queue still holds the old kind.
pub(crate) fn avatar_after(app: &App, u: &QueuedUser) -> Option<&'static str> {
    if app.avatar_after.is_empty() {
        return None;
    }
    identity_keys(u)
        .iter()
        .find_map(|k| app.avatar_after.get(k).copied())
}

/// An undo put the old avatar back: the AVATAR column no longer says what the reset left.
pub(crate) fn forget_avatar_after(app: &mut App, slot: usize) {
    if let Some(u) = app.queue.get(slot) {
        for k in identity_keys(u) {
            app.avatar_after.remove(&k);
        }
    }
}

/// The keys a user is known by across reloads: external id, Discourse id, username.
fn identity_keys(u: &QueuedUser) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(x) = &u.external_id {
        keys.push(format!("x:{x}"));
    }
    if let Some(d) = u.discourse_id {
        keys.push(format!("d:{d}"));
    }
    if let Some(n) = &u.username {
        keys.push(format!("u:{}", n.to_lowercase()));
    }
    keys
}

fn request_quit(app: &mut App) -> Vec<Effect> {
    if app.batch.is_some() {
        app.modal = Some(Modal::Confirm(Confirm::Quit));
        vec![]
    } else {
        app.quitting = true;
        vec![Effect::Quit]
    }
}

pub(crate) fn refuse_read_only(app: &mut App, what: &str) -> bool {
    if app.cfg.read_only {
        app.say(
            format!("read-only (--read-only): {what} is disabled and nothing is sent"),
            true,
        );
    }
    app.cfg.read_only
}

fn on_normal_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    // Esc is not an action: it cancels what is under way, then clears, whatever the keymap.
    if key.code == KeyCode::Esc {
        return on_escape(app);
    }
    let Some(action) = app.cfg.keymap.action(&key) else {
        unmapped(app, &key);
        return vec![];
    };
    perform(app, action)
}

/// A key no action has: say so, rather than nothing at all.
fn unmapped(app: &mut App, key: &KeyEvent) {
    // Lone modifiers and keys a terminal sends on its own are not the user's doing.
    if matches!(
        key.code,
        KeyCode::Modifier(_)
            | KeyCode::Null
            | KeyCode::CapsLock
            | KeyCode::NumLock
            | KeyCode::ScrollLock
            | KeyCode::Media(_)
            | KeyCode::KeypadBegin
    ) {
        return;
    }
    let help = app.cfg.keymap.hint(Action::Help);
    app.say(
        format!("{}: no such key, {help} for help", Key::from_event(key)),
        false,
    );
}

fn on_escape(app: &mut App) -> Vec<Effect> {
    if app.range_anchor.take().is_some() {
        app.say("range cancelled", false);
    } else if let Some(b) = app.batch.as_mut() {
        if !b.cancelling {
            b.cancelling = true;
            let queued = std::mem::take(&mut app.queued_resets);
            for s in &queued {
                restore_status(app, *s);
            }
            let text = if queued.is_empty() {
                "cancelling: resets in flight finish and verify, the rest are skipped".to_string()
            } else {
                format!(
                    "cancelling: resets in flight finish and verify, the rest are skipped; {} queued not started",
                    queued.len()
                )
            };
            app.note("RESET", text.clone());
            app.say(text, false);
            return vec![Effect::CancelResets];
        }
    } else if app.focus == Focus::Log && !app.log_search.is_empty() {
        app.log_search.clear();
        app.rebuild_log_view();
    } else if !app.filter.is_empty() {
        app.filter.clear();
        app.refilter();
    } else if !app.log_search.is_empty() {
        app.log_search.clear();
        app.rebuild_log_view();
    } else if app.log_narrow.take().is_some() {
        app.rebuild_log_view();
    } else {
        app.message = None;
    }
    vec![]
}

/// What an action does in the main screen.
fn perform(app: &mut App, action: Action) -> Vec<Effect> {
    let page = app.queue_rows() as isize;
    match action {
        Action::Quit => return request_quit(app),
        Action::HalfPageDown => scroll(app, page / 2),
        Action::HalfPageUp => scroll(app, -(page / 2)),
        Action::Refresh => return refresh(app),
        Action::Down => scroll(app, 1),
        Action::Up => scroll(app, -1),
        Action::PageDown => scroll(app, page),
        Action::PageUp => scroll(app, -page),
        Action::Top => scroll(app, isize::MIN / 2),
        Action::Bottom => scroll(app, isize::MAX / 2),
        Action::Filter if app.focus == Focus::Log => app.input = Input::LogSearch,
        Action::Filter => {
            app.input = Input::Filter;
            app.focus = Focus::Queue;
        }
        Action::Command => {
            app.cmd_hist_pos = None;
            app.input = Input::Command(String::new());
        }
        Action::Help => app.modal = Some(Modal::Help { scroll: 0 }),
        Action::NextPane => {
            app.focus = match app.focus {
                Focus::Queue => Focus::Detail,
                Focus::Detail => Focus::Log,
                Focus::Log => Focus::Queue,
            };
            app.scroll_to_sel();
        }
        Action::PrevPane => {
            app.focus = match app.focus {
                Focus::Queue => Focus::Log,
                Focus::Detail => Focus::Queue,
                Focus::Log => Focus::Detail,
            };
            app.scroll_to_sel();
        }
        Action::LogSize => {
            app.log_big = !app.log_big;
            app.scroll_to_sel();
        }
        Action::HideDone => {
            app.hide_done = !app.hide_done;
            app.invalidate_filter();
            app.say(
                if app.hide_done {
                    "done rows hidden"
                } else {
                    "done rows shown"
                },
                false,
            );
        }
        Action::Mark => {
            if let Some(slot) = app.selected_slot() {
                if !app.marks.remove(&slot) {
                    app.marks.insert(slot);
                }
                app.move_sel(1);
            }
        }
        Action::Range => match app.range_anchor.take() {
            None => {
                app.range_anchor = Some(app.sel);
                let again = app.cfg.keymap.hint(Action::Range);
                app.say(
                    format!("range: move, then {again} again to mark (Esc cancels)"),
                    false,
                );
            }
            Some(anchor) => {
                let (a, b) = (anchor.min(app.sel), anchor.max(app.sel));
                let end = b.min(app.visible.len().saturating_sub(1));
                for i in a..=end {
                    if let Some(s) = app.visible.get(i) {
                        app.marks.insert(*s);
                    }
                }
                // The status bar already counts the marks; say what to do with them.
                let reset = app.cfg.keymap.hint(Action::ResetMarked);
                app.say(
                    format!(
                        "range of {} added: {reset} resets every marked user",
                        end + 1 - a
                    ),
                    false,
                );
            }
        },
        Action::Reset => return reset_selected(app),
        Action::ResetMarked => return reset_marked(app),
        Action::Open => match app.focus {
            Focus::Log => open_log_line(app),
            Focus::Queue => app.focus = Focus::Detail,
            Focus::Detail => app.focus = Focus::Queue,
        },
        Action::LogUser => toggle_log_narrow(app),
        Action::VerboseSso => return ask_toggle(app, Setting::VerboseSso),
        Action::VerboseUpload => return ask_toggle(app, Setting::VerboseUpload),
        Action::OpenImage => return super::pictures::open(app),
        Action::Review => return review_keys::open_menu(app),
        Action::Undo => return review_keys::ask_undo(app),
    }
    vec![]
}

/// j/k and paging act on the focused pane.
pub(crate) fn scroll(app: &mut App, delta: isize) {
    match app.focus {
        Focus::Queue => app.move_sel(delta),
        Focus::Detail => {
            let d = delta.clamp(-10_000, 10_000);
            let max = ui::detail::max_scroll(app) as isize;
            app.detail_scroll = (app.detail_scroll as isize + d).clamp(0, max) as u16;
        }
        Focus::Log => {
            let n = app.log_visible.len();
            if n == 0 {
                return;
            }
            let cur = app.log_sel.unwrap_or(n - 1) as isize;
            let next = (cur + delta).clamp(0, n as isize - 1) as usize;
            // Back at the newest line: follow new lines again.
            app.log_sel = if next == n - 1 { None } else { Some(next) };
        }
    }
}

/// Whether a reset may be asked for now; says why not.
fn may_reset(app: &mut App, what: &str) -> bool {
    // While a batch runs, a new reset is queued behind it (see `start_or_queue`).
    !refuse_read_only(app, what)
}

fn reset_selected(app: &mut App) -> Vec<Effect> {
    let what = format!("reset ({})", app.cfg.keymap.hint(Action::Reset));
    if !may_reset(app, &what) {
        return vec![];
    }
    match app.selected_slot() {
        Some(slot) => app.modal = Some(Modal::Confirm(Confirm::Reset { slots: vec![slot] })),
        None => app.say("no user selected", true),
    }
    vec![]
}

fn reset_marked(app: &mut App) -> Vec<Effect> {
    let what = format!(
        "reset of marked users ({})",
        app.cfg.keymap.hint(Action::ResetMarked)
    );
    if !may_reset(app, &what) {
        return vec![];
    }
    if app.marks.is_empty() {
        let (mark, range) = (
            app.cfg.keymap.hint(Action::Mark),
            app.cfg.keymap.hint(Action::Range),
        );
        app.say(
            format!("no marked users: mark with {mark}, or {range} for a range"),
            true,
        );
        return vec![];
    }
    // In queue order, so the batch goes top to bottom.
    let slots: Vec<usize> = app
        .order
        .iter()
        .copied()
        .filter(|s| app.marks.contains(s))
        .collect();
    app.modal = Some(Modal::Confirm(Confirm::Reset { slots }));
    vec![]
}

fn ask_toggle(app: &mut App, setting: Setting) -> Vec<Effect> {
    if refuse_read_only(app, &format!("changing {}", setting.name())) {
        return vec![];
    }
    let current = app.site.as_ref().and_then(|s| match setting {
        Setting::VerboseSso => s.verbose_sso,
        Setting::VerboseUpload => s.verbose_upload,
    });
    let enable = !current.unwrap_or(false);
    if app.cfg.dry_run {
        app.modal = Some(Modal::Text {
            title: "dry run: what would be sent".into(),
            lines: vec![
                format!("PUT /admin/site_settings/{}", setting.name()),
                format!("{}={enable}", setting.name()),
                String::new(),
                "Nothing was sent (--dry-run); the audit log records it.".into(),
            ],
            scroll: 0,
        });
        // The backend writes the dry-run audit line and sends nothing.
        return vec![Effect::ToggleSetting { setting, enable }];
    }
    app.modal = Some(Modal::Confirm(Confirm::Toggle { setting, enable }));
    vec![]
}

fn toggle_log_narrow(app: &mut App) {
    if app.log_narrow.take().is_none() {
        let Some(u) = app.selected_slot().and_then(|s| app.queue.get(s)) else {
            app.say("no user selected", true);
            return;
        };
        let needles: Vec<String> = [&u.username, &u.external_id, &u.email]
            .into_iter()
            .flatten()
            .map(|s| s.to_lowercase())
            .collect();
        let label = u.label();
        app.say(
            format!("log pane: only lines about {label} (u or Esc shows all)"),
            false,
        );
        app.log_narrow = Some(LogNarrow { label, needles });
    } else {
        app.say("log pane: all lines", false);
    }
    app.log_sel = None;
    app.rebuild_log_view();
}

/// The selected log line, whole.
fn open_log_line(app: &mut App) {
    let n = app.log_visible.len();
    if n == 0 {
        return;
    }
    let idx = app.log_visible[app.log_sel.unwrap_or(n - 1).min(n - 1)];
    let (title, lines) = log_detail(&app.log[idx], app.sso_decode.as_ref());
    app.modal = Some(Modal::Text {
        title,
        lines,
        scroll: 0,
    });
}

/// A log entry shown whole: an exchange as request and response, a Discourse line with its
/// DiscourseConnect payload decoded when it carries one.
pub fn log_detail(entry: &LogEntry, decode: Option<&SsoDecoder>) -> (String, Vec<String>) {
    let when = entry.at().format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string();
    let mut lines = vec![format!("at {when}")];
    let multiline = |out: &mut Vec<String>, text: &str| {
        out.extend(sanitize::clean_multiline(text).lines().map(str::to_string));
    };
    let mut payload_source = String::new();
    let title = match entry {
        LogEntry::Api(e) => {
            let status = e
                .status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "no answer".into());
            lines.push(format!("status {status} in {} ms", e.latency_ms));
            lines.push(String::new());
            lines.push(format!(
                "Request: {} {}",
                sanitize::clean(&e.method),
                sanitize::clean(&e.path)
            ));
            match &e.request_body {
                Some(b) => {
                    multiline(&mut lines, b);
                    payload_source.push_str(b);
                }
                None => lines.push("(no body)".into()),
            }
            lines.push(String::new());
            lines.push(format!("Response: {}", sanitize::clean(&e.summary)));
            if let Some(b) = &e.response_body {
                multiline(&mut lines, b);
            }
            format!(
                "API {} {}",
                sanitize::clean(&e.method),
                sanitize::clean(&e.path)
            )
        }
        LogEntry::Discourse(l) => {
            lines.push(format!(
                "{} · severity {}{}",
                l.kind.label(),
                l.severity,
                if l.count > 1 {
                    format!(" · seen {} times", l.count)
                } else {
                    String::new()
                }
            ));
            lines.push(String::new());
            multiline(&mut lines, &l.message);
            payload_source.push_str(&l.message);
            format!("Discourse log {}", l.kind.label())
        }
        LogEntry::Note { tag, text, .. } => {
            lines.push(String::new());
            multiline(&mut lines, text);
            format!("console {tag}")
        }
    };
    if let Some(payload) = find_sso_payload(&payload_source) {
        lines.push(String::new());
        match decode.and_then(|d| d(&payload)) {
            Some(fields) => {
                lines.push("DiscourseConnect payload, decoded:".into());
                for (k, v) in fields {
                    lines.push(format!("  {}={}", sanitize::clean(&k), sanitize::clean(&v)));
                }
            }
            None => lines.push("DiscourseConnect payload present (could not decode it)".into()),
        }
    }
    (title, lines)
}

/// Finds a DiscourseConnect payload in a text: `sso=…` (with its `&sig=…` when there), or the
/// `sso: <Base64>` line of a verbose SSO log message (then the bare Base64 is returned).
fn find_sso_payload(text: &str) -> Option<String> {
    let token_end = |rest: &str| {
        rest.find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',')
            .unwrap_or(rest.len())
    };
    if let Some(start) = text.find("sso=") {
        let rest = &text[start..];
        let token = &rest[..token_end(rest)];
        if token.len() > "sso=".len() {
            return Some(token.to_string());
        }
    }
    let line = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("sso:"))?;
    let value = line.trim();
    let value = &value[..token_end(value)];
    (!value.is_empty()).then(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_match_respects_boundaries() {
        assert!(contains_word("get /u/alice.json", "alice"));
        assert!(!contains_word("get /u/alice2.json", "alice"));
        assert!(contains_word("external_id: 684\n", "684"));
        assert!(!contains_word("latency 6841", "684"));
        assert!(!contains_word("x", ""));
    }

    #[test]
    fn finds_sso_payloads() {
        assert_eq!(
            find_sso_payload("params sso=abc%3D&sig=12 end").as_deref(),
            Some("sso=abc%3D&sig=12")
        );
        assert_eq!(find_sso_payload("nothing here"), None);
        assert_eq!(
            find_sso_payload(
                "Verbose SSO log: Signature verification failed\n\nsso: bm9uY2U9YQ==\n\nsig: 00"
            )
            .as_deref(),
            Some("bm9uY2U9YQ==")
        );
    }
}
