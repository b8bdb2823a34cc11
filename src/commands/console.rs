//! The console command: the real [`Backend`] over the Discourse and main-app clients and the
//! reset engine, then the TUI loop.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::broadcast;

use super::{Context, failed, usage_error};
use crate::audit::{self, Phase};
use crate::config::Config;
use crate::discourse::client::{DiscourseClient, LogQuery};
use crate::discourse::review::ReviewItem;
use crate::discourse::types::user_detail;
use crate::main_app::MainAppClient;
use crate::model::{Exchange, LogLine, ResetReport, Source, UserRef};
use crate::reset::{CancelToken, Engine, Progress as EngineStep, ProgressFn, Stage, Target};
use crate::review::{self, ReviewResult, Subject};
use crate::session::Session;
use crate::tui::effects::{BatchProgress, Progress, ResetOptions};
use crate::tui::{
    App, AppConfig, Backend, BudgetStatus, QueuePage, ResetStep, Setting, SiteInfo, ThemeChoice,
    UserInfo,
};

/// What the queue already told us about a user, so a reset needs fewer lookups: the main app
/// gives external id, username and email; the review queue gives Discourse's id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Hint {
    username: Option<Box<str>>,
    email: Option<Box<str>>,
    external_id: Option<Box<str>>,
    id: Option<u64>,
}

impl Hint {
    /// Every field of `self` is unknown or the same in `other`: `other` only adds to it.
    fn extended_by(&self, other: &Hint) -> bool {
        fn fits<T: PartialEq>(a: &Option<T>, b: &Option<T>) -> bool {
            a.is_none() || a == b
        }
        fits(&self.username, &other.username)
            && fits(&self.email, &other.email)
            && fits(&self.external_id, &other.external_id)
            && fits(&self.id, &other.id)
    }
}

/// Every queued user, found by username and by external id (the keys the console resets by).
/// Held compactly, as the console holds 100,000 of them: one `Hint` per user in a `Vec`, the
/// keys pointing into it.
#[derive(Debug, Default)]
struct HintBook {
    hints: Vec<Hint>,
    by_key: HashMap<Box<str>, u32>,
}

type Hints = Arc<std::sync::Mutex<HintBook>>;

fn hint_keys(user: &UserRef) -> String {
    match user {
        UserRef::Username(u) => format!("u:{}", u.to_lowercase()),
        UserRef::ExternalId(x) => format!("x:{x}"),
        UserRef::Email(e) => format!("e:{}", e.to_lowercase()),
    }
}

fn remember(hints: &Hints, h: Hint) {
    let mut book = hints.lock().unwrap_or_else(|e| e.into_inner());
    // By email only when nothing else names the user (the console resets by external id, else
    // by username: see `QueuedUser::user_ref`).
    let by_email = h.username.is_none() && h.external_id.is_none();
    let keys: Vec<Box<str>> = [
        h.username
            .as_ref()
            .map(|u| format!("u:{}", u.to_lowercase())),
        h.external_id.as_ref().map(|x| format!("x:{x}")),
        h.email
            .as_ref()
            .filter(|_| by_email)
            .map(|e| format!("e:{}", e.to_lowercase())),
    ]
    .into_iter()
    .flatten()
    .map(String::into_boxed_str)
    .collect();
    let known: Vec<u32> = keys
        .iter()
        .filter_map(|k| book.by_key.get(k).copied())
        .collect();
    // Merge with what is known under any of the keys.
    let mut merged = h;
    for &i in &known {
        let old = &book.hints[i as usize];
        merged.username = merged.username.or_else(|| old.username.clone());
        merged.email = merged.email.or_else(|| old.email.clone());
        merged.external_id = merged.external_id.or_else(|| old.external_id.clone());
        merged.id = merged.id.or(old.id);
    }
    // One user seen again (both sources, a detail read): completed in place. Otherwise (new, or
    // what is known under another key disagrees) a hint of its own, so the other key keeps
    // naming what it named.
    let slot = match known.first() {
        Some(&i)
            if known.iter().all(|&j| j == i) && book.hints[i as usize].extended_by(&merged) =>
        {
            book.hints[i as usize] = merged;
            i
        }
        _ => {
            book.hints.push(merged);
            (book.hints.len() - 1) as u32
        }
    };
    for k in keys {
        book.by_key.insert(k, slot);
    }
}

