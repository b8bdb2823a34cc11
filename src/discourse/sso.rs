//! DiscourseConnect payloads (discourse-api.md §4): encode, sign, verify, decode.
//!
//! - The inner payload is `Rack::Utils.build_query`: every byte but ASCII letters, digits and
//!   `*-._` is percent-escaped (upper-case hex), a space becomes `+`, pairs are joined by `&`.
//! - The outer payload is strict Base64: standard alphabet, `=` padding, no newlines.
//! - The signature is the lower-case hex HMAC-SHA256 of the Base64 text, keyed with the
//!   DiscourseConnect secret.
//! - The Base64 must not hold `+`: servers before PR #42024 (2026-07-24) turned it into a space
//!   and refused the signature. With the escaping above a `+` cannot appear (only the bytes `>`
//!   and `~` at offset 2 mod 3, or non-ASCII bytes, produce the sextet 62, and none of them is
//!   left unescaped); [`encode_without_plus`] still guards it by adding a throwaway `pad` key.

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::secret::Secret;

/// `DiscourseConnectBase::ACCESSORS` (newest). Any other key except `custom.*` is ignored by
/// Discourse.
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
    "profile_background_url",
    "prompt",
    "remove_groups",
    "require_2fa",
    "require_activation",
    "return_sso_url",
    "suppress_welcome_message",
    "title",
    "username",
    "website",
];

/// `DiscourseConnectBase::BOOLS`: only the exact strings `true` and `false` count.
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

/// Fields Discourse splits with `.split(",")`: one comma-separated string each.
pub const GROUP_FIELDS: &[&str] = &["groups", "add_groups", "remove_groups"];

/// The throwaway key added to keep `+` out of the Base64. Not an accessor, not `custom.*`, so
/// Discourse ignores it (and drops it from `last_payload`).
pub const PAD_KEY: &str = "pad";

/// Values of `external_id` that Discourse refuses with an unrescued `BannedExternalId` (a 500).
const BANNED_EXTERNAL_IDS: &[&str] = &["none", "nil", "blank", "null"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsoError {
    #[error(
        "unknown DiscourseConnect field \"{0}\": Discourse ignores it (use one of: {list}, or custom.NAME)",
        list = ACCESSORS.join(", ")
    )]
    UnknownKey(String),
    #[error(
        "field \"{0}\" given more than once: Discourse would turn it into a list and ignore it; send every field once"
    )]
    DuplicateKey(String),
    #[error(
        "field \"{key}\" is a boolean: it must be exactly \"true\" or \"false\", not \"{value}\" (Discourse ignores anything else)"
    )]
    BadBool { key: String, value: String },
    #[error("field \"{key}\": {reason}")]
    BadGroups { key: String, reason: String },
    #[error(
        "external_id \"{0}\" is refused by Discourse (none, nil, blank and null are banned; empty is refused too)"
    )]
    BadExternalId(String),
    #[error("a custom field needs a name: custom.NAME")]
    EmptyCustomName,
    #[error("nothing to decode: give sso=…&sig=…, a URL holding them, or the Base64 payload")]
    Empty,
    #[error("no sso= parameter found in {0}")]
    NoSso(&'static str),
    #[error("bad percent escape {0:?}: a % must be followed by two hex digits")]
    BadEscape(String),
    #[error("the sso value is not Base64: {0}")]
    NotBase64(String),
    #[error("the decoded payload is not UTF-8 text ({0})")]
    NotUtf8(String),
    #[error("not a valid URL: {0}")]
    BadUrl(String),
    #[error("could not find a Base64 text without '+' (this should not happen; please report it)")]
    PlusNotAvoidable,
}

// ---------------------------------------------------------------------------------------------
// Encoding and signing
// ---------------------------------------------------------------------------------------------

/// Rack's `escape`: everything but ASCII letters, digits and `*-._` percent-escaped in
/// upper-case hex, space as `+`. (The same as the WHATWG form serializer.)
pub fn form_escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `Rack::Utils.build_query` over `fields`, in order: `k=v&k=v`.
pub fn build_query(fields: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&form_escape(k));
        out.push('=');
        out.push_str(&form_escape(v));
    }
    out
}

/// `build_query` then strict Base64 (standard alphabet, padded, no newlines). Does not add the
/// pad; see [`encode_without_plus`].
pub fn encode(fields: &[(String, String)]) -> String {
    STANDARD.encode(build_query(fields))
}

