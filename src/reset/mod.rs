//! Resets that really happen: resolve the user, choose the strategy, send the smallest change,
//! verify by re-reading, audit every step. Decisions live in [`plan`]; this module does the
//! talking, within the client's one request budget.
//!
//! A run has three phases: look every target up (batched where the server allows), merge the
//! targets that turned out to be one user, then send and verify. Once the run is cancelled,
//! nothing new leaves: lookups and first writes go through a client that refuses to send what
//! is still waiting for the budget, and those resets end `skipped`.

mod cause;
pub mod history;
mod lost;
mod placeholder;
pub mod plan;
mod targets;
mod verify;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use tokio::sync::OnceCell;

use crate::audit::{self, AuditEntry, AuditLog, Before, Phase};
use crate::discourse::client::{ClientError, DiscourseClient};
use crate::discourse::settings::DcSettings;
use crate::discourse::sso::Payload;
use crate::discourse::types::{AdminListUserJson, AdminUserJson, user_detail};
use crate::main_app::MainAppClient;
use crate::model::{Outcome, ResetPath, ResetReport, Strategy, UserDetail, UserRef};
use crate::secret::Secret;
pub use plan::{Decision, StrategyChoice};

/// Parses `USER` from the command line (interface.md), refusing the empty forms with a message
/// that says what to write.
/// Starts the part of a reset's message that warns of something still to do (the flagged
/// photo coming back at the next login): the console marks such a verified reset apart.
pub const WARNING: &str = "Warning: ";

pub fn parse_user(input: &str) -> Result<UserRef, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("empty user: give a username, external:ID or an email".into());
    }
    match UserRef::parse(s) {
        UserRef::ExternalId(id) if id.is_empty() => Err(format!(
            "{input:?}: external: needs an id, e.g. external:684"
        )),
        r => Ok(r),
    }
}

/// One user to reset, with whatever the queue already knows about them (saves lookups).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// What the operator typed or the queue row's key; echoed as `user` in reports.
    pub input: String,
    pub user: UserRef,
    pub known_username: Option<String>,
    pub known_external_id: Option<String>,
    pub known_email: Option<String>,
    pub known_id: Option<u64>,
}

impl Target {
    pub fn from_input(input: &str) -> Result<Target, String> {
        Ok(Target {
            input: input.to_string(),
            user: parse_user(input)?,
            known_username: None,
            known_external_id: None,
            known_email: None,
            known_id: None,
        })
    }

    /// The DiscourseConnect identity, when the target names it (or the main app gave it).
    pub fn external_id(&self) -> Option<&str> {
        match &self.user {
            UserRef::ExternalId(x) => Some(x.as_str()),
            _ => self.known_external_id.as_deref(),
        }
        .filter(|x| !x.trim().is_empty())
    }
}

#[derive(Debug, Clone)]
pub struct ResetOptions {
    pub choice: StrategyChoice,
    pub verify: bool,
    pub verify_timeout: Duration,
    pub sso_secret: Option<Secret>,
    pub default_avatar_url: Option<String>,
    pub dry_run: bool,
    /// Intervals between sync-sso verification polls; the last repeats.
    pub poll_intervals: Vec<Duration>,
    /// Resets in flight at once; 0 follows the request budget (one window's worth, at most
    /// one batch read of 100).
    pub concurrency: usize,
}

impl Default for ResetOptions {
    fn default() -> Self {
        ResetOptions {
            choice: StrategyChoice::Auto,
            verify: true,
            verify_timeout: Duration::from_secs(60),
            sso_secret: None,
            default_avatar_url: None,
            dry_run: false,
            poll_intervals: verify::SYNC_INTERVALS
                .iter()
                .copied()
                .map(Duration::from_millis)
                .collect(),
            concurrency: 0,
        }
    }
}

/// Progress of one reset, for the console's rows and the CLI's progress bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    Resolving,
    Sending(Strategy),
    Verifying(Strategy),
    /// A note for the log (e.g. the switch to sync-sso after a 422).
    Note(String),
    Done(ResetReport),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub input: String,
    pub stage: Stage,
}

pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// Stops new resets from starting, and requests still waiting for the budget from leaving;
/// resets already sent still verify and write their outcome. `hurry` goes further:
/// verification stops at once and the outcome says so (`unverified`).
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    cancelled: Arc<AtomicBool>,
    hurry: Arc<AtomicBool>,
}

impl CancelToken {
    /// A token over an existing flag (the console's batch runner owns one).
    pub fn from_flag(flag: Arc<AtomicBool>) -> Self {
        CancelToken {
            cancelled: flag,
            hurry: Arc::default(),
        }
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Cancels, and stops the verification of resets already sent.
    pub fn hurry(&self) {
        self.cancel();
        self.hurry.store(true, Ordering::SeqCst);
    }

    pub fn is_hurried(&self) -> bool {
        self.hurry.load(Ordering::SeqCst)
    }

    fn flag(&self) -> Arc<AtomicBool> {
        self.cancelled.clone()
    }

    fn hurry_flag(&self) -> Arc<AtomicBool> {
        self.hurry.clone()
    }
}

pub struct Engine {
    client: DiscourseClient,
    main_app: Option<MainAppClient>,
    audit: Arc<AuditLog>,
    opts: ResetOptions,
    settings: OnceCell<Option<DcSettings>>,
    /// The default image's upload id once known (from the audit log or a verified reset).
    default_upload: Mutex<Option<u64>>,
    /// The placeholder picked into the custom slot (pick), once uploaded.
    placeholder: tokio::sync::Mutex<Option<u64>>,
    /// Batch lookups (`filter=a,b,c`): None = not yet known whether the server splits.
    batch_supported: Mutex<Option<bool>>,
    coalescer: verify::Coalescer,
    /// Resolved callbacks to the main app still in flight; `finish` waits for them.
    callbacks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// What the resolve step learned, plus which lookups it already made.
struct Resolved {
    detail: UserDetail,
    admin_read: bool,
    /// The custom slot was read (the staff view of `/u/{username}.json`); a batch row lacks it.
    slot_read: bool,
}

/// How a target will be reset, once looked up.
enum Resolution {
    Read(Box<Resolved>),
    /// Sync-sso on the external id alone (issue 14): nothing read before the send.
    Fast {
        external_id: String,
    },
}

/// What one reset needs besides its target.
struct Job<'a> {
    t: &'a Target,
    notify: &'a (dyn Fn(Progress) + Sync),
    cancel: &'a CancelToken,
    /// Refuses to send once the run is cancelled: for everything up to the first write.
    stoppable: &'a DiscourseClient,
    /// Refuses to send once the run is hurried: for what follows a write already sent (a
    /// second write of the same reset, its verification).
    in_flight: &'a DiscourseClient,
}

impl Job<'_> {
    fn stage(&self, stage: Stage) {
        (self.notify)(Progress {
            input: self.t.input.clone(),
            stage,
        });
    }
}

