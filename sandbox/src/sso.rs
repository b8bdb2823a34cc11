//! DiscourseConnect parsing as Discourse does it, written from the Ruby source and NOT from the
//! client's encoder, so that a bug on one side cannot hide in the other.
//!
//! - `lib/discourse_connect_base.rb#parse`: character check, `Base64.decode64`, HMAC compare,
//!   `Rack::Utils.parse_query` of the decoded payload, boolean coercion, `custom.*` fields.
//! - `app/controllers/admin/users_controller.rb#sync_sso`: the rebuilt
//!   `"sso=#{params[:sso]}&sig=#{params[:sig]}"` string parsed again by `parse_query`
//!   (the `+` bug fixed by discourse/discourse#42024).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::{BTreeMap, BTreeSet};

/// One value of `Rack::Utils.parse_query`: a repeated key becomes a list, a key without `=`
/// has a nil value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QValue {
    Nil,
    One(String),
    Many(Vec<Option<String>>),
}

impl QValue {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            QValue::One(s) => Some(s),
            _ => None,
        }
    }
}

/// An ordered query: keys in first-seen order (Ruby hashes keep insertion order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub pairs: Vec<(String, QValue)>,
}

impl Query {
    pub fn get(&self, key: &str) -> Option<&QValue> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    pub fn str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(QValue::as_str)
    }
    pub fn repeated_keys(&self) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(_, v)| matches!(v, QValue::Many(_)))
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// `URI.decode_www_form_component`: `+` is a space, `%XX` a byte; a `%` without two hex digits
/// raises ArgumentError ("invalid %-encoding"), which Discourse does not rescue (HTTP 500).
pub fn unescape(s: &str) -> Result<String, String> {
    unescape_bytes(s).map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn unescape_bytes(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (
                    b.get(i + 1).and_then(|&c| hex(c)),
                    b.get(i + 2).and_then(|&c| hex(c)),
                ) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => return Err(format!("invalid %-encoding ({s})")),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    Ok(out)
}

/// Unescapes a request parameter; invalid UTF-8 is refused as Rails'
/// `ActionDispatch::Request::Utils.check_param_encoding` refuses it (a 400).
fn unescape_param(s: &str) -> Result<String, String> {
    String::from_utf8(unescape_bytes(s)?).map_err(|e| {
        format!(
            "Invalid encoding for parameter: {}",
            String::from_utf8_lossy(e.as_bytes())
        )
    })
}

/// `Rack::Utils.parse_query` (rack/lib/rack/query_parser.rb `parse_query`, Rack 3: separator
/// `&` only): empty parts skipped, each part split at the first `=`, both sides unescaped,
/// a repeated key turned into an Array.
pub fn parse_query(qs: &str) -> Result<Query, String> {
    let mut q = Query::default();
    for part in qs.split('&') {
        if part.is_empty() {
            continue;
        }
        let (k, v) = match part.split_once('=') {
            Some((k, v)) => (unescape(k)?, Some(unescape(v)?)),
            None => (unescape(part)?, None),
        };
        match q.pairs.iter_mut().find(|(key, _)| *key == k) {
            Some((_, existing)) => {
                let old = std::mem::replace(existing, QValue::Nil);
                *existing = match old {
                    QValue::Many(mut list) => {
                        list.push(v);
                        QValue::Many(list)
                    }
                    QValue::One(s) => QValue::Many(vec![Some(s), v]),
                    QValue::Nil => QValue::Many(vec![None, v]),
                };
            }
            None => q.pairs.push((k, v.map_or(QValue::Nil, QValue::One))),
        }
    }
    Ok(q)
}

/// Rails-style request parameters (`parse_nested_query` for the flat cases a client sends):
/// a repeated plain key keeps the last value, `key[]` collects a list (an Array, named in the
/// returned set). A broken escape or invalid UTF-8 is a 400 from Rails
/// (`ActionController::BadRequest`).
pub type ParamMap = (BTreeMap<String, Vec<String>>, BTreeSet<String>);

pub fn parse_params(qs: &str) -> Result<ParamMap, String> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut arrays = BTreeSet::new();
    for part in qs.split('&') {
        if part.is_empty() {
            continue;
        }
        let (k, v) = match part.split_once('=') {
            Some((k, v)) => (unescape_param(k)?, unescape_param(v)?),
            None => (unescape_param(part)?, String::new()),
        };
        if let Some(base) = k.strip_suffix("[]") {
            if !arrays.contains(base) {
                out.remove(base);
                arrays.insert(base.to_string());
            }
            out.entry(base.to_string()).or_default().push(v);
        } else {
            arrays.remove(&k);
            out.insert(k, vec![v]);
        }
    }
    Ok((out, arrays))
}

