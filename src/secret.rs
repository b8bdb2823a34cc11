//! Secrets (API key, SSO secret, main-app token) that must never be printed.

use std::fmt;

/// A secret value. `Debug` and `Display` print `[redacted]`, so a secret cannot leak through
/// a log line, an error message or a `{:?}` by accident. Use [`Secret::expose`] at the one place
/// the value is really needed (a header, an HMAC key).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Secrets shorter than this are not scrubbed: they would redact ordinary words. Real keys are
/// far longer (Discourse API keys are 64 hex digits).
pub const MIN_SCRUB_LEN: usize = 6;

const REDACTED: &str = "[redacted]";

/// One form a secret can take in text: its characters, and whether letters match in any case
/// (hex digits may be upper or lower case).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Needle {
    chars: Vec<char>,
    any_case: bool,
}

impl Needle {
    /// A cheap first look at the byte after a candidate first character: false only when a
    /// match cannot go on from it (a plain printable ASCII byte that is not the second
    /// character, nor `%` or `+`, which may encode it). Most candidates end here, without
    /// [`match_at`].
    fn may_continue_with(&self, next: Option<u8>) -> bool {
        let Some(b) = next else {
            return false;
        };
        if !b.is_ascii() || b.is_ascii_control() || b == b'%' || b == b'+' {
            return true;
        }
        let Some(&second) = self.chars.get(1) else {
            return true;
        };
        let b = b as char;
        if self.any_case {
            b.eq_ignore_ascii_case(&second)
        } else {
            b == second
        }
    }
}

/// Finds the secrets of a process in text and in their common encodings: raw, JSON-escaped,
/// Base64 (standard and URL-safe, at any of the three byte alignments so an encoded secret is
/// found inside a longer encoded string too) and hex. Each form also matches percent-encoded
/// (`%2F`, `%2f`), form-encoded (`+` for a space) and with invisible or control characters
/// slipped between its characters. The forms are built once, when the secrets are known.
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    needles: Vec<Needle>,
    /// The needles that can start with a given character (its raw form, either case for hex),
    /// so most positions of a text are passed over with one lookup. `%` and `+` can start any.
    /// ASCII characters index `ascii` (a plain table: this runs on every byte of every answer
    /// the console logs); the rest look up `by_first`.
    ascii: Vec<Vec<usize>>,
    by_first: std::collections::HashMap<char, Vec<usize>>,
    /// The secrets added, as given, so [`scrub`] can tell when the process-wide scrubber
    /// already covers a caller's secrets and need not build one of its own.
    known: Vec<String>,
}

impl Scrubber {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Scrubber {
        let mut s = Scrubber::default();
        for secret in secrets {
            s.add(secret.expose());
        }
        s
    }

    /// Adds one secret's forms (a no-op for values too short to scrub or already known).
    pub fn add(&mut self, secret: &str) {
        if secret.chars().count() < MIN_SCRUB_LEN || self.knows(secret) {
            return;
        }
        self.known.push(secret.to_string());
        let mut forms: Vec<Needle> = Vec::new();
        let mut push = |text: String, any_case: bool| {
            let chars: Vec<char> = text.chars().collect();
            if chars.len() >= MIN_SCRUB_LEN {
                forms.push(Needle { chars, any_case });
            }
        };
        push(secret.to_string(), false);
        if let Ok(json) = serde_json::to_string(secret) {
            push(json[1..json.len() - 1].to_string(), false);
        }
        push(crate::jsonfmt::escaped_form(secret), false);
        push(crate::jsonfmt::escape_all_non_ascii(secret), false);
        let bytes = secret.as_bytes();
        push(hex(bytes), true);
        for engine in [
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ] {
            for shift in 0..3 {
                push(base64_core(engine, bytes, shift), false);
            }
        }
        for f in forms {
            if !self.needles.contains(&f) {
                self.needles.push(f);
            }
        }
        // Longest first: a form that contains another is replaced whole.
        self.needles
            .sort_by_key(|n| std::cmp::Reverse(n.chars.len()));
        self.by_first.clear();
        self.ascii = vec![Vec::new(); 128];
        for (i, n) in self.needles.iter().enumerate() {
            let c = n.chars[0];
            let mut firsts = vec![c, '%'];
            if n.any_case {
                firsts.extend([c.to_ascii_lowercase(), c.to_ascii_uppercase()]);
            }
            if c == ' ' {
                firsts.push('+');
            }
            firsts.sort_unstable();
            firsts.dedup();
            for f in firsts {
                if f.is_ascii() {
                    self.ascii[f as usize].push(i);
                } else {
                    self.by_first.entry(f).or_default().push(i);
                }
            }
        }
    }

