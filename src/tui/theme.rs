//! Colours. `auto` uses the terminal's own foreground and background with a few named colours,
//! `dark` and `light` pick colours for that background, `mono` (and `NO_COLOR`) uses no colour
//! at all, only bold, dim and reverse.

use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ThemeChoice {
    #[default]
    Auto,
    Dark,
    Light,
    Mono,
}

impl FromStr for ThemeChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "dark" => Ok(Self::Dark),
            "light" => Ok(Self::Light),
            "mono" => Ok(Self::Mono),
            other => Err(format!(
                "unknown theme `{other}` (auto, dark, light or mono)"
            )),
        }
    }
}

/// True when `NO_COLOR` is set to something (https://no-color.org).
pub fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// The styles the drawing code uses.
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub text: Style,
    pub dim: Style,
    pub title: Style,
    pub border: Style,
    pub border_focus: Style,
    pub selected: Style,
    pub marked: Style,
    pub ok: Style,
    pub warn: Style,
    pub err: Style,
    pub badge_ro: Style,
    pub badge_dry: Style,
    pub badge_demo: Style,
    pub key: Style,
    pub accent: Style,
    pub sso: Style,
    pub upload: Style,
}

impl Theme {
    pub fn new(choice: ThemeChoice, no_color: bool) -> Self {
        let bold = Style::new().add_modifier(Modifier::BOLD);
        let dim = Style::new().add_modifier(Modifier::DIM);
        let rev = Style::new().add_modifier(Modifier::REVERSED);
        let mono = Self {
            text: Style::new(),
            dim,
            title: bold,
            border: dim,
            border_focus: bold,
            selected: rev,
            marked: bold,
            ok: Style::new(),
            warn: bold,
            err: bold,
            badge_ro: rev.add_modifier(Modifier::BOLD),
            badge_dry: rev.add_modifier(Modifier::BOLD),
            badge_demo: rev.add_modifier(Modifier::BOLD),
            key: bold,
            accent: bold,
            sso: bold,
            upload: bold,
        };
        if no_color || choice == ThemeChoice::Mono {
            return mono;
        }
        let fg = |c: Color| Style::new().fg(c);
        let badge = |c: Color| {
            Style::new()
                .bg(c)
                .fg(Color::White)
                .add_modifier(Modifier::BOLD)
        };
        // Auto: the terminal's own colours plus named ones that read on both backgrounds. Light
        // and Dark start from it and change only what differs.
        let auto = Self {
            border_focus: fg(Color::Cyan).add_modifier(Modifier::BOLD),
            selected: rev,
            marked: fg(Color::Yellow).add_modifier(Modifier::BOLD),
            ok: fg(Color::Green),
            warn: fg(Color::Yellow),
            err: fg(Color::Red).add_modifier(Modifier::BOLD),
            badge_ro: badge(Color::Blue),
            badge_dry: badge(Color::Magenta),
            badge_demo: badge(Color::Green),
            key: fg(Color::Cyan).add_modifier(Modifier::BOLD),
            accent: fg(Color::Cyan),
            sso: fg(Color::Magenta),
            upload: fg(Color::Blue),
            ..mono
        };
        match choice {
            ThemeChoice::Light => Self {
                border: fg(Color::Gray),
                border_focus: fg(Color::Blue).add_modifier(Modifier::BOLD),
                selected: Style::new().bg(Color::LightBlue).fg(Color::Black),
                marked: fg(Color::Magenta).add_modifier(Modifier::BOLD),
                warn: fg(Color::Rgb(160, 100, 0)),
                key: fg(Color::Blue).add_modifier(Modifier::BOLD),
                accent: fg(Color::Blue),
                upload: fg(Color::Cyan),
                dim: fg(Color::DarkGray),
                ..auto
            },
            ThemeChoice::Dark => Self {
                text: fg(Color::Gray),
                border: fg(Color::DarkGray),
                selected: Style::new().bg(Color::Rgb(40, 60, 90)).fg(Color::White),
                err: fg(Color::LightRed).add_modifier(Modifier::BOLD),
                sso: fg(Color::LightMagenta),
                upload: fg(Color::LightBlue),
                dim: fg(Color::DarkGray),
                ..auto
            },
            _ => auto,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_mono_has_no_colour() {
        assert_eq!("Dark".parse::<ThemeChoice>(), Ok(ThemeChoice::Dark));
        assert!("neon".parse::<ThemeChoice>().is_err());
        for t in [
            Theme::new(ThemeChoice::Dark, true),
            Theme::new(ThemeChoice::Mono, false),
        ] {
            for s in [t.text, t.err, t.selected, t.badge_ro, t.sso, t.border_focus] {
                assert_eq!(s.fg, None);
                assert_eq!(s.bg, None);
            }
        }
        assert!(Theme::new(ThemeChoice::Dark, false).err.fg.is_some());
    }
}