fn target_for(hints: &Hints, user: &UserRef) -> Target {
    let h = {
        let book = hints.lock().unwrap_or_else(|e| e.into_inner());
        book.by_key
            .get(hint_keys(user).as_str())
            .and_then(|&i| book.hints.get(i as usize).cloned())
            .unwrap_or_default()
    };
    Target {
        input: user.to_string(),
        user: user.clone(),
        known_username: h.username.map(String::from),
        known_external_id: h.external_id.map(String::from).or(match user {
            UserRef::ExternalId(x) => Some(x.clone()),
            _ => None,
        }),
        known_email: h.email.map(String::from),
        known_id: h.id,
    }
}

pub struct ConsoleBackend {
    hints: Hints,
    dry_run: bool,
    site_loaded: AtomicBool,
    discourse: DiscourseClient,
    main_app: Option<MainAppClient>,
    review_types: Vec<String>,
    engine: Arc<Engine>,
    dry_engine: Arc<Engine>,
    audit: Arc<audit::AuditLog>,
    read_only: bool,
    exchanges: broadcast::Sender<Exchange>,
    undo_opts: crate::undo::UndoOptions,
    pictures: crate::images::fetch::Fetcher,
    default_avatar_url: Option<String>,
}

impl ConsoleBackend {
    pub fn new(config: &Config, session: &Session, dry_run: bool, read_only: bool) -> Self {
        let (tx, _) = broadcast::channel(1024);
        let feed = tx.clone();
        session.set_observer(Arc::new(move |e: &Exchange| {
            let _ = feed.send(e.clone());
        }));
        let engine = Arc::new(session.engine(Session::reset_options(config, None, false, dry_run)));
        let dry_engine =
            Arc::new(session.engine(Session::reset_options(config, None, false, true)));
        // Pictures go over the shared client but never through the Discourse client: no
        // Api-Key, no budget. The main-app token may go to the main app's origin only.
        let app_token = config
            .main_app
            .as_ref()
            .and_then(|m| Some((m.flagged_url.origin(), m.token.clone()?)))
            .map(|(origin, token)| crate::images::fetch::AppToken { origin, token });
        let pictures = crate::images::fetch::Fetcher::new(session.http.clone(), app_token);
        ConsoleBackend {
            default_avatar_url: config
                .discourse
                .default_avatar_url
                .as_ref()
                .map(|u| u.to_string()),
            hints: Hints::default(),
            dry_run,
            site_loaded: AtomicBool::new(false),
            discourse: session.discourse.clone(),
            main_app: session.main_app.clone(),
            review_types: config.discourse.review_types.clone(),
            engine,
            dry_engine,
            audit: session.audit.clone(),
            read_only,
            exchanges: tx,
            undo_opts: crate::undo::UndoOptions {
                sso_secret: config.discourse.sso_secret.clone(),
                verify_timeout: std::time::Duration::from_secs(
                    config.reset.verify_timeout_secs.max(1),
                ),
                dry_run,
                force: false,
            },
            pictures,
        }
    }
}

/// The audit lines about one user, one line each, newest last.
fn audit_lines(audit: &audit::AuditLog, username: &str, external_id: Option<&str>) -> Vec<String> {
    let all = audit.read_all();
    audit::entries_for(&all, Some(username), external_id)
        .into_iter()
        .rev()
        .take(20)
        .rev()
        .map(|e| {
            let what = match (&e.phase, e.outcome) {
                (Phase::Intent, _) => "intent".to_string(),
                (Phase::Outcome, Some(o)) => o.as_str().to_string(),
                (Phase::Outcome, None) => "outcome".to_string(),
            };
            let strategy = e.strategy.map(|s| s.as_str()).unwrap_or("-");
            let dry = if e.dry_run { " (dry run)" } else { "" };
            format!(
                "{} {what} {strategy}{dry}: {}",
                e.at.format("%Y-%m-%d %H:%M:%S"),
                crate::sanitize::clean(&e.message)
            )
        })
        .collect()
}