/// [`encode`], then, should the Base64 hold a `+`, put a throwaway `pad` key first (its length
/// and value changing each try, so the rest shifts) and re-encode until none is left.
pub fn encode_without_plus(fields: &[(String, String)]) -> Result<String, SsoError> {
    strip_plus_with(fields, encode)
}

/// The padding loop, generic over the encoder so it can be tested with one that produces `+`.
fn strip_plus_with(
    fields: &[(String, String)],
    encoder: impl Fn(&[(String, String)]) -> String,
) -> Result<String, SsoError> {
    let plain = encoder(fields);
    if !plain.contains('+') {
        return Ok(plain);
    }
    let mut padded = Vec::with_capacity(fields.len() + 1);
    padded.push((PAD_KEY.to_string(), String::new()));
    padded.extend(fields.iter().cloned());
    // Three lengths cover the three alignments; a few more change the digits too.
    for i in 0..32usize {
        padded[0].1 = format!("{i:0>width$}", width = 1 + i % 3);
        let b64 = encoder(&padded);
        if !b64.contains('+') {
            return Ok(b64);
        }
    }
    Err(SsoError::PlusNotAvoidable)
}

fn mac(secret: &Secret) -> Hmac<Sha256> {
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC accepts keys of any length")
}

/// Lower-case hex HMAC-SHA256 of the Base64 text, keyed with the secret.
pub fn sign(base64: &str, secret: &Secret) -> String {
    let mut m = mac(secret);
    m.update(base64.as_bytes());
    let out = m.finalize().into_bytes();
    let mut hex = String::with_capacity(64);
    for b in out.iter() {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

fn parse_lower_hex(sig: &str) -> Option<Vec<u8>> {
    if !sig.len().is_multiple_of(2)
        || !sig
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    (0..sig.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&sig[i..i + 2], 16).ok())
        .collect()
}

/// Checks `sig` against the Base64 text in constant time. Only lower-case hex can match, as on
/// the server (which refuses upper-case signatures).
pub fn verify(base64: &str, sig: &str, secret: &Secret) -> bool {
    let Some(tag) = parse_lower_hex(sig) else {
        return false;
    };
    let mut m = mac(secret);
    m.update(base64.as_bytes());
    m.verify_slice(&tag).is_ok()
}

/// A signed payload, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPayload {
    /// The Base64 text (no `+`).
    pub sso: String,
    /// Lower-case hex HMAC-SHA256 of `sso`.
    pub sig: String,
}

impl SignedPayload {
    /// `sso=<percent-encoded Base64>&sig=<hex>`, the form body of `POST /admin/users/sync_sso`
    /// and the output of `sso sign`.
    pub fn form_body(&self) -> String {
        format!("sso={}&sig={}", form_escape(&self.sso), self.sig)
    }
}

// ---------------------------------------------------------------------------------------------
// Payload builder
// ---------------------------------------------------------------------------------------------

/// A DiscourseConnect payload under construction. Enforces the field rules at build time:
/// known keys only (accessors and `custom.NAME`), every key once, booleans exactly
/// `true`/`false`, groups one comma string, a usable `external_id`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payload {
    fields: Vec<(String, String)>,
}

fn check_field(key: &str, value: &str) -> Result<(), SsoError> {
    if let Some(name) = key.strip_prefix("custom.") {
        if name.is_empty() {
            return Err(SsoError::EmptyCustomName);
        }
        return Ok(());
    }
    if !ACCESSORS.contains(&key) {
        return Err(SsoError::UnknownKey(key.to_string()));
    }
    if BOOLS.contains(&key) && value != "true" && value != "false" {
        return Err(SsoError::BadBool {
            key: key.to_string(),
            value: value.to_string(),
        });
    }
    if GROUP_FIELDS.contains(&key) && !value.is_empty() {
        for name in value.split(',') {
            if name.is_empty() {
                return Err(SsoError::BadGroups {
                    key: key.into(),
                    reason: format!(
                        "empty group name in \"{value}\" (one comma-separated string: a,b,c)"
                    ),
                });
            }
            if name.trim() != name {
                return Err(SsoError::BadGroups {
                    key: key.into(),
                    reason: format!("group name \"{name}\" has spaces around it (write a,b,c)"),
                });
            }
        }
    }
    if key == "external_id" {
        let v = value.trim();
        if v.is_empty() || BANNED_EXTERNAL_IDS.contains(&v.to_ascii_lowercase().as_str()) {
            return Err(SsoError::BadExternalId(value.to_string()));
        }
    }
    Ok(())
}

impl Payload {
    pub fn new() -> Self {
        Payload::default()
    }

