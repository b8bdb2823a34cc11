//! The detail pane: what the queue knows of the selected user, then what Discourse says.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui_image::Image;

use super::{age, pane, stamp};
use crate::images::cache::Entry;
use crate::images::{BOX_COLS, BOX_ROWS};
use crate::sanitize::clean;
use crate::tui::app::{App, DetailState, Focus, RowStatus};
use crate::tui::pictures;
use crate::tui::theme::Theme;

/// Inner rows a pane needs before pictures are drawn: the box, its caption, and two text lines
/// (so an 80×24 terminal still shows them).
const PICTURES_MIN_ROWS: u16 = BOX_ROWS + 1 + 2;

/// Where the pictures go in `area` and the rows left below them, when they are drawn.
fn pictures_split(app: &App, slot: usize, area: Rect) -> Option<(Rect, Rect)> {
    if !app.cfg.images || area.height < PICTURES_MIN_ROWS || area.width < BOX_COLS {
        return None;
    }
    let urls = pictures::urls(app, slot);
    let waiting = !matches!(app.details.get(&slot), Some(DetailState::Loaded(_)));
    if urls.is_empty() && !waiting {
        return None;
    }
    let [top, rest] =
        Layout::vertical([Constraint::Length(BOX_ROWS + 1), Constraint::Min(0)]).areas(area);
    Some((top, rest))
}

/// How far the detail's text can scroll: its last line at the bottom of the pane, no further
/// (`G` must not scroll to a blank page). The same lines and area as [`draw`] uses.
pub fn max_scroll(app: &App) -> u16 {
    let full = Rect::new(0, 0, app.size.0, app.size.1);
    let Some(pane_area) = super::layout(full, app).detail else {
        return 0;
    };
    let (Some(slot), theme) = (
        app.selected_slot(),
        Theme::new(app.cfg.theme, app.cfg.no_color),
    ) else {
        return 0;
    };
    let Some(u) = app.queue.get(slot) else {
        return 0;
    };
    let inner = pane(Line::default(), false, &theme).inner(pane_area);
    let area = pictures_split(app, slot, inner).map_or(inner, |(_, rest)| rest);
    let width = usize::from(area.width).max(1);
    let rows: usize = content(app, slot, u, &theme)
        .iter()
        .map(|l| super::dialogs::wrapped_rows(l, width))
        .sum();
    rows.saturating_sub(usize::from(area.height))
        .min(usize::from(u16::MAX)) as u16
}

/// The avatar and the app photo side by side at the top of `area`; answers the rows left below.
fn draw_pictures(app: &App, slot: usize, theme: &Theme, frame: &mut Frame, area: Rect) -> Rect {
    let Some((top, rest)) = pictures_split(app, slot, area) else {
        return area;
    };
    let urls = pictures::urls(app, slot);
    let waiting = !matches!(app.details.get(&slot), Some(DetailState::Loaded(_)));
    let mut x = top.x;
    let mut shown: Vec<(&str, Option<&str>)> = Vec::new();
    if waiting && !urls.iter().any(|(w, _)| *w == pictures::Which::Avatar) {
        shown.push(("avatar", None));
    }
    for (which, url) in &urls {
        shown.push((which.label(), Some(url.as_str())));
    }
    for (label, url) in shown {
        if x + BOX_COLS > top.right() {
            break;
        }
        let boxed = Rect::new(x, top.y, BOX_COLS, BOX_ROWS);
        let caption = Rect::new(x, top.y + BOX_ROWS, BOX_COLS, 1);
        let (text, style) = match url.and_then(|u| app.pictures.peek(u)) {
            Some(Entry::Ready(p)) => {
                frame.render_widget(Image::new(&p.protocol), boxed);
                (label.to_string(), theme.dim)
            }
            Some(Entry::Failed(e)) => {
                frame.render_widget(
                    Paragraph::new(clean(e))
                        .style(theme.err)
                        .wrap(Wrap { trim: true }),
                    boxed,
                );
                (format!("{label}: failed"), theme.err)
            }
            _ => (format!("{label}: loading…"), theme.dim),
        };
        frame.render_widget(
            Paragraph::new(super::fit(&text, BOX_COLS as usize)).style(style),
            caption,
        );
        x += BOX_COLS + 2;
    }
    rest
}

