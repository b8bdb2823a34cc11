//! Named console actions and the keys bound to them: the defaults, and the `[keys]` table of the
//! config that remaps any of them (as gitui, lazygit and yazi allow).
//!
//! Two keys are not actions and cannot be rebound: `Esc` (cancel, clear, close) and `Ctrl-c`
//! (quit from anywhere). Binding an action to either, or two actions to one key, is an error
//! that names both, found when the config is loaded.

use std::collections::HashMap;
use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Something the console does on a key in its main screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Down,
    Up,
    PageDown,
    PageUp,
    HalfPageDown,
    HalfPageUp,
    Top,
    Bottom,
    NextPane,
    PrevPane,
    Open,
    Filter,
    Command,
    Refresh,
    Reset,
    ResetMarked,
    Mark,
    Range,
    HideDone,
    LogSize,
    LogUser,
    VerboseSso,
    VerboseUpload,
    OpenImage,
    Review,
    Undo,
    Help,
    Quit,
}

/// Every action: its name in `[keys]`, its default keys, what it does (for `?`).
pub const ACTIONS: &[(Action, &str, &[&str], &str)] = &[
    (
        Action::Down,
        "down",
        &["j", "down"],
        "next row (or scroll the focused pane)",
    ),
    (
        Action::Up,
        "up",
        &["k", "up"],
        "previous row (or scroll up)",
    ),
    (Action::PageDown, "page_down", &["pagedown"], "a page down"),
    (Action::PageUp, "page_up", &["pageup"], "a page up"),
    (
        Action::HalfPageDown,
        "half_page_down",
        &["ctrl-d"],
        "half a page down",
    ),
    (
        Action::HalfPageUp,
        "half_page_up",
        &["ctrl-u"],
        "half a page up",
    ),
    (Action::Top, "top", &["g", "home"], "first row"),
    (Action::Bottom, "bottom", &["G", "end"], "last row"),
    (
        Action::NextPane,
        "next_pane",
        &["tab"],
        "focus the next pane (queue, detail, log)",
    ),
    (
        Action::PrevPane,
        "prev_pane",
        &["backtab"],
        "focus the previous pane",
    ),
    (
        Action::Open,
        "open",
        &["enter"],
        "queue: focus the detail · log: show the line whole",
    ),
    (
        Action::Filter,
        "filter",
        &["/"],
        "filter as you type: username, external id, email, reason",
    ),
    (
        Action::Command,
        "command",
        &[":"],
        "a command line (↑/↓ recall earlier ones)",
    ),
    (
        Action::Refresh,
        "refresh",
        &["ctrl-r"],
        "reload the queue from both sources (:refresh)",
    ),
    (
        Action::Reset,
        "reset",
        &["r"],
        "reset the selected user's avatar (asks first)",
    ),
    (
        Action::ResetMarked,
        "reset_marked",
        &["R"],
        "reset every marked user (asks first, with the names)",
    ),
    (
        Action::Mark,
        "mark",
        &["space"],
        "mark / unmark the row and move down",
    ),
    (
        Action::Range,
        "range",
        &["v"],
        "start a range; again marks every row between",
    ),
    (
        Action::HideDone,
        "hide_done",
        &["h"],
        "hide / show rows that are done",
    ),
    (
        Action::LogSize,
        "log_size",
        &["l"],
        "enlarge / shrink the log pane",
    ),
    (
        Action::LogUser,
        "log_user",
        &["u"],
        "log pane: only lines about the selected user (again: all lines)",
    ),
    (
        Action::VerboseSso,
        "verbose_sso",
        &["S"],
        "toggle verbose_discourse_connect_logging (asks first)",
    ),
    (
        Action::VerboseUpload,
        "verbose_upload",
        &["U"],
        "toggle verbose_upload_logging (asks first)",
    ),
    (
        Action::OpenImage,
        "open_image",
        &["o"],
        "open the avatar in the browser; again: the main app's photo",
    ),
    (
        Action::Review,
        "review",
        &["a"],
        "review actions: the row's Discourse items and what each offers (asks first)",
    ),
    (
        Action::Undo,
        "undo",
        &["z"],
        "undo: put back what the row's last verified reset replaced (asks first)",
    ),
    (Action::Help, "help", &["?"], "this help"),
    (
        Action::Quit,
        "quit",
        &["q"],
        "quit (asks first while resets run; Ctrl-c too)",
    ),
];

