//! The top line: badges, site and API user, strategy, budget, verbose logging switches.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::sanitize;
use crate::tui::app::App;
use crate::tui::theme::Theme;

fn switch(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "on",
        Some(false) => "off",
        None => "?",
    }
}

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let cfg = app.config();
    let sep = || Span::styled(" │ ", theme.dim);
    let mut spans: Vec<Span> = Vec::new();
    // Badges first: they must survive a narrow terminal.
    if cfg.demo {
        spans.push(Span::styled(" DEMO ", theme.badge_demo));
        spans.push(Span::raw(" "));
    }
    if cfg.read_only {
        spans.push(Span::styled(" READ-ONLY ", theme.badge_ro));
        spans.push(Span::raw(" "));
    }
    if cfg.dry_run {
        spans.push(Span::styled(" DRY-RUN ", theme.badge_dry));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::styled(sanitize::clean(&cfg.site), theme.title));
    spans.push(Span::styled(" as ", theme.dim));
    spans.push(Span::styled(sanitize::clean(&cfg.api_user), theme.text));
    spans.push(sep());
    spans.push(Span::styled("strategy ", theme.dim));
    spans.push(Span::styled(app.strategy_text(), theme.accent));
    let mut second: Vec<Span> = Vec::new();
    if let Some(b) = app.budget {
        let style = if b.left == 0 { theme.warn } else { theme.text };
        second.push(Span::styled(
            format!("budget {}/{} a minute", b.left, b.per_minute),
            style,
        ));
        if let Some(s) = b.retry_after_secs {
            second.push(Span::styled(format!(" · retry in {s}s"), theme.err));
        } else if let Some(s) = b.next_slot_secs {
            second.push(Span::styled(format!(" · next request in {s}s"), theme.warn));
        }
        second.push(sep());
    }
    let site = app.site();
    second.push(Span::styled("verbose SSO log ", theme.dim));
    second.push(Span::styled(
        switch(site.and_then(|s| s.verbose_sso)),
        theme.text,
    ));
    second.push(Span::styled(" · upload log ", theme.dim));
    second.push(Span::styled(
        switch(site.and_then(|s| s.verbose_upload)),
        theme.text,
    ));
    let lines = if area.height >= 2 {
        vec![Line::from(spans), Line::from(second)]
    } else {
        spans.push(sep());
        spans.extend(second);
        vec![Line::from(spans)]
    };
    frame.render_widget(Paragraph::new(lines), area);
}
