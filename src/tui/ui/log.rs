//! The log pane: API exchanges and Discourse log lines, interleaved by time.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{clock, pane};
use crate::model::LogKind;
use crate::sanitize::{clean, truncate};
use crate::tui::app::{App, Focus, LogEntry};
use crate::tui::theme::Theme;

/// The compact one-line form: `12:01:07 API PUT /u/alice/preferences/avatar/pick 200 41ms`.
pub fn compact(entry: &LogEntry) -> String {
    let body = match entry {
        LogEntry::Api(e) => format!(
            "{} {} {} {}ms",
            clean(&e.method),
            clean(&e.path),
            e.status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "---".into()),
            e.latency_ms
        ),
        LogEntry::Discourse(l) => {
            let first = l.message.lines().next().unwrap_or("");
            let more = if l.message.lines().nth(1).is_some() {
                " …"
            } else {
                ""
            };
            let count = if l.count > 1 {
                format!(" ×{}", l.count)
            } else {
                String::new()
            };
            format!("{}{more}{count}", clean(first))
        }
        LogEntry::Note { text, .. } => clean(text),
    };
    format!("{} {:<6} {}", clock(entry.at()), entry.tag(), body)
}

fn tag_style(entry: &LogEntry, theme: &Theme) -> Style {
    match entry {
        LogEntry::Api(e) => match e.status {
            Some(s) if s < 400 => theme.accent,
            Some(429) => theme.warn,
            _ => theme.err,
        },
        LogEntry::Discourse(l) => match l.kind {
            LogKind::Sso => theme.sso,
            LogKind::Upload => theme.upload,
            LogKind::Err => theme.err,
            LogKind::Other => theme.dim,
        },
        LogEntry::Note { tag, .. } => match *tag {
            "ERR" => theme.err,
            "RESET" => theme.ok,
            _ => theme.dim,
        },
    }
}

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let focused = app.focus == Focus::Log;
    let mut title = vec![Span::styled(" Log ", theme.title)];
    if let Some(n) = app.log_narrow() {
        title.push(Span::styled(format!("only {} ", n.label), theme.accent));
    }
    if !app.log_search.is_empty() {
        title.push(Span::styled(
            format!("/{} ", crate::sanitize::clean(&app.log_search)),
            theme.accent,
        ));
    }
    if app.log_sel.is_none() && focused {
        title.push(Span::styled("(following) ", theme.dim));
    }
    // Each read of the Discourse logs spends one of the shared admin requests: say how often.
    let (every, why) = app.log_poll_interval();
    title.push(Span::styled(
        format!(
            "Discourse logs every {} s ({why}) ",
            every as u64 * super::super::app::TICK_MS / 1000
        ),
        theme.dim,
    ));
    let block = pane(Line::from(title), focused, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows = inner.height as usize;
    let n = app.log_visible.len();
    if n == 0 {
        let why = if !app.log_search.is_empty() || app.log_narrow().is_some() {
            "no line matches (Esc clears)"
        } else {
            "no exchanges yet"
        };
        frame.render_widget(Paragraph::new(why).style(theme.dim), inner);
        return;
    }
    // Follow the newest line, or keep the selected one in view.
    let sel = app.log_sel.unwrap_or(n - 1).min(n - 1);
    let end = if app.log_sel.is_none() {
        n
    } else {
        (sel + rows / 2 + 1).clamp(rows.min(n), n)
    };
    let start = end.saturating_sub(rows);
    let width = inner.width as usize;
    let lines: Vec<Line> = (start..end)
        .map(|i| {
            let entry = &app.log[app.log_visible[i]];
            let text = truncate(&compact(entry), width);
            // Colour the tag, which starts after `HH:MM:SS `.
            let cut = text
                .char_indices()
                .nth(9)
                .map(|(b, _)| b)
                .unwrap_or(text.len());
            let tag_end = text[cut..].find(' ').map(|b| cut + b).unwrap_or(text.len());
            let mut line = Line::from(vec![
                Span::styled(text[..cut].to_string(), theme.dim),
                Span::styled(text[cut..tag_end].to_string(), tag_style(entry, theme)),
                Span::styled(text[tag_end..].to_string(), theme.text),
            ]);
            if focused && i == sel {
                line = line.patch_style(theme.selected);
            }
            line
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