impl Backend for ConsoleBackend {
    fn review_items(
        &self,
        user: UserRef,
    ) -> BoxFuture<'static, Result<(Subject, Vec<ReviewItem>), String>> {
        let client = self.discourse.clone();
        async move {
            let subject = review::subject_for(&client, &user.to_string()).await?;
            let items = client
                .review_items_for(&subject.username, Some(subject.id))
                .await
                .map_err(|e| e.to_string())?;
            Ok((subject, items))
        }
        .boxed()
    }

    fn perform_review(
        &self,
        subject: Subject,
        item: ReviewItem,
        action: String,
        dry_run: bool,
    ) -> BoxFuture<'static, ReviewResult> {
        let client = self.discourse.clone();
        let audit = self.audit.clone();
        let (dry_run, read_only) = (dry_run || self.dry_run, self.read_only);
        async move {
            if read_only {
                return ReviewResult {
                    id: item.id,
                    action,
                    outcome: crate::review::ReviewOutcome::Skipped,
                    message: "read-only: nothing sent".into(),
                    item: None,
                };
            }
            review::perform(&client, &audit, &subject, &item, &action, dry_run).await
        }
        .boxed()
    }

    fn undo(
        &self,
        user: UserRef,
        dry_run: bool,
    ) -> BoxFuture<'static, Result<ResetReport, String>> {
        let client = self.discourse.clone();
        let audit = self.audit.clone();
        let mut opts = self.undo_opts.clone();
        opts.dry_run |= dry_run;
        let read_only = self.read_only;
        async move {
            if read_only {
                return Err("read-only: nothing sent".into());
            }
            crate::undo::undo(&client, &audit, &opts, &user.to_string())
                .await
                .map_err(|e| e.0)
        }
        .boxed()
    }

    fn site(&self) -> BoxFuture<'static, Result<SiteInfo, String>> {
        let engine = self.engine.clone();
        // The first call reads the settings with the engine; later ones (`:refresh`) read them
        // again, so switches changed since (here or by another admin) show as they are.
        let first = !self
            .site_loaded
            .swap(true, std::sync::atomic::Ordering::SeqCst);
        let audit = self.audit.clone();
        let default_url = self.default_avatar_url.clone();
        async move {
            // Off the UI thread. Unfinished changes are named once, at start.
            let (interrupted, default_upload) = tokio::task::spawn_blocking(move || {
                let all = audit.read_all();
                let interrupted: Vec<String> = if first {
                    audit::unfinished(&all)
                        .into_iter()
                        .map(audit::describe_unfinished)
                        .collect()
                } else {
                    Vec::new()
                };
                let default_upload = default_url
                    .as_deref()
                    .and_then(|u| audit::known_default_upload(&all, u));
                (interrupted, default_upload)
            })
            .await
            .unwrap_or_default();
            let decision = engine.decision().await;
            let fresh = if first {
                None
            } else {
                engine.client().dc_settings().await.ok()
            };
            let s = fresh.as_ref().or(engine.settings().await);
            Ok(SiteInfo {
                strategy: decision.strategy,
                why: decision.reason,
                verbose_sso: s.and_then(|s| s.verbose_sso()),
                verbose_upload: s.and_then(|s| s.verbose_upload()),
                warnings: if decision.strategy == crate::model::Strategy::SyncSso {
                    engine.preflight_warnings().await
                } else {
                    Vec::new()
                },
                interrupted,
                default_upload,
            })
        }
        .boxed()
    }

    fn load_queue_page(
        &self,
        source: Source,
        cursor: Option<String>,
    ) -> BoxFuture<'static, Result<QueuePage, String>> {
        let hints = self.hints.clone();
        match source {
            Source::App => {
                let app = self.main_app.clone();
                async move {
                    let app = app.ok_or("no [main_app] configured")?;
                    let page = crate::sources::app_page(&app, cursor).await?;
                    for i in &page.items {
                        remember(
                            &hints,
                            Hint {
                                username: i.username.as_deref().map(Box::from),
                                email: i.email.as_deref().map(Box::from),
                                external_id: i.external_id.as_deref().map(Box::from),
                                id: None,
                            },
                        );
                    }
                    Ok(QueuePage {
                        items: page.items,
                        next: page.next,
                        skipped: page.skipped,
                    })
                }
                .boxed()
            }
            Source::Discourse => {
                let client = self.discourse.clone();
                let types = self.review_types.clone();
                async move {
                    let page = crate::sources::review_page(&client, &types, cursor).await?;
                    for i in &page.items {
                        remember(
                            &hints,
                            Hint {
                                username: i.username.as_deref().map(Box::from),
                                email: None,
                                external_id: None,
                                id: i.discourse_id,
                            },
                        );
                    }
                    Ok(QueuePage {
                        items: page.items,
                        next: page.next,
                        skipped: page.skipped,
                    })
                }
                .boxed()
            }
        }
    }

    fn load_user(&self, user: UserRef) -> BoxFuture<'static, Result<UserInfo, String>> {
        // Detail loads are background work: they leave part of the budget to resets.
        let client = self.discourse.background();
        let audit = self.audit.clone();
        let hints = self.hints.clone();
        async move {
            let describe = |e: crate::discourse::client::ClientError| {
                if e.is_not_found() {
                    format!("no such user: {user}")
                } else {
                    e.to_string()
                }
            };
            let public = match &user {
                UserRef::Username(u) => Some(client.user(u).await.map_err(describe)?),
                UserRef::ExternalId(x) => Some(client.user_by_external(x).await.map_err(describe)?),
                UserRef::Email(e) => {
                    let rows = client.users_by_email(e).await.map_err(|e| e.to_string())?;
                    let row = rows
                        .into_iter()
                        .next()
                        .ok_or_else(|| format!("no user with email {e}"))?;
                    Some(client.user(&row.username).await.map_err(describe)?)
                }
            };
            let id = public.as_ref().map(|u| u.id).unwrap_or_default();
            let admin = client.admin_user(id).await.ok();
            let mut detail =
                user_detail(public.as_ref(), admin.as_ref()).ok_or("empty user record")?;
            if detail.sso.is_none()
                && let UserRef::ExternalId(x) = &user
            {
                detail.sso = Some(crate::model::SsoRecord {
                    external_id: x.clone(),
                    ..Default::default()
                });
            }
            remember(
                &hints,
                Hint {
                    username: Some(detail.username.as_str().into()),
                    email: detail.email.as_deref().map(Box::from),
                    external_id: detail.external_id().map(Box::from),
                    id: Some(detail.id),
                },
            );
            let audit = audit_lines(&audit, &detail.username, detail.external_id());
            Ok(UserInfo { detail, audit })
        }
        .boxed()
    }

    fn reset(
        &self,
        user: UserRef,
        options: ResetOptions,
        progress: Progress,
    ) -> BoxFuture<'static, ResetReport> {
        let engine = if options.dry_run {
            self.dry_engine.clone()
        } else {
            self.engine.clone()
        };
        let read_only = self.read_only;
        let target = target_for(&self.hints, &user);
        async move {
            if read_only {
                return ResetReport {
                    user: user.to_string(),
                    username: None,
                    external_id: None,
                    strategy: None,
                    outcome: crate::model::Outcome::Failed,
                    message: "read-only: nothing sent".into(),
                    path: None,
                };
            }
            let p = progress.clone();
            let adapter: ProgressFn = Arc::new(move |ep: EngineStep| {
                let step = match ep.stage {
                    Stage::Resolving => Some(ResetStep::Resolving),
                    Stage::Sending(s) => Some(ResetStep::Sending(s)),
                    Stage::Verifying(_) => Some(ResetStep::Verifying),
                    // Done is reported by the runner from the returned report.
                    Stage::Done(_) | Stage::Note(_) => None,
                };
                if let Stage::Note(n) = &ep.stage {
                    tracing::info!(user = %ep.input, note = %n, "reset note");
                }
                if let Some(s) = step {
                    p(s);
                }
            });
            let mut reports = engine
                .run(vec![target], CancelToken::default(), Some(adapter))
                .await;
            reports.pop().unwrap_or_else(|| ResetReport {
                user: user.to_string(),
                username: None,
                external_id: None,
                strategy: None,
                outcome: crate::model::Outcome::Failed,
                message: "no report".into(),
                path: None,
            })
        }
        .boxed()
    }

    /// The whole batch through the engine: one settings read, batched lookups and coalesced
    /// verification polls (about 1.1 requests per verified reset instead of 4).
    fn reset_batch(
        &self,
        users: Vec<(usize, UserRef)>,
        options: ResetOptions,
        progress: BatchProgress,
        cancel: Arc<AtomicBool>,
    ) -> BoxFuture<'static, ()> {
        let engine = if options.dry_run {
            self.dry_engine.clone()
        } else {
            self.engine.clone()
        };
        let read_only = self.read_only;
        let targets: Vec<Target> = users
            .iter()
            .map(|(_, u)| target_for(&self.hints, u))
            .collect();
        async move {
            let slot_of: HashMap<String, usize> =
                users.iter().map(|(s, u)| (u.to_string(), *s)).collect();
            if read_only {
                for (slot, user) in &users {
                    let mut r = crate::tui::effects::cancelled_report(user);
                    r.outcome = crate::model::Outcome::Failed;
                    r.message = "read-only: nothing sent".into();
                    progress(*slot, ResetStep::Done(r));
                }
                return;
            }
            let p = progress.clone();
            let adapter: ProgressFn = Arc::new(move |ep: EngineStep| {
                let Some(&slot) = slot_of.get(&ep.input) else {
                    return;
                };
                let step = match ep.stage {
                    Stage::Resolving => ResetStep::Resolving,
                    Stage::Sending(s) => ResetStep::Sending(s),
                    Stage::Verifying(_) => ResetStep::Verifying,
                    Stage::Done(r) => ResetStep::Done(r),
                    Stage::Note(n) => {
                        tracing::info!(user = %ep.input, note = %n, "reset note");
                        return;
                    }
                };
                p(slot, step);
            });
            engine
                .run(targets, CancelToken::from_flag(cancel), Some(adapter))
                .await;
        }
        .boxed()
    }

    fn poll_logs(&self, after: Option<String>) -> BoxFuture<'static, Result<Vec<LogLine>, String>> {
        let client = self.discourse.background();
        async move {
            let q = LogQuery {
                after,
                ..LogQuery::default()
            };
            client.log_messages(&q).await.map_err(|e| e.to_string())
        }
        .boxed()
    }

    fn set_setting(
        &self,
        setting: Setting,
        enable: bool,
    ) -> BoxFuture<'static, Result<bool, String>> {
        let client = self.discourse.clone();
        let engine = self.engine.clone();
        let audit = self.audit.clone();
        let read_only = self.read_only;
        let dry_run = self.dry_run;
        async move {
            if read_only {
                return Err("read-only: settings are not changed".into());
            }
            let name = match engine.settings().await {
                Some(s) => s.server_name(setting.name()).to_string(),
                None => setting.name().to_string(),
            };
            let value = if enable { "true" } else { "false" };
            if dry_run {
                let mut line = audit.entry(Phase::Outcome, "set-site-setting");
                line.setting = Some((name.clone(), value.to_string()));
                line.outcome = Some(crate::model::Outcome::DryRun);
                line.dry_run = true;
                line.message = format!("would send PUT /admin/site_settings/{name} {name}={value}");
                audit.append(&line).map_err(|e| format!("audit log: {e}"))?;
                return Ok(!enable);
            }
            let mut intent = audit.entry(Phase::Intent, "set-site-setting");
            intent.setting = Some((name.clone(), value.to_string()));
            audit
                .append(&intent)
                .map_err(|e| format!("audit log: {e}; nothing sent"))?;
            let result = client.update_site_setting(&name, value).await;
            let mut outcome = audit.entry(Phase::Outcome, "set-site-setting");
            outcome.setting = Some((name.clone(), value.to_string()));
            outcome.outcome = Some(if result.is_ok() {
                crate::model::Outcome::Applied
            } else {
                crate::model::Outcome::Failed
            });
            outcome.message = match &result {
                Ok(()) => format!("{name} = {value}"),
                Err(e) => e.to_string(),
            };
            let _ = audit.append(&outcome);
            result.map(|()| enable).map_err(|e| e.to_string())
        }
        .boxed()
    }

    fn budget(&self) -> Option<BudgetStatus> {
        let b = self.discourse.budget();
        Some(BudgetStatus {
            left: b.remaining as u32,
            per_minute: b.limit as u32,
            retry_after_secs: b.paused_for.map(whole_secs),
            next_slot_secs: b.next_slot_in.map(whole_secs),
        })
    }

    fn exchanges(&self) -> Option<broadcast::Receiver<Exchange>> {
        Some(self.exchanges.subscribe())
    }

    fn fetch_image(&self, url: String) -> BoxFuture<'static, Result<Vec<u8>, String>> {
        let fetcher = self.pictures.clone();
        async move { fetcher.get(&url).await }.boxed()
    }
}

