//! Modals: confirmations, help, a text shown whole.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::sanitize::clean;
use crate::tui::app::{App, Confirm, DetailState, Modal};
use crate::tui::keymap::{Action, Keymap};
use crate::tui::theme::Theme;

/// A line of the help: a section title, an action (its keys come from the keymap in force), or
/// a fixed key.
pub enum HelpLine {
    Section(&'static str),
    Act(Action),
    Fixed(&'static str, &'static str),
}

use HelpLine::{Act, Fixed, Section};

/// Every key, for `?`, in the order people look for them.
pub const HELP: &[HelpLine] = &[
    Section("Moving"),
    Act(Action::Down),
    Act(Action::Up),
    Act(Action::Top),
    Act(Action::Bottom),
    Act(Action::PageDown),
    Act(Action::PageUp),
    Act(Action::HalfPageDown),
    Act(Action::HalfPageUp),
    Act(Action::NextPane),
    Act(Action::PrevPane),
    Act(Action::Open),
    Section("Finding"),
    Act(Action::Filter),
    Fixed("!text", "a leading ! inverts the filter"),
    Fixed(
        "(log pane)",
        "the filter key searches the log lines as shown; Esc clears",
    ),
    Fixed(
        "Esc",
        "clear the filter (cancel a range, or running resets, first)",
    ),
    Act(Action::Command),
    Fixed(":user NAME", "show any user: NAME, external:ID or an email"),
    Fixed(":refresh", "reload the queue from both sources"),
    Fixed(":q", "quit"),
    Act(Action::Refresh),
    Section("Resetting"),
    Act(Action::Reset),
    Act(Action::Mark),
    Act(Action::Range),
    Act(Action::ResetMarked),
    Fixed("Esc", "while resets run: cancel the rest"),
    Act(Action::HideDone),
    Section("Closing the case"),
    Act(Action::Review),
    Act(Action::Undo),
    Section("Log pane"),
    Fixed(
        "(log polling)",
        "every 5 s during work and a minute after, or log pane in use; else 30 s",
    ),
    Act(Action::LogSize),
    Act(Action::LogUser),
    Act(Action::VerboseSso),
    Act(Action::VerboseUpload),
    Section("Pictures"),
    Act(Action::OpenImage),
    Section("Other"),
    Act(Action::Help),
    Act(Action::Quit),
    Fixed(
        "Ctrl-c",
        "quit, from anywhere (asks first while resets run)",
    ),
    Fixed(
        "[keys]",
        "remap any of these in the config (avatar-console config example)",
    ),
    Section("Marks"),
    Fixed(
        "A D",
        "flagged by the main app / by Discourse; (l) looked up",
    ),
    Fixed(
        "… ⠋ ✓ ? ✗ - ·",
        "reset: waiting, running, verified, unverified, failed, skipped, dry run",
    ),
    Fixed(
        "!",
        "verified, with a warning: the flagged photo comes back at the next login (see the detail)",
    ),
    Fixed(
        "↶",
        "undone: the old avatar is back (the case is open again)",
    ),
    Fixed(
        "A D+  A D!",
        "review action (after D): done / refused or failed",
    ),
    Fixed(
        "h hides",
        "only rows whose reset is verified (and no review action failed)",
    ),
    Fixed("●", "marked"),
    Fixed("○", "in the range being chosen"),
];

/// The help's lines as text pairs (keys, what), with the keys in force.
pub fn help_rows(keymap: &Keymap) -> Vec<(String, String)> {
    HELP.iter()
        .map(|l| match l {
            Section(t) => (String::new(), t.to_string()),
            Act(a) => (keymap.label(*a), a.describe().to_string()),
            Fixed(k, w) => (k.to_string(), w.to_string()),
        })
        .collect()
}

fn modal_area(area: Rect, width: u16, height: u16) -> Rect {
    area.centered(
        Constraint::Length(width.min(area.width)),
        Constraint::Length(height.min(area.height)),
    )
}

fn show(
    frame: &mut Frame,
    area: Rect,
    title: String,
    lines: Vec<Line>,
    scroll: u16,
    theme: &Theme,
) {
    frame.render_widget(Clear, area);
    let block = Block::bordered()
        .border_style(theme.border_focus)
        .title(Line::styled(format!(" {title} "), theme.title));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        area,
    );
}

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let Some(modal) = app.modal() else { return };
    match modal {
        Modal::ReviewMenu(m) => crate::tui::review_keys::draw_menu(frame, area, m, app, theme),
        Modal::Confirm(c) => {
            let (title, lines) =
                confirm_text(app, c, theme, area.height.saturating_sub(8) as usize);
            let width = 64.min(area.width);
            let inner = usize::from(width.saturating_sub(2)).max(1);
            // Lines that wrap take more rows: count them, or the last ("y or Enter: go") is cut.
            let rows: usize = lines.iter().map(|l| wrapped_rows(l, inner)).sum();
            let h = (rows as u16 + 2).max(5);
            show(frame, modal_area(area, width, h), title, lines, 0, theme);
        }
        Modal::Help { scroll } => {
            let rows = help_rows(&app.config().keymap);
            let lines: Vec<Line> = rows
                .into_iter()
                .map(|(k, what)| {
                    if k.is_empty() {
                        Line::styled(what, theme.title)
                    } else {
                        Line::from(vec![
                            Span::styled(format!("  {k:<20}"), theme.key),
                            Span::styled(what, theme.text),
                        ])
                    }
                })
                .collect();
            let r = modal_area(area, 100, HELP.len() as u16 + 2);
            let km = &app.config().keymap;
            show(
                frame,
                r,
                format!(
                    "Keys ({}/{} scroll, Esc closes)",
                    km.hint(Action::Down),
                    km.hint(Action::Up)
                ),
                lines,
                *scroll,
                theme,
            );
        }
        Modal::Text {
            title,
            lines,
            scroll,
        } => {
            let lines: Vec<Line> = lines
                .iter()
                .map(|l| Line::styled(clean(l), theme.text))
                .collect();
            let r = modal_area(
                area,
                area.width.saturating_sub(4).max(20),
                area.height.saturating_sub(2),
            );
            show(frame, r, clean(title), lines, *scroll, theme);
        }
    }
}

