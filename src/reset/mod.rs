//! Resets that really happen: resolve the user, choose the strategy, send the smallest change,
//! verify by re-reading, audit every step. Decisions live in [`plan`]; this module does the
//! talking, within the client's one request budget.

pub mod plan;
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
use crate::discourse::types::{AdminListUserJson, user_detail};
use crate::main_app::MainAppClient;
use crate::model::{Outcome, ResetReport, Strategy, UserDetail, UserRef};
use crate::secret::Secret;
pub use plan::{Decision, StrategyChoice};

/// Parses `USER` from the command line (interface.md), refusing the empty forms with a message
/// that says what to write.
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
}

#[derive(Debug, Clone)]
pub struct ResetOptions {
    pub choice: StrategyChoice,
    pub verify: bool,
    pub verify_timeout: Duration,
    pub sso_secret: Option<Secret>,
    pub default_avatar_url: Option<String>,
    pub dry_run: bool,
    /// Intervals between verification polls; the last repeats.
    pub poll_intervals: Vec<Duration>,
    /// Resets in flight at once.
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
            // About 1, 2, 3, 5 s (issue 4); the first waits a little longer than a second because
            // the download job needs Sidekiq to pick it up.
            poll_intervals: [1500, 2000, 3000, 5000]
                .into_iter()
                .map(Duration::from_millis)
                .collect(),
            // Enough for verification polls to be shared widely (one request re-reads up to 100
            // users), few enough to stay polite: the budget is the real limit.
            concurrency: 10,
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

/// Stops new resets from starting; those in flight still verify and write their outcome.
/// `hurry` goes further: verification stops at once and the outcome says so (`unverified`).
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
}

pub struct Engine {
    client: DiscourseClient,
    main_app: Option<MainAppClient>,
    audit: Arc<AuditLog>,
    opts: ResetOptions,
    settings: OnceCell<Option<DcSettings>>,
    /// The default image's upload id once known (from the audit log or a verified reset).
    default_upload: Mutex<Option<u64>>,
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
}