const NEVER_SENT: &str = "cancelled before it was sent; nothing changed";

impl Engine {
    pub fn new(
        client: DiscourseClient,
        main_app: Option<MainAppClient>,
        audit: Arc<AuditLog>,
        opts: ResetOptions,
    ) -> Self {
        let entries = audit.read_all();
        let known = opts
            .default_avatar_url
            .as_deref()
            .and_then(|u| audit::known_default_upload(&entries, u));
        let placeholder = placeholder::known_upload(&entries);
        Engine {
            client,
            main_app,
            audit,
            opts,
            settings: OnceCell::new(),
            default_upload: Mutex::new(known),
            placeholder: tokio::sync::Mutex::new(placeholder),
            batch_supported: Mutex::new(None),
            coalescer: verify::Coalescer::default(),
            callbacks: Mutex::new(Vec::new()),
        }
    }

    pub fn client(&self) -> &DiscourseClient {
        &self.client
    }

    pub fn options(&self) -> &ResetOptions {
        &self.opts
    }

    /// The DiscourseConnect settings, read once per engine (once per run).
    pub async fn settings(&self) -> Option<&DcSettings> {
        self.settings
            .get_or_init(|| async {
                match self.client.dc_settings().await {
                    Ok(s) => Some(s),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not read site settings");
                        None
                    }
                }
            })
            .await
            .as_ref()
    }

    /// The strategy a reset would use now, and why.
    pub async fn decision(&self) -> Decision {
        let s = self.settings().await;
        plan::choose(self.opts.choice, s)
    }

    /// Waits (up to `limit`) for the resolved callbacks still in flight, so a command that
    /// exits after its resets does not drop them.
    pub async fn finish(&self, limit: Duration) {
        let handles: Vec<_> =
            std::mem::take(&mut *self.callbacks.lock().unwrap_or_else(|e| e.into_inner()));
        let all = futures::future::join_all(handles);
        if tokio::time::timeout(limit, all).await.is_err() {
            tracing::warn!("resolved callbacks still running at exit; the main app may miss some");
        }
    }

    /// Warnings about the default avatar URL (plain http, a private or loopback address that
    /// Discourse would refuse). Shown once per run; they never block.
    pub async fn preflight_warnings(&self) -> Vec<String> {
        let Some(url) = self.opts.default_avatar_url.as_deref() else {
            return Vec::new();
        };
        let allowed = self
            .settings()
            .await
            .map(DcSettings::allowed_internal_hosts)
            .unwrap_or_default();
        plan::avatar_url_warnings(url, self.client.base_url(), &allowed)
    }

    /// Resets in flight at once: the option, or as many as one window of the budget can serve
    /// (a reset costs at least one request), capped at one batch read.
    fn concurrency(&self) -> usize {
        match self.opts.concurrency {
            0 => self.client.budget().limit.clamp(1, 100),
            n => n,
        }
    }

    /// Resets every target, continuing past failures. Reports come back in the order of
    /// `targets`; targets that are one user get one reset, the others `skipped` naming it.
    pub async fn run(
        &self,
        targets: Vec<Target>,
        cancel: CancelToken,
        progress: Option<ProgressFn>,
    ) -> Vec<ResetReport> {
        let decision = self.decision().await;
        let stoppable = self.client.stoppable(cancel.flag());
        let in_flight = self.client.stoppable(cancel.hurry_flag());
        let fast = decision.strategy == Strategy::SyncSso
            && self.sync_requirements().is_none()
            && plan::fast_path(self.settings().await).is_ok();
        let notify = |input: &str, stage: Stage| {
            if let Some(f) = &progress {
                f(Progress {
                    input: input.to_string(),
                    stage,
                })
            }
        };
        let mut reports: Vec<Option<ResetReport>> = vec![None; targets.len()];
        // 1. The same input twice (or the same queue identity) is one user, before any lookup.
        for (i, first) in targets::same_input(&targets).into_iter().enumerate() {
            if let Some(first) = first {
                reports[i] = Some(self.same_user(&targets[i], &targets[first]));
            }
        }
        let is_fast = |t: &Target| fast && t.external_id().is_some();
        // 2. Look everyone up. Batch rows first, for those that need a read.
        let needs_read: Vec<usize> = (0..targets.len())
            .filter(|i| reports[*i].is_none() && !is_fast(&targets[*i]))
            .collect();
        let prefetched = if cancel.is_cancelled() {
            HashMap::new()
        } else {
            let list: Vec<Target> = needs_read.iter().map(|i| targets[*i].clone()).collect();
            let rows = self.batch_lookup(&stoppable, &list).await;
            rows.into_iter()
                .map(|(j, row)| (needs_read[j], row))
                .collect::<HashMap<_, _>>()
        };
        let todo: Vec<usize> = (0..targets.len())
            .filter(|i| reports[*i].is_none())
            .collect();
        let looked_up: Vec<(usize, Result<Resolution, ResetReport>)> = futures::stream::iter(todo)
            .map(|i| {
                let t = targets[i].clone();
                let pre = prefetched.get(&i).cloned();
                let (stoppable, cancel, strategy) = (&stoppable, &cancel, decision.strategy);
                let notify = &notify;
                async move {
                    if cancel.is_cancelled() {
                        let r = self.skip(&t, strategy, "cancelled before it started");
                        return (i, Err(r));
                    }
                    if is_fast(&t) {
                        let external_id = t.external_id().unwrap_or_default().to_string();
                        return (i, Ok(Resolution::Fast { external_id }));
                    }
                    notify(&t.input, Stage::Resolving);
                    if strategy == Strategy::SyncSso
                        && let Some(e) = self.sync_requirements()
                    {
                        return (
                            i,
                            Err(self.report(&t, None, Some(strategy), Outcome::Failed, e)),
                        );
                    }
                    let r = match self.resolve(stoppable, &t, strategy, pre).await {
                        Ok(r) => Ok(Resolution::Read(Box::new(r))),
                        Err(_) if cancel.is_cancelled() => Err(self.skip(&t, strategy, NEVER_SENT)),
                        Err(e) => Err(self.report(&t, None, Some(strategy), Outcome::Failed, e)),
                    };
                    (i, r)
                }
            })
            .buffer_unordered(self.concurrency())
            .collect()
            .await;
        // 3. One user, one reset: the first target naming them wins.
        let mut looked_up = looked_up;
        looked_up.sort_by_key(|(i, _)| *i);
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut work: Vec<(usize, Resolution)> = Vec::new();
        for (i, r) in looked_up {
            match r {
                Err(report) => reports[i] = Some(report),
                Ok(res) => {
                    let keys = targets::identity_keys(&targets[i], &res);
                    if let Some(first) = keys.iter().find_map(|k| seen.get(k).copied()) {
                        reports[i] = Some(self.same_user(&targets[i], &targets[first]));
                        continue;
                    }
                    for k in keys {
                        seen.insert(k, i);
                    }
                    work.push((i, res));
                }
            }
        }
        for (i, r) in reports.iter().enumerate() {
            if let Some(r) = r {
                notify(&targets[i].input, Stage::Done(r.clone()));
            }
        }
        // 4. Send and verify.
        let done: Vec<(usize, ResetReport)> = futures::stream::iter(work)
            .map(|(i, res)| {
                let t = targets[i].clone();
                let (stoppable, in_flight, cancel, decision) =
                    (&stoppable, &in_flight, &cancel, &decision);
                let progress = progress.clone();
                async move {
                    let notify = |p: Progress| {
                        if let Some(f) = &progress {
                            f(p)
                        }
                    };
                    let job = Job {
                        t: &t,
                        notify: &notify,
                        cancel,
                        stoppable,
                        in_flight,
                    };
                    let report = if cancel.is_cancelled() {
                        self.skip(&t, decision.strategy, "cancelled before it started")
                    } else {
                        match res {
                            Resolution::Fast { external_id } => {
                                self.send_fast_sync(&job, &external_id).await
                            }
                            Resolution::Read(r) => self.reset_read(&job, decision, *r).await,
                        }
                    };
                    job.stage(Stage::Done(report.clone()));
                    (i, report)
                }
            })
            .buffer_unordered(self.concurrency())
            .collect()
            .await;
        for (i, r) in done {
            reports[i] = Some(r);
        }
        reports
            .into_iter()
            .zip(&targets)
            .map(|(r, t)| {
                r.unwrap_or_else(|| {
                    self.report(t, None, None, Outcome::Skipped, "no report".into())
                })
            })
            .collect()
    }

    fn skip(&self, t: &Target, strategy: Strategy, why: &str) -> ResetReport {
        self.report(t, None, Some(strategy), Outcome::Skipped, why.to_string())
    }

    fn same_user(&self, t: &Target, first: &Target) -> ResetReport {
        self.report(
            t,
            None,
            None,
            Outcome::Skipped,
            format!(
                "same user as {:?}, listed earlier in this run: reset once",
                crate::sanitize::clean(&first.input)
            ),
        )
    }

    fn report(
        &self,
        t: &Target,
        user: Option<&UserDetail>,
        strategy: Option<Strategy>,
        outcome: Outcome,
        message: String,
    ) -> ResetReport {
        ResetReport {
            user: t.input.clone(),
            username: user
                .map(|u| u.username.clone())
                .or_else(|| t.known_username.clone()),
            external_id: user
                .and_then(|u| u.external_id().map(str::to_string))
                .or_else(|| t.external_id().map(str::to_string)),
            strategy,
            outcome,
            message,
            path: None,
        }
    }

    /// One request for up to 100 users (`filter=a,b,c`, newest servers): their id, username,
    /// email, `active` and `avatar_template`. Only for runs of several users; detects servers that
    /// do not split the filter and stops using it there.
    async fn batch_lookup(
        &self,
        client: &DiscourseClient,
        targets: &[Target],
    ) -> HashMap<usize, AdminListUserJson> {
        let mut out = HashMap::new();
        if targets.len() < 2 || *self.batch_supported.lock().unwrap() == Some(false) {
            return out;
        }
        let terms: Vec<(usize, String)> = targets
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                let term = match &t.user {
                    UserRef::Email(e) => Some(e.clone()),
                    _ => t.known_email.clone().or_else(|| match &t.user {
                        UserRef::Username(u) => Some(u.clone()),
                        _ => t.known_username.clone(),
                    }),
                }?;
                // A term with a separator in it would be split apart.
                (!term.contains([',', ' '])).then_some((i, term))
            })
            .collect();
        for chunk in terms.chunks(100) {
            let list: Vec<String> = chunk.iter().map(|(_, t)| t.clone()).collect();
            let Ok(rows) = client.users_by_filter(&list, true).await else {
                return out;
            };
            if rows.is_empty() && list.len() > 1 {
                // An old server matched the whole "a,b,c" string as one substring.
                *self.batch_supported.lock().unwrap() = Some(false);
                return out;
            }
            *self.batch_supported.lock().unwrap() = Some(true);
            for (i, term) in chunk {
                let hit = rows.iter().find(|r| {
                    r.email
                        .as_deref()
                        .is_some_and(|e| e.eq_ignore_ascii_case(term))
                        || r.username.eq_ignore_ascii_case(term)
                });
                if let Some(hit) = hit {
                    out.insert(*i, hit.clone());
                }
            }
        }
        out
    }

    /// Finds the user and what the strategy needs, making each lookup at most once.
    ///
    /// Pick may trust a batch row: it needs only the username and the avatar. Sync-sso never
    /// does: its payload is keyed by the external id, so the SSO record itself is read, and an
    /// external id the queue supplied must match it, or a different account would be changed.
    async fn resolve(
        &self,
        client: &DiscourseClient,
        t: &Target,
        strategy: Strategy,
        pre: Option<AdminListUserJson>,
    ) -> Result<Resolved, String> {
        if strategy == Strategy::Pick
            && let Some(row) = &pre
        {
            let detail = UserDetail {
                id: u64::try_from(row.id).unwrap_or(0),
                username: row.username.clone(),
                email: row.email.clone(),
                active: row.active,
                uploaded_avatar_id: row
                    .avatar_template
                    .as_deref()
                    .map(plan::upload_id_from_template),
                avatar_template: row.avatar_template.clone(),
                ..Default::default()
            };
            return Ok(Resolved {
                detail,
                admin_read: false,
                slot_read: false,
            });
        }
        let describe = |e: ClientError| {
            if e.is_not_found() {
                format!("no such user: {}", t.input)
            } else {
                e.to_string()
            }
        };
        // 1. Who is it. A batch row or the review queue may already give Discourse's id.
        let known_id = pre.as_ref().map(|r| r.id).or(t.known_id.map(|i| i as i64));
        let (id, public, by_external) = match (known_id, &t.user) {
            (Some(id), _) if strategy == Strategy::SyncSso => (id, None, false),
            (_, UserRef::Username(name)) => {
                let u = client.user(name).await.map_err(describe)?;
                (u.id, Some(u), false)
            }
            (_, UserRef::ExternalId(ext)) => {
                let u = client.user_by_external(ext).await.map_err(describe)?;
                (u.id, Some(u), true)
            }
            (_, UserRef::Email(email)) => {
                // `email=` is an exact match on the primary email; rows carry the email only
                // with show_emails, so an answer row is the match.
                let rows = self
                    .client
                    .users_by_email(email)
                    .await
                    .map_err(|e| e.to_string())?;
                let row = match rows.as_slice() {
                    [one] => one.clone(),
                    many => many
                        .iter()
                        .find(|r| {
                            r.email
                                .as_deref()
                                .is_some_and(|e| e.eq_ignore_ascii_case(email))
                        })
                        .cloned()
                        .ok_or_else(|| format!("no user with email {email}"))?,
                };
                (row.id, None, false)
            }
        };
        // 2. For pick with the public record in hand, nothing more is needed.
        if strategy == Strategy::Pick
            && let Some(u) = &public
        {
            let detail = user_detail(Some(u), None).ok_or("empty user record")?;
            return Ok(Resolved {
                detail,
                admin_read: false,
                slot_read: true,
            });
        }
        // 3. The admin record: email, active, groups, SSO record (and the template).
        let admin = client.admin_user(id).await.map_err(describe)?;
        let mut detail = user_detail(public.as_ref(), Some(&admin)).ok_or("empty user record")?;
        if detail.sso.is_none()
            && by_external
            && let UserRef::ExternalId(ext) = &t.user
        {
            // /u/by-external found this user, so the record exists even where the admin
            // serializer hides it.
            detail.sso = Some(crate::model::SsoRecord {
                external_id: ext.clone(),
                ..Default::default()
            });
        }
        if let (Some(known), Some(record)) = (t.known_external_id.as_deref(), detail.external_id())
            && known != record
        {
            return Err(format!(
                "the queue's external id {known} does not match Discourse's SSO record ({record}) for {}; nothing sent",
                detail.username
            ));
        }
        if strategy == Strategy::SyncSso && detail.email.is_none() {
            detail.email = self
                .client
                .user_email(&detail.username)
                .await
                .map_err(|e| e.to_string())?;
        }
        if detail.uploaded_avatar_id.is_none() {
            detail.uploaded_avatar_id = detail
                .avatar_template
                .as_deref()
                .map(plan::upload_id_from_template);
        }
        if detail.uploaded_avatar_id.is_none() {
            // No template either: read the public record, or verification could not tell.
            let u = client.user(&detail.username).await.map_err(describe)?;
            detail.uploaded_avatar_id = u.uploaded_avatar_id;
        }
        let slot_read = public.is_some();
        Ok(Resolved {
            detail,
            admin_read: true,
            slot_read,
        })
    }

    /// A reset whose user was read first (pick, or sync-sso off the fast path).
    async fn reset_read(
        &self,
        job: &Job<'_>,
        decision: &Decision,
        resolved: Resolved,
    ) -> ResetReport {
        let t = job.t;
        let mut strategy = decision.strategy;
        let mut user = resolved.detail;
        let mut slot_read = resolved.slot_read;
        if strategy == Strategy::Pick && !slot_read && plan::pick_done(user.uploaded_avatar_id) {
            // On the letter avatar already: only the custom slot can still hold the photo, and
            // a batch row does not show it.
            match job.stoppable.user(&user.username).await {
                Ok(u) => {
                    user.custom_avatar_upload_id = u.custom_avatar_upload_id;
                    slot_read = true;
                }
                Err(_) if job.cancel.is_cancelled() => return self.skip(t, strategy, NEVER_SENT),
                Err(e) => {
                    return self.report(
                        t,
                        Some(&user),
                        Some(strategy),
                        Outcome::Failed,
                        e.to_string(),
                    );
                }
            }
        }
        let default_upload = *self.default_upload.lock().unwrap();
        let placeholder = *self.placeholder.lock().await;
        if plan::already_done(
            strategy,
            &user,
            self.opts.default_avatar_url.as_deref(),
            default_upload,
            slot_read.then_some(placeholder),
        ) {
            let msg = match strategy {
                Strategy::Pick => {
                    "already on the letter avatar with nothing in the custom slot; nothing sent"
                }
                Strategy::SyncSso => "already on the default avatar; nothing sent",
            };
            return self.report(t, Some(&user), Some(strategy), Outcome::Skipped, msg.into());
        }
        if strategy == Strategy::Pick {
            match self.send_pick(job, &user, slot_read).await {
                Ok(r) => return r,
                Err(note) if self.opts.choice == StrategyChoice::Pick => {
                    return self.report(
                        t,
                        Some(&user),
                        Some(strategy),
                        Outcome::Failed,
                        format!("{note} (--strategy pick: not switching)"),
                    );
                }
                Err(note) => {
                    // 422 FAILED: DiscourseConnect overrides avatars. Switch, and say why.
                    let note = format!("{note}; switching to sync-sso");
                    tracing::info!(user = %t.input, "{note}");
                    job.stage(Stage::Note(note));
                    strategy = Strategy::SyncSso;
                    if let Some(e) = self.sync_requirements() {
                        return self.report(t, Some(&user), Some(strategy), Outcome::Failed, e);
                    }
                    if !resolved.admin_read {
                        match self.client.admin_user(user.id as i64).await {
                            Ok(admin) => {
                                let keep = (user.uploaded_avatar_id, user.custom_avatar_upload_id);
                                user = user_detail(None, Some(&admin)).unwrap_or(user);
                                (user.uploaded_avatar_id, user.custom_avatar_upload_id) = keep;
                            }
                            Err(e) => {
                                return self.report(
                                    t,
                                    Some(&user),
                                    Some(strategy),
                                    Outcome::Failed,
                                    e.to_string(),
                                );
                            }
                        }
                    }
                    if user.email.is_none() {
                        match self.client.user_email(&user.username).await {
                            Ok(email) => user.email = email,
                            Err(e) => {
                                return self.report(
                                    t,
                                    Some(&user),
                                    Some(strategy),
                                    Outcome::Failed,
                                    e.to_string(),
                                );
                            }
                        }
                    }
                }
            }
        }
        self.send_sync(job, &user).await
    }

    fn sync_requirements(&self) -> Option<String> {
        if self.opts.sso_secret.as_ref().is_none_or(Secret::is_empty) {
            return Some(
                "sync-sso needs discourse.sso_secret (or AVATAR_CONSOLE_SSO_SECRET)".into(),
            );
        }
        if self
            .opts
            .default_avatar_url
            .as_deref()
            .is_none_or(str::is_empty)
        {
            return Some("sync-sso needs discourse.default_avatar_url".into());
        }
        None
    }

    fn before(user: &UserDetail) -> Before {
        Before {
            avatar_template: user.avatar_template.clone(),
            uploaded_avatar_id: user.uploaded_avatar_id.flatten(),
            external_avatar_url: user
                .sso
                .as_ref()
                .and_then(|s| s.external_avatar_url.clone()),
            last_payload: user.sso.as_ref().and_then(|s| s.last_payload.clone()),
            custom_avatar_upload_id: user.custom_avatar_upload_id,
        }
    }

    fn audit_line(
        &self,
        phase: Phase,
        user: &UserDetail,
        strategy: Strategy,
        outcome: Option<Outcome>,
        message: &str,
    ) -> AuditEntry {
        let mut e = self.audit.entry(phase, "reset-avatar");
        e.user = audit::AuditUser {
            id: (user.id > 0).then_some(user.id),
            username: (!user.username.is_empty()).then(|| user.username.clone()),
            external_id: user.external_id().map(str::to_string),
        };
        e.strategy = Some(strategy);
        e.before = Self::before(user);
        e.outcome = outcome;
        e.message = message.to_string();
        e.dry_run = self.opts.dry_run;
        e.path = Some(ResetPath::ReadFirst);
        if strategy == Strategy::SyncSso {
            e.avatar_url = self.opts.default_avatar_url.clone();
        }
        e
    }

    /// Writes the intent line; a reset whose intent cannot be recorded is not sent.
    fn write_intent(&self, line: &AuditEntry) -> Result<(), String> {
        self.audit.append(line).map_err(|e| {
            format!(
                "could not write the audit log {}: {e}; nothing sent",
                self.audit.path().display()
            )
        })
    }

    fn intent(&self, user: &UserDetail, strategy: Strategy, message: &str) -> Result<(), String> {
        self.write_intent(&self.audit_line(Phase::Intent, user, strategy, None, message))
    }

    /// Writes the outcome line, then reports. `line` is the outcome's audit line as built.
    fn finish_with(&self, t: &Target, user: &UserDetail, mut line: AuditEntry) -> ResetReport {
        let outcome = line.outcome.unwrap_or(Outcome::Failed);
        let strategy = line.strategy.unwrap_or(Strategy::Pick);
        let path = line.path;
        let message = match self.audit.append(&line) {
            Ok(()) => std::mem::take(&mut line.message),
            Err(e) => format!("{} (audit log write failed: {e})", line.message),
        };
        if outcome == Outcome::Verified {
            self.post_resolved(user, strategy);
        }
        let mut r = self.report(t, Some(user), Some(strategy), outcome, message);
        r.path = path;
        r
    }

    fn outcome(
        &self,
        t: &Target,
        user: &UserDetail,
        strategy: Strategy,
        outcome: Outcome,
        message: String,
        after: Option<u64>,
    ) -> ResetReport {
        let mut line = self.audit_line(Phase::Outcome, user, strategy, Some(outcome), &message);
        line.after_uploaded_avatar_id = after;
        self.finish_with(t, user, line)
    }

    fn post_resolved(&self, user: &UserDetail, strategy: Strategy) {
        let (Some(app), Some(ext)) = (
            self.main_app.clone(),
            user.external_id().map(str::to_string),
        ) else {
            return;
        };
        let body = json!({
            "external_id": ext, "username": user.username, "outcome": "verified",
            "strategy": strategy.as_str(), "at": chrono::Utc::now().to_rfc3339(),
        });
        // Never blocks the reset; a failure is logged.
        let handle = tokio::spawn(async move {
            if let Err(e) = app.post_resolved(&body).await {
                tracing::warn!(error = %e, "resolved callback failed");
            }
        });
        self.callbacks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle);
    }

    /// The placeholder's upload id: known from an earlier run, else uploaded once (audited:
    /// it creates an upload on the forum). Uploads are de-duplicated by content, so a second
    /// upload of the same bytes gets the same id.
    async fn placeholder_upload(&self, client: &DiscourseClient) -> Result<u64, ClientError> {
        let mut known = self.placeholder.lock().await;
        if let Some(id) = *known {
            return Ok(id);
        }
        let mut intent = self.audit.entry(Phase::Intent, placeholder::ACTION);
        intent.message = format!(
            "POST /uploads.json upload_type=avatar file={}",
            placeholder::FILE_NAME
        );
        intent.dry_run = self.opts.dry_run;
        if let Err(e) = self.audit.append(&intent) {
            return Err(ClientError::Cancelled {
                method: "POST".into(),
                path: format!("/uploads.json (audit log not writable: {e})"),
            });
        }
        let mut result = client
            .upload_avatar(placeholder::FILE_NAME, placeholder::PNG.to_vec())
            .await;
        if let Err(e) = &result
            && lost::may_have_applied(e)
        {
            // The same bytes answer the same upload (`UploadCreator#create_for`), so sending
            // again cannot make a second one: it only recovers the lost answer.
            tracing::info!(error = %e, "placeholder upload answer lost; asking again");
            result = client
                .upload_avatar(placeholder::FILE_NAME, placeholder::PNG.to_vec())
                .await;
        }
        let mut line = self.audit.entry(Phase::Outcome, placeholder::ACTION);
        match &result {
            Ok(id) => {
                line.outcome = Some(Outcome::Verified);
                line.after_uploaded_avatar_id = Some(*id);
                line.message = format!("upload {id}");
                *known = Some(*id);
            }
            Err(ClientError::Cancelled { .. }) => {
                line.outcome = Some(Outcome::Skipped);
                line.message = NEVER_SENT.into();
            }
            Err(e) => {
                line.outcome = Some(if lost::may_have_applied(e) {
                    Outcome::Unverified
                } else {
                    Outcome::Failed
                });
                line.message = e.to_string();
            }
        }
        let _ = self.audit.append(&line);
        result
    }

    /// Ok(report) when pick settled it; Err(note) when the server refused with 422 FAILED and
    /// sync-sso should take over.
    ///
    /// `type=system` alone leaves the photo in `user_avatar.custom_upload_id`, one click away in
    /// the avatar chooser (`users_controller.rb#pick_avatar`, §2). So first `type=custom` with
    /// a neutral placeholder upload, which takes over the custom slot (and, for a moment, the
    /// avatar), then `type=system` for the letter avatar. An admin may pick any upload for
    /// anyone (`UserGuardian#can_pick_avatar?`).
    async fn send_pick(
        &self,
        job: &Job<'_>,
        user: &UserDetail,
        slot_read: bool,
    ) -> Result<ResetReport, String> {
        let (t, strategy) = (job.t, Strategy::Pick);
        let path = format!(
            "/u/{}/preferences/avatar/pick",
            crate::discourse::client::segment(&user.username)
        );
        let known_placeholder = *self.placeholder.lock().await;
        // The slot needs clearing unless it is known to be empty or the placeholder already.
        let clear_slot = !slot_read
            || user
                .custom_avatar_upload_id
                .is_some_and(|c| Some(c) != known_placeholder);
        if self.opts.dry_run {
            let msg = if clear_slot {
                format!(
                    "would send PUT {path} type=custom upload_id=<placeholder>, then type=system"
                )
            } else {
                format!("would send PUT {path} type=system")
            };
            return Ok(self.dry_run(t, user, strategy, msg));
        }
        let what = if clear_slot {
            "PUT pick type=custom (placeholder, clears the custom slot), then type=system"
        } else {
            "PUT pick type=system (custom slot already empty)"
        };
        if let Err(e) = self.intent(user, strategy, what) {
            return Ok(self.report(t, Some(user), Some(strategy), Outcome::Failed, e));
        }
        job.stage(Stage::Sending(strategy));
        let mut lost_answer: Option<String> = None;
        let mut placeholder = known_placeholder;
        let mut slot_refused: Option<String> = None;
        // Until the first write has left, a cancel still stops this reset.
        let mut client = job.stoppable;
        if clear_slot {
            let id = match self.placeholder_upload(client).await {
                Ok(id) => id,
                Err(ClientError::Cancelled { .. }) => {
                    return Ok(self.outcome(
                        t,
                        user,
                        strategy,
                        Outcome::Skipped,
                        NEVER_SENT.into(),
                        None,
                    ));
                }
                Err(ClientError::Status {
                    status: 422,
                    summary,
                    ..
                }) if summary == "FAILED" => {
                    // `failed_json` from `UploadsController#create`: for an admin that means
                    // DiscourseConnect overrides avatars (§2).
                    return Err(self.pick_refused(
                        user,
                        "avatar upload refused (POST /uploads.json: 422 FAILED): DiscourseConnect overrides avatars \
                         (discourse_connect_overrides_avatar is on)",
                    ));
                }
                Err(e) => {
                    let msg = format!("could not upload the placeholder for the custom slot: {e}");
                    return Ok(self.outcome(t, user, strategy, Outcome::Failed, msg, None));
                }
            };
            placeholder = Some(id);
            match client.pick_custom_avatar(&user.username, id).await {
                Ok(()) => {}
                Err(ClientError::Cancelled { .. }) => {
                    return Ok(self.outcome(
                        t,
                        user,
                        strategy,
                        Outcome::Skipped,
                        NEVER_SENT.into(),
                        None,
                    ));
                }
                Err(e @ ClientError::OverridesAvatar { .. }) => {
                    let settings_say_off =
                        self.settings().await.and_then(DcSettings::overrides_avatar) == Some(false);
                    if !settings_say_off {
                        return Err(self.pick_refused(user, &format!("pick refused ({e})")));
                    }
                    // Overrides are off, so the refusal is `uploaded_avatars_allowed_groups`:
                    // this user may not have uploaded avatars at all.
                    slot_refused = Some(format!(
                        "Discourse refused type=custom for {} (422 FAILED with overrides off: the user is not in \
                         uploaded_avatars_allowed_groups), so the custom slot still holds upload {}",
                        user.username,
                        user.custom_avatar_upload_id
                            .map(|c| c.to_string())
                            .unwrap_or_else(|| "?".into())
                    ));
                }
                Err(e) if lost::may_have_applied(&e) => {
                    lost_answer = Some(e.to_string());
                }
                Err(e) => {
                    return Ok(self.outcome(
                        t,
                        user,
                        strategy,
                        Outcome::Failed,
                        e.to_string(),
                        None,
                    ));
                }
            }
            client = job.in_flight;
        }
        match client.pick_system_avatar(&user.username).await {
            Ok(()) => {}
            Err(ClientError::Cancelled { .. }) => {
                return Ok(self.outcome(
                    t,
                    user,
                    strategy,
                    Outcome::Skipped,
                    NEVER_SENT.into(),
                    None,
                ));
            }
            Err(e @ ClientError::OverridesAvatar { .. }) if !clear_slot => {
                return Err(self.pick_refused(user, &format!("pick refused ({e})")));
            }
            Err(e) if lost::may_have_applied(&e) || clear_slot => {
                // Lost, or refused after the custom pick already changed the avatar: the
                // re-read decides what is true now.
                lost_answer.get_or_insert(e.to_string());
            }
            Err(e) => {
                return Ok(self.outcome(t, user, strategy, Outcome::Failed, e.to_string(), None));
            }
        }
        if !self.opts.verify && lost_answer.is_none() {
            return Ok(self.outcome(
                t,
                user,
                strategy,
                Outcome::Applied,
                "letter avatar picked, custom slot cleared (not verified)".into(),
                None,
            ));
        }
        job.stage(Stage::Verifying(strategy));
        let slot_ok = |c: Option<u64>| slot_refused.is_some() || c.is_none() || c == placeholder;
        let (verdict, seen) =
            verify::poll_pick(self, job.in_flight, &user.username, job.cancel, |s| {
                s.uploaded.is_none() && slot_ok(s.custom)
            })
            .await;
        let (outcome, mut message) = match (&verdict, &slot_refused) {
            (verify::Verdict::Done(_), None) => (
                Outcome::Verified,
                "letter avatar in place; the custom slot no longer holds the photo".to_string(),
            ),
            (verify::Verdict::Done(_), Some(why)) => (
                Outcome::Unverified,
                format!("letter avatar in place, but {why}"),
            ),
            (verify::Verdict::Timeout, _) => (
                Outcome::Unverified,
                match seen {
                    Some(s) if s.uploaded.is_some() => format!(
                        "pick sent but uploaded_avatar_id was still {} after {}s",
                        s.uploaded.unwrap_or_default(),
                        self.opts.verify_timeout.as_secs()
                    ),
                    Some(s) => format!(
                        "letter avatar in place, but the custom slot still holds upload {} after {}s",
                        s.custom.unwrap_or_default(),
                        self.opts.verify_timeout.as_secs()
                    ),
                    None => format!(
                        "pick sent but the user could not be re-read within {}s",
                        self.opts.verify_timeout.as_secs()
                    ),
                },
            ),
            (other, _) => (Outcome::Unverified, other.unverified_reason(&user.username)),
        };
        if let Some(e) = &lost_answer {
            message = lost::annotate(outcome, &message, e);
        }
        Ok(self.outcome(t, user, strategy, outcome, message, None))
    }

    /// Records a pick refused with 422 FAILED (sync-sso takes over); returns the note.
    fn pick_refused(&self, user: &UserDetail, note: &str) -> String {
        let _ = self.audit.append(&self.audit_line(
            Phase::Outcome,
            user,
            Strategy::Pick,
            Some(Outcome::Failed),
            note,
        ));
        note.to_string()
    }

    /// Sync-sso after reading the user's admin record (email, groups, SSO record).
    async fn send_sync(&self, job: &Job<'_>, user: &UserDetail) -> ResetReport {
        let (t, strategy) = (job.t, Strategy::SyncSso);
        let settings = self.settings().await;
        let overrides_groups = settings.and_then(DcSettings::overrides_groups);
        let url = self.opts.default_avatar_url.clone().unwrap_or_default();
        let fields = match plan::sync_payload(user, &url, overrides_groups) {
            Ok(f) => f,
            Err(e) => return self.report(t, Some(user), Some(strategy), Outcome::Failed, e),
        };
        let signed = match self.sign(&fields) {
            Ok(s) => s,
            Err(e) => return self.report(t, Some(user), Some(strategy), Outcome::Failed, e),
        };
        if self.opts.dry_run {
            return self.dry_run(
                t,
                user,
                strategy,
                Self::dry_run_message(&signed.sig, &fields),
            );
        }
        if let Err(e) = self.intent(user, strategy, &format!("POST sync_sso avatar_url={url}")) {
            return self.report(t, Some(user), Some(strategy), Outcome::Failed, e);
        }
        job.stage(Stage::Sending(strategy));
        let mut lost_answer = None;
        match job.stoppable.sync_sso(signed.form_body()).await {
            Ok(answer) => {
                // The record is overwritten synchronously (§5), so its URL is checkable now.
                let record_url = answer
                    .single_sign_on_record
                    .as_ref()
                    .and_then(|r| r.external_avatar_url.clone());
                if answer.single_sign_on_record.is_some()
                    && record_url.as_deref() != Some(url.as_str())
                {
                    let msg = format!(
                        "sync answered 200 but the SSO record's external_avatar_url is {record_url:?}, not the default"
                    );
                    return self.outcome(t, user, strategy, Outcome::Unverified, msg, None);
                }
            }
            Err(ClientError::Cancelled { .. }) => {
                return self.outcome(t, user, strategy, Outcome::Skipped, NEVER_SENT.into(), None);
            }
            Err(e) if lost::may_have_applied(&e) => lost_answer = Some(e.to_string()),
            Err(e) => return self.outcome(t, user, strategy, Outcome::Failed, e.to_string(), None),
        }
        let warning = plan::photo_comes_back(user, &url);
        let line = self
            .verify_sync(job, user, user.uploaded_avatar_id, lost_answer, warning)
            .await;
        let mut line = line;
        line.before = Self::before(user);
        self.finish_with(t, user, line)
    }

    /// Sync-sso on the external id alone (issue 14, point 1): no read before the send. Safe
    /// only where `plan::fast_path` allows it: with `auth_overrides_email` off the email is never
    /// touched, so it can be left out (`app/models/discourse_connect.rb`,
    /// `change_external_attributes_and_override`: `SiteSetting.auth_overrides_email &&
    /// email.present? && …`), which also means an unknown external id cannot create a user (no
    /// email: "Primary email can't be blank"); with `discourse_connect_overrides_groups` off no
    /// `groups` are sent; `require_activation=true` is always safe with the email unchanged. The
    /// sync's answer (`AdminDetailedUserSerializer`) names the user it touched and still shows
    /// the avatar as it was before the queued download: that is the recorded before-state.
    async fn send_fast_sync(&self, job: &Job<'_>, external_id: &str) -> ResetReport {
        let (t, strategy) = (job.t, Strategy::SyncSso);
        let url = self.opts.default_avatar_url.clone().unwrap_or_default();
        let fields = plan::fast_sync_payload(external_id, &url);
        let mut user = UserDetail {
            id: t.known_id.unwrap_or(0),
            username: t.known_username.clone().unwrap_or_default(),
            sso: Some(crate::model::SsoRecord {
                external_id: external_id.to_string(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let signed = match self.sign(&fields) {
            Ok(s) => s,
            Err(e) => return self.report(t, None, Some(strategy), Outcome::Failed, e),
        };
        let fast_line = |line: &mut AuditEntry| line.path = Some(ResetPath::Fast);
        if self.opts.dry_run {
            let mut line = self.audit_line(
                Phase::Outcome,
                &user,
                strategy,
                Some(Outcome::DryRun),
                &Self::dry_run_message(&signed.sig, &fields),
            );
            fast_line(&mut line);
            line.dry_run = true;
            // interface.md: a dry run too writes its intent, then its outcome.
            let mut intent = line.clone();
            intent.phase = Phase::Intent;
            intent.outcome = None;
            if let Err(e) = self.audit.append(&intent) {
                line.message = format!("{} (audit log write failed: {e})", line.message);
            }
            return self.finish_with(t, &user, line);
        }
        let mut intent = self.audit_line(
            Phase::Intent,
            &user,
            strategy,
            None,
            &format!(
                "POST sync_sso avatar_url={url}; fast path: before-state not read (the outcome records it from the sync's answer)"
            ),
        );
        fast_line(&mut intent);
        if let Err(e) = self.write_intent(&intent) {
            return self.report(t, None, Some(strategy), Outcome::Failed, e);
        }
        job.stage(Stage::Sending(strategy));
        let mut lost_answer = None;
        let mut before_seen: Option<Option<u64>> = None;
        match job.stoppable.sync_sso(signed.form_body()).await {
            Ok(answer) => {
                let mismatch = plan::answer_mismatch(t, &answer);
                user = Self::from_answer(&answer, external_id);
                before_seen = Some(
                    answer
                        .avatar_template
                        .as_deref()
                        .and_then(plan::upload_id_from_template),
                );
                user.uploaded_avatar_id = before_seen;
                if let Some(m) = mismatch {
                    job.stage(Stage::Note(m));
                }
            }
            Err(ClientError::Cancelled { .. }) => {
                let mut line = self.audit_line(
                    Phase::Outcome,
                    &user,
                    strategy,
                    Some(Outcome::Skipped),
                    NEVER_SENT,
                );
                fast_line(&mut line);
                return self.finish_with(t, &user, line);
            }
            Err(e) if lost::may_have_applied(&e) => lost_answer = Some(e.to_string()),
            Err(e) => {
                let msg = match e.status() {
                    Some(403) => format!(
                        "no Discourse user has external id {external_id} ({e}); nothing changed"
                    ),
                    _ => e.to_string(),
                };
                let mut line =
                    self.audit_line(Phase::Outcome, &user, strategy, Some(Outcome::Failed), &msg);
                fast_line(&mut line);
                return self.finish_with(t, &user, line);
            }
        }
        if user.username.is_empty() {
            // The answer was lost: look the user up now, so the polls know whom to watch.
            if let Ok(u) = job.in_flight.user_by_external(external_id).await {
                user.id = u64::try_from(u.id).unwrap_or(0);
                user.username = u.username;
            }
        }
        let mut line = self
            .verify_sync(job, &user, before_seen, lost_answer, None)
            .await;
        fast_line(&mut line);
        line.before = Self::before(&user);
        self.finish_with(t, &user, line)
    }

    fn from_answer(answer: &AdminUserJson, external_id: &str) -> UserDetail {
        let mut u = user_detail(None, Some(answer)).unwrap_or_default();
        if let Some(s) = u.sso.as_mut() {
            // Overwritten by this very sync (§5): not the before-state.
            s.external_avatar_url = None;
            s.last_payload = None;
        } else {
            u.sso = Some(crate::model::SsoRecord {
                external_id: external_id.to_string(),
                ..Default::default()
            });
        }
        u
    }

    fn sign(
        &self,
        fields: &[(String, String)],
    ) -> Result<crate::discourse::sso::SignedPayload, String> {
        let secret = self.opts.sso_secret.clone().unwrap_or_default();
        Payload::from_pairs(fields.to_vec())
            .and_then(|p| p.sign(&secret))
            .map_err(|e| format!("payload: {e}"))
    }

    fn dry_run_message(sig: &str, fields: &[(String, String)]) -> String {
        let shown: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!(
            "would send POST /admin/users/sync_sso sig={sig} payload: {}",
            shown.join(" ")
        )
    }

    /// Polls a sent sync and builds its outcome line (before-state filled in by the caller).
    async fn verify_sync(
        &self,
        job: &Job<'_>,
        user: &UserDetail,
        before: Option<Option<u64>>,
        lost_answer: Option<String>,
        warning: Option<String>,
    ) -> AuditEntry {
        let strategy = Strategy::SyncSso;
        let url = self.opts.default_avatar_url.clone().unwrap_or_default();
        let line = |outcome: Outcome, message: String, after: Option<u64>| {
            let message = match &warning {
                Some(w) => format!("{}. {WARNING}{w}", message.trim_end_matches('.')),
                None => message,
            };
            let message = match &lost_answer {
                Some(e) => lost::annotate(outcome, &message, e),
                None => message,
            };
            let mut l = self.audit_line(Phase::Outcome, user, strategy, Some(outcome), &message);
            l.after_uploaded_avatar_id = after;
            l
        };
        if !self.opts.verify && lost_answer.is_none() {
            return line(
                Outcome::Applied,
                "sync accepted; download queued (not verified)".into(),
                None,
            );
        }
        if user.username.is_empty() {
            return line(
                Outcome::Unverified,
                "sent, but the user could not be found to re-read".into(),
                None,
            );
        }
        job.stage(Stage::Verifying(strategy));
        let default_upload = *self.default_upload.lock().unwrap();
        // The log is read from a little before the send (clocks differ).
        let since = chrono::Utc::now() - chrono::Duration::seconds(30);
        match verify::poll_sync(
            self,
            job.in_flight,
            user,
            before,
            default_upload,
            job.cancel,
        )
        .await
        {
            verify::Verdict::Done(after) => {
                if let Some(a) = after {
                    *self.default_upload.lock().unwrap() = Some(a);
                }
                line(
                    Outcome::Verified,
                    "default avatar in place (current avatar and custom slot)".into(),
                    after,
                )
            }
            verify::Verdict::Timeout => {
                let settings = self.settings().await;
                let observed = cause::observe(&self.client, user, &url, since, settings).await;
                let timeout = self.opts.verify_timeout.as_secs();
                line(
                    Outcome::Unverified,
                    plan::unverified_message(
                        timeout,
                        &url,
                        settings,
                        &user.username,
                        observed.as_ref(),
                    ),
                    None,
                )
            }
            other => line(
                Outcome::Unverified,
                other.unverified_reason(&user.username),
                None,
            ),
        }
    }

    fn dry_run(
        &self,
        t: &Target,
        user: &UserDetail,
        strategy: Strategy,
        message: String,
    ) -> ResetReport {
        // interface.md: a dry run too writes its intent, then its outcome, both marked dry_run.
        let mut intent = self.audit_line(Phase::Intent, user, strategy, None, &message);
        intent.dry_run = true;
        let mut line = self.audit_line(
            Phase::Outcome,
            user,
            strategy,
            Some(Outcome::DryRun),
            &message,
        );
        line.dry_run = true;
        if let Err(e) = self.audit.append(&intent) {
            line.message = format!("{} (audit log write failed: {e})", line.message);
        }
        self.finish_with(t, user, line)
    }
}
