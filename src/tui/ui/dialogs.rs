//! Modals: confirmations, help, a text shown whole.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::sanitize::clean;
use crate::tui::app::{App, Confirm, DetailState, Modal};
use crate::tui::theme::Theme;

/// Every key, for `?`.
pub const HELP: &[(&str, &str)] = &[
    ("", "Moving"),
    (
        "j / k, ↓ / ↑",
        "next / previous row (or scroll the focused pane)",
    ),
    ("g / G, Home / End", "first / last row"),
    ("PgUp / PgDn", "a page up / down"),
    ("Ctrl-d / Ctrl-u", "half a page down / up"),
    (
        "Tab / Shift-Tab",
        "focus the next / previous pane (queue, detail, log)",
    ),
    (
        "Enter",
        "queue: focus the detail · log: show the line whole",
    ),
    ("", "Finding"),
    (
        "/",
        "filter as you type: username, external id, email, reason",
    ),
    ("/!text", "a leading ! inverts the filter"),
    ("/ (log pane)", "search the log lines; Esc clears"),
    (
        "Esc",
        "clear the filter (cancel a range, or running resets, first)",
    ),
    (":user NAME", "show any user: NAME, external:ID or an email"),
    (
        ":refresh",
        "reload the queue from both sources (also Ctrl-r)",
    ),
    (":q", "quit"),
    ("", "Resetting"),
    ("r", "reset the selected user's avatar (asks first)"),
    ("space", "mark / unmark the row and move down"),
    ("v", "start a range; v again marks every row between"),
    ("R", "reset every marked user (asks first, with the names)"),
    ("Esc", "while resets run: cancel the rest"),
    ("h", "hide / show rows that are done"),
    ("", "Log pane"),
    ("l", "enlarge / shrink the log pane"),
    (
        "u",
        "only lines about the selected user (username, external id, email)",
    ),
    ("", "Closing the case"),
    (
        "a",
        "review actions: the row's Discourse items and what each offers (asks first)",
    ),
    (
        "z",
        "undo: put back what the row's last verified reset replaced (asks first)",
    ),
    ("", "Log pane switches"),
    ("S", "toggle verbose_discourse_connect_logging (asks first)"),
    ("U", "toggle verbose_upload_logging (asks first)"),
    ("", "Pictures"),
    (
        "o",
        "open the avatar in the browser; o again: the main app's photo",
    ),
    ("", "Other"),
    ("?", "this help"),
    ("q, Ctrl-c", "quit (asks first while resets run)"),
    ("", "Marks"),
    (
        "A D",
        "flagged by the main app / by Discourse; (l) looked up",
    ),
    (
        "… ⠋ ✓ ? ✗ - ·",
        "waiting, running, verified, unverified, failed, skipped, dry run",
    ),
    ("●", "marked"),
    ("○", "in the range being chosen with v"),
];

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
            let h = (lines.len() as u16 + 2).max(5);
            show(frame, modal_area(area, 64, h), title, lines, 0, theme);
        }
        Modal::Help { scroll } => {
            let lines: Vec<Line> = HELP
                .iter()
                .map(|(k, what)| {
                    if k.is_empty() {
                        Line::styled(*what, theme.title)
                    } else {
                        Line::from(vec![
                            Span::styled(format!("  {k:<20}"), theme.key),
                            Span::styled(*what, theme.text),
                        ])
                    }
                })
                .collect();
            let r = modal_area(area, 90, HELP.len() as u16 + 2);
            show(
                frame,
                r,
                "Keys (j/k scroll, Esc closes)".into(),
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
                Line::default(),
                keys,
            ];
            ("Quit?".into(), lines)
        }
    }
}
