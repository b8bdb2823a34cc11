//! Text from servers is untrusted. This is the one place where text is made safe before a
//! person or a file sees it: secrets are scrubbed in every encoding ([`crate::secret`]), URL
//! userinfo is redacted, escape sequences and control characters are stripped, and invisible
//! or bidi characters are shown as `\u{..}` so that one name cannot pose as another and no
//! cell border shifts. Text is measured and cut by display width, grapheme by grapheme.

use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// Characters that draw nothing (or reorder what is drawn) yet change what a string is: format
/// characters, bidi controls, fillers, tags and selectors (Unicode's Default_Ignorable_Code_Point
/// set, plus the Arabic letter mark and line/paragraph separators' look-alikes).
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00ad}' | '\u{034f}' | '\u{061c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}'
        | '\u{180b}'..='\u{180f}'
        | '\u{200b}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}'
        | '\u{3164}' | '\u{fe00}'..='\u{fe0f}' | '\u{feff}' | '\u{ffa0}'
        | '\u{fff0}'..='\u{fffb}'
        | '\u{1bca0}'..='\u{1bca3}'
        | '\u{1d173}'..='\u{1d17a}'
        | '\u{e0000}'..='\u{e0fff}')
}

/// Roughly Extended_Pictographic: the characters emoji ZWJ sequences join.
fn is_pictographic(c: char) -> bool {
    matches!(c,
        '\u{00a9}' | '\u{00ae}' | '\u{203c}' | '\u{2049}' | '\u{2122}' | '\u{2139}'
        | '\u{2194}'..='\u{21aa}'
        | '\u{2300}'..='\u{23ff}'
        | '\u{24c2}' | '\u{25aa}'..='\u{27bf}'
        | '\u{2934}' | '\u{2935}' | '\u{2b05}'..='\u{2b55}'
        | '\u{3030}' | '\u{303d}' | '\u{3297}' | '\u{3299}'
        | '\u{1f000}'..='\u{1faff}')
}

/// Emoji modifiers and the keycap mark: they may stand between a pictograph and a ZWJ.
fn is_emoji_modifier(c: char) -> bool {
    matches!(c, '\u{1f3fb}'..='\u{1f3ff}' | '\u{20e3}' | '\u{fe0f}')
}

/// Is the invisible character at `i` part of an emoji sequence, where it is meant to be?
/// ZWJ between two pictographs (👨‍👩‍👧), VS15/VS16 after a pictograph or a keycap base
/// (❤️, 1️⃣), tags after a black flag (🏴󠁧󠁢󠁳󠁣󠁴󠁿), VS1..14 after an ideograph (CJK variants).
fn in_emoji_sequence(prev: Option<char>, c: char, next: Option<char>) -> bool {
    let pict_before = prev.is_some_and(|p| is_pictographic(p) || is_emoji_modifier(p));
    match c {
        '\u{200d}' => pict_before && next.is_some_and(is_pictographic),
        '\u{fe0e}' | '\u{fe0f}' => {
            prev.is_some_and(|p| is_pictographic(p) || p.is_ascii_digit() || p == '#' || p == '*')
        }
        '\u{fe00}'..='\u{fe0d}' => prev.is_some_and(|p| !p.is_ascii() && !is_invisible(p)),
        '\u{e0020}'..='\u{e007f}' => {
            prev.is_some_and(|p| p == '\u{1f3f4}' || ('\u{e0020}'..='\u{e007f}').contains(&p))
        }
        _ => false,
    }
}

/// Makes untrusted text safe for a terminal or a human-readable file, on one line:
/// - secrets (the registered ones, [`crate::secret::register`]) become `[redacted]`, whatever
///   their encoding; so does the userinfo of any URL in the text (`https://[redacted]@host`);
/// - ANSI/VT escape sequences (CSI, OSC, DCS, single-character escapes) and every other control
///   character, C1 included, are removed; newlines and tabs become spaces;
/// - invisible and bidi characters (zero-width space, word joiner, BOM, overrides, isolates,
///   the Arabic letter mark, fillers, tags) are shown as `\u{200b}`, so `ad\u{200b}min` cannot
///   pass for `admin` and nothing reorders or shifts what follows. The joiner and selectors of
///   emoji sequences are kept.
pub fn clean(text: &str) -> String {
    clean_with(&crate::secret::global(), text)
}

fn clean_with(scrubber: &crate::secret::Scrubber, text: &str) -> String {
    let scrubbed = scrubber.scrub(&redact_userinfo(text));
    // Most text is printable ASCII, which the loop below would copy as it is.
    if scrubbed.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return scrubbed;
    }
    let mut out = String::with_capacity(scrubbed.len());
    let mut chars = scrubbed.chars().peekable();
    let mut prev: Option<char> = None;
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            // C1 CSI / OSC / DCS introducers: their bodies are escape sequences as well.
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\n' | '\r' | '\t' | '\u{2028}' | '\u{2029}' => {
                if !out.ends_with(' ') {
                    out.push(' ')
                }
            }
            c if c.is_control() => {}
            c if is_invisible(c) => {
                if in_emoji_sequence(prev, c, chars.peek().copied()) {
                    out.push(c);
                } else {
                    out.push_str(&format!("\\u{{{:x}}}", c as u32));
                    // What precedes the next character is the visible marker, not `c`.
                    prev = Some('}');
                    continue;
                }
            }
            c => out.push(c),
        }
        prev = Some(c);
    }
    // Stripping may have joined the pieces of a secret that was split by escape sequences.
    crate::secret::global().scrub(&out)
}

