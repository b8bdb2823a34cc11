//! The queue pane: one row per user, only the visible ones built.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{age, fit, pane};
use crate::model::{AvatarKind, Outcome, QueuedUser, Source};
use crate::tui::app::{App, Focus, ReviewMark, ReviewState, RowStatus};
use crate::tui::theme::Theme;

/// User rows that fit in a queue pane of this size (borders and the column header excluded).
pub fn rows_in(area: Rect) -> usize {
    area.height.saturating_sub(3) as usize
}

/// Column widths for an inner width.
struct Cols {
    user: usize,
    ext: usize,
    avatar: usize,
    reason: usize,
}

const MARK: usize = 2;
/// `A D` and the review mark after it.
const SRC: usize = 4;
const AGE: usize = 4;

fn cols(width: usize) -> Cols {
    let avatar = if width >= 70 { 7 } else { 0 };
    let ext = if width >= 50 {
        10.min(width / 8).max(6)
    } else {
        0
    };
    let gaps = [MARK, SRC, AGE].len() + usize::from(ext > 0) + usize::from(avatar > 0) + 1;
    let flex = width.saturating_sub(MARK + SRC + AGE + ext + avatar + gaps);
    let user = (flex * 2 / 5).clamp(6.min(flex), 24);
    Cols {
        user,
        ext,
        avatar,
        reason: flex.saturating_sub(user),
    }
}

fn status_mark(status: Option<&RowStatus>, spinner: char) -> (char, Option<Outcome>) {
    match status {
        None => (' ', None),
        Some(RowStatus::Waiting) => ('…', None),
        Some(RowStatus::Running(_) | RowStatus::Undoing { .. }) => (spinner, None),
        // An undo's own glyph when it took: the old avatar is back, the case open again.
        Some(RowStatus::Undone {
            outcome: Outcome::Verified,
            ..
        }) => ('↶', Some(Outcome::Applied)),
        // Verified, with something still to do (the photo comes back at the next login).
        Some(RowStatus::Done {
            outcome: Outcome::Verified,
            message,
        }) if message.contains(crate::reset::WARNING) => ('!', Some(Outcome::Unverified)),
        Some(RowStatus::Done { outcome, .. } | RowStatus::Undone { outcome, .. }) => (
            match outcome {
                Outcome::Verified | Outcome::Applied => '✓',
                Outcome::Unverified => '?',
                Outcome::Failed => '✗',
                Outcome::Skipped => '-',
                Outcome::DryRun => '·',
            },
            Some(*outcome),
        ),
    }
}

pub const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

pub fn spinner(app: &App) -> char {
    SPINNER[(app.ticks % SPINNER.len() as u64) as usize]
}

/// The review action's mark, after the D: never the reset's glyphs, so that an approved
/// review item does not read as a verified reset.
pub fn review_glyph(mark: Option<&ReviewMark>, spinner: char) -> char {
    match mark.map(|m| m.state) {
        None => ' ',
        Some(ReviewState::Sending) => spinner,
        Some(ReviewState::Done) => '+',
        Some(ReviewState::Failed) => '!',
        Some(ReviewState::Skipped) => '-',
        Some(ReviewState::DryRun) => '·',
    }
}

/// Who flagged the row, in 3 cells: `A D`, or `(l)` for a user looked up.
fn badges(u: &QueuedUser) -> String {
    let a = if u.has_source(Source::App) { 'A' } else { ' ' };
    let d = if u.has_source(Source::Discourse) {
        'D'
    } else {
        ' '
    };
    if u.flags.is_empty() {
        "(l)".into()
    } else {
        format!("{a} {d}")
    }
}