fn field<'a>(name: &'a str, value: String, theme: &Theme) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{name:<11}"), theme.dim),
        Span::styled(value, theme.text),
    ])
}

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let focused = app.focus == Focus::Detail;
    let slot = app.selected_slot();
    let user = slot.and_then(|s| app.queue.get(s));
    let title = match user {
        Some(u) => format!(" {} ", u.label()),
        None => " Detail ".into(),
    };
    let block = pane(Line::styled(title, theme.title), focused, theme);
    let (Some(slot), Some(u)) = (slot, user) else {
        frame.render_widget(
            Paragraph::new("no user selected")
                .style(theme.dim)
                .block(block),
            area,
        );
        return;
    };
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let area = draw_pictures(app, slot, theme, frame, inner);
    let lines = content(app, slot, u, theme);
    let scroll = app.detail_scroll.min(max_scroll(app));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        area,
    );
}

/// The detail's text lines for the user in `slot`.
fn content<'a>(
    app: &App,
    slot: usize,
    u: &crate::model::QueuedUser,
    theme: &Theme,
) -> Vec<Line<'a>> {
    let mut lines: Vec<Line> = Vec::new();
    let none = || "-".to_string();
    let detail = match app.details.get(&slot) {
        Some(DetailState::Loaded(info)) => Some(info),
        _ => None,
    };
    let d = detail.map(|i| &i.detail);
    lines.push(field(
        "ids",
        format!(
            "discourse {} · external {}",
            u.discourse_id.map(|i| i.to_string()).unwrap_or_else(none),
            u.external_id.clone().unwrap_or_else(none)
        ),
        theme,
    ));
    lines.push(field("email", u.email.clone().unwrap_or_else(none), theme));
    if let Some(d) = d {
        if let Some(name) = &d.name {
            lines.push(field("name", clean(name), theme));
        }
        let active = match d.active {
            Some(true) => "yes".to_string(),
            Some(false) => "NO (inactive)".to_string(),
            None => none(),
        };
        lines.push(field("active", active, theme));
        let groups: Vec<String> = d
            .groups
            .iter()
            .map(|g| {
                if g.automatic {
                    format!("{} (auto)", clean(&g.name))
                } else {
                    clean(&g.name)
                }
            })
            .collect();
        lines.push(field(
            "groups",
            if groups.is_empty() {
                none()
            } else {
                groups.join(", ")
            },
            theme,
        ));
        lines.push(field(
            "avatar",
            format!(
                "{} · uploaded_avatar_id {}",
                d.avatar_kind().as_str(),
                match d.uploaded_avatar_id {
                    Some(Some(id)) => id.to_string(),
                    Some(None) => "null".into(),
                    None => "not read".into(),
                }
            ),
            theme,
        ));
        lines.push(field(
            "template",
            d.avatar_template.as_deref().map(clean).unwrap_or_else(none),
            theme,
        ));
        match &d.sso {
            Some(sso) => {
                lines.push(field(
                    "SSO record",
                    format!("external_id {}", clean(&sso.external_id)),
                    theme,
                ));
                for (k, v) in [
                    ("  username", &sso.external_username),
                    ("  email", &sso.external_email),
                    ("  avatar", &sso.external_avatar_url),
                ] {
                    lines.push(field(
                        k,
                        v.as_deref().map(clean).unwrap_or_else(none),
                        theme,
                    ));
                }
            }
            None => lines.push(field("SSO record", "none".into(), theme)),
        }
    } else {
        lines.push(field("avatar", u.avatar.as_str().to_string(), theme));
        let (text, style) = match app.details.get(&slot) {
            Some(DetailState::Failed(e)) => {
                (format!("could not load from Discourse: {e}"), theme.err)
            }
            Some(DetailState::Loading) => (loading_text(app.budget.as_ref()), theme.dim),
            _ => (
                "details load when the row stays selected".to_string(),
                theme.dim,
            ),
        };
        lines.push(Line::styled(text, style));
    }
    if let Some(p) = &u.photo_url {
        lines.push(field("app photo", p.clone(), theme));
    }

    lines.push(Line::default());
    lines.push(Line::styled(
        format!("Flags ({})", u.flags.len()),
        theme.title,
    ));
    for f in &u.flags {
        let when = f
            .flagged_at
            .map(|t| match age(app.now, Some(t)).as_str() {
                "now" => format!("{} (just now)", stamp(t)),
                a => format!("{} ({a} ago)", stamp(t)),
            })
            .unwrap_or_else(|| "time unknown".into());
        lines.push(Line::from(vec![
            Span::styled(format!("  {:<9} ", f.source.as_str()), theme.accent),
            Span::styled(
                format!("{}  ", if f.reason.is_empty() { "-" } else { &f.reason }),
                theme.text,
            ),
            Span::styled(when, theme.dim),
        ]));
    }

    if let Some(status) = app.status.get(&slot) {
        lines.push(Line::default());
        let mut title = "Last reset ";
        let (text, style) = match status {
            RowStatus::Waiting => ("waiting in the batch".to_string(), theme.dim),
            RowStatus::Running(step) => (format!("in progress: {}", step.label()), theme.warn),
            RowStatus::Undoing { .. } => {
                title = "Undo ";
                ("in progress".to_string(), theme.warn)
            }
            RowStatus::Undone { outcome, message } => {
                title = "Undo ";
                (
                    format!(
                        "{}: {}",
                        outcome.as_str(),
                        message.lines().next().unwrap_or("")
                    ),
                    match outcome {
                        crate::model::Outcome::Failed => theme.err,
                        crate::model::Outcome::Verified => theme.ok,
                        _ => theme.warn,
                    },
                )
            }
            RowStatus::Done { outcome, message } => (
                format!(
                    "{}: {}",
                    outcome.as_str(),
                    message.lines().next().unwrap_or("")
                ),
                match outcome {
                    crate::model::Outcome::Failed => theme.err,
                    crate::model::Outcome::Unverified => theme.warn,
                    _ => theme.ok,
                },
            ),
        };
        lines.push(Line::from(vec![
            Span::styled(title, theme.title),
            Span::styled(text, style),
        ]));
    }
    if let Some(r) = app.review.get(&slot) {
        use crate::tui::app::ReviewState;
        let style = match r.state {
            ReviewState::Failed => theme.err,
            ReviewState::Done => theme.ok,
            _ => theme.dim,
        };
        lines.push(Line::default());
        lines.push(Line::from(vec![
            Span::styled("Review ", theme.title),
            Span::styled(clean(&r.message), style),
        ]));
    }
    if let Some(info) = detail
        && !info.audit.is_empty()
    {
        lines.push(Line::default());
        lines.push(Line::styled("Audit", theme.title));
        for a in &info.audit {
            lines.push(Line::styled(format!("  {}", clean(a)), theme.text));
        }
    }
    lines
}