    fn candidates(&self, c: char) -> &[usize] {
        if c.is_ascii() {
            return self.ascii.get(c as usize).map_or(&[], Vec::as_slice);
        }
        self.by_first.get(&c).map_or(&[], Vec::as_slice)
    }

    /// Whether `secret` was added (or is too short to scrub, so adding it changes nothing).
    pub fn knows(&self, secret: &str) -> bool {
        secret.chars().count() < MIN_SCRUB_LEN || self.known.iter().any(|k| k == secret)
    }

    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// `text` with every form of every secret replaced by `[redacted]`.
    pub fn scrub(&self, text: &str) -> String {
        if self.needles.is_empty() || text.len() < MIN_SCRUB_LEN {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        // Text up to `copied` is in `out`; runs without a match are copied whole.
        let mut copied = 0;
        let mut i = 0;
        let bytes = text.as_bytes();
        'outer: while i < bytes.len() {
            let (c, len) = if bytes[i].is_ascii() {
                (bytes[i] as char, 1)
            } else {
                let c = text[i..].chars().next().expect("i is on a char boundary");
                (c, c.len_utf8())
            };
            // After a `%` the next bytes encode this same character: nothing to look ahead at.
            let next = (c != '%').then(|| bytes.get(i + len).copied());
            for &k in self.candidates(c) {
                if next.is_some_and(|n| !self.needles[k].may_continue_with(n)) {
                    continue;
                }
                if let Some(end) = match_at(text, i, &self.needles[k]) {
                    out.push_str(&text[copied..i]);
                    out.push_str(REDACTED);
                    i = end;
                    copied = end;
                    continue 'outer;
                }
            }
            i += len;
        }
        out.push_str(&text[copied..]);
        out
    }