    /// Builds a payload from `(key, value)` pairs, checking each.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, SsoError> {
        let mut p = Payload::new();
        for (k, v) in pairs {
            p.set(k, v)?;
        }
        Ok(p)
    }

    /// Adds one field. Errors on an unknown key, a key given twice, or a value the field's rule
    /// refuses.
    pub fn set(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<&mut Self, SsoError> {
        let (key, value) = (key.into(), value.into());
        check_field(&key, &value)?;
        if self.fields.iter().any(|(k, _)| *k == key) {
            return Err(SsoError::DuplicateKey(key));
        }
        self.fields.push((key, value));
        Ok(self)
    }

    /// Adds a boolean field as `true`/`false`.
    pub fn set_bool(&mut self, key: &str, value: bool) -> Result<&mut Self, SsoError> {
        if !BOOLS.contains(&key) {
            return Err(if ACCESSORS.contains(&key) {
                SsoError::BadBool {
                    key: key.into(),
                    value: format!("{value} (not a boolean field)"),
                }
            } else {
                SsoError::UnknownKey(key.into())
            });
        }
        self.set(key, if value { "true" } else { "false" })
    }

    /// Adds `groups`, `add_groups` or `remove_groups` as one comma-separated string.
    pub fn set_groups<S: AsRef<str>>(
        &mut self,
        key: &str,
        names: &[S],
    ) -> Result<&mut Self, SsoError> {
        if !GROUP_FIELDS.contains(&key) {
            return Err(SsoError::UnknownKey(key.into()));
        }
        if let Some(bad) = names.iter().find(|n| n.as_ref().contains(',')) {
            return Err(SsoError::BadGroups {
                key: key.into(),
                reason: format!("group name \"{}\" contains a comma", bad.as_ref()),
            });
        }
        let joined = names
            .iter()
            .map(|n| n.as_ref())
            .collect::<Vec<_>>()
            .join(",");
        self.set(key, joined)
    }

    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The Base64 text, free of `+`.
    pub fn encode(&self) -> Result<String, SsoError> {
        encode_without_plus(&self.fields)
    }

    /// Encodes and signs.
    pub fn sign(&self, secret: &Secret) -> Result<SignedPayload, SsoError> {
        let sso = self.encode()?;
        let sig = sign(&sso, secret);
        Ok(SignedPayload { sso, sig })
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// A decoded payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The Base64 text exactly as the signature covers it.
    pub sso: String,
    /// The signature, when the input had one.
    pub sig: Option<String>,
    /// The fields in payload order (a repeated key appears each time).
    pub fields: Vec<(String, String)>,
    /// Keys Discourse ignores (neither accessors nor `custom.*`), e.g. `pad`.
    pub unknown_keys: Vec<String>,
    /// Keys given more than once (Discourse turns them into lists and ignores them).
    pub repeated_keys: Vec<String>,
    /// Remarks about the input: unpadded Base64, wrapped lines, upper-case signature…
    pub notes: Vec<String>,
}

/// The verdict on a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigCheck {
    Valid,
    /// With the reason.
    Invalid(String),
    /// With the reason (no secret, or no signature).
    NotChecked(String),
}

impl Decoded {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn check(&self, secret: Option<&Secret>) -> SigCheck {
        let Some(sig) = &self.sig else {
            return SigCheck::NotChecked("the input has no sig".into());
        };
        let Some(secret) = secret else {
            return SigCheck::NotChecked(
                "no secret (set discourse.sso_secret or AVATAR_CONSOLE_SSO_SECRET)".into(),
            );
        };
        if verify(&self.sso, sig, secret) {
            SigCheck::Valid
        } else if sig.bytes().any(|b| b.is_ascii_uppercase())
            && verify(&self.sso, &sig.to_ascii_lowercase(), secret)
        {
            SigCheck::Invalid(
                "the signature is upper-case hex; Discourse only accepts lower-case".into(),
            )
        } else if parse_lower_hex(&sig.to_ascii_lowercase()).is_none_or(|b| b.len() != 32) {
            SigCheck::Invalid("the sig is not 64 hex digits".into())
        } else {
            SigCheck::Invalid(
                "the signature does not match: another secret, or the payload was changed".into(),
            )
        }
    }
}