fn avatar(kind: AvatarKind, upload: Option<u64>, default_upload: Option<u64>) -> &'static str {
    kind.label(upload, default_upload)
}

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let focused = app.focus == Focus::Queue;
    let mut title = vec![Span::styled(" Queue ", theme.title)];
    if !app.filter.is_empty() {
        title.push(Span::styled(format!("/{} ", app.filter), theme.accent));
    }
    if app.hide_done {
        title.push(Span::styled("(done hidden) ", theme.dim));
    }
    let block = pane(Line::from(title), focused, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let c = cols(width);
    let spin = spinner(app);

    let mut lines: Vec<Line> = Vec::with_capacity(inner.height as usize);
    let mut head = format!("{} {} ", fit("", MARK), fit("USER", c.user));
    if c.ext > 0 {
        head.push_str(&fit("EXT ID", c.ext));
        head.push(' ');
    }
    head.push_str(&fit("SRC", SRC));
    head.push(' ');
    head.push_str(&fit("REASON", c.reason));
    head.push(' ');
    head.push_str(&fit("AGE", AGE));
    if c.avatar > 0 {
        head.push(' ');
        head.push_str(&fit("AVATAR", c.avatar));
    }
    lines.push(Line::styled(head, theme.dim));

    let rows = rows_in(area);
    if app.visible.is_empty() {
        let msg = if app.queue.is_empty() {
            if app.is_loading() {
                "loading the queue…"
            } else {
                "the queue is empty"
            }
        } else {
            "no user matches the filter (Esc clears it)"
        };
        lines.push(Line::styled(format!("  {msg}"), theme.dim));
    }
    let end = (app.offset + rows).min(app.visible.len());
    for (i, slot) in app.visible[app.offset.min(end)..end].iter().enumerate() {
        let index = app.offset + i;
        let Some(u) = app.queue.get(*slot) else {
            continue;
        };
        let status = app.status.get(slot);
        let (mark, outcome) = status_mark(status, spin);
        let marked = app.marks.contains(slot);
        // A range being chosen with `v` shows before the second `v` marks it.
        let in_range = app
            .range_anchor
            .is_some_and(|a| (a.min(app.sel)..=a.max(app.sel)).contains(&index));
        let done = app.row_finished(*slot);
        let mut base = if done { theme.dim } else { theme.text };
        if marked || in_range {
            base = base.patch(theme.marked);
        }
        let mark_style = match outcome {
            Some(Outcome::Failed) => theme.err,
            Some(Outcome::Unverified) => theme.warn,
            Some(Outcome::Verified | Outcome::Applied) => theme.ok,
            _ => base,
        };
        let name = u.username.as_deref().unwrap_or("");
        let ext = u.external_id.as_deref().unwrap_or("");
        let reasons = u.reasons().join(", ");
        let reason = if u.flags.len() > 1 {
            format!("{}× {}", u.flags.len(), reasons)
        } else if u.flags.is_empty() {
            "looked up".to_string()
        } else {
            reasons
        };
        let mut spans = vec![
            Span::styled(
                format!(
                    "{mark}{}",
                    if marked {
                        '●'
                    } else if in_range {
                        '○'
                    } else {
                        ' '
                    }
                ),
                mark_style,
            ),
            Span::styled(format!(" {} ", fit(name, c.user)), base),
        ];
        if c.ext > 0 {
            spans.push(Span::styled(format!("{} ", fit(ext, c.ext)), base));
        }
        spans.push(Span::styled(
            fit(&badges(u), SRC - 1),
            theme.accent.patch(base),
        ));
        let review = app.review.get(slot);
        let review_style = match review.map(|r| r.state) {
            Some(ReviewState::Failed) => theme.err,
            Some(ReviewState::Done) => theme.ok,
            _ => theme.accent,
        };
        spans.push(Span::styled(
            format!("{} ", review_glyph(review, spin)),
            review_style.patch(base),
        ));
        spans.push(Span::styled(format!("{} ", fit(&reason, c.reason)), base));
        spans.push(Span::styled(fit(&age(app.now, u.newest_flag()), AGE), base));
        if c.avatar > 0 {
            // After a verified reset the row says what is in place now, even before (or
            // without) the user being read again: the default image is an upload too.
            // A reopened console knows the default image's upload from the audit log.
            let default_upload = app.site.as_ref().and_then(|s| s.default_upload);
            let label = crate::tui::app::avatar_after(app, u)
                .unwrap_or_else(|| avatar(u.avatar, u.avatar_upload, default_upload));
            let st = if label == "custom" {
                theme.warn.patch(base)
            } else {
                base
            };
            spans.push(Span::styled(format!(" {}", fit(label, c.avatar)), st));
        }
        let mut line = Line::from(spans);
        if index == app.sel {
            line = line.patch_style(theme.selected);
        }
        lines.push(line);
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fill_the_width_exactly() {
        for w in [36usize, 38, 50, 60, 70, 100, 200] {
            let c = cols(w);
            let gaps = 4 + usize::from(c.ext > 0) + usize::from(c.avatar > 0);
            let total = MARK + c.user + c.ext + SRC + c.reason + AGE + c.avatar + gaps;
            assert_eq!(total, w, "width {w}");
        }
    }
}