/// For a string that goes into JSON (output or audit): secrets and URL userinfo are redacted;
/// every other character is kept, because the JSON writer ([`crate::jsonfmt`]) escapes what is
/// not printable as `\uXXXX`.
pub fn for_json(text: &str) -> String {
    crate::secret::global().scrub(&redact_userinfo(text))
}

/// Replaces the userinfo of every `scheme://user:pass@host` in `text` with `[redacted]`.
/// Every `://` is looked at, overlapping ones too, so `a://https://u:pw@h` cannot hide one.
pub fn redact_userinfo(text: &str) -> String {
    if !text.contains("://") {
        return text.to_string();
    }
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    let mut from = 0;
    while let Some(pos) = text[from..].find("://") {
        let start = from + pos + 3;
        let tail = &text[start..];
        // The authority ends at the first character that cannot be in it.
        let end = tail
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>' | '`' | '\\')
                    || c.is_whitespace()
                    || c.is_control()
            })
            .unwrap_or(tail.len());
        if let Some(at) = tail[..end].rfind('@') {
            ranges.push((start, start + at));
        }
        from = from + pos + 1;
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, end) in ranges {
        if start < last {
            // Inside a range already redacted: extend it.
            if end > last {
                last = end;
            }
            continue;
        }
        out.push_str(&text[last..start]);
        out.push_str("[redacted]");
        last = end;
    }
    out.push_str(&text[last..]);
    out
}

/// Like [`clean`] but keeps line breaks, for detail views of multi-line messages.
pub fn clean_multiline(text: &str) -> String {
    let scrubber = crate::secret::global();
    text.split('\n')
        .map(|line| clean_with(&scrubber, line))
        .collect::<Vec<_>>()
        .join("\n")
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

/// Display width in terminal cells, grapheme by grapheme, as ratatui's buffer lays text out
/// and terminals draw it. The width of the whole string would differ: unicode-width counts an
/// Arabic lam-alef pair (`لا`) as one cell, a ligature that the buffer and tmux give two, so a
/// row holding Arabic text would come out one cell longer than measured.
pub fn width(text: &str) -> usize {
    if text.is_ascii() {
        return UnicodeWidthStr::width(text);
    }
    text.graphemes(true).map(UnicodeWidthStr::width).sum()
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
        assert_eq!(clean("rtl\u{202e}evil"), "rtl\\u{202e}evil");
        assert_eq!(clean("\u{1b}cclear"), "clear");
    }

    #[test]
    fn invisible_characters_show_and_emoji_sequences_stay() {
        assert_eq!(clean("ad\u{200b}min"), "ad\\u{200b}min");
        assert_eq!(clean("a\u{2060}b\u{feff}c"), "a\\u{2060}b\\u{feff}c");
        assert_eq!(
            clean("x\u{2066}y\u{2069}\u{61c}"),
            "x\\u{2066}y\\u{2069}\\u{61c}"
        );
        assert_eq!(clean("admin\u{fe0f}"), "admin\\u{fe0f}");
        assert_eq!(clean("line\u{2028}two"), "line two");
        for kept in [
            "👨\u{200d}👩\u{200d}👧",
            "👍🏽",
            "🧑🏽\u{200d}🚀",
            "❤\u{fe0f}",
            "1\u{fe0f}\u{20e3}",
            "🏴\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}",
        ] {
            assert_eq!(clean(kept), kept);
        }
        // A joiner between letters is not an emoji sequence.
        assert_eq!(clean("a\u{200d}b"), "a\\u{200d}b");
        // Same width as it reads: nothing zero-width is left to shift a border.
        assert_eq!(width(&clean("ad\u{200b}min")), "ad\\u{200b}min".len());
    }

    #[test]
    fn url_userinfo_is_redacted() {
        assert_eq!(
            clean("see https://admin:pw@forum.example.com/x and http://u@h"),
            "see https://[redacted]@forum.example.com/x and http://[redacted]@h"
        );
        assert_eq!(redact_userinfo("https://h/p?a=b@c"), "https://h/p?a=b@c");
        assert_eq!(redact_userinfo("no url"), "no url");
        assert_eq!(
            redact_userinfo("a://https://u:pw@h/x"),
            "a://https://[redacted]@h/x"
        );
    }

    #[test]
    fn width_is_what_the_buffer_draws() {
        // Lam-alef: two graphemes, two cells in the buffer and in tmux.
        assert_eq!(width("لا"), 2);
        assert_eq!(width("صورة غير لائقة"), 14);
        assert_eq!(width("e\u{301}"), 1);
        assert_eq!(width("山田"), 4);
        assert_eq!(width("👨\u{200d}👩\u{200d}👧"), 2);
        assert_eq!(truncate("غير لائقة", 6), "غير ل…");
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
