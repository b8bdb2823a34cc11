//! Text from servers is untrusted: strip control characters and escape sequences before it
//! reaches the terminal, and measure and cut it by display width, grapheme by grapheme.

use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// Removes ANSI/VT escape sequences (CSI, OSC, DCS, single-character escapes) and every other
/// control character, C1 included. Newlines and tabs become spaces, so one value is one line.
/// Bidi overrides (U+202A..U+202E, U+2066..U+2069) are dropped too: they can reorder what a
/// moderator sees.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            // C1 CSI / OSC / DCS introducers: their bodies are escape sequences as well.
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\n' | '\r' | '\t' => {
                if !out.ends_with(' ') {
                    out.push(' ')
                }
            }
            c if c.is_control() => {}
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Like [`clean`] but keeps line breaks, for detail views of multi-line messages.
pub fn clean_multiline(text: &str) -> String {
    text.split('\n').map(clean).collect::<Vec<_>>().join("\n")
}

fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.peek() {
        Some('[') => {
            chars.next();
            skip_csi(chars);
        }
        Some(']') | Some('P') | Some('X') | Some('^') | Some('_') => {
            chars.next();
            skip_string(chars);
        }
        Some(_) => {
            // Two-character escape such as ESC c (reset) or ESC ( B.
            let c = chars.next();
            if matches!(c, Some('(') | Some(')') | Some('#') | Some('%')) {
                chars.next();
            }
        }
        None => {}
    }
}

fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    // Parameters and intermediates, then one final byte in @..~.
    for c in chars.by_ref() {
        if ('@'..='~').contains(&c) {
            break;
        }
    }
}

fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    // Ends at BEL, ST (ESC \) or C1 ST.
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => break,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                break;
            }
            _ => {}
        }
    }
}

/// Display width in terminal cells.
pub fn width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// Cuts `text` to at most `max` cells, never inside a grapheme, adding `…` when it cut.
pub fn truncate(text: &str, max: usize) -> String {
    if width(text) <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for g in text.graphemes(true) {
        let w = width(g);
        if used + w > max - 1 {
            break;
        }
        out.push_str(g);
        used += w;
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_csi_osc_and_controls() {
        assert_eq!(clean("a\u{1b}[31mred\u{1b}[0m"), "ared");
        assert_eq!(clean("x\u{1b}]0;title\u{7}y"), "xy");
        assert_eq!(
            clean("x\u{1b}]8;;http://e\u{1b}\\link\u{1b}]8;;\u{1b}\\"),
            "xlink"
        );
        assert_eq!(clean("bell\u{7}\u{8}\u{0}!"), "bell!");
        assert_eq!(clean("c1\u{9b}2Jok"), "c1ok");
        assert_eq!(clean("two\nlines"), "two lines");
        assert_eq!(clean("rtl\u{202e}evil"), "rtlevil");
        assert_eq!(clean("\u{1b}cclear"), "clear");
    }

    #[test]
    fn keeps_unicode() {
        assert_eq!(clean("山田 🙂 مرحبا é"), "山田 🙂 مرحبا é");
    }

    #[test]
    fn truncates_by_grapheme_and_width() {
        assert_eq!(truncate("山田太郎", 5), "山田…");
        assert_eq!(width(&truncate("山田太郎", 5)), 5);
        assert_eq!(truncate("abc", 3), "abc");
        // e + combining acute stays whole.
        assert_eq!(
            truncate("e\u{301}e\u{301}e\u{301}", 3),
            "e\u{301}e\u{301}e\u{301}"
        );
        assert_eq!(
            truncate("e\u{301}e\u{301}e\u{301}x", 3),
            "e\u{301}e\u{301}…"
        );
        assert_eq!(truncate("abc", 0), "");
    }
}