/// Percent-decoding. `plus_as_space`: the form rule for `+`. Errors on `%` without two hex
/// digits (Discourse answers those with a 500 or a 400).
fn unescape(s: &str, plus_as_space: bool) -> Result<Vec<u8>, SsoError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
                let Some(h) = hex else {
                    let end = (i + 3).min(b.len());
                    return Err(SsoError::BadEscape(crate::sanitize::clean(
                        &String::from_utf8_lossy(&b[i..end]),
                    )));
                };
                let h = std::str::from_utf8(h).expect("hex digits are ASCII");
                out.push(u8::from_str_radix(h, 16).expect("checked hex"));
                i += 3;
            }
            b'+' if plus_as_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn utf8(bytes: Vec<u8>, what: &str) -> Result<String, SsoError> {
    String::from_utf8(bytes).map_err(|_| SsoError::NotUtf8(what.to_string()))
}

/// Finds `sso` and `sig` in an outer query string (last one wins, as in Rails). A literal `+`
/// is kept: Base64 has no spaces, so a raw `+` can only be Base64's.
fn outer_params(query: &str) -> Result<(Option<String>, Option<String>), SsoError> {
    let (mut sso, mut sig) = (None, None);
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "sso" => sso = Some(utf8(unescape(v, false)?, "sso parameter")?),
            "sig" => sig = Some(utf8(unescape(v, false)?, "sig parameter")?),
            _ => {}
        }
    }
    Ok((sso, sig))
}

fn base64_engine() -> GeneralPurpose {
    GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}

