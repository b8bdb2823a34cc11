//! Property tests (issue 10): the DiscourseConnect decoder, the config loader, the text
//! sanitizer and the secret scrubber, on generated input. Run in CI with `cargo test`.

use std::path::Path;

use avatar_console::config::{self, Config};
use avatar_console::discourse::sso::{self, Payload, SigCheck};
use avatar_console::sanitize;
use avatar_console::secret::{Scrubber, Secret};
use base64::Engine;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        // PROPTEST_CASES=5000 for a longer hunt.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text with a bias towards what breaks parsers and terminals.
fn nasty_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z0-9 ]{0,8}",
        Just("\u{1b}[31m".to_string()),
        Just("\u{1b}]0;t\u{7}".to_string()),
        Just("\u{9b}2J".to_string()),
        Just("\u{200b}".to_string()),
        Just("\u{200d}".to_string()),
        Just("\u{202e}".to_string()),
        Just("\u{2066}".to_string()),
        Just("\u{feff}".to_string()),
        Just("\u{fe0f}".to_string()),
        Just("\u{e0041}".to_string()),
        Just("👨\u{200d}👩".to_string()),
        Just("山田".to_string()),
        Just("e\u{301}".to_string()),
        Just("%2B+&=?#".to_string()),
        Just("https://u:p@h/".to_string()),
        any::<char>().prop_map(String::from),
        "\\PC{0,4}",
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

/// Characters a terminal must never get raw from `clean`.
fn forbidden(c: char) -> bool {
    c.is_control() || sanitize::is_invisible(c)
}