/// Why a detail is still loading, when the request budget is the reason: reads for browsing
/// leave the last quarter of Discourse's shared budget to resets and their verification.
fn loading_text(budget: Option<&crate::tui::BudgetStatus>) -> String {
    let Some(b) = budget else {
        return "loading from Discourse…".to_string();
    };
    if let Some(s) = b.retry_after_secs {
        return format!("loading from Discourse: waiting {s} s (Discourse said Retry-After)…");
    }
    if b.left <= (b.per_minute / 4).max(1) {
        let next = b
            .next_slot_secs
            .map(|s| format!("; the next frees in {s} s"))
            .unwrap_or_default();
        return format!(
            "loading from Discourse: waiting for the request budget ({} of {} a minute left, kept for resets{next})…",
            b.left, b.per_minute
        );
    }
    "loading from Discourse…".to_string()
}

#[cfg(test)]
mod loading_tests {
    use super::loading_text;
    use crate::tui::BudgetStatus;

    #[test]
    fn a_detail_waiting_for_the_budget_says_so() {
        let b = |left, next| BudgetStatus {
            left,
            per_minute: 60,
            retry_after_secs: None,
            next_slot_secs: next,
        };
        assert_eq!(loading_text(None), "loading from Discourse…");
        assert_eq!(loading_text(Some(&b(40, None))), "loading from Discourse…");
        let t = loading_text(Some(&b(0, Some(35))));
        assert!(t.contains("waiting for the request budget (0 of 60"), "{t}");
        assert!(t.contains("next frees in 35 s"), "{t}");
        assert!(loading_text(Some(&b(12, None))).contains("kept for resets"));
        let r = BudgetStatus {
            retry_after_secs: Some(9),
            ..b(30, None)
        };
        assert!(loading_text(Some(&r)).contains("Retry-After"));
    }
}
