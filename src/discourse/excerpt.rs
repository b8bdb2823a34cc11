//! The start of an answer, pretty-printed for the log pane's detail view, built only as far as
//! it is shown.
//!
//! Every answer the console receives is logged with an excerpt. Pretty-printing a whole page of
//! the review queue and scrubbing all of it, to keep its first 4,000 characters, was most of the
//! cost of loading a big queue. Here each string (keys too) is scrubbed whole before it is
//! written, so no secret is cut in half by the limit, and printing stops once the limit is
//! reached. Numbers are scrubbed as text too: a secret made of digits is still a secret.

use serde_json::Value;

/// `value` as `serde_json::to_string_pretty` writes it, with every string and number passed
/// through `scrub` first, cut after at least `max_chars` characters (the caller cuts exactly).
pub fn pretty_prefix(value: &Value, max_chars: usize, scrub: &dyn Fn(&str) -> String) -> String {
    let mut w = Writer {
        out: String::new(),
        chars: 0,
        max_chars,
        scrub,
    };
    w.value(value, 0);
    w.out
}

struct Writer<'a> {
    out: String,
    chars: usize,
    max_chars: usize,
    scrub: &'a dyn Fn(&str) -> String,
}

impl Writer<'_> {
    fn full(&self) -> bool {
        self.chars >= self.max_chars
    }

    fn push(&mut self, s: &str) {
        self.chars += s.chars().count();
        self.out.push_str(s);
    }

    fn indent(&mut self, depth: usize) {
        self.push("\n");
        for _ in 0..depth {
            self.push("  ");
        }
    }

    fn string(&mut self, s: &str) {
        let clean = (self.scrub)(s);
        let quoted = serde_json::to_string(&clean).unwrap_or_default();
        self.push(&quoted);
    }

    fn value(&mut self, v: &Value, depth: usize) {
        if self.full() {
            return;
        }
        match v {
            Value::Null => self.push("null"),
            Value::Bool(b) => self.push(if *b { "true" } else { "false" }),
            Value::Number(n) => {
                let text = (self.scrub)(&n.to_string());
                self.push(&text);
            }
            Value::String(s) => self.string(s),
            Value::Array(items) if items.is_empty() => self.push("[]"),
            Value::Array(items) => {
                self.push("[");
                for (i, item) in items.iter().enumerate() {
                    if self.full() {
                        return;
                    }
                    if i > 0 {
                        self.push(",");
                    }
                    self.indent(depth + 1);
                    self.value(item, depth + 1);
                }
                self.indent(depth);
                self.push("]");
            }
            Value::Object(map) if map.is_empty() => self.push("{}"),
            Value::Object(map) => {
                self.push("{");
                for (i, (k, item)) in map.iter().enumerate() {
                    if self.full() {
                        return;
                    }
                    if i > 0 {
                        self.push(",");
                    }
                    self.indent(depth + 1);
                    self.string(k);
                    self.push(": ");
                    self.value(item, depth + 1);
                }
                self.indent(depth);
                self.push("}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn same(s: &str) -> String {
        s.to_string()
    }

    #[test]
    fn uncut_it_is_serde_jsons_pretty_form() {
        let v = json!({
            "users": [{"id": 1, "name": "a\"b\n", "ok": true, "x": null, "f": 1.5}],
            "empty": [], "none": {}, "nested": {"k": [1, [2, []]]}
        });
        assert_eq!(
            pretty_prefix(&v, usize::MAX, &same),
            serde_json::to_string_pretty(&v).unwrap()
        );
    }

    #[test]
    fn stops_past_the_limit_and_never_halves_a_scrubbed_string() {
        let items: Vec<Value> = (0..10_000).map(|i| json!({"n": i, "s": "x"})).collect();
        let v = Value::Array(items);
        let full = serde_json::to_string_pretty(&v).unwrap();
        let cut = pretty_prefix(&v, 4000, &same);
        assert!(cut.chars().count() >= 4000, "{}", cut.len());
        assert!(cut.len() < 4200, "printing went on: {} bytes", cut.len());
        assert!(full.starts_with(&cut));

        // The secret straddles the limit: it is replaced whole, not left half there.
        let secret = "s3cr3t-value-123456";
        // (Keys named so that they come in this order, sorted or not.)
        let v = json!({"a_pad": "p".repeat(3970), "b_leak": secret, "c_n": 123456789});
        let scrub = |s: &str| {
            s.replace(secret, "[redacted]")
                .replace("123456789", "[redacted]")
        };
        let cut = pretty_prefix(&v, 4000, &scrub);
        let at = cut.find("\"b_leak\"").expect("the key is within the limit");
        assert!(
            at < 4000 && cut.len() > 4000,
            "the secret straddles the limit: {at}"
        );
        assert!(!cut.contains("s3cr3t"), "{cut}");
        assert!(cut.contains("\"b_leak\": \"[redacted]\""), "{cut}");
        // Keys and numbers pass through the scrubber too.
        let v = json!({secret: 1, "n": 123456789});
        let out = pretty_prefix(&v, 4000, &scrub);
        assert!(
            !out.contains("s3cr3t") && !out.contains("123456789"),
            "{out}"
        );
    }
}
