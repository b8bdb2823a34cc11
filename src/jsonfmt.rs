//! JSON that is safe to print and to keep: every string passes [`sanitize::for_json`] (secrets
//! and URL userinfo redacted), and every character that does not print (controls, C1, DEL,
//! invisible and bidi characters, line separators) is written as `\uXXXX`, never raw. Used by
//! every `--json` output and by the audit log.

use std::io;

use serde::Serialize;

use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};

use crate::sanitize;

/// Does this character need a `\uXXXX` escape to be seen for what it is?
fn needs_escape(c: char) -> bool {
    c.is_control() || sanitize::is_invisible(c) || matches!(c, '\u{2028}' | '\u{2029}')
}

fn write_escaped<W: ?Sized + io::Write>(w: &mut W, fragment: &str) -> io::Result<()> {
    let mut start = 0;
    for (i, c) in fragment.char_indices() {
        if needs_escape(c) {
            w.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                write!(w, "\\u{u:04x}")?;
            }
            start = i + c.len_utf8();
        }
    }
    w.write_all(&fragment.as_bytes()[start..])
}

/// `text` with every non-printing character written as `\uXXXX` (for the app log).
pub fn escape_non_printing(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len());
    let _ = write_escaped(&mut out, text);
    String::from_utf8(out).expect("escaping keeps UTF-8")
}

/// A serde_json formatter that escapes non-printing characters (serde_json itself escapes only
/// C0 controls, `"` and `\`).
pub struct Escaping<F>(pub F);

impl<F: Formatter> Formatter for Escaping<F> {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        write_escaped(writer, fragment)
    }

    // Everything else is the inner formatter's (indentation, separators).
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

fn write<T: Serialize + ?Sized, F: Formatter>(value: &T, f: F) -> serde_json::Result<String> {
    let text = unscrubbed(value, f)?;
    // Secrets in their JSON-escaped forms too (the scrubber knows them), and URL userinfo,
    // which ends at the closing quote. Replacing inside a string keeps the document valid.
    Ok(sanitize::for_json(&text))
}

fn unscrubbed<T: Serialize + ?Sized, F: Formatter>(value: &T, f: F) -> serde_json::Result<String> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, Escaping(f));
    value.serialize(&mut ser)?;
    Ok(String::from_utf8(out).expect("serde_json writes UTF-8"))
}

/// How this writer spells `text` inside a JSON string (without the quotes), not scrubbed: the
/// scrubber uses it to know a secret's escaped form.
pub fn escaped_form(text: &str) -> String {
    let s = unscrubbed(text, CompactFormatter).unwrap_or_default();
    s.get(1..s.len().saturating_sub(1))
        .unwrap_or("")
        .to_string()
}

/// One line of JSON (the audit log, `logs --follow --json`).
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    write(value, CompactFormatter)
}

/// Indented JSON (`--json` outputs).
pub fn to_string_pretty<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    write(value, PrettyFormatter::new())
}

/// A pretty serializer that escapes non-printing characters, for streaming large documents
/// (write into [`SafeLines`] so the output is scrubbed too).
pub fn pretty_serializer<W: io::Write>(
    w: W,
) -> serde_json::Serializer<W, Escaping<PrettyFormatter<'static>>> {
    serde_json::Serializer::with_formatter(w, Escaping(PrettyFormatter::new()))
}

/// A writer that scrubs what passes through it one line at a time, for streamed pretty JSON:
/// a JSON string never holds a raw newline, so no secret can straddle two lines. The last,
/// unterminated line goes out on `flush`.
pub struct SafeLines<W: io::Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: io::Write> SafeLines<W> {
    pub fn new(inner: W) -> Self {
        SafeLines {
            inner,
            pending: Vec::new(),
        }
    }

    fn emit(&mut self, line: &[u8]) -> io::Result<()> {
        let text = String::from_utf8_lossy(line);
        self.inner.write_all(sanitize::for_json(&text).as_bytes())
    }
}

impl<W: io::Write> io::Write for SafeLines<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(last_nl) = self.pending.iter().rposition(|b| *b == b'\n') {
            let rest = self.pending.split_off(last_nl + 1);
            let done = std::mem::replace(&mut self.pending, rest);
            for line in done.split_inclusive(|b| *b == b'\n') {
                self.emit(line)?;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.emit(&rest)?;
        }
        self.inner.flush()
    }
}

/// `text` with every non-ASCII character as `\uXXXX` (how other JSON writers, Ruby's and
/// Python's among them, may echo a value back).
pub fn escape_all_non_ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn non_printing_characters_are_escaped() {
        let v =
            json!({"name": "ad\u{200b}min\u{202e}\u{85}\u{7f}\u{2028}\u{e0041}", "ok": "山田 🙂"});
        let s = to_string(&v).unwrap();
        assert_eq!(
            s,
            r#"{"name":"ad\u200bmin\u202e\u0085\u007f\u2028\udb40\udc41","ok":"山田 🙂"}"#
        );
        // Still the same value for a JSON reader.
        assert_eq!(serde_json::from_str::<Value>(&s).unwrap(), v);
        assert!(s.chars().all(|c| !needs_escape(c)));
        let pretty = to_string_pretty(&v).unwrap();
        assert!(pretty.contains("\n  \"name\": \"ad\\u200bmin"), "{pretty}");
    }

    #[test]
    fn streamed_lines_are_scrubbed() {
        use std::io::Write;
        crate::secret::register(&[crate::secret::Secret::new("stream-secret-42")]);
        let mut out = SafeLines::new(Vec::new());
        let mut ser = pretty_serializer(&mut out);
        json!([{"k": "stream-secret-42\u{200b}"}])
            .serialize(&mut ser)
            .unwrap();
        out.flush().unwrap();
        let text = String::from_utf8(out.inner).unwrap();
        assert_eq!(text, "[\n  {\n    \"k\": \"[redacted]\\u200b\"\n  }\n]");
    }

    #[test]
    fn userinfo_is_redacted_in_strings() {
        let s = to_string(&json!(["https://admin:pw@forum.example.com/"])).unwrap();
        assert_eq!(s, r#"["https://[redacted]@forum.example.com/"]"#);
    }
}