/// How far the help or a text modal can scroll before the last line leaves the bottom: the
/// modal's own lines, wrapped as drawn, less the rows it shows.
pub fn modal_max_scroll(app: &App) -> u16 {
    let area = Rect::new(0, 0, app.size.0, app.size.1);
    let (r, lines): (Rect, Vec<Line>) = match app.modal() {
        Some(Modal::Help { .. }) => (
            modal_area(area, 100, HELP.len() as u16 + 2),
            help_rows(&app.config().keymap)
                .into_iter()
                .map(|(k, what)| {
                    if k.is_empty() {
                        Line::raw(what)
                    } else {
                        Line::raw(format!("  {k:<20}{what}"))
                    }
                })
                .collect(),
        ),
        Some(Modal::Text { lines, .. }) => (
            modal_area(
                area,
                area.width.saturating_sub(4).max(20),
                area.height.saturating_sub(2),
            ),
            lines.iter().map(|l| Line::raw(clean(l))).collect(),
        ),
        _ => return 0,
    };
    let width = usize::from(r.width.saturating_sub(2)).max(1);
    let rows: usize = lines.iter().map(|l| wrapped_rows(l, width)).sum();
    u16::try_from(rows.saturating_sub(usize::from(r.height.saturating_sub(2)))).unwrap_or(u16::MAX)
}

/// Rows a line takes when word-wrapped at `width` cells (as `Wrap { trim: false }` does, give or
/// take a word: this errs on the side of one row more).
pub(crate) fn wrapped_rows(line: &Line, width: usize) -> usize {
    let w = line.width();
    if w <= width {
        return 1;
    }
    // Greedy word wrap over the line's text.
    let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
    let (mut rows, mut used) = (1, 0usize);
    for word in text.split(' ') {
        let ww = crate::sanitize::width(word);
        let need = if used == 0 { ww } else { used + 1 + ww };
        if need <= width {
            used = need;
        } else {
            rows += 1 + ww.saturating_sub(1) / width;
            used = ww % width.max(1);
        }
    }
    rows
}