impl Engine {
    pub fn new(
        client: DiscourseClient,
        main_app: Option<MainAppClient>,
        audit: Arc<AuditLog>,
        opts: ResetOptions,
    ) -> Self {
        let known = opts
            .default_avatar_url
            .as_deref()
            .and_then(|u| audit::known_default_upload(&audit.read_all(), u));
        Engine {
            client,
            main_app,
            audit,
            opts,
            settings: OnceCell::new(),
            default_upload: Mutex::new(known),
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

    /// Resets every target, at most `concurrency` at a time, continuing past failures. Reports
    /// come back in the order of `targets`.
    pub async fn run(
        &self,
        targets: Vec<Target>,
        cancel: CancelToken,
        progress: Option<ProgressFn>,
    ) -> Vec<ResetReport> {
        let decision = self.decision().await;
        let prefetched = self.batch_lookup(&targets).await;
        // Owned targets and progress handles: the futures must not borrow from the caller's
        // iterator, or they stop being `Send` for every lifetime (the console boxes them).
        let reports: Vec<(usize, ResetReport)> =
            futures::stream::iter(targets.into_iter().enumerate())
                .map(|(i, t)| {
                    let decision = decision.clone();
                    let pre = prefetched.get(&i).cloned();
                    let cancel = cancel.clone();
                    let progress = progress.clone();
                    async move {
                        let notify = |p: Progress| {
                            if let Some(f) = &progress {
                                f(p)
                            }
                        };
                        let report = if cancel.is_cancelled() {
                            self.report(
                                &t,
                                None,
                                None,
                                Outcome::Skipped,
                                "cancelled before it started".into(),
                            )
                        } else {
                            self.reset_one(&t, &decision, pre, &notify, &cancel).await
                        };
                        notify(Progress {
                            input: t.input.clone(),
                            stage: Stage::Done(report.clone()),
                        });
                        (i, report)
                    }
                })
                .buffer_unordered(self.opts.concurrency.max(1))
                .collect()
                .await;
        let mut reports = reports;
        reports.sort_by_key(|(i, _)| *i);
        reports.into_iter().map(|(_, r)| r).collect()
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
                .or_else(|| t.known_external_id.clone()),
            strategy,
            outcome,
            message,
        }
    }

    /// One request for up to 100 users (`filter=a,b,c`, newest servers): their id, username,
    /// email, `active` and `avatar_template`. Only for runs of several users; detects servers that
    /// do not split the filter and stops using it there.
    async fn batch_lookup(&self, targets: &[Target]) -> HashMap<usize, AdminListUserJson> {
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
            let Ok(rows) = self.client.users_by_filter(&list, true).await else {
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
                let u = self.client.user(name).await.map_err(describe)?;
                (u.id, Some(u), false)
            }
            (_, UserRef::ExternalId(ext)) => {
                let u = self.client.user_by_external(ext).await.map_err(describe)?;
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
            });
        }
        // 3. The admin record: email, active, groups, SSO record (and the template).
        let admin = self.client.admin_user(id).await.map_err(describe)?;
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
            let u = self.client.user(&detail.username).await.map_err(describe)?;
            detail.uploaded_avatar_id = u.uploaded_avatar_id;
        }
        Ok(Resolved {
            detail,
            admin_read: true,
        })
    }

    async fn reset_one(
        &self,
        t: &Target,
        decision: &Decision,
        pre: Option<AdminListUserJson>,
        notify: &(dyn Fn(Progress) + Sync),
        cancel: &CancelToken,
    ) -> ResetReport {
        notify(Progress {
            input: t.input.clone(),
            stage: Stage::Resolving,
        });
        let mut strategy = decision.strategy;
        if strategy == Strategy::SyncSso
            && let Some(e) = self.sync_requirements()
        {
            return self.report(t, None, Some(strategy), Outcome::Failed, e);
        }
        let resolved = match self.resolve(t, strategy, pre).await {
            Ok(r) => r,
            Err(e) => return self.report(t, None, Some(strategy), Outcome::Failed, e),
        };
        let mut user = resolved.detail;
        let default_upload = *self.default_upload.lock().unwrap();
        if plan::already_done(
            strategy,
            &user,
            self.opts.default_avatar_url.as_deref(),
            default_upload,
        ) {
            let msg = match strategy {
                Strategy::Pick => "already on the letter avatar; nothing sent",
                Strategy::SyncSso => "already on the default avatar; nothing sent",
            };
            return self.report(t, Some(&user), Some(strategy), Outcome::Skipped, msg.into());
        }
        if strategy == Strategy::Pick {
            match self.send_pick(t, &user, notify, cancel).await {
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
                    notify(Progress {
                        input: t.input.clone(),
                        stage: Stage::Note(note),
                    });
                    strategy = Strategy::SyncSso;
                    if let Some(e) = self.sync_requirements() {
                        return self.report(t, Some(&user), Some(strategy), Outcome::Failed, e);
                    }
                    if !resolved.admin_read {
                        match self.client.admin_user(user.id as i64).await {
                            Ok(admin) => {
                                let keep = user.uploaded_avatar_id;
                                user = user_detail(None, Some(&admin)).unwrap_or(user);
                                user.uploaded_avatar_id = keep;
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
                                let msg = e.to_string();
                                return self.report(
                                    t,
                                    Some(&user),
                                    Some(strategy),
                                    Outcome::Failed,
                                    msg,
                                );
                            }
                        }
                    }
                }
            }
        }
        self.send_sync(t, &user, notify, cancel).await
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
            id: Some(user.id),
            username: Some(user.username.clone()),
            external_id: user.external_id().map(str::to_string),
        };
        e.strategy = Some(strategy);
        e.before = Self::before(user);
        e.outcome = outcome;
        e.message = message.to_string();
        e.dry_run = self.opts.dry_run;
        if strategy == Strategy::SyncSso {
            e.avatar_url = self.opts.default_avatar_url.clone();
        }
        e
    }

    /// Writes the intent line; a reset whose intent cannot be recorded is not sent.
    fn intent(&self, user: &UserDetail, strategy: Strategy, message: &str) -> Result<(), String> {
        self.audit
            .append(&self.audit_line(Phase::Intent, user, strategy, None, message))
            .map_err(|e| {
                format!(
                    "could not write the audit log {}: {e}; nothing sent",
                    self.audit.path().display()
                )
            })
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
        let message = match self.audit.append(&line) {
            Ok(()) => message,
            Err(e) => format!("{message} (audit log write failed: {e})"),
        };
        if outcome == Outcome::Verified {
            self.post_resolved(user, strategy);
        }
        self.report(t, Some(user), Some(strategy), outcome, message)
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

    /// Ok(report) when pick settled it; Err(note) when the server refused with 422 FAILED and
    /// sync-sso should take over.
    async fn send_pick(
        &self,
        t: &Target,
        user: &UserDetail,
        notify: &(dyn Fn(Progress) + Sync),
        cancel: &CancelToken,
    ) -> Result<ResetReport, String> {
        let strategy = Strategy::Pick;
        let path = format!(
            "/u/{}/preferences/avatar/pick",
            crate::discourse::client::segment(&user.username)
        );
        if self.opts.dry_run {
            let msg = format!("would send PUT {path} type=system");
            return Ok(self.dry_run(t, user, strategy, msg));
        }
        if let Err(e) = self.intent(user, strategy, "PUT pick type=system") {
            return Ok(self.report(t, Some(user), Some(strategy), Outcome::Failed, e));
        }
        notify(Progress {
            input: t.input.clone(),
            stage: Stage::Sending(strategy),
        });
        match self.client.pick_system_avatar(&user.username).await {
            Ok(()) => {}
            Err(e @ ClientError::OverridesAvatar { .. }) => {
                let note = format!("pick refused ({e})");
                let _ = self.audit.append(&self.audit_line(
                    Phase::Outcome,
                    user,
                    strategy,
                    Some(Outcome::Failed),
                    &note,
                ));
                return Err(note);
            }
            Err(e) => {
                return Ok(self.outcome(t, user, strategy, Outcome::Failed, e.to_string(), None));
            }
        }
        if !self.opts.verify {
            return Ok(self.outcome(
                t,
                user,
                strategy,
                Outcome::Applied,
                "letter avatar picked (not verified)".into(),
                None,
            ));
        }
        notify(Progress {
            input: t.input.clone(),
            stage: Stage::Verifying(strategy),
        });
        let verdict = verify::poll(self, user, strategy, None, cancel).await;
        let (outcome, message) = match verdict {
            verify::Verdict::Done(_) => (Outcome::Verified, "letter avatar in place".to_string()),
            verify::Verdict::Timeout => (
                Outcome::Unverified,
                format!(
                    "pick answered 200 but uploaded_avatar_id was still set after {}s",
                    self.opts.verify_timeout.as_secs()
                ),
            ),
            other => (Outcome::Unverified, other.unverified_reason(&user.username)),
        };
        Ok(self.outcome(t, user, strategy, outcome, message, None))
    }

    async fn send_sync(
        &self,
        t: &Target,
        user: &UserDetail,
        notify: &(dyn Fn(Progress) + Sync),
        cancel: &CancelToken,
    ) -> ResetReport {
        let strategy = Strategy::SyncSso;
        let settings = self.settings().await;
        let overrides_groups = settings.and_then(DcSettings::overrides_groups);
        let url = self.opts.default_avatar_url.clone().unwrap_or_default();
        let fields = match plan::sync_payload(user, &url, overrides_groups) {
            Ok(f) => f,
            Err(e) => return self.report(t, Some(user), Some(strategy), Outcome::Failed, e),
        };
        let secret = self.opts.sso_secret.clone().unwrap_or_default();
        let signed = match Payload::from_pairs(fields.clone()).and_then(|p| p.sign(&secret)) {
            Ok(s) => s,
            Err(e) => {
                return self.report(
                    t,
                    Some(user),
                    Some(strategy),
                    Outcome::Failed,
                    format!("payload: {e}"),
                );
            }
        };
        if self.opts.dry_run {
            let shown: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let msg = format!(
                "would send POST /admin/users/sync_sso sig={} payload: {}",
                signed.sig,
                shown.join(" ")
            );
            return self.dry_run(t, user, strategy, msg);
        }
        if let Err(e) = self.intent(user, strategy, &format!("POST sync_sso avatar_url={url}")) {
            return self.report(t, Some(user), Some(strategy), Outcome::Failed, e);
        }
        notify(Progress {
            input: t.input.clone(),
            stage: Stage::Sending(strategy),
        });
        let answer = match self.client.sync_sso(signed.form_body()).await {
            Ok(a) => a,
            Err(e) => return self.outcome(t, user, strategy, Outcome::Failed, e.to_string(), None),
        };
        // The record is overwritten synchronously (§5), so its URL is checkable now.
        let record_url = answer
            .single_sign_on_record
            .as_ref()
            .and_then(|r| r.external_avatar_url.clone());
        if answer.single_sign_on_record.is_some() && record_url.as_deref() != Some(url.as_str()) {
            let msg = format!(
                "sync answered 200 but the SSO record's external_avatar_url is {record_url:?}, not the default"
            );
            return self.outcome(t, user, strategy, Outcome::Unverified, msg, None);
        }
        if !self.opts.verify {
            return self.outcome(
                t,
                user,
                strategy,
                Outcome::Applied,
                "sync accepted; download queued (not verified)".into(),
                None,
            );
        }
        notify(Progress {
            input: t.input.clone(),
            stage: Stage::Verifying(strategy),
        });
        let default_upload = *self.default_upload.lock().unwrap();
        let (outcome, message, after) =
            match verify::poll(self, user, strategy, default_upload, cancel).await {
                verify::Verdict::Done(after) => {
                    if let Some(a) = after {
                        *self.default_upload.lock().unwrap() = Some(a);
                    }
                    (
                        Outcome::Verified,
                        "default avatar in place".to_string(),
                        after,
                    )
                }
                verify::Verdict::Timeout => {
                    let max_kb = settings.and_then(DcSettings::max_image_size_kb);
                    let timeout = self.opts.verify_timeout.as_secs();
                    (
                        Outcome::Unverified,
                        plan::unverified_message(timeout, &url, max_kb, &user.username),
                        None,
                    )
                }
                other => (
                    Outcome::Unverified,
                    other.unverified_reason(&user.username),
                    None,
                ),
            };
        self.outcome(t, user, strategy, outcome, message, after)
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
        let message = match self
            .audit
            .append(&intent)
            .and_then(|()| self.audit.append(&line))
        {
            Ok(()) => message,
            Err(e) => format!("{message} (audit log write failed: {e})"),
        };
        self.report(t, Some(user), Some(strategy), Outcome::DryRun, message)
    }
}
