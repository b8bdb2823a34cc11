//! The console's review actions (`a`: a menu of the selected row's pending items and the
//! actions each offers, then a confirm) and undo (`z`: put back what the user's last verified
//! reset replaced). State changes here are called from `update` only; the work runs in the
//! backend ([`crate::review`], [`crate::undo`]).

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::app::{App, Confirm, Effect, Modal, ReviewMark, ReviewState, RowStatus};
use super::theme::Theme;
use crate::discourse::review::ReviewItem;
use crate::model::{Outcome, ResetReport, Source, UserRef};
use crate::review::{ReviewOutcome, ReviewResult, Subject};
use crate::sanitize::clean;
use crate::tui::keymap::Action;

/// The `a` menu: the row's items (once loaded) and the selected choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewMenu {
    pub slot: usize,
    pub loaded: Option<Result<(Subject, Vec<ReviewItem>), String>>,
    pub sel: usize,
}

impl ReviewMenu {
    /// (item index, action index) for every action of every item, in order.
    pub fn choices(&self) -> Vec<(usize, usize)> {
        match &self.loaded {
            Some(Ok((_, items))) => items
                .iter()
                .enumerate()
                .flat_map(|(i, it)| (0..it.actions.len()).map(move |a| (i, a)))
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn user_of(app: &App, slot: usize) -> Option<UserRef> {
    app.queue().get(slot)?.user_ref()
}

/// `a`: open the menu for the selected row and load its items.
pub(crate) fn open_menu(app: &mut App) -> Vec<Effect> {
    let what = format!(
        "the review menu ({})",
        app.config().keymap.hint(crate::tui::keymap::Action::Review)
    );
    if super::app::refuse_read_only(app, &what) {
        return vec![];
    }
    let Some(slot) = app.selected_slot() else {
        app.say("no user selected", true);
        return vec![];
    };
    let Some(user) = user_of(app, slot) else {
        app.say("no user id known for this row", true);
        return vec![];
    };
    app.modal = Some(Modal::ReviewMenu(ReviewMenu {
        slot,
        loaded: None,
        sel: 0,
    }));
    vec![Effect::LoadReview { slot, user }]
}

/// The row's items came back: fill the menu if it is open for this row, and drop the row's
/// Discourse mark when nothing is pending any more.
pub(crate) fn on_items(
    app: &mut App,
    slot: usize,
    result: Result<(Subject, Vec<ReviewItem>), String>,
) -> Vec<Effect> {
    if let Ok((_, items)) = &result
        && items.is_empty()
        && app
            .queue()
            .get(slot)
            .is_some_and(|u| u.has_source(Source::Discourse))
    {
        app.queue.drop_source(slot, Source::Discourse);
        app.note(
            "REVIEW",
            format!("{}: no pending review item left", row_name(app, slot)),
        );
        app.rehay(slot);
        // Its flags changed: the row may move (the queue's order is a function of them).
        app.reorder(slot);
        app.settle();
    }
    if let Some(Modal::ReviewMenu(m)) = app.modal.as_mut()
        && m.slot == slot
    {
        m.loaded = Some(result);
        m.sel = 0;
    }
    app.redraw = true;
    vec![]
}

fn row_name(app: &App, slot: usize) -> String {
    app.queue()
        .get(slot)
        .map_or_else(|| "?".to_string(), |u| u.label())
}

/// Keys while the menu is open: move, Enter to choose (then a confirm), Esc to close.
pub(crate) fn menu_key(app: &mut App, key: KeyEvent, mut menu: ReviewMenu) -> Vec<Effect> {
    let n = menu.choices().len();
    // The keys in force move here too (a remapped `down`); the arrows always do.
    let action = app.config().keymap.action(&key);
    let down = key.code == KeyCode::Down || action == Some(Action::Down);
    let up = key.code == KeyCode::Up || action == Some(Action::Up);
    let close = matches!(action, Some(Action::Review | Action::Quit));
    match key.code {
        _ if down && n > 0 => menu.sel = (menu.sel + 1) % n,
        _ if up && n > 0 => menu.sel = (menu.sel + n - 1) % n,
        _ if close => {
            app.modal = None;
            return vec![];
        }
        KeyCode::Esc => {
            app.modal = None;
            return vec![];
        }
        KeyCode::Enter => {
            let Some((i, a)) = menu.choices().get(menu.sel).copied() else {
                app.modal = None;
                return vec![];
            };
            let Some(Ok((subject, items))) = &menu.loaded else {
                return vec![];
            };
            let item = items[i].clone();
            let action = item.actions[a].id.clone();
            app.modal = Some(Modal::Confirm(Confirm::Review {
                slot: menu.slot,
                subject: Box::new(subject.clone()),
                item: Box::new(item),
                action,
            }));
            return vec![];
        }
        _ => {}
    }
    app.modal = Some(Modal::ReviewMenu(menu));
    vec![]
}

/// The review confirm said yes.
pub(crate) fn confirmed_review(
    app: &mut App,
    slot: usize,
    subject: Box<Subject>,
    item: Box<ReviewItem>,
    action: String,
) -> Vec<Effect> {
    let dry_run = app.config().dry_run;
    // The review action has its own mark: the row's reset mark stays what the reset left.
    app.review.insert(
        slot,
        ReviewMark {
            action: action.clone(),
            state: ReviewState::Sending,
            message: format!("sending {action} on review item #{}", item.id),
        },
    );
    app.message = None;
    vec![Effect::PerformReview {
        slot,
        subject,
        item,
        action,
        dry_run,
    }]
}

/// A review action finished: the row shows it, the log pane keeps it, and the row's items are
/// re-read so its D mark goes when none is pending.
pub(crate) fn on_performed(app: &mut App, slot: usize, r: ReviewResult) -> Vec<Effect> {
    let state = match r.outcome {
        ReviewOutcome::Done => ReviewState::Done,
        ReviewOutcome::Failed => ReviewState::Failed,
        ReviewOutcome::Skipped => ReviewState::Skipped,
        ReviewOutcome::DryRun => ReviewState::DryRun,
    };
    let failed = state == ReviewState::Failed;
    let message = format!("review {}: {}", r.action, r.message);
    // The whole text in the log pane: the status line may have to shorten it.
    app.note(
        if failed { "ERR" } else { "REVIEW" },
        format!("{}: {message}", row_name(app, slot)),
    );
    app.say(message.clone(), failed);
    app.review.insert(
        slot,
        ReviewMark {
            action: r.action.clone(),
            state,
            message,
        },
    );
    app.work_ended();
    app.rehay(slot);
    app.invalidate_filter();
    let mut fx = Vec::new();
    if r.outcome == ReviewOutcome::Done
        && let Some(user) = user_of(app, slot)
    {
        fx.push(Effect::LoadReview { slot, user });
        fx.extend(app.load_detail(slot));
    }
    fx
}

/// `z`: ask before putting back what the last verified reset replaced.
pub(crate) fn ask_undo(app: &mut App) -> Vec<Effect> {
    let what = format!(
        "undo ({})",
        app.config().keymap.hint(crate::tui::keymap::Action::Undo)
    );
    if super::app::refuse_read_only(app, &what) {
        return vec![];
    }
    if app.batch().is_some() {
        app.say("resets are running: wait for them before undoing", true);
        return vec![];
    }
    match app.selected_slot() {
        Some(slot) if user_of(app, slot).is_some() => {
            app.modal = Some(Modal::Confirm(Confirm::Undo { slot }));
        }
        Some(_) => app.say("no user id known for this row", true),
        None => app.say("no user selected", true),
    }
    vec![]
}

pub(crate) fn confirmed_undo(app: &mut App, slot: usize) -> Vec<Effect> {
    let Some(user) = user_of(app, slot) else {
        return vec![];
    };
    let dry_run = app.config().dry_run;
    let before = app.status.remove(&slot).map(Box::new);
    app.status.insert(slot, RowStatus::Undoing { before });
    app.message = None;
    vec![Effect::Undo {
        slot,
        user,
        dry_run,
    }]
}

pub(crate) fn on_undone(
    app: &mut App,
    slot: usize,
    result: Result<ResetReport, String>,
) -> Vec<Effect> {
    let name = row_name(app, slot);
    app.work_ended();
    match result {
        Ok(r) => {
            let message = format!("undo: {}", r.message);
            // The whole text in the log pane, under the row's name, whatever the outcome.
            app.note(
                if r.outcome == Outcome::Failed {
                    "ERR"
                } else {
                    "UNDO"
                },
                format!("undo {name}: {} — {}", r.outcome.as_str(), r.message),
            );
            app.say(
                format!("{name}: {}: {message}", r.outcome.as_str()),
                r.outcome != Outcome::Verified && r.outcome != Outcome::DryRun,
            );
            if r.outcome == Outcome::Verified {
                super::app::forget_avatar_after(app, slot);
            }
            app.status.insert(
                slot,
                RowStatus::Undone {
                    outcome: r.outcome,
                    message,
                },
            );
        }
        Err(e) => {
            // Refused before sending: the row keeps what it showed.
            match app.status.remove(&slot) {
                Some(RowStatus::Undoing {
                    before: Some(before),
                }) => {
                    app.status.insert(slot, *before);
                }
                Some(RowStatus::Undoing { before: None }) | None => {}
                Some(other) => {
                    app.status.insert(slot, other);
                }
            }
            app.note("UNDO", format!("undo {name}: refused: {e}"));
            app.say(format!("undo refused: {e}"), true);
        }
    }
    app.rehay(slot);
    app.invalidate_filter();
    app.load_detail(slot).into_iter().collect()
}

/// The confirm's words for a review action or an undo.
pub fn confirm_lines<'a>(app: &App, c: &Confirm, theme: &Theme) -> Option<(String, Vec<Line<'a>>)> {
    let keys = Line::from(vec![
        Span::styled("y", theme.key),
        Span::raw(" or "),
        Span::styled("Enter", theme.key),
        Span::raw(": go    "),
        Span::styled("n", theme.key),
        Span::raw(" or "),
        Span::styled("Esc", theme.key),
        Span::raw(": cancel"),
    ]);
    let dry = app.config().dry_run.then(|| {
        Line::styled(
            "DRY RUN: nothing is sent; the request is shown and audited.",
            theme.badge_dry,
        )
    });
    let (title, mut lines) = match c {
        Confirm::Review {
            subject,
            item,
            action,
            ..
        } => {
            let label = item
                .actions
                .iter()
                .find(|a| a.id == *action)
                .and_then(|a| a.label.clone())
                .unwrap_or_else(|| action.clone());
            (
                "Review action".to_string(),
                vec![
                    Line::from(vec![
                        Span::raw("Perform "),
                        Span::styled(clean(&label), theme.title),
                        Span::raw(format!(" ({}) on item #{} of ", clean(action), item.id)),
                        Span::styled(clean(&subject.username), theme.title),
                        Span::raw("?"),
                    ]),
                    Line::styled(
                        format!(
                            "{} · version {} · {}",
                            clean(&item.kind),
                            item.version.unwrap_or(0),
                            clean(&item.reasons.join("; "))
                        ),
                        theme.dim,
                    ),
                ]
                .into_iter()
                // Short lines: the confirm box is sized by line count, not by wrapping.
                .chain(
                    if action == "remove_avatar" {
                        [
                            "Discourse's own reset: clears the avatar and its slots,",
                            "logs a staff action; the item stays pending.",
                        ]
                    } else {
                        [
                            "Sent with the item's version: if it changed meanwhile,",
                            "nothing happens and you are told what changed.",
                        ]
                    }
                    .map(|t| Line::styled(t, theme.dim)),
                )
                .collect(),
            )
        }
        Confirm::Undo { slot } => (
            "Undo the last reset".to_string(),
            vec![
                Line::from(vec![
                    Span::raw("Undo the last verified reset of "),
                    Span::styled(clean(&row_name(app, *slot)), theme.title),
                    Span::raw("?"),
                ]),
                Line::styled(
                    "Puts back the avatar it replaced (from the audit log).",
                    theme.dim,
                ),
                Line::styled(
                    "Refused if it changed since (CLI: undo --force).",
                    theme.dim,
                ),
            ],
        ),
        _ => return None,
    };
    lines.extend(dry);
    lines.push(Line::raw(""));
    lines.push(keys);
    Some((title, lines))
}

/// Draws the `a` menu.
pub fn draw_menu(frame: &mut Frame, area: Rect, menu: &ReviewMenu, app: &App, theme: &Theme) {
    let mut lines: Vec<Line> = Vec::new();
    let choices = menu.choices();
    match &menu.loaded {
        None => lines.push(Line::styled("reading the review queue…", theme.dim)),
        Some(Err(e)) => lines.push(Line::styled(clean(e), theme.err)),
        Some(Ok((_, items))) if items.is_empty() => {
            lines.push(Line::styled("no pending review item", theme.dim))
        }
        Some(Ok((_, items))) => {
            let mut n = 0usize;
            for it in items {
                lines.push(Line::styled(
                    format!(
                        "#{} {} v{} {}",
                        it.id,
                        clean(&it.kind),
                        it.version.unwrap_or(0),
                        clean(&it.reasons.join("; "))
                    ),
                    theme.title,
                ));
                if it.actions.is_empty() {
                    lines.push(Line::styled(
                        "   offers no action to this API user",
                        theme.dim,
                    ));
                }
                for a in &it.actions {
                    let chosen =
                        choices.get(menu.sel) == Some(&(n_item(items, it), n_action(it, a)));
                    let label = a.label.clone().unwrap_or_default();
                    let text = format!(
                        "{} {:<20} {}",
                        if chosen { "›" } else { " " },
                        clean(&a.id),
                        clean(&label)
                    );
                    lines.push(Line::styled(
                        text,
                        if chosen { theme.selected } else { theme.text },
                    ));
                    n += 1;
                }
            }
            let _ = n;
        }
    }
    lines.push(Line::raw(""));
    let km = &app.config().keymap;
    lines.push(Line::from(vec![
        Span::styled(
            format!("{}/{}", km.hint(Action::Down), km.hint(Action::Up)),
            theme.key,
        ),
        Span::raw(" choose  "),
        Span::styled("Enter", theme.key),
        Span::raw(" perform (asks)  "),
        Span::styled("Esc", theme.key),
        Span::raw(" close"),
    ]));
    let h = (lines.len() as u16 + 2).min(area.height);
    let r = area.centered(
        Constraint::Length(72.min(area.width)),
        Constraint::Length(h),
    );
    frame.render_widget(Clear, r);
    let title = format!(" Review: {} ", clean(&row_name(app, menu.slot)));
    frame.render_widget(
        Paragraph::new(lines)
            .block(
                Block::bordered()
                    .border_style(theme.border_focus)
                    .title(Line::styled(title, theme.title)),
            )
            .wrap(Wrap { trim: false }),
        r,
    );
}

fn n_item(items: &[ReviewItem], it: &ReviewItem) -> usize {
    items.iter().position(|x| x.id == it.id).unwrap_or(0)
}

fn n_action(it: &ReviewItem, a: &crate::discourse::review::ReviewAction) -> usize {
    it.actions.iter().position(|x| x.id == a.id).unwrap_or(0)
}