proptest! {
    #![proptest_config(config())]

    // ---- DiscourseConnect decoder ---------------------------------------------------------

    #[test]
    fn decoder_never_panics(input in nasty_text()) {
        let _ = sso::decode(&input);
        let _ = sso::decode(&format!("sso={input}&sig={input}"));
        let _ = sso::decode(&format!("https://f.example/session/sso_login?sso={input}"));
    }

    #[test]
    fn decoder_never_panics_on_base64_of_anything(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let _ = sso::decode(&b64);
        let _ = sso::decode(&format!("sso={}&sig=00", b64.replace('+', "%2B")));
    }

    #[test]
    fn signed_payloads_round_trip(
        external_id in "[a-zA-Z0-9]{1,12}",
        values in proptest::collection::vec(("[a-z]{1,8}", "\\PC{0,24}"), 0..6),
        secret in "[ -~]{10,40}",
    ) {
        let mut fields = vec![("external_id".to_string(), external_id)];
        for (i, (name, value)) in values.iter().enumerate() {
            fields.push((format!("custom.{name}{i}"), value.clone()));
        }
        let secret = Secret::new(secret);
        let signed = Payload::from_pairs(fields.clone()).unwrap().sign(&secret).unwrap();
        prop_assert!(!signed.sso.contains('+'), "the Base64 must hold no '+'");
        for input in [signed.form_body(), format!("sso={}&sig={}", signed.sso, signed.sig)] {
            let decoded = sso::decode(&input).unwrap();
            prop_assert_eq!(&decoded.fields, &fields);
            prop_assert_eq!(decoded.check(Some(&secret)), SigCheck::Valid);
            let other = Secret::new(format!("{}x", secret.expose()));
            prop_assert!(matches!(decoded.check(Some(&other)), SigCheck::Invalid(_)));
        }
    }

    // ---- Config loader ---------------------------------------------------------------------

    #[test]
    fn config_loader_never_panics(text in nasty_text()) {
        let _ = Config::from_toml_str(&text, Path::new("c.toml"));
        let _ = Config::from_toml_str(&format!("[discourse]\n{text}"), Path::new("c.toml"));
    }

    #[test]
    fn accepted_configs_can_work_and_errors_name_a_real_line(
        url in prop_oneof![
            Just("https://forum.example.com".to_string()),
            Just("https://forum.example.com/?x=1".to_string()),
            Just("https://forum.example.com/#f".to_string()),
            Just("https://admin:pw@forum.example.com".to_string()),
            Just("http://127.0.0.1:4000".to_string()),
            "https://[a-z:@?#/%]{1,20}",
        ],
        timeout in any::<i64>(),
        verify in prop_oneof![any::<i64>(), 0i64..5000],
        rpm in prop_oneof![any::<i64>(), 0i64..200],
        key in "[A-Za-z0-9]{12,20}",
    ) {
        let text = format!(
            "[discourse]\nurl = {}\napi_key = {}\ntimeout_secs = {timeout}\n\
             requests_per_minute = {rpm}\n[reset]\nverify_timeout_secs = {verify}\n",
            toml_str(&url), toml_str(&key)
        );
        match Config::from_toml_str(&text, Path::new("c.toml")) {
            Ok(c) => {
                let u = &c.discourse.url;
                prop_assert!(u.query().is_none() && u.fragment().is_none(), "{u}");
                prop_assert!(u.username().is_empty() && u.password().is_none(), "{u}");
                prop_assert!((1..=config::MAX_TIMEOUT_SECS).contains(&c.discourse.timeout_secs));
                prop_assert!((1..=config::MAX_VERIFY_TIMEOUT_SECS).contains(&c.reset.verify_timeout_secs));
                prop_assert!((1..=config::MAX_REQUESTS_PER_MINUTE).contains(&c.discourse.requests_per_minute));
            }
            Err(e) => {
                let lines = text.lines().count();
                prop_assert!(e.line.is_none_or(|l| (1..=lines).contains(&l)), "{e}");
                prop_assert!(e.key.is_some(), "no key named: {e}");
                prop_assert!(!e.to_string().contains("pw@"), "{e}");
                prop_assert!(!e.to_string().contains(&key), "the key is quoted: {e}");
            }
        }
    }

    // ---- Text sanitizer --------------------------------------------------------------------

    #[test]
    fn clean_leaves_nothing_raw_and_is_stable(text in nasty_text()) {
        let out = sanitize::clean(&text);
        let chars: Vec<char> = out.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            if forbidden(*c) {
                // Only inside emoji sequences: a joiner between pictographs, a selector or
                // tag after one.
                let prev = i.checked_sub(1).map(|j| chars[j]);
                let keycap = matches!(c, '\u{fe0e}' | '\u{fe0f}');
                let in_sequence = prev.is_some_and(|p| {
                    !p.is_ascii() || (keycap && (p.is_ascii_digit() || p == '#' || p == '*'))
                });
                prop_assert!(in_sequence, "raw {c:?} in {out:?}");
                prop_assert!(!c.is_control(), "control {c:?} in {out:?}");
                let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
                prop_assert!(!bidi, "bidi {c:?} in {out:?}");
            }
        }
        prop_assert!(!out.contains('\n'));
        prop_assert_eq!(sanitize::clean(&out), out.clone(), "clean is idempotent");
        prop_assert!(!out.contains("u:p@h"), "userinfo shown: {out:?}");
    }

    #[test]
    fn truncate_fits_the_width(text in nasty_text(), max in 0usize..30) {
        let out = sanitize::truncate(&sanitize::clean(&text), max);
        prop_assert!(sanitize::width(&out) <= max, "{out:?} is wider than {max}");
    }

    // ---- Scrubber --------------------------------------------------------------------------

    #[test]
    fn no_secret_survives_in_any_encoding(
        secret in "[a-zA-Z0-9/+=_. -]{6,32}|\\PC{6,12}",
        before in "[a-z ]{0,10}",
        after in "[a-z ]{0,10}",
        shift in 0usize..3,
    ) {
        prop_assume!(secret.chars().count() >= 6 && !secret.contains(']') && !secret.contains('['));
        let sc = Scrubber::new([&Secret::new(secret.clone())]);
        let bytes = secret.as_bytes();
        let pct: String = bytes.iter().map(|b| format!("%{b:02X}")).collect();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let padding = "xyz"[..shift].to_string();
        let encoded = [
            secret.clone(),
            pct.clone(),
            pct.to_lowercase(),
            url::form_urlencoded::byte_serialize(bytes).collect(),
            serde_json::to_string(&secret).unwrap(),
            base64::engine::general_purpose::STANDARD.encode(format!("{padding}{secret}")),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{padding}{secret}")),
            hex.clone(),
            hex.to_uppercase(),
            secret.chars().flat_map(|c| [c, ZWSP]).collect(),
        ];
        let alone_b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&secret);
        for e in encoded {
            let text = format!("{before}{e}{after}");
            let out = sc.scrub(&text);
            let visible: String = out.chars().filter(|c| !sanitize::is_invisible(*c)).collect();
            for form in [&secret, &pct, &hex, &alone_b64] {
                prop_assert!(!visible.contains(form.as_str()), "{form:?} survives in {out:?}");
            }
            prop_assert!(!sc.finds(&out), "{out:?}");
            // And through the one sanitizer every sink uses.
            prop_assert!(!sanitize::clean(&out).contains(&secret));
        }
    }
}

const ZWSP: char = '\u{200b}';

fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
