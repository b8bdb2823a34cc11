//! The status bar (count, spinner, errors, the input line, the progress gauge) and the key hints.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{LineGauge, Paragraph};

use super::queue::spinner;
use super::thousands;
use crate::model::Source;
use crate::tui::app::{App, Focus, Input, Modal};
use crate::tui::keymap::Action;
use crate::tui::theme::Theme;

pub fn draw_status(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    // The input line takes the whole bar while typing.
    match app.input() {
        Input::Filter => {
            let line = Line::from(vec![
                Span::styled("/", theme.key),
                Span::styled(app.filter.clone(), theme.text),
                Span::styled("▏", theme.accent),
                Span::styled(
                    format!(
                        "  {} {}",
                        thousands(app.visible.len()),
                        if app.visible.len() == 1 {
                            "match"
                        } else {
                            "matches"
                        }
                    ),
                    theme.dim,
                ),
            ]);
            frame.render_widget(Paragraph::new(line), area);
            return;
        }
        Input::LogSearch => {
            let line = Line::from(vec![
                Span::styled("log /", theme.key),
                Span::styled(app.log_search.clone(), theme.text),
                Span::styled("▏", theme.accent),
                Span::styled(
                    format!(
                        "  {} {}",
                        thousands(app.log_visible.len()),
                        if app.log_visible.len() == 1 {
                            "line"
                        } else {
                            "lines"
                        }
                    ),
                    theme.dim,
                ),
            ]);
            frame.render_widget(Paragraph::new(line), area);
            return;
        }
        Input::Command(text) => {
            let line = Line::from(vec![
                Span::styled(":", theme.key),
                Span::styled(text.clone(), theme.text),
                Span::styled("▏", theme.accent),
            ]);
            frame.render_widget(Paragraph::new(line), area);
            return;
        }
        Input::Normal => {}
    }
    let mut spans: Vec<Span> = Vec::new();
    if app.is_loading() {
        spans.push(Span::styled(format!("{} ", spinner(app)), theme.accent));
    }
    // Users looked up with `:user` are rows, not flags: they are counted apart.
    let looked_up = app.looked_up();
    spans.push(Span::styled(
        format!("{} queued", thousands(app.queue.len() - looked_up)),
        theme.title,
    ));
    if looked_up > 0 {
        spans.push(Span::styled(
            format!(" · {looked_up} looked up"),
            theme.text,
        ));
    }
    if app.visible.len() != app.queue.len() {
        spans.push(Span::styled(
            format!(" · {} shown", thousands(app.visible.len())),
            theme.text,
        ));
    }
    if !app.marks.is_empty() {
        spans.push(Span::styled(
            format!(" · {} marked", app.marks.len()),
            theme.marked,
        ));
    }
    if app.range_anchor.is_some() {
        spans.push(Span::styled(" · RANGE", theme.marked));
    }
    for source in [Source::App, Source::Discourse] {
        if let Some(s) = app.source_state(source)
            && let Some(e) = &s.error
        {
            spans.push(Span::styled(
                format!(" · {} failed: {e}", source.as_str()),
                theme.err,
            ));
        }
    }
    // What runs, from the state: it stays as long as the work does.
    if let Some(w) = app.work_text() {
        spans.push(Span::styled(" · ", theme.dim));
        if app.batch().is_none() {
            spans.push(Span::styled(format!("{} ", spinner(app)), theme.accent));
        }
        spans.push(Span::styled(w, theme.warn));
    }
    if let Some((m, err)) = &app.message {
        spans.push(Span::styled(" · ", theme.dim));
        spans.push(Span::styled(
            m.clone(),
            if *err { theme.err } else { theme.text },
        ));
    }
    let text_area = if let Some(b) = app.batch() {
        let gauge_w = (area.width / 3).clamp(12, 40);
        let [t, g] =
            Layout::horizontal([Constraint::Min(0), Constraint::Length(gauge_w)]).areas(area);
        let ratio = if b.total == 0 {
            0.0
        } else {
            b.done as f64 / b.total as f64
        };
        let label = format!(
            "{}{}/{}",
            if b.cancelling {
                "cancelling "
            } else if b.dry_run {
                "dry "
            } else {
                ""
            },
            b.done,
            b.total
        );
        frame.render_widget(
            LineGauge::default()
                .ratio(ratio.clamp(0.0, 1.0))
                .label(label)
                .filled_style(theme.ok)
                .unfilled_style(theme.dim),
            g,
        );
        t
    } else {
        area
    };
    frame.render_widget(
        Paragraph::new(Line::from(shorten(spans, text_area.width as usize))),
        text_area,
    );
}