/// The confirmation's title and lines; `room` is how many names fit.
fn confirm_text<'a>(app: &App, c: &Confirm, theme: &Theme, room: usize) -> (String, Vec<Line<'a>>) {
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
    if let Some(t) = crate::tui::review_keys::confirm_lines(app, c, theme) {
        return t;
    }
    let dry = app.config().dry_run;
    let strategy = Line::from(vec![
        Span::styled("Strategy: ", theme.dim),
        Span::styled(app.strategy_text(), theme.accent),
    ]);
    let dry_line = || {
        Line::styled(
            "DRY RUN: nothing is sent; the requests are shown.",
            theme.badge_dry,
        )
    };
    let name = |slot: &usize| {
        app.queue().get(*slot).map_or_else(
            || "?".to_string(),
            |u| match (&u.username, &u.external_id) {
                (Some(n), Some(x)) => format!("{n} (external:{x})"),
                _ => u.label(),
            },
        )
    };
    match c {
        Confirm::Reset { slots } if slots.len() == 1 => {
            let mut lines = vec![
                Line::from(vec![
                    Span::raw("Reset the avatar of "),
                    Span::styled(name(&slots[0]), theme.title),
                    Span::raw("?"),
                ]),
                strategy,
            ];
            if dry {
                lines.push(dry_line());
            }
            // Say before sending what the detail pane already knows will fail.
            let no_record = matches!(
                app.details.get(&slots[0]),
                Some(DetailState::Loaded(info)) if info.detail.sso.is_none()
            );
            if no_record && app.strategy() == Some(crate::model::Strategy::SyncSso) {
                lines.push(Line::styled(
                    "warning: no DiscourseConnect record: sync-sso cannot reach this user",
                    theme.warn,
                ));
            }
            lines.push(Line::default());
            lines.push(keys);
            ("Reset avatar".into(), lines)
        }
        Confirm::Reset { slots } => {
            let mut lines = vec![
                Line::from(vec![
                    Span::raw("Reset the avatars of "),
                    Span::styled(format!("{} users", slots.len()), theme.title),
                    Span::raw("?"),
                ]),
                strategy,
            ];
            if dry {
                lines.push(dry_line());
            }
            let room = room.saturating_sub(lines.len() + 2).max(1);
            let shown = if slots.len() > room {
                room.saturating_sub(1).max(1)
            } else {
                slots.len()
            };
            for s in &slots[..shown] {
                lines.push(Line::styled(format!("  {}", name(s)), theme.text));
            }
            if shown < slots.len() {
                lines.push(Line::styled(
                    format!("  … and {} more", slots.len() - shown),
                    theme.dim,
                ));
            }
            lines.push(Line::default());
            lines.push(keys);
            (format!("Reset {} avatars", slots.len()), lines)
        }
        Confirm::Toggle { setting, enable } => {
            let lines = vec![
                Line::from(vec![
                    Span::raw(format!("Turn {} ", setting.name())),
                    Span::styled(if *enable { "ON" } else { "OFF" }, theme.title),
                    Span::raw("?"),
                ]),
                Line::styled(
                    format!(
                        "This changes a site setting on {}.",
                        clean(&app.config().site)
                    ),
                    theme.dim,
                ),
                Line::default(),
                keys,
            ];
            ("Change a site setting".into(), lines)
        }
        Confirm::Review { .. } | Confirm::Undo { .. } => ("Confirm".into(), vec![keys]),
        Confirm::Quit => {
            let left = app.batch().map(|b| b.total - b.done).unwrap_or(0);
            let lines = vec![
                Line::raw(format!("Resets are still running ({left} left).")),
                Line::raw("Quit and cancel the ones not started?"),
                Line::styled(
                    "Those already sent finish, verify and write their outcome first (up to the verify timeout), then the console quits.",
                    theme.dim,
                ),
                Line::default(),
                keys,
            ];
            ("Quit?".into(), lines)
        }
    }
}