impl Action {
    /// The name used in `[keys]`.
    pub fn name(self) -> &'static str {
        ACTIONS
            .iter()
            .find(|(a, ..)| *a == self)
            .map_or("?", |(_, n, ..)| n)
    }

    pub fn describe(self) -> &'static str {
        ACTIONS
            .iter()
            .find(|(a, ..)| *a == self)
            .map_or("", |(.., d)| d)
    }

    pub fn from_name(name: &str) -> Option<Action> {
        ACTIONS
            .iter()
            .find(|(_, n, ..)| *n == name)
            .map(|(a, ..)| *a)
    }
}

/// A key as the keymap sees it: Shift is part of the character (`R`), Ctrl is kept, Alt too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

impl Key {
    pub fn from_event(ev: &KeyEvent) -> Key {
        let code = match ev.code {
            // Terminals send Shift-Tab as BackTab, some with SHIFT set too.
            KeyCode::Tab if ev.modifiers.contains(KeyModifiers::SHIFT) => KeyCode::BackTab,
            c => c,
        };
        Key {
            code,
            ctrl: ev.modifiers.contains(KeyModifiers::CONTROL),
            alt: ev.modifiers.contains(KeyModifiers::ALT),
        }
    }

    /// `r`, `R`, `ctrl-d`, `alt-x`, `space`, `enter`, `tab`, `backtab` (or `shift-tab`), `up`,
    /// `down`, `left`, `right`, `pageup`, `pagedown`, `home`, `end`, `backspace`, `delete`,
    /// `insert`, `f1`…`f12`. Case matters for single characters only.
    pub fn parse(spec: &str) -> Result<Key, String> {
        let mut rest = spec.trim();
        let (mut ctrl, mut alt) = (false, false);
        loop {
            let lower = rest.to_ascii_lowercase();
            if rest.chars().count() > 2
                && (lower.starts_with("ctrl-") || lower.starts_with("ctrl+"))
            {
                ctrl = true;
                rest = &rest[5..];
            } else if rest.chars().count() > 2
                && (lower.starts_with("alt-") || lower.starts_with("alt+"))
            {
                alt = true;
                rest = &rest[4..];
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (None, _) => return Err("an empty key".into()),
            (Some(c), None) if !c.is_control() => {
                // Ctrl-letters arrive lowercase whatever Shift says.
                KeyCode::Char(if ctrl { c.to_ascii_lowercase() } else { c })
            }
            _ => match rest.to_ascii_lowercase().as_str() {
                "space" => KeyCode::Char(' '),
                "enter" | "return" => KeyCode::Enter,
                "tab" => KeyCode::Tab,
                "backtab" | "shift-tab" | "shift+tab" => KeyCode::BackTab,
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "pageup" | "pgup" => KeyCode::PageUp,
                "pagedown" | "pgdn" => KeyCode::PageDown,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                "backspace" => KeyCode::Backspace,
                "delete" | "del" => KeyCode::Delete,
                "insert" | "ins" => KeyCode::Insert,
                "esc" | "escape" => KeyCode::Esc,
                f if f.starts_with('f')
                    && f[1..].parse::<u8>().is_ok_and(|n| (1..=12).contains(&n)) =>
                {
                    KeyCode::F(f[1..].parse().unwrap_or(1))
                }
                _ => {
                    return Err(format!(
                        "unknown key {spec:?} (a character like \"x\" or \"R\", ctrl-x, alt-x, space, enter, tab, backtab, up, down, left, right, pageup, pagedown, home, end, backspace, delete, insert, f1…f12)"
                    ));
                }
            },
        };
        Ok(Key { code, ctrl, alt })
    }

    /// Esc and Ctrl-c keep their fixed meaning everywhere.
    fn reserved(&self) -> Option<&'static str> {
        match (self.code, self.ctrl) {
            (KeyCode::Esc, _) => Some("Esc cancels and closes everywhere"),
            (KeyCode::Char('c'), true) => Some("Ctrl-c quits from everywhere"),
            _ => None,
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("Ctrl-")?;
        }
        if self.alt {
            f.write_str("Alt-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Tab => f.write_str("Tab"),
            KeyCode::BackTab => f.write_str("Shift-Tab"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::PageUp => f.write_str("PgUp"),
            KeyCode::PageDown => f.write_str("PgDn"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            KeyCode::Backspace => f.write_str("Backspace"),
            KeyCode::Delete => f.write_str("Delete"),
            KeyCode::Insert => f.write_str("Insert"),
            KeyCode::Esc => f.write_str("Esc"),
            KeyCode::F(n) => write!(f, "F{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// A problem in `[keys]`, for the config loader to place on a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeymapError {
    /// The action whose entry is at fault (`reset`), or the unknown name as written.
    pub action: String,
    pub message: String,
}

/// The keys in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    by_key: HashMap<Key, Action>,
    /// Per action, its keys in the order given (the first is the one hints show).
    keys: HashMap<Action, Vec<Key>>,
}

impl Default for Keymap {
    fn default() -> Self {
        Keymap::with(&[]).expect("the default keys do not clash")
    }
}

impl Keymap {
    /// The defaults with `overrides` (action name, its new keys) applied: an action named there
    /// has exactly the keys given (none: unbound). Errors name the entry and, for a clash, both
    /// actions.
    pub fn with(overrides: &[(String, Vec<String>)]) -> Result<Keymap, KeymapError> {
        let mut keys: HashMap<Action, Vec<Key>> = HashMap::new();
        for (action, _, defaults, _) in ACTIONS {
            let parsed = defaults
                .iter()
                .map(|k| Key::parse(k).expect("default keys parse"))
                .collect();
            keys.insert(*action, parsed);
        }
        let mut remapped: Vec<Action> = Vec::new();
        for (name, specs) in overrides {
            let Some(action) = Action::from_name(name) else {
                let known: Vec<&str> = ACTIONS.iter().map(|(_, n, ..)| *n).collect();
                return Err(KeymapError {
                    action: name.clone(),
                    message: format!("unknown action keys.{name} (known: {})", known.join(", ")),
                });
            };
            let mut list = Vec::new();
            for spec in specs {
                let key = Key::parse(spec).map_err(|e| KeymapError {
                    action: name.clone(),
                    message: format!("keys.{name}: {e}"),
                })?;
                if let Some(why) = key.reserved() {
                    return Err(KeymapError {
                        action: name.clone(),
                        message: format!("keys.{name} = {spec:?}: {key} cannot be bound ({why})"),
                    });
                }
                if !list.contains(&key) {
                    list.push(key);
                }
            }
            keys.insert(action, list);
            remapped.push(action);
        }
        let mut by_key: HashMap<Key, Action> = HashMap::new();
        // Remapped actions claim their keys first, so a clash names the entry to change.
        let mut order: Vec<Action> = remapped.clone();
        order.extend(
            ACTIONS
                .iter()
                .map(|(a, ..)| *a)
                .filter(|a| !remapped.contains(a)),
        );
        for action in order {
            for key in &keys[&action] {
                if let Some(other) = by_key.insert(*key, action)
                    && other != action
                {
                    let (first, second) = (other, action);
                    let hint = if remapped.contains(&second) {
                        "give one of them another key in [keys]".to_string()
                    } else {
                        format!(
                            "{} has {key} by default: remap it too, e.g. {} = \"…\"",
                            second.name(),
                            second.name()
                        )
                    };
                    return Err(KeymapError {
                        action: first.name().to_string(),
                        message: format!(
                            "keys.{}: {key} is bound to both {} and {} ({hint})",
                            first.name(),
                            first.name(),
                            second.name()
                        ),
                    });
                }
            }
        }
        Ok(Keymap { by_key, keys })
    }

    /// The action of a key event in the main screen.
    pub fn action(&self, ev: &KeyEvent) -> Option<Action> {
        self.by_key.get(&Key::from_event(ev)).copied()
    }

    /// The keys of an action, in order.
    pub fn keys(&self, action: Action) -> &[Key] {
        self.keys.get(&action).map_or(&[], Vec::as_slice)
    }

    /// The first key, as hints show it (`-` when the action is unbound).
    pub fn hint(&self, action: Action) -> String {
        self.keys(action)
            .first()
            .map_or_else(|| "-".to_string(), Key::to_string)
    }

    /// Every key, as the help shows it: `j / ↓`.
    pub fn label(&self, action: Action) -> String {
        let keys = self.keys(action);
        if keys.is_empty() {
            return "(unbound)".into();
        }
        keys.iter()
            .map(Key::to_string)
            .collect::<Vec<_>>()
            .join(" / ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, m)
    }

    fn over(pairs: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        pairs
            .iter()
            .map(|(a, ks)| (a.to_string(), ks.iter().map(|k| k.to_string()).collect()))
            .collect()
    }

    #[test]
    fn defaults_cover_every_action_without_clashes() {
        let k = Keymap::default();
        for (a, ..) in ACTIONS {
            assert!(!k.keys(*a).is_empty(), "{a:?}");
        }
        assert_eq!(
            k.action(&ev(KeyCode::Char('R'), KeyModifiers::SHIFT)),
            Some(Action::ResetMarked)
        );
        assert_eq!(
            k.action(&ev(KeyCode::Char('d'), KeyModifiers::CONTROL)),
            Some(Action::HalfPageDown)
        );
        assert_eq!(
            k.action(&ev(KeyCode::Tab, KeyModifiers::SHIFT)),
            Some(Action::PrevPane)
        );
        assert_eq!(k.action(&ev(KeyCode::Char('x'), KeyModifiers::NONE)), None);
        assert_eq!(k.label(Action::Down), "j / ↓");
        assert_eq!(k.hint(Action::Mark), "space");
    }

    #[test]
    fn remapping_replaces_the_actions_keys() {
        let k = Keymap::with(&over(&[
            ("reset", &["x"]),
            ("down", &["n", "ctrl-n", "down"]),
        ]))
        .unwrap();
        assert_eq!(
            k.action(&ev(KeyCode::Char('x'), KeyModifiers::NONE)),
            Some(Action::Reset)
        );
        assert_eq!(k.action(&ev(KeyCode::Char('r'), KeyModifiers::NONE)), None);
        assert_eq!(
            k.action(&ev(KeyCode::Char('n'), KeyModifiers::CONTROL)),
            Some(Action::Down)
        );
        assert_eq!(k.action(&ev(KeyCode::Char('j'), KeyModifiers::NONE)), None);
        assert_eq!(k.hint(Action::Reset), "x");
        assert_eq!(k.label(Action::Down), "n / Ctrl-n / ↓");
        // Swapping two keys is fine: both are remapped.
        assert!(Keymap::with(&over(&[("reset", &["R"]), ("reset_marked", &["r"])])).is_ok());
        // Unbinding.
        let k = Keymap::with(&over(&[("verbose_sso", &[])])).unwrap();
        assert_eq!(k.action(&ev(KeyCode::Char('S'), KeyModifiers::SHIFT)), None);
        assert_eq!(k.label(Action::VerboseSso), "(unbound)");
    }

    #[test]
    fn clashes_and_bad_keys_name_what_to_fix() {
        let e = Keymap::with(&over(&[("reset", &["j"])])).unwrap_err();
        assert_eq!(e.action, "reset");
        assert!(
            e.message.contains("bound to both reset and down"),
            "{}",
            e.message
        );
        assert!(e.message.contains("down = "), "{}", e.message);
        let e = Keymap::with(&over(&[("reset", &["x"]), ("mark", &["x"])])).unwrap_err();
        assert!(e.message.contains("reset and mark"), "{}", e.message);
        let e = Keymap::with(&over(&[("quit", &["esc"])])).unwrap_err();
        assert!(e.message.contains("cannot be bound"), "{}", e.message);
        let e = Keymap::with(&over(&[("quit", &["ctrl-c"])])).unwrap_err();
        assert!(e.message.contains("cannot be bound"), "{}", e.message);
        let e = Keymap::with(&over(&[("rest", &["x"])])).unwrap_err();
        assert!(
            e.message.contains("unknown action keys.rest"),
            "{}",
            e.message
        );
        assert!(e.message.contains("reset_marked"), "{}", e.message);
        let e = Keymap::with(&over(&[("reset", &["hyper-x"])])).unwrap_err();
        assert!(
            e.message.contains("unknown key \"hyper-x\""),
            "{}",
            e.message
        );
    }

    #[test]
    fn keys_parse_and_print_round_trip() {
        for spec in [
            "r", "R", "?", ":", "/", "space", "enter", "tab", "backtab", "up", "pagedown", "f5",
            "ctrl-d", "alt-x", "home",
        ] {
            let k = Key::parse(spec).unwrap();
            let shown = k.to_string();
            assert!(!shown.is_empty(), "{spec}");
        }
        assert_eq!(Key::parse("ctrl-D").unwrap(), Key::parse("ctrl-d").unwrap());
        assert_eq!(Key::parse("F5").unwrap().to_string(), "F5");
        assert!(Key::parse("").is_err());
        assert!(Key::parse("f13").is_err());
    }
}
