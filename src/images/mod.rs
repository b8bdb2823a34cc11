//! Pictures in the detail pane: the selected user's Discourse avatar and the main app's flagged
//! photo.
//!
//! - [`fetch`]: the plain, capped GET (no API key, not budgeted);
//! - [`decode`]: bytes to a picture ready to draw, within the `image` crate's limits;
//! - [`cache`]: pictures by URL, with a count and byte cap.
//!
//! The terminal's graphics protocol is chosen once, at start ([`Renderer::detect`]), by
//! `ratatui-image`: kitty, sixel or iTerm2 where the terminal answers for them (through tmux only
//! when its passthrough gets the answer back), coloured half blocks everywhere else.

pub mod cache;
pub mod decode;
mod detect;
pub mod fetch;

use std::fmt;

use ratatui_image::picker::cap_parser::QueryStdioOptions;
use ratatui_image::picker::{Picker, ProtocolType};
use ratatui_image::protocol::Protocol;

use crate::config::ImageMode;

/// The box a picture is drawn in, in cells. Two side by side fit the narrowest detail pane
/// (36 columns at the side-by-side width, borders included).
pub const BOX_COLS: u16 = 16;
pub const BOX_ROWS: u16 = 8;
/// The avatar size asked of Discourse: what its own web UI asks for a `huge` avatar
/// (`translateSize` in `discourse/lib/avatar-utils`; `UserAvatarsController#show` serves any size
/// from 1 to 1000), and enough pixels for the box on a kitty or sixel terminal.
pub const AVATAR_PX: u32 = 144;

/// A picture ready to draw, sized for the box.
#[derive(Clone)]
pub struct Picture {
    pub protocol: Protocol,
    /// The source image's pixels.
    pub width: u32,
    pub height: u32,
    /// What keeping it costs, roughly (the encoded cells or escape sequence).
    pub bytes: usize,
}

impl fmt::Debug for Picture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Picture({}×{}, {} B)",
            self.width, self.height, self.bytes
        )
    }
}

impl PartialEq for Picture {
    fn eq(&self, other: &Self) -> bool {
        (self.width, self.height, self.bytes) == (other.width, other.height, other.bytes)
    }
}

/// How pictures are encoded for this terminal.
#[derive(Clone)]
pub struct Renderer {
    picker: Picker,
}

impl fmt::Debug for Renderer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Renderer({})", self.protocol_name())
    }
}

impl Renderer {
    /// Coloured half blocks: works on any colour terminal, and in tests.
    pub fn halfblocks() -> Self {
        Renderer {
            picker: Picker::halfblocks(),
        }
    }

    /// For `ui.images`: asks the terminal what it speaks (`auto`; must run in raw mode, before
    /// the event stream reads stdin), or takes half blocks. `None` for `off`.
    pub fn detect(mode: ImageMode) -> Option<Self> {
        match mode {
            ImageMode::Off => None,
            ImageMode::Halfblocks => Some(Self::halfblocks()),
            ImageMode::Auto => Some(Self::query_terminal()),
        }
    }

    fn query_terminal() -> Self {
        // Inside tmux, graphics reach the outer terminal only through passthrough. Off (tmux's
        // default), the query would go nowhere and wait out its timeout: half blocks, at once,
        // and the user's tmux options stay as they are.
        if std::env::var_os("TMUX").is_some() && !detect::tmux_passthrough_on() {
            return Self::halfblocks();
        }
        let options = QueryStdioOptions {
            timeout: detect::QUERY_TIMEOUT,
            ..QueryStdioOptions::default()
        };
        let started = std::time::Instant::now();
        let picker = Picker::from_query_stdio_with_options(options);
        if started.elapsed() >= detect::QUERY_TIMEOUT {
            detect::release_stdin_reader();
        }
        picker
            .map(|picker| Renderer { picker })
            .unwrap_or_else(|_| Self::halfblocks())
    }

    /// A given protocol, whatever the terminal (tests encode for kitty, sixel and iTerm2).
    pub fn with_protocol(protocol: ProtocolType) -> Self {
        let mut picker = Picker::halfblocks();
        picker.set_protocol_type(protocol);
        Renderer { picker }
    }

    pub fn protocol_name(&self) -> &'static str {
        match self.picker.protocol_type() {
            ProtocolType::Halfblocks => "half blocks",
            ProtocolType::Sixel => "sixel",
            ProtocolType::Kitty => "kitty",
            ProtocolType::Iterm2 => "iTerm2",
        }
    }

    pub(crate) fn picker(&self) -> &Picker {
        &self.picker
    }
}

/// Whether pictures are drawn at all: `NO_COLOR` and the mono theme mean no colour, and a
/// picture without colour is noise.
pub fn effective_mode(mode: ImageMode, no_color: bool, mono: bool) -> ImageMode {
    if no_color || mono {
        ImageMode::Off
    } else {
        mode
    }
}