/// Decodes `sso=…&sig=…`, a URL holding them (in its query), or bare Base64 (percent-encoded or
/// not). Never panics; garbage gives an error that says what is wrong.
pub fn decode(input: &str) -> Result<Decoded, SsoError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(SsoError::Empty);
    }
    let mut notes = Vec::new();
    let (sso, sig) = if input.starts_with("http://") || input.starts_with("https://") {
        let url = url::Url::parse(input).map_err(|e| SsoError::BadUrl(e.to_string()))?;
        let (sso, sig) = outer_params(url.query().unwrap_or(""))?;
        (sso.ok_or(SsoError::NoSso("the URL's query"))?, sig)
    } else if input.starts_with("sso=") || input.contains("&sso=") || input.starts_with("?sso=") {
        let (sso, sig) = outer_params(input.trim_start_matches('?'))?;
        (sso.ok_or(SsoError::NoSso("the input"))?, sig)
    } else if input
        .split_once("&sig=")
        .is_some_and(|(payload, _)| !payload.contains('&'))
    {
        // `PAYLOAD&sig=HEX`: what people copy when they take the query apart by hand.
        let (sso, sig) = outer_params(&format!("sso={input}"))?;
        (sso.ok_or(SsoError::NoSso("the input"))?, sig)
    } else {
        (utf8(unescape(input, false)?, "input")?, None)
    };
    let sig = sig.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());

    if sso.is_empty() {
        return Err(SsoError::NotBase64("it is empty".into()));
    }
    // The server's own check: only [a-zA-Z0-9=\r\n/+].
    if let Some((pos, c)) = sso
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '\r' | '\n')))
    {
        let hint = match c {
            '-' | '_' => " (URL-safe Base64, which Discourse refuses)",
            ' ' => " (a '+' turned into a space? percent-encode the sso value: %2B)",
            '%' => " (still percent-encoded twice?)",
            _ => "",
        };
        return Err(SsoError::NotBase64(format!(
            "character {c:?} at position {pos}{hint}"
        )));
    }
    if sso.contains(['\r', '\n']) {
        notes.push(
            "the Base64 is wrapped in lines; Discourse accepts it, but strict Base64 has none"
                .into(),
        );
    }
    if sso.contains('+') {
        notes.push(
            "the Base64 holds '+': servers before July 2026 turn it into a space and refuse the signature"
                .into(),
        );
    }
    let compact: String = sso.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    if !compact.len().is_multiple_of(4) {
        notes.push("the Base64 is not padded with '='".into());
    }
    let bytes = base64_engine()
        .decode(compact.as_bytes())
        .map_err(|e| SsoError::NotBase64(e.to_string()))?;
    let inner = utf8(bytes, "the Base64 does not hold a DiscourseConnect payload")?;

    let mut fields = Vec::new();
    for pair in inner.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = utf8(unescape(k, true)?, "a key")?;
        let v = utf8(unescape(v, true)?, &format!("the value of {k}"))?;
        fields.push((k, v));
    }
    let mut unknown_keys = Vec::new();
    let mut repeated_keys = Vec::new();
    for (i, (k, _)) in fields.iter().enumerate() {
        let known = ACCESSORS.contains(&k.as_str())
            || k.strip_prefix("custom.").is_some_and(|n| !n.is_empty());
        if !known && !unknown_keys.contains(k) {
            unknown_keys.push(k.clone());
        }
        if fields[..i].iter().any(|(k2, _)| k2 == k) && !repeated_keys.contains(k) {
            repeated_keys.push(k.clone());
        }
    }
    if fields.is_empty() {
        notes.push("the payload holds no fields".into());
    }
    if let Some(s) = &sig
        && s.bytes().any(|b| b.is_ascii_uppercase())
    {
        notes.push("the sig is upper-case hex; Discourse only accepts lower-case".into());
    }
    Ok(Decoded {
        sso,
        sig,
        fields,
        unknown_keys,
        repeated_keys,
        notes,
    })
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    // Vectors computed independently with Python's standard library (Rack's escaping spelled
    // out byte by byte, not urllib's quote, which leaves `~` raw):
    //
    // python3 -c 'import base64,hmac,hashlib
    // def esc(s): return "".join(chr(b) if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "*-._") else "+" if b==32 else "%%%02X"%b for b in s.encode())
    // f=[("external_id","684"),("email","alice@example.com"),("avatar_url","https://cdn.example.com/a b~.png"),("avatar_force_update","true"),("name","Zoë & Ω=1")]
    // b=base64.b64encode("&".join(esc(k)+"="+esc(v) for k,v in f).encode()).decode()
    // print(b); print(hmac.new(b"d836444a9e4084d5b224a60c208dce14", b.encode(), hashlib.sha256).hexdigest())'
    const VECTOR_FIELDS: &[(&str, &str)] = &[
        ("external_id", "684"),
        ("email", "alice@example.com"),
        ("avatar_url", "https://cdn.example.com/a b~.png"),
        ("avatar_force_update", "true"),
        ("name", "Zoë & Ω=1"),
    ];
    const VECTOR_SECRET: &str = "d836444a9e4084d5b224a60c208dce14";
    const VECTOR_B64: &str = "ZXh0ZXJuYWxfaWQ9Njg0JmVtYWlsPWFsaWNlJTQwZXhhbXBsZS5jb20mYXZhdGFyX3VybD1odHRwcyUzQSUyRiUyRmNkbi5leGFtcGxlLmNvbSUyRmErYiU3RS5wbmcmYXZhdGFyX2ZvcmNlX3VwZGF0ZT10cnVlJm5hbWU9Wm8lQzMlQUIrJTI2KyVDRSVBOSUzRDE=";
    const VECTOR_SIG: &str = "6f2fb50482208107c05f1e75e33deb590a212cda3b83d790b6532aa222bae929";

    // The example from Discourse's DiscourseConnect documentation (meta.discourse.org/t/13045):
    // secret "d836444a9e4084d5b224a60c208dce14", payload
    // "bm9uY2U9Y2I2ODI1MWVlZmI1MjExZTU4YzAwZmYxMzk1ZjBjMGI=\n" (with its newline).
    // python3 -c 'import hmac,hashlib;print(hmac.new(b"d836444a9e4084d5b224a60c208dce14",b"bm9uY2U9Y2I2ODI1MWVlZmI1MjExZTU4YzAwZmYxMzk1ZjBjMGI=\n",hashlib.sha256).hexdigest())'
    const DOC_B64: &str = "bm9uY2U9Y2I2ODI1MWVlZmI1MjExZTU4YzAwZmYxMzk1ZjBjMGI=\n";
    const DOC_SIG: &str = "2828aa29899722b35a2f191d34ef9b3ce695e0e6eeec47deb46d588d70c7cb56";

    #[test]
    fn matches_independent_vector() {
        let f = pairs(VECTOR_FIELDS);
        assert_eq!(encode(&f), VECTOR_B64);
        let secret = Secret::new(VECTOR_SECRET);
        assert_eq!(sign(VECTOR_B64, &secret), VECTOR_SIG);
        assert!(verify(VECTOR_B64, VECTOR_SIG, &secret));
        let signed = Payload::from_pairs(VECTOR_FIELDS.iter().copied())
            .unwrap()
            .sign(&secret)
            .unwrap();
        assert_eq!(signed.sso, VECTOR_B64);
        assert_eq!(signed.sig, VECTOR_SIG);
    }

    #[test]
    fn matches_discourse_documentation_signature() {
        let secret = Secret::new(VECTOR_SECRET);
        assert_eq!(sign(DOC_B64, &secret), DOC_SIG);
        let d = decode(&format!("sso={}&sig={DOC_SIG}", form_escape(DOC_B64))).unwrap();
        assert_eq!(
            d.fields,
            pairs(&[("nonce", "cb68251eefb5211e58c00ff1395f0c0b")])
        );
        assert_eq!(d.check(Some(&secret)), SigCheck::Valid);
        assert!(d.notes.iter().any(|n| n.contains("wrapped")));
    }

    #[test]
    fn escaping_is_racks() {
        assert_eq!(
            form_escape("a b~*-._!'()/?:@"),
            "a+b%7E*-._%21%27%28%29%2F%3F%3A%40"
        );
        assert_eq!(form_escape("é"), "%C3%A9");
        assert_eq!(
            build_query(&pairs(&[("a", "1"), ("b", "x y")])),
            "a=1&b=x+y"
        );
    }

    #[test]
    fn verify_rejects_wrong_secret_case_and_garbage() {
        let secret = Secret::new(VECTOR_SECRET);
        assert!(!verify(VECTOR_B64, VECTOR_SIG, &Secret::new("other")));
        assert!(!verify(
            VECTOR_B64,
            &VECTOR_SIG.to_ascii_uppercase(),
            &secret
        ));
        assert!(!verify(VECTOR_B64, "zz", &secret));
        assert!(!verify(VECTOR_B64, "", &secret));
        assert!(!verify(VECTOR_B64, &VECTOR_SIG[..62], &secret));
        assert!(!verify(&VECTOR_B64[1..], VECTOR_SIG, &secret));
    }

    #[test]
    fn round_trips_awkward_values() {
        let secret = Secret::new("s3cr3t-for-tests");
        let values = [
            "plain",
            "a & b = c",
            "tilde~tilde~~",
            "  spaces  everywhere ",
            "Zoë 🙂 日本語 Ωmega ž о",
            "100% + 50% = ?",
            "line\nbreak\ttab",
            "",
            "&&==&=",
        ];
        for v in values {
            let mut p = Payload::new();
            p.set("external_id", "ext-1").unwrap();
            p.set("name", v).unwrap();
            p.set("custom.note", v).unwrap();
            p.set("username", "user.name-1").unwrap();
            let s = p.sign(&secret).unwrap();
            assert!(!s.sso.contains('+'), "{v:?}: {}", s.sso);
            let d = decode(&s.form_body()).unwrap();
            assert_eq!(d.get("name"), Some(v));
            assert_eq!(d.get("custom.note"), Some(v));
            assert_eq!(d.get("external_id"), Some("ext-1"));
            assert_eq!(d.check(Some(&secret)), SigCheck::Valid, "{v:?}");
            assert!(d.unknown_keys.is_empty());
            // Bare Base64 and a URL decode the same way.
            assert_eq!(decode(&s.sso).unwrap().fields, d.fields);
            let url = format!(
                "https://forum.example.com/admin/users/sync_sso?{}",
                s.form_body()
            );
            let du = decode(&url).unwrap();
            assert_eq!(du.fields, d.fields);
            assert_eq!(du.check(Some(&secret)), SigCheck::Valid);
            // `PAYLOAD&sig=HEX`, the query without its `sso=`, percent-encoded or not.
            let bare = decode(&format!("{}&sig={}", s.sso, s.sig)).unwrap();
            assert_eq!(bare.fields, d.fields);
            assert_eq!(bare.check(Some(&secret)), SigCheck::Valid, "{v:?}");
            let body = s.form_body();
            let without = body.strip_prefix("sso=").unwrap();
            assert_eq!(
                decode(without).unwrap().check(Some(&secret)),
                SigCheck::Valid
            );
        }
    }

    /// A small deterministic generator (no rand crate needed).
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn string(&mut self) -> String {
            const POOL: &[char] = &[
                'a', 'Z', '0', ' ', '~', '>', '&', '=', '+', '%', '/', '?', '*', '-', '.', '_',
                'é', 'ž', 'о', 'Ω', '日', '🙂', '\u{7f}', '\n', '#', '"',
            ];
            let len = (self.next() % 24) as usize;
            (0..len)
                .map(|_| POOL[(self.next() % POOL.len() as u64) as usize])
                .collect()
        }
    }

    #[test]
    fn no_plus_in_a_thousand_random_payloads() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let secret = Secret::new("random-secret");
        for i in 0..1000 {
            let mut p = Payload::new();
            p.set(
                "external_id",
                format!("id{i}{}", rng.string().replace(char::is_whitespace, "x")),
            )
            .unwrap();
            p.set("email", format!("{}@example.com", rng.string()))
                .unwrap();
            p.set("name", rng.string()).unwrap();
            p.set(
                "avatar_url",
                format!("https://cdn.example.com/{}", rng.string()),
            )
            .unwrap();
            p.set("custom.x", rng.string()).unwrap();
            let s = p.sign(&secret).unwrap();
            assert!(!s.sso.contains('+'), "payload {i}: {}", s.sso);
            let d = decode(&s.form_body()).unwrap();
            assert_eq!(d.fields, p.fields(), "payload {i}");
            assert_eq!(d.check(Some(&secret)), SigCheck::Valid);
        }
    }

    /// An encoder that leaves `~` and non-ASCII raw (like Python's urlencode), which does make
    /// `+`: the padding loop must get rid of it.
    fn naive_encode(fields: &[(String, String)]) -> String {
        let q: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
        STANDARD.encode(q.join("&"))
    }

    #[test]
    fn padding_loop_removes_plus() {
        let mut rng = XorShift(42);
        let mut padded = 0;
        for _ in 0..500 {
            // Safe characters with at most two that can make a '+' (`~`, `>`): some shift of
            // the text always puts both away from offset 2 mod 3.
            let len = 1 + (rng.next() % 12) as usize;
            let mut name: Vec<char> = (0..len)
                .map(|_| ['a', 'Z', '1', 'q'][(rng.next() % 4) as usize])
                .collect();
            for _ in 0..1 + rng.next() % 2 {
                let at = (rng.next() % (name.len() as u64 + 1)) as usize;
                name.insert(
                    at,
                    if rng.next().is_multiple_of(2) {
                        '~'
                    } else {
                        '>'
                    },
                );
            }
            let name: String = name.into_iter().collect();
            let f = pairs(&[("external_id", "1"), ("name", &name)]);
            let plain = naive_encode(&f);
            let out = strip_plus_with(&f, naive_encode).unwrap();
            assert!(!out.contains('+'));
            if plain.contains('+') {
                padded += 1;
                let d = decode(&out).unwrap();
                assert_eq!(d.fields[0].0, PAD_KEY);
                assert_eq!(d.unknown_keys, vec![PAD_KEY.to_string()]);
                assert_eq!(&d.fields[1..], &f[..]);
            } else {
                assert_eq!(out, plain);
            }
        }
        assert!(
            padded > 50,
            "the naive encoder should have made '+' often ({padded})"
        );
    }

    /// The pad only shifts the text: when raw `~` sit at every offset mod 3 no shift helps.
    /// Escaping (which `encode` does) is the real cure; the pad is a second guard.
    #[test]
    fn padding_cannot_fix_dense_raw_tildes() {
        let f = pairs(&[("external_id", "1"), ("name", "~~~")]);
        assert!(naive_encode(&f).contains('+'));
        assert_eq!(
            strip_plus_with(&f, naive_encode),
            Err(SsoError::PlusNotAvoidable)
        );
        assert!(!encode_without_plus(&f).unwrap().contains('+'));
    }

    #[test]
    fn field_rules() {
        let mut p = Payload::new();
        assert!(matches!(
            p.set("avatar_update", "true"),
            Err(SsoError::UnknownKey(_))
        ));
        assert!(matches!(p.set("pad", "1"), Err(SsoError::UnknownKey(_))));
        assert!(matches!(
            p.set("admin", "True"),
            Err(SsoError::BadBool { .. })
        ));
        assert!(matches!(
            p.set("require_activation", "1"),
            Err(SsoError::BadBool { .. })
        ));
        assert!(matches!(
            p.set("custom.", "x"),
            Err(SsoError::EmptyCustomName)
        ));
        assert!(matches!(
            p.set("external_id", "NULL"),
            Err(SsoError::BadExternalId(_))
        ));
        assert!(matches!(
            p.set("external_id", " "),
            Err(SsoError::BadExternalId(_))
        ));
        assert!(matches!(
            p.set("groups", "a,,b"),
            Err(SsoError::BadGroups { .. })
        ));
        assert!(matches!(
            p.set("groups", "a, b"),
            Err(SsoError::BadGroups { .. })
        ));
        assert!(matches!(
            p.set_groups("groups", &["a,b"]),
            Err(SsoError::BadGroups { .. })
        ));
        assert!(matches!(
            p.set_bool("email", true),
            Err(SsoError::BadBool { .. })
        ));
        p.set("external_id", "684").unwrap();
        assert!(matches!(
            p.set("external_id", "685"),
            Err(SsoError::DuplicateKey(_))
        ));
        p.set_bool("avatar_force_update", true).unwrap();
        p.set_groups("groups", &["staff-helpers", "trust_level_x"])
            .unwrap();
        p.set("custom.user_field_1", "x").unwrap();
        p.set("add_groups", "").unwrap();
        assert_eq!(p.get("groups"), Some("staff-helpers,trust_level_x"));
        assert_eq!(p.get("avatar_force_update"), Some("true"));
        assert_eq!(p.fields().len(), 5);
        // The error names the key and the list of accessors.
        let e = Payload::new()
            .set("avatar_update", "true")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"avatar_update\"") && e.contains("avatar_force_update"),
            "{e}"
        );
    }

    #[test]
    fn decode_reports_unknown_and_repeated_keys() {
        let b64 = STANDARD.encode("external_id=1&foo=bar&groups=a&groups=b&custom.x=1");
        let d = decode(&b64).unwrap();
        assert_eq!(d.unknown_keys, vec!["foo".to_string()]);
        assert_eq!(d.repeated_keys, vec!["groups".to_string()]);
        assert_eq!(d.sig, None);
        assert!(matches!(
            d.check(Some(&Secret::new("x"))),
            SigCheck::NotChecked(_)
        ));
    }

    #[test]
    fn decode_garbage_gives_clear_errors() {
        let cases: &[(&str, &str)] = &[
            ("", "nothing to decode"),
            ("   ", "nothing to decode"),
            ("sso=&sig=ab", "empty"),
            ("sig=abc&sso=ab_c", "URL-safe"),
            ("sso=abc def", "turned into a space"),
            ("not base64 at all!", "not Base64"),
            ("sso=%zz&sig=1", "bad percent escape"),
            ("sso=abc%2", "bad percent escape"),
            ("abcde", "not Base64"),
            (
                "https://forum.example.com/session/sso_login?foo=1",
                "no sso=",
            ),
            ("https://", "not a valid URL"),
            ("=====", "not Base64"),
            ("%", "bad percent escape"),
        ];
        for (input, want) in cases {
            let e = decode(input).expect_err(input).to_string();
            assert!(e.contains(want), "{input:?} gave {e:?}, wanted {want:?}");
        }
        // Valid Base64 of non-UTF-8 bytes, and of a payload with a bad escape inside.
        let e = decode(&STANDARD.encode([0xff, 0xfe, 0x00]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not UTF-8"), "{e}");
        let e = decode(&STANDARD.encode("external_id=1&name=100%"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad percent escape"), "{e}");
        // Random bytes never panic.
        let mut rng = XorShift(7);
        for _ in 0..2000 {
            let s = rng.string();
            let _ = decode(&s);
            let _ = decode(&format!("sso={s}&sig={s}"));
            let _ = decode(&STANDARD.encode(s.as_bytes()));
        }
    }

    #[test]
    fn decode_accepts_unpadded_and_notes_it() {
        let b64 = STANDARD.encode("external_id=12");
        let trimmed = b64.trim_end_matches('=');
        assert_ne!(trimmed, b64);
        let d = decode(trimmed).unwrap();
        assert_eq!(d.get("external_id"), Some("12"));
        assert!(d.notes.iter().any(|n| n.contains("padded")));
    }

    #[test]
    fn invalid_signature_reasons() {
        let secret = Secret::new(VECTOR_SECRET);
        let body = |sig: &str| format!("sso={}&sig={sig}", form_escape(VECTOR_B64));
        assert_eq!(
            decode(&body(VECTOR_SIG)).unwrap().check(Some(&secret)),
            SigCheck::Valid
        );
        let upper = decode(&body(&VECTOR_SIG.to_ascii_uppercase())).unwrap();
        assert!(
            matches!(upper.check(Some(&secret)), SigCheck::Invalid(r) if r.contains("upper-case"))
        );
        let other = decode(&body(VECTOR_SIG)).unwrap();
        assert!(
            matches!(other.check(Some(&Secret::new("nope"))), SigCheck::Invalid(r) if r.contains("does not match"))
        );
        let short = decode(&body("abc")).unwrap();
        assert!(matches!(short.check(Some(&secret)), SigCheck::Invalid(r) if r.contains("64 hex")));
        assert!(matches!(other.check(None), SigCheck::NotChecked(_)));
        // Last sso/sig wins, as in Rails.
        let d = decode(&format!("sig=00&{}&foo=1", body(VECTOR_SIG))).unwrap();
        assert_eq!(d.check(Some(&secret)), SigCheck::Valid);
    }

    #[test]
    fn form_body_percent_encodes_base64() {
        let s = SignedPayload {
            sso: "ab+/cd==".into(),
            sig: "00ff".into(),
        };
        assert_eq!(s.form_body(), "sso=ab%2B%2Fcd%3D%3D&sig=00ff");
    }
}
