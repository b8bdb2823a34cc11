//! `ui.mouse`: a click selects a queue row or focuses a pane, the wheel scrolls the pane under
//! the pointer, a click on a key hint runs it as if the key were pressed. Geometry comes from
//! the same `ui::layout` the drawing uses, so a click lands where the eye sees.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use super::app::{App, Effect, Focus, on_key, scroll};
use super::ui;

/// Rows the wheel moves per notch.
const WHEEL_STEP: isize = 3;

pub fn on_mouse(app: &mut App, m: MouseEvent) -> Vec<Effect> {
    if !app.cfg.mouse {
        return vec![];
    }
    let screen = Rect::new(0, 0, app.size.0, app.size.1);
    if ui::too_small(screen) {
        return vec![];
    }
    let areas = ui::layout(screen, app);
    let at = Position::new(m.column, m.row);
    let pane_at = |p: Position| {
        [
            (areas.queue, Focus::Queue),
            (areas.detail, Focus::Detail),
            (areas.log, Focus::Log),
        ]
        .into_iter()
        .find_map(|(r, f)| r.filter(|r| r.contains(p)).map(|r| (r, f)))
    };
    match m.kind {
        MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
            let down = m.kind == MouseEventKind::ScrollDown;
            if app.modal.is_some() {
                // Help and long texts scroll as with j/k.
                let code = if down { KeyCode::Down } else { KeyCode::Up };
                let mut fx = Vec::new();
                for _ in 0..WHEEL_STEP {
                    fx.extend(on_key(app, KeyEvent::new(code, KeyModifiers::NONE)));
                }
                return fx;
            }
            let Some((_, pane)) = pane_at(at) else {
                return vec![];
            };
            // The pane under the pointer scrolls; the focus stays where the keyboard left it.
            let focus = app.focus;
            app.focus = pane;
            scroll(app, if down { WHEEL_STEP } else { -WHEEL_STEP });
            app.focus = focus;
            app.redraw = true;
            vec![]
        }
        MouseEventKind::Down(MouseButton::Left) => {
            if areas.footer.contains(at) {
                return match ui::footer::hint_at(app, areas.footer, at.x)
                    .as_deref()
                    .and_then(key_of)
                {
                    Some(key) => on_key(app, key),
                    None => vec![],
                };
            }
            if app.modal.is_some() {
                return vec![];
            }
            let Some((rect, pane)) = pane_at(at) else {
                return vec![];
            };
            app.focus = pane;
            app.redraw = true;
            if pane == Focus::Queue {
                // Border, then the column header, then the rows.
                let first = rect.y + 2;
                if at.y >= first {
                    let row = (at.y - first) as usize;
                    if row < ui::queue::rows_in(rect) && app.offset + row < app.visible.len() {
                        app.select(app.offset + row);
                    }
                }
            }
            vec![]
        }
        _ => vec![],
    }
}

/// The key a hint names: `r`, `Tab`, `space`, `y/Enter` (its last form), … `None` for hints
/// that are not one key (`j/k`, `S/U`, `type`).
fn key_of(hint: &str) -> Option<KeyEvent> {
    let last = hint.rsplit('/').next().unwrap_or(hint);
    let code = match last {
        _ if hint == "/" => KeyCode::Char('/'),
        "Enter" => KeyCode::Enter,
        "Esc" => KeyCode::Esc,
        "Tab" => KeyCode::Tab,
        "space" => KeyCode::Char(' '),
        // `j/k` and `S/U` name two keys: a click cannot say which.
        k if !hint.contains('/') && k.chars().count() == 1 => KeyCode::Char(k.chars().next()?),
        // A remapped key as the keymap prints it (`F1`, `Ctrl-r`, `PgDn`).
        k if !hint.contains('/') => {
            let key = crate::tui::keymap::Key::parse(
                &k.replace("Ctrl-", "ctrl-").replace("Alt-", "alt-"),
            )
            .ok()?;
            let mut m = KeyModifiers::NONE;
            m.set(KeyModifiers::CONTROL, key.ctrl);
            m.set(KeyModifiers::ALT, key.alt);
            return Some(KeyEvent::new(key.code, m));
        }
        _ => return None,
    };
    Some(KeyEvent::new(code, KeyModifiers::NONE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_name_keys() {
        let code = |h: &str| key_of(h).map(|k| k.code);
        assert_eq!(code("r"), Some(KeyCode::Char('r')));
        assert_eq!(code("?"), Some(KeyCode::Char('?')));
        assert_eq!(code("/"), Some(KeyCode::Char('/')));
        assert_eq!(code(":"), Some(KeyCode::Char(':')));
        assert_eq!(code("Tab"), Some(KeyCode::Tab));
        assert_eq!(code("space"), Some(KeyCode::Char(' ')));
        assert_eq!(code("y/Enter"), Some(KeyCode::Enter));
        assert_eq!(code("n/Esc"), Some(KeyCode::Esc));
        assert_eq!(code("j/k"), None);
        assert_eq!(code("S/U"), None);
        assert_eq!(code("type"), None);
        assert_eq!(code("read-only"), None);
    }
}