    /// Does any form of any secret occur in `text`?
    pub fn finds(&self, text: &str) -> bool {
        text.char_indices().any(|(i, c)| {
            self.candidates(c)
                .iter()
                .any(|&k| match_at(text, i, &self.needles[k]).is_some())
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The Base64 characters that depend on the secret's bytes alone when it sits `shift` bytes
/// into a longer encoded string: the characters straddling a neighbour's bits are left out.
fn base64_core(engine: &impl base64::Engine, secret: &[u8], shift: usize) -> String {
    let mut input = vec![0u8; shift];
    input.extend_from_slice(secret);
    let encoded = engine.encode(&input);
    let (start_bit, end_bit) = (8 * shift, 8 * (shift + secret.len()));
    let first = start_bit.div_ceil(6);
    let last = end_bit / 6; // exclusive
    encoded
        .get(first..last.min(encoded.len()))
        .unwrap_or("")
        .to_string()
}

/// Characters that can be slipped between a secret's characters without showing.
fn ignorable(c: char) -> bool {
    c.is_control() || crate::sanitize::is_invisible(c)
}

/// Matches needle `n` at byte `start` of `text`; returns the byte just past the match.
fn match_at(text: &str, start: usize, n: &Needle) -> Option<usize> {
    match_from(text, start, n, 0)
}

/// Matches `n.chars[k..]` at byte `i`. Each character may appear raw, as `+` for a space, or
/// percent-encoded; when more than one fits (a `%` in the secret itself), each is tried.
fn match_from(text: &str, mut i: usize, n: &Needle, k: usize) -> Option<usize> {
    let Some(want) = n.chars.get(k) else {
        return Some(i);
    };
    loop {
        let c = text[i..].chars().next()?;
        if let Some(end) = match_here(text, i, c, want, n, k) {
            return Some(end);
        }
        // Skip what a terminal or a reader would not see between two characters (unless the
        // secret itself holds that character, tried just above). A loop, not recursion: a
        // hostile text can hold millions of them.
        if k > 0 && ignorable(c) {
            i += c.len_utf8();
            continue;
        }
        return None;
    }
}

fn match_here(text: &str, i: usize, c: char, want: &char, n: &Needle, k: usize) -> Option<usize> {
    let same = if n.any_case {
        c.eq_ignore_ascii_case(want)
    } else {
        c == *want
    };
    if same && let Some(end) = match_from(text, i + c.len_utf8(), n, k + 1) {
        return Some(end);
    }
    if c == '+'
        && *want == ' '
        && let Some(end) = match_from(text, i + 1, n, k + 1)
    {
        return Some(end);
    }
    if c == '%' {
        // Every byte of the character, each as %XX in either case.
        let b = text.as_bytes();
        let mut buf = [0u8; 4];
        let mut j = i;
        for byte in want.encode_utf8(&mut buf).as_bytes() {
            let h = b.get(j..j + 3)?;
            if h[0] != b'%' {
                return None;
            }
            let v = std::str::from_utf8(&h[1..]).ok()?;
            if u8::from_str_radix(v, 16).ok()? != *byte {
                return None;
            }
            j += 3;
        }
        return match_from(text, j, n, k + 1);
    }
    None
}

/// The secrets of this process, known once the configuration is loaded. Every sink that writes
/// text a person or a file will see (standard output and error, the audit, the app log, the
/// console) scrubs through this.
static GLOBAL: std::sync::RwLock<Option<std::sync::Arc<Scrubber>>> = std::sync::RwLock::new(None);

/// Adds secrets to the process-wide scrubber (built once per secret, not per message).
pub fn register<'a>(secrets: impl IntoIterator<Item = &'a Secret>) {
    let mut guard = GLOBAL.write().unwrap_or_else(|e| e.into_inner());
    let mut s = guard.as_deref().cloned().unwrap_or_default();
    let before = s.needles.len();
    for secret in secrets {
        s.add(secret.expose());
    }
    if guard.is_none() || s.needles.len() != before {
        *guard = Some(std::sync::Arc::new(s));
    }
}

/// The process-wide scrubber.
pub fn global() -> std::sync::Arc<Scrubber> {
    GLOBAL
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_default()
}

/// Replaces every form of each of `secrets` (and of the registered ones) in `text`.
pub fn scrub(text: &str, secrets: &[&Secret]) -> String {
    scrubber(secrets).scrub(text)
}

/// A scrubber for `secrets` and the registered ones. Usually the session registered them all,
/// and this is the process-wide one: building every form again per message was most of what
/// logging an answer cost.
pub fn scrubber(secrets: &[&Secret]) -> std::sync::Arc<Scrubber> {
    let global = global();
    if secrets.iter().all(|s| global.knows(s.expose())) {
        return global;
    }
    let mut both = (*global).clone();
    for s in secrets {
        both.add(s.expose());
    }
    std::sync::Arc::new(both)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let s = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(s.expose(), "hunter2-very-secret");
    }

    #[test]
    fn scrub_replaces_secret_values() {
        let s = Secret::new("abcdef123456");
        assert_eq!(scrub("key=abcdef123456;", &[&s]), "key=[redacted];");
    }

    #[test]
    fn scrub_finds_encoded_forms() {
        use base64::Engine;
        let raw = "s3cr/t+k=y 9\"é";
        let sc = Scrubber::new([&Secret::new(raw)]);
        let std = base64::engine::general_purpose::STANDARD;
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let pct: String = raw.bytes().map(|b| format!("%{b:02X}")).collect();
        let hexed: String = raw.bytes().map(|b| format!("{b:02X}")).collect();
        let cases = [
            raw.to_string(),
            pct.clone(),
            pct.to_lowercase(),
            url::form_urlencoded::byte_serialize(raw.as_bytes()).collect(),
            serde_json::to_string(raw).unwrap(),
            std.encode(raw),
            std.encode(format!("x{raw}")),
            std.encode(format!("xy{raw}tail")),
            url.encode(format!("key={raw}")),
            hexed.clone(),
            hexed.to_lowercase(),
            raw.chars().flat_map(|c| [c, '\u{200b}']).collect(),
        ];
        for text in cases {
            let framed = format!("before {text} after");
            let out = sc.scrub(&framed);
            assert!(out.contains("[redacted]"), "{framed:?} -> {out:?}");
            assert!(!sc.finds(&out), "{framed:?} -> {out:?}");
            assert!(
                out.starts_with("before ") && out.ends_with(" after"),
                "{out:?}"
            );
        }
    }

    #[test]
    fn hostile_runs_of_invisible_characters_stay_cheap() {
        let sc = Scrubber::new([&Secret::new("abcdef123456")]);
        let text = format!(
            "abc{}def123456 and a{}",
            "\u{200b}".repeat(200_000),
            "%".repeat(50_000)
        );
        let started = std::time::Instant::now();
        assert!(sc.scrub(&text).starts_with("[redacted]"));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn short_values_and_ordinary_text_are_left_alone() {
        let sc = Scrubber::new([&Secret::new("abc"), &Secret::new("longsecretvalue")]);
        assert_eq!(sc.scrub("abc def"), "abc def");
        assert_eq!(sc.scrub("nothing here 100%"), "nothing here 100%");
    }
}