/// Seconds, rounded up, for countdowns.
fn whole_secs(d: std::time::Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The demo is where people try their keys: it uses the `[keys]` of their own config file, if
/// there is one; nothing else of that file is read (a file with only `[keys]` will do). Keys that
/// cannot work are an error (exit 2), as they are outside the demo: a warning would be lost
/// behind the console's screen.
fn demo_keys(ctx: &Context) -> Result<crate::tui::keymap::Keymap, String> {
    match crate::config::Config::load_keys(ctx.config_flag.as_deref()) {
        Ok(keys) => Ok(keys.unwrap_or_default()),
        Err(e) => Err(format!("--demo uses the [keys] of your config file: {e}")),
    }
}

pub async fn run(ctx: &Context) -> ExitCode {
    let Some(config) = ctx.config() else {
        return usage_error("console: no configuration loaded");
    };
    let keymap = if ctx.demo {
        match demo_keys(ctx) {
            Ok(k) => k,
            Err(e) => return usage_error(e),
        }
    } else {
        config.keys.clone()
    };
    if ctx.demo {
        // Each demo console is a new sandbox forum: earlier demos' audit lines are kept aside.
        if let Some(to) = super::archive_demo_audit(&ctx.data_dir, chrono::Utc::now()) {
            tracing::info!(to = %to.display(), "the previous demo's audit log moved aside");
        }
    }
    let session = match Session::new(config, &ctx.data_dir) {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    let backend = Arc::new(ConsoleBackend::new(
        config,
        &session,
        ctx.dry_run,
        ctx.read_only,
    ));
    let theme = config
        .ui
        .theme
        .as_str()
        .parse::<ThemeChoice>()
        .unwrap_or(ThemeChoice::Auto);
    let mut sources = Vec::new();
    if config.main_app.is_some() {
        sources.push(Source::App);
    }
    sources.push(Source::Discourse);
    let app = App::new(AppConfig {
        // host[:port]: on-call engineers need to know exactly which server this is.
        site: match (config.discourse.url.host_str(), config.discourse.url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => config.discourse.url.to_string(),
        },
        api_user: config.discourse.api_username.clone(),
        read_only: ctx.read_only,
        dry_run: ctx.dry_run,
        theme,
        no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        sources,
        initial_user: ctx.user.clone(),
        // Decided for the terminal by `tui::run` (it asks the terminal what it can draw).
        images: false,
        mouse: config.ui.mouse,
        forum: Some(config.discourse.url.clone()),
        main_app: config.main_app.as_ref().map(|m| m.flagged_url.clone()),
        keymap,
    })
    .with_sso_decoder(Arc::new(|s: &str| {
        crate::discourse::sso::decode(s).ok().map(|d| d.fields)
    }));
    match crate::tui::run(app, backend, config.ui.images).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => failed(format!("the terminal failed: {e}")),
    }
}