/// `Rack::Utils.escape` (`URI.encode_www_form_component`): everything but `*-._`, letters and
/// digits is `%XX`, a space is `+`. Used to rebuild `last_payload` (`unsigned_payload`).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn b64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Ruby's `Base64.decode64` (`String#unpack1("m")`, pack.c): characters outside the alphabet
/// are skipped, unpadded input is accepted, and a `=` in the 3rd or 4th place of a group ends
/// the data (anything after it is silently dropped).
pub fn decode64(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    let mut i = 0;
    let next = |i: &mut usize, stop_at_eq: bool| -> Result<u8, bool> {
        // Ok(value) or Err(true) at '=' / Err(false) at the end.
        while *i < b.len() {
            let c = b[*i];
            if stop_at_eq && c == b'=' {
                return Err(true);
            }
            *i += 1;
            if let Some(v) = b64_value(c) {
                return Ok(v);
            }
        }
        Err(false)
    };
    while let Ok(a) = next(&mut i, false) {
        let Ok(bb) = next(&mut i, false) else { break };
        let c = match next(&mut i, true) {
            Ok(c) => c,
            Err(_) => {
                out.push(a << 2 | bb >> 4);
                break;
            }
        };
        let d = match next(&mut i, true) {
            Ok(d) => d,
            Err(_) => {
                out.push(a << 2 | bb >> 4);
                out.push(bb << 4 | c >> 2);
                break;
            }
        };
        out.push(a << 2 | bb >> 4);
        out.push(bb << 4 | c >> 2);
        out.push(c << 6 | d);
    }
    out
}

/// `DiscourseConnectBase.sign`: lower-case hex HMAC-SHA256 of the Base64 text as received.
pub fn sign(payload: &str, secret: &str) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(payload.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The accessors of `DiscourseConnectBase::ACCESSORS` (newest).
pub const ACCESSORS: &[&str] = &[
    "add_groups",
    "admin",
    "avatar_force_update",
    "avatar_url",
    "bio",
    "card_background_url",
    "confirmed_2fa",
    "email",
    "external_id",
    "failed",
    "groups",
    "locale",
    "locale_force_update",
    "location",
    "logout",
    "moderator",
    "name",
    "no_2fa_methods",
    "nonce",
    "prompt",
    "profile_background_url",
    "remove_groups",
    "require_2fa",
    "require_activation",
    "return_sso_url",
    "suppress_welcome_message",
    "title",
    "username",
    "website",
];

/// `DiscourseConnectBase::BOOLS`.
pub const BOOLS: &[&str] = &[
    "admin",
    "avatar_force_update",
    "confirmed_2fa",
    "failed",
    "locale_force_update",
    "logout",
    "moderator",
    "no_2fa_methods",
    "require_2fa",
    "require_activation",
    "suppress_welcome_message",
];

/// Why a payload was refused. `NotBase64` and `BadSignature` become the same 422 "Login Error";
/// `BadEscape` and `Crash` are exceptions `sync_sso` does not rescue (a 500).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// `PayloadParseError`: a character outside `[a-zA-Z0-9=\r\n/+]`.
    NotBase64,
    /// `SignatureError`.
    BadSignature { expected: String },
    /// `ArgumentError` from `parse_query`: not rescued by `sync_sso`, so a 500.
    BadEscape(String),
    /// `sso` reached the parser as an Array or nil: the regex match or `Base64.decode64`
    /// raises (`NoMethodError`/`TypeError`), a 500.
    Crash(String),
}

/// A parsed payload: the accessors after coercion (`None` = nil), the `custom.*` fields, plus
/// what the raw decoded query looked like (for the client-rule checks).
#[derive(Debug, Clone, Default)]
pub struct Payload {
    pub fields: BTreeMap<&'static str, Field>,
    pub custom: BTreeMap<String, String>,
    /// The Base64 text as it reached the parser (after the controller's join and re-parse).
    pub sso: String,
    pub raw: Query,
    pub decoded: String,
}