/// Spans cut to `width` cells with `…` where they are cut, never silently: the whole text of
/// every message is in the log pane.
fn shorten(spans: Vec<Span<'_>>, width: usize) -> Vec<Span<'_>> {
    let total: usize = spans.iter().map(|s| s.width()).sum();
    if total <= width {
        return spans;
    }
    let mut out = Vec::new();
    let mut used = 0;
    for s in spans {
        let w = s.width();
        if used + w < width {
            used += w;
            out.push(s);
            continue;
        }
        let room = width - used;
        let mut text = crate::sanitize::truncate(&s.content, room.saturating_sub(1));
        if text.ends_with('…') {
            text.pop();
        }
        // At the end of a word when one ends near the cut.
        if let Some(space) = text.rfind(' ')
            && crate::sanitize::width(&text[space..]) <= 16
            && space > 0
        {
            text.truncate(space);
        }
        text.push('…');
        out.push(Span::styled(text, s.style));
        break;
    }
    out
}

fn hints(app: &App) -> Vec<(String, &'static str)> {
    let fixed = |v: Vec<(&str, &'static str)>| -> Vec<(String, &'static str)> {
        v.into_iter().map(|(k, w)| (k.to_string(), w)).collect()
    };
    if let Some(m) = app.modal() {
        let km = &app.config().keymap;
        let scroll = format!("{}/{}", km.hint(Action::Down), km.hint(Action::Up));
        return match m {
            Modal::Confirm(_) => fixed(vec![("y/Enter", "confirm"), ("n/Esc", "cancel")]),
            Modal::ReviewMenu(_) => vec![
                (scroll, "choose"),
                ("Enter".into(), "perform"),
                ("Esc".into(), "close"),
            ],
            _ => vec![(scroll, "scroll"), ("Esc".into(), "close")],
        };
    }
    match app.input() {
        Input::Filter => {
            return fixed(vec![
                ("type", "filter"),
                ("!first", "inverts"),
                ("Enter", "keep"),
                ("Esc", "clear"),
            ]);
        }
        Input::LogSearch => {
            return fixed(vec![
                ("type", "search the log"),
                ("Enter", "keep"),
                ("Esc", "clear"),
            ]);
        }
        Input::Command(_) => {
            return fixed(vec![
                (":user NAME", ""),
                (":refresh", ""),
                (":q", ""),
                ("↑/↓", "history"),
                ("Esc", "cancel"),
            ]);
        }
        Input::Normal => {}
    }
    let km = &app.config().keymap;
    let k = |a: Action| km.hint(a);
    // In the log pane the filter key searches the log: one hint for it, not two.
    let filter_hint = if app.focus() == Focus::Log {
        "search log"
    } else {
        "filter"
    };
    let mut h = vec![
        (format!("{}/{}", k(Action::Down), k(Action::Up)), "move"),
        (k(Action::Filter), filter_hint),
        (k(Action::Command), "cmd"),
    ];
    if app.batch().is_some() {
        h.push(("Esc".into(), "cancel resets"));
    }
    match app.focus() {
        Focus::Log => {
            h.extend([
                (k(Action::Open), "show line"),
                (k(Action::LogUser), "this user"),
            ]);
            // An unbound key is left out, not shown as `-`.
            let verbose: Vec<String> = [Action::VerboseSso, Action::VerboseUpload]
                .into_iter()
                .filter(|a| !km.keys(*a).is_empty())
                .map(k)
                .collect();
            if !verbose.is_empty() {
                h.push((verbose.join("/"), "verbose logs"));
            }
        }
        _ if app.config().read_only => h.extend([
            ("read-only".into(), "resets send nothing"),
            (k(Action::Mark), "mark"),
            (k(Action::OpenImage), "open pic"),
        ]),
        _ => h.extend([
            (k(Action::Reset), "reset"),
            (k(Action::Mark), "mark"),
            (k(Action::Range), "range"),
            (k(Action::ResetMarked), "reset marked"),
            (k(Action::Review), "review"),
            (k(Action::Undo), "undo"),
            (k(Action::OpenImage), "open pic"),
        ]),
    }
    h.extend([
        (k(Action::HideDone), "hide done"),
        (k(Action::NextPane), "pane"),
        (k(Action::LogSize), "log"),
        (k(Action::Help), "help"),
        (k(Action::Quit), "quit"),
    ]);
    h
}

/// The hints in the order drawn for this width: on a narrow terminal the line is cut, so the
/// way to every other key (help) and out (quit) go first.
fn ordered_hints(app: &App, width: u16) -> Vec<(String, &'static str)> {
    let mut hints = hints(app);
    let total: usize = hints.iter().map(|(k, w)| hint_width(k, w)).sum();
    if total > width as usize {
        hints.sort_by_key(|(_, w)| !matches!(*w, "help" | "quit"));
    }
    hints
}

/// Cells a hint takes, the two spaces after it included.
fn hint_width(key: &str, what: &str) -> usize {
    let what_w = if what.is_empty() {
        0
    } else {
        1 + crate::sanitize::width(what)
    };
    crate::sanitize::width(key) + what_w + 2
}

/// The key of the hint drawn at column `x` of the key line in `area` (for a mouse click), as
/// the hint shows it (the keys in force).
pub fn hint_at(app: &App, area: Rect, x: u16) -> Option<String> {
    let mut start = area.x as usize;
    for (k, what) in ordered_hints(app, area.width) {
        let end = start + hint_width(&k, what) - 2;
        if (start..end).contains(&(x as usize)) {
            return Some(k);
        }
        start = end + 2;
    }
    None
}

pub fn draw_keys(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let mut spans = Vec::new();
    for (k, what) in ordered_hints(app, area.width) {
        spans.push(Span::styled(k, theme.key));
        if !what.is_empty() {
            spans.push(Span::styled(format!(" {what}"), theme.dim));
        }
        spans.push(Span::raw("  "));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
