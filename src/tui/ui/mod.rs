//! Drawing: pure functions of the state. Only visible rows are built.

pub mod detail;
pub mod dialogs;
pub mod footer;
pub mod header;
pub mod log;
pub mod queue;

use chrono::{DateTime, Local, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph};

use super::app::{App, Focus};
use super::theme::Theme;
use crate::sanitize;

/// Below this the console only says the terminal is too small.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 12;
/// From this width the detail pane sits beside the queue.
const SIDE_BY_SIDE: u16 = 90;
/// From this body height the log pane is always shown.
const LOG_ALWAYS: u16 = 16;

/// Where each part goes; `None` for a pane not shown at this size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub header: Rect,
    pub queue: Option<Rect>,
    pub detail: Option<Rect>,
    pub log: Option<Rect>,
    pub status: Rect,
    pub footer: Rect,
}

pub fn too_small(area: Rect) -> bool {
    area.width < MIN_WIDTH || area.height < MIN_HEIGHT
}

/// The layout for `area`. Shared by `view` and by `update` (which needs the queue's height to
/// page and scroll). Narrow terminals show one pane at a time: the focused one.
pub fn layout(area: Rect, app: &App) -> Areas {
    // Two header lines when there is room: the site, then the budget and the switches.
    let header_h = if area.height >= 20 { 2 } else { 1 };
    let [header, body, status, footer] = Layout::vertical([
        Constraint::Length(header_h),
        Constraint::Min(0),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let focus = app.focus;
    let log_h = if app.log_big {
        // Never so big that the queue loses its rows: it keeps its frame, header and two.
        (body.height * 2 / 3)
            .min(body.height.saturating_sub(5))
            .max(3)
    } else if body.height >= LOG_ALWAYS {
        (body.height / 3).max(5)
    } else if focus == Focus::Log {
        body.height
    } else {
        0
    };
    let [top, log] = Layout::vertical([Constraint::Min(0), Constraint::Length(log_h)]).areas(body);
    let (queue, detail) = if top.height < 3 {
        (None, None)
    } else if top.width >= SIDE_BY_SIDE {
        let [q, d] =
            Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(top);
        (Some(q), Some(d))
    } else if focus == Focus::Detail {
        (None, Some(top))
    } else {
        (Some(top), None)
    };
    Areas {
        header,
        queue,
        detail,
        log: (log.height >= 3).then_some(log),
        status,
        footer,
    }
}

/// Draws the whole console.
pub fn view(app: &App, frame: &mut Frame) {
    let area = frame.area();
    let theme = Theme::new(app.cfg.theme, app.cfg.no_color);
    if too_small(area) {
        let lines = vec![
            Line::raw("terminal too small"),
            Line::raw(format!(
                "{}×{}, need {MIN_WIDTH}×{MIN_HEIGHT}",
                area.width, area.height
            )),
        ];
        let y = area.y + area.height.saturating_sub(2) / 2;
        let r = Rect::new(area.x, y, area.width, 2.min(area.bottom() - y));
        frame.render_widget(
            Paragraph::new(lines)
                .style(theme.warn)
                .centered()
                .wrap(ratatui::widgets::Wrap { trim: true }),
            r,
        );
        return;
    }
    let a = layout(area, app);
    header::draw(app, &theme, frame, a.header);
    if let Some(r) = a.queue {
        queue::draw(app, &theme, frame, r);
    }
    if let Some(r) = a.detail {
        detail::draw(app, &theme, frame, r);
    }
    if let Some(r) = a.log {
        log::draw(app, &theme, frame, r);
    }
    footer::draw_status(app, &theme, frame, a.status);
    footer::draw_keys(app, &theme, frame, a.footer);
    dialogs::draw(app, &theme, frame, area);
}

/// A pane's frame, brighter when it has the focus.
pub(crate) fn pane<'a>(title: Line<'a>, focused: bool, theme: &Theme) -> Block<'a> {
    Block::bordered()
        .border_style(if focused {
            theme.border_focus
        } else {
            theme.border
        })
        .title(title)
}

/// `text` cut or padded to exactly `width` cells (a wide character that would straddle the edge
/// is dropped and replaced by a space).
pub fn fit(text: &str, width: usize) -> String {
    let mut s = sanitize::truncate(text, width);
    let w = sanitize::width(&s);
    s.extend(std::iter::repeat_n(' ', width.saturating_sub(w)));
    s
}

/// `12:01:07`, local time.
pub fn clock(at: DateTime<Utc>) -> String {
    at.with_timezone(&Local).format("%H:%M:%S").to_string()
}

/// `2026-11-20 10:00`, local time.
pub fn stamp(at: DateTime<Utc>) -> String {
    at.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// How long ago: `now`, `5m`, `3h`, `12d`, `2y`.
pub fn age(now: DateTime<Utc>, at: Option<DateTime<Utc>>) -> String {
    let Some(at) = at else {
        return "-".into();
    };
    let s = (now - at).num_seconds().max(0);
    match s {
        0..60 => "now".into(),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        86_400..31_536_000 => format!("{}d", s / 86_400),
        _ => format!("{}y", s / 31_536_000),
    }
}

/// `1,234`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(fit("山田太郎", 5), "山田…");
        assert_eq!(fit("ab", 4), "ab  ");
        let now = Utc::now();
        assert_eq!(age(now, Some(now - chrono::Duration::minutes(5))), "5m");
        assert_eq!(age(now, Some(now - chrono::Duration::days(3))), "3d");
        assert_eq!(age(now, None), "-");
    }
}