/// An accessor value: a string, a boolean, or a list (a repeated key, which Ruby keeps as an
/// Array for string accessors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Str(String),
    Bool(bool),
    List(Vec<Option<String>>),
}

impl Payload {
    pub fn str(&self, k: &str) -> Option<&str> {
        match self.fields.get(k) {
            Some(Field::Str(s)) => Some(s),
            _ => None,
        }
    }
    /// `present?`: non-nil and not blank (whitespace only counts as blank).
    pub fn present(&self, k: &str) -> Option<&str> {
        self.str(k).filter(|s| !s.trim().is_empty())
    }
    pub fn bool(&self, k: &str) -> Option<bool> {
        match self.fields.get(k) {
            Some(Field::Bool(b)) => Some(*b),
            _ => None,
        }
    }
    /// The accessor as ActiveRecord stores it in a string column: an Array becomes its
    /// `to_s` (`ActiveModel::Type::ImmutableString#cast_value`).
    pub fn to_s(&self, k: &str) -> Option<String> {
        match self.fields.get(k) {
            Some(Field::Str(s)) => Some(s.clone()),
            Some(Field::List(l)) => Some(ruby_array_to_s(l)),
            Some(Field::Bool(b)) => Some(b.to_string()),
            None => None,
        }
    }
    pub fn is_list(&self, k: &str) -> bool {
        matches!(self.fields.get(k), Some(Field::List(_)))
    }
    pub fn is_nil(&self, k: &str) -> bool {
        !self.fields.contains_key(k)
    }

    /// `unsigned_payload`: `Rack::Utils.build_query(to_h)`, accessors in order then custom
    /// fields; this is what `last_payload` stores (unknown keys are gone).
    pub fn unsigned_payload(&self) -> String {
        let mut parts = Vec::new();
        for k in ACCESSORS {
            match self.fields.get(k) {
                Some(Field::Str(s)) => parts.push(format!("{}={}", escape(k), escape(s))),
                Some(Field::Bool(b)) => parts.push(format!("{}={}", escape(k), b)),
                Some(Field::List(l)) => {
                    for v in l {
                        match v {
                            Some(v) => parts.push(format!("{}={}", escape(k), escape(v))),
                            None => parts.push(escape(k)),
                        }
                    }
                }
                None => {}
            }
        }
        for (k, v) in &self.custom {
            parts.push(format!("{}={}", escape(&format!("custom.{k}")), escape(v)));
        }
        parts.join("&")
    }
}

/// `DiscourseConnectBase.parse(payload, secret)` on the full `sso=…&sig=…` string
/// (`lib/discourse_connect_base.rb`).
pub fn parse(request_string: &str, secret: &str) -> Result<Payload, ParseError> {
    let parsed = parse_query(request_string).map_err(ParseError::BadEscape)?;
    let sso = match parsed.get("sso") {
        Some(QValue::One(s)) => s.clone(),
        // Ruby 3.2+ has no `Array#=~`: NoMethodError before any check.
        Some(QValue::Many(_)) => {
            return Err(ParseError::Crash(
                "NoMethodError (undefined method '=~' for an instance of Array)".into(),
            ));
        }
        // `nil =~ re` is nil; then `Base64.decode64(nil)` calls `nil.unpack1`.
        Some(QValue::Nil) | None => {
            return Err(ParseError::Crash(
                "NoMethodError (undefined method 'unpack1' for nil)".into(),
            ));
        }
    };
    parse_fields(&sso, parsed.str("sig"), secret)
}

/// The body of `parse` once `sso` and `sig` are known. Order as in the Ruby: the character
/// check, then `Base64.decode64` and `parse_query` of the decoded text (whose ArgumentError
/// therefore comes before, and whatever, the signature), then the signature.
pub fn parse_fields(sso: &str, sig: Option<&str>, secret: &str) -> Result<Payload, ParseError> {
    let sso = sso.to_string();
    if sso
        .bytes()
        .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'=' | b'\r' | b'\n' | b'/' | b'+')))
    {
        return Err(ParseError::NotBase64);
    }
    let decoded_bytes = decode64(&sso);
    let decoded = String::from_utf8_lossy(&decoded_bytes).into_owned();
    let decoded_hash = parse_query(&decoded).map_err(ParseError::BadEscape)?;
    let expected = sign(&sso, secret);
    if sig != Some(expected.as_str()) {
        return Err(ParseError::BadSignature { expected });
    }
    let mut p = Payload {
        sso,
        decoded,
        ..Default::default()
    };
    for &k in ACCESSORS {
        let v = decoded_hash.get(k);
        let field = if BOOLS.contains(&k) {
            match v {
                Some(QValue::One(s)) if s == "true" => Some(Field::Bool(true)),
                Some(QValue::One(s)) if s == "false" => Some(Field::Bool(false)),
                _ => None,
            }
        } else {
            match v {
                Some(QValue::One(s)) => Some(Field::Str(s.clone())),
                Some(QValue::Many(l)) => Some(Field::List(l.clone())),
                _ => None,
            }
        };
        if let Some(f) = field {
            p.fields.insert(k, f);
        }
    }
    for (k, v) in &decoded_hash.pairs {
        if let (Some(name), Some(v)) = (k.strip_prefix("custom."), v.as_str())
            && !name.is_empty()
        {
            p.custom.insert(name.to_string(), v.to_string());
        }
    }
    p.raw = decoded_hash;
    Ok(p)
}

/// Ruby's `String#inspect`, for `Array#to_s`: what an Array becomes where Rails casts it to a
/// string column or Ruby interpolates it (`"sso=#{params[:sso]}"`).
pub fn ruby_inspect_str(s: &str) -> String {
    let mut out = String::from("\"");
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{1b}' => out.push_str("\\e"),
            '#' if matches!(chars.peek(), Some('{' | '$' | '@')) => out.push_str("\\#"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `Array#to_s` (= `inspect`) of a parsed list (`None` is a key sent without `=`: nil).
pub fn ruby_array_to_s(list: &[Option<String>]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|v| v.as_deref().map_or("nil".to_string(), ruby_inspect_str))
        .collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode64_is_lenient_like_ruby() {
        assert_eq!(decode64("aGVsbG8="), b"hello");
        assert_eq!(decode64("aGVsbG8"), b"hello"); // unpadded
        assert_eq!(decode64("aGVs\nbG8="), b"hello"); // newlines skipped
        assert_eq!(decode64("aGVs!bG8="), b"hello"); // junk skipped
        assert_eq!(decode64("aG=VsbG8="), b"h"); // '=' in 3rd place ends the data
        assert_eq!(decode64("=aGVsbG8="), b"hello"); // '=' in 1st place is skipped
    }

    #[test]
    fn parse_query_like_rack() {
        let q = parse_query("a=1&b=x+y&a=2&c&&d=%41").unwrap();
        assert_eq!(
            q.get("a"),
            Some(&QValue::Many(vec![Some("1".into()), Some("2".into())]))
        );
        assert_eq!(q.str("b"), Some("x y"));
        assert_eq!(q.get("c"), Some(&QValue::Nil));
        assert_eq!(q.str("d"), Some("A"));
        assert!(parse_query("a=%").is_err());
        assert!(parse_query("a=%zz").is_err());
    }

    #[test]
    fn sign_matches_a_known_vector() {
        // python3 -c "import hmac,hashlib;print(hmac.new(b'secret',b'abc',hashlib.sha256).hexdigest())"
        assert_eq!(
            sign("abc", "secret"),
            "9946dad4e00e913fc8be8e5d3f7e110a4a9e832f83fb09c345285d78638d8a0e"
        );
    }

    #[test]
    fn parse_checks_characters_then_signature() {
        let b64 = "ZXh0ZXJuYWxfaWQ9Njg0JmFkbWluPVRydWU="; // external_id=684&admin=True
        let sig = sign(b64, "s");
        let p = parse(&format!("sso={b64}&sig={sig}"), "s").unwrap();
        assert_eq!(p.str("external_id"), Some("684"));
        assert!(p.is_nil("admin")); // not exactly "true"/"false"
        assert_eq!(
            parse(&format!("sso={b64}-&sig={sig}"), "s").unwrap_err(),
            ParseError::NotBase64
        );
        assert!(matches!(
            parse(&format!("sso={b64}&sig={}", sig.to_uppercase()), "s"),
            Err(ParseError::BadSignature { .. })
        ));
    }

    #[test]
    fn escape_matches_rack() {
        assert_eq!(escape("a b~c*-._/"), "a+b%7Ec*-._%2F");
    }
}
