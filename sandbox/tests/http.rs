//! The sandbox over real HTTP (reqwest), with payloads built by a tiny encoder written here
//! (independent of both the sandbox's parser and any client's encoder).

use discourse_sandbox::{Faults, LoginKind, Sandbox, Scenario};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::{Duration, Instant};

// ---------- a tiny independent DiscourseConnect encoder ----------

/// Rack's `escape`: all but `*-._` and alphanumerics become %XX, space becomes '+'.
fn rack_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Standard Base64 with padding, no newlines.
fn b64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn hmac_hex(secret: &str, msg: &str) -> String {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(msg.as_bytes());
    m.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The raw inner query (already escaped by the caller, so tests can send anything).
fn signed(raw_query: &str, secret: &str) -> (String, String) {
    let sso = b64(raw_query.as_bytes());
    let sig = hmac_hex(secret, &sso);
    (sso, sig)
}

fn query(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", rack_escape(k), rack_escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The form body a well-behaved client posts.
fn form(sso: &str, sig: &str) -> String {
    format!("sso={}&sig={}", rack_escape(sso), sig)
}

// ---------- helpers ----------

struct Api {
    sb: Sandbox,
    http: reqwest::Client,
}

impl Api {
    async fn start(s: Scenario) -> Api {
        let sb = Sandbox::start(s).await.expect("sandbox starts");
        Api {
            sb,
            http: reqwest::Client::new(),
        }
    }
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.sb.url(), path)
    }
    fn admin(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        rb.header("Api-Key", self.sb.api_key())
            .header("Api-Username", self.sb.api_username())
    }
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .admin(self.http.get(self.url(path)))
            .send()
            .await
            .unwrap();
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }
    async fn sync(&self, body: String) -> (StatusCode, Value) {
        let r = self
            .admin(self.http.post(self.url("/admin/users/sync_sso")))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }
    fn rules(&self) -> Vec<String> {
        self.sb.violations().into_iter().map(|v| v.rule).collect()
    }
    /// The minimal "avatar only" payload for a seeded user, as interface.md describes it.
    fn avatar_only(&self, username: &str, avatar_url: &str) -> String {
        let u = self.sb.user(username).unwrap();
        let mut f = vec![
            ("external_id", u.sso.as_ref().unwrap().external_id.clone()),
            ("email", u.email.clone()),
            ("avatar_url", avatar_url.to_string()),
            ("avatar_force_update", "true".into()),
            ("suppress_welcome_message", "true".into()),
        ];
        if !u.active {
            f.push(("require_activation", "true".into()));
        }
        f.push(("groups", u.manual_groups().join(",")));
        let fields: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        query(&fields)
    }
}

fn quick() -> Scenario {
    Scenario {
        download_delay: Duration::from_millis(300),
        ..Scenario::default()
    }
}

async fn wait_for<F: Fn() -> bool>(f: F, max: Duration) -> bool {
    let t = Instant::now();
    while t.elapsed() < max {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}

// ---------- the encoder itself, against Python ----------

#[test]
fn test_encoder_matches_python_vector() {
    // python3 -c "import base64,hmac,hashlib;p=base64.b64encode(b'external_id=684&email=alice%40example.com&pad=~>~>').decode();print(p,hmac.new(b'test-secret',p.encode(),hashlib.sha256).hexdigest())"
    let (sso, sig) = signed(
        "external_id=684&email=alice%40example.com&pad=~>~>",
        "test-secret",
    );
    assert_eq!(
        sso,
        "ZXh0ZXJuYWxfaWQ9Njg0JmVtYWlsPWFsaWNlJTQwZXhhbXBsZS5jb20mcGFkPX4+fj4="
    );
    assert_eq!(
        sig,
        "b9b73865758b3eb2c8bee3282379101013dd7a198b7299847d25d70e1210751e"
    );
    assert_eq!(b64(b"hello"), "aGVsbG8=");
    assert_eq!(rack_escape("a b~"), "a+b%7E");
}

// ---------- sync_sso ----------

#[tokio::test]
async fn plus_in_payload_refused_while_bug_on_and_accepted_when_off() {
    let api = Api::start(quick()).await;
    api.sb
        .set_setting("discourse_connect_secret", "test-secret");
    let (sso, sig) = signed(
        "external_id=684&email=alice%40example.com&pad=~>~>",
        "test-secret",
    );
    assert!(sso.contains('+'));
    let (status, body) = api.sync(form(&sso, &sig)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body, json!({"failed": "FAILED", "message": "Login Error"}));
    assert!(api.rules().contains(&"plus_in_payload".to_string()));

    api.sb.set_plus_bug(false);
    let (status, body) = api.sync(form(&sso, &sig)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["username"], "alice");
    assert_eq!(body["single_sign_on_record"]["external_id"], "684");
}

#[tokio::test]
async fn payload_without_plus_is_accepted_and_applied_only_after_the_delay() {
    let api = Api::start(Scenario {
        download_delay: Duration::from_millis(700),
        ..Scenario::default()
    })
    .await;
    let before = api.sb.user("alice").unwrap();
    let secret = api.sb.sso_secret();
    let (sso, sig) = signed(
        &api.avatar_only("alice", &api.sb.default_avatar_url()),
        &secret,
    );
    let sent = Instant::now();
    let (status, body) = api.sync(form(&sso, &sig)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The answer still shows the old avatar: the download has not run.
    assert_eq!(
        body["avatar_template"].as_str().unwrap(),
        before.avatar_template
    );
    let (_, u) = api.get("/u/alice.json").await;
    assert_eq!(
        u["user"]["uploaded_avatar_id"],
        json!(before.uploaded_avatar_id)
    );

    assert!(
        wait_for(
            || api.sb.user("alice").unwrap().uploaded_avatar_id != before.uploaded_avatar_id,
            Duration::from_secs(5)
        )
        .await
    );
    assert!(
        sent.elapsed() >= Duration::from_millis(650),
        "applied too early: {:?}",
        sent.elapsed()
    );
    let after = api.sb.user("alice").unwrap();
    assert_eq!(after.custom_upload_id, after.uploaded_avatar_id);
    assert!(
        after
            .avatar_template
            .starts_with("/user_avatar/127.0.0.1/alice/{size}/")
    );
    // Only the avatar changed; the reset broke no rule.
    assert_eq!(
        (
            after.title.clone(),
            after.website.clone(),
            after.manual_groups(),
            after.email.clone()
        ),
        (
            before.title.clone(),
            before.website.clone(),
            before.manual_groups(),
            before.email.clone()
        )
    );
    assert_eq!(
        after.sso.as_ref().unwrap().external_avatar_url.as_deref(),
        Some(api.sb.default_avatar_url().as_str())
    );
    assert_eq!(after.ip_address, None, "sync_sso sets ip_address to nil");
    assert!(api.sb.violations().is_empty(), "{:?}", api.sb.violations());
    let (_, u) = api.get("/u/alice.json").await;
    assert_eq!(
        u["user"]["uploaded_avatar_id"],
        json!(after.uploaded_avatar_id)
    );

    // Same bytes for another user: de-duplicated into the same upload.
    let (sso, sig) = signed(
        &api.avatar_only("dave", &api.sb.default_avatar_url()),
        &secret,
    );
    assert_eq!(api.sync(form(&sso, &sig)).await.0, StatusCode::OK);
    assert!(
        wait_for(
            || api.sb.user("dave").unwrap().uploaded_avatar_id == after.uploaded_avatar_id,
            Duration::from_secs(5)
        )
        .await
    );
}

#[tokio::test]
async fn empty_avatar_url_is_ignored() {
    let api = Api::start(Scenario {
        download_delay: Duration::from_millis(50),
        ..Scenario::default()
    })
    .await;
    let before = api.sb.user("alice").unwrap();
    let (sso, sig) = signed(&api.avatar_only("alice", ""), &api.sb.sso_secret());
    assert_eq!(api.sync(form(&sso, &sig)).await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after = api.sb.user("alice").unwrap();
    assert_eq!(after.uploaded_avatar_id, before.uploaded_avatar_id);
    assert_eq!(after.avatar_template, before.avatar_template);
    // ...but the record was overwritten with what was sent.
    assert_eq!(after.sso.unwrap().external_avatar_url.as_deref(), Some(""));
}

#[tokio::test]
async fn loopback_avatar_url_is_refused_silently_unless_allowed() {
    let api = Api::start(Scenario {
        download_delay: Duration::from_millis(50),
        verbose_logging: true,
        ..Scenario::default()
    })
    .await;
    let before = api.sb.user("alice").unwrap();
    let port = api.sb.port();
    let url = format!("http://localhost:{port}/images/default-avatar.png");
    let (sso, sig) = signed(&api.avatar_only("alice", &url), &api.sb.sso_secret());
    let logs_before = api.sb.logs().iter().filter(|(s, _)| *s >= 3).count();
    assert_eq!(api.sync(form(&sso, &sig)).await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        api.sb.user("alice").unwrap().uploaded_avatar_id,
        before.uploaded_avatar_id
    );
    // Silent: the verbose "Downloading" warn line, no error line.
    assert!(api.sb.logs().iter().any(|(s, m)| *s == 2
        && m == &format!("Verbose Upload Logging: Downloading sso-avatar from {url}")));
    assert_eq!(
        api.sb.logs().iter().filter(|(s, _)| *s >= 3).count(),
        logs_before
    );

    api.sb.set_setting("allowed_internal_hosts", "localhost");
    assert_eq!(api.sync(form(&sso, &sig)).await.0, StatusCode::OK);
    assert!(
        wait_for(
            || api.sb.user("alice").unwrap().uploaded_avatar_id != before.uploaded_avatar_id,
            Duration::from_secs(5)
        )
        .await
    );
}

#[tokio::test]
async fn download_failures_non_image_huge_http_error_and_fault() {
    let api = Api::start(Scenario {
        download_delay: Duration::from_millis(20),
        ..Scenario::default()
    })
    .await;
    api.sb.set_setting("max_image_size_kb", "50");
    let before = api.sb.user("alice").unwrap().uploaded_avatar_id;
    for path in [
        "/images/not-an-image.png",
        "/images/huge.png",
        "/images/missing.png",
    ] {
        let (sso, sig) = signed(
            &api.avatar_only("alice", &api.url(path)),
            &api.sb.sso_secret(),
        );
        assert_eq!(api.sync(form(&sso, &sig)).await.0, StatusCode::OK);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(api.sb.user("alice").unwrap().uploaded_avatar_id, before);

    api.sb.set_faults(Faults {
        failing_downloads: true,
        ..Faults::default()
    });
    let (sso, sig) = signed(
        &api.avatar_only("alice", &api.sb.default_avatar_url()),
        &api.sb.sso_secret(),
    );
    assert_eq!(api.sync(form(&sso, &sig)).await.0, StatusCode::OK);
    assert!(
        wait_for(
            || api
                .sb
                .logs()
                .iter()
                .any(|(s, m)| *s == 3 && m.starts_with("Job exception")),
            Duration::from_secs(3)
        )
        .await
    );
    assert_eq!(api.sb.user("alice").unwrap().uploaded_avatar_id, before);

    // A redirect on the own host is followed.
    api.sb.set_faults(Faults::default());
    let (sso, sig) = signed(
        &api.avatar_only("alice", &api.url("/images/redirect.png")),
        &api.sb.sso_secret(),
    );
    assert_eq!(api.sync(form(&sso, &sig)).await.0, StatusCode::OK);
    assert!(
        wait_for(
            || api.sb.user("alice").unwrap().uploaded_avatar_id != before,
            Duration::from_secs(3)
        )
        .await
    );
}

#[tokio::test]
async fn sync_errors_404_when_off_422_bad_sig_blank_id_500_bare_percent() {
    let api = Api::start(quick()).await;
    let secret = api.sb.sso_secret();
    let (sso, sig) = signed("external_id=684", &secret);
    // Upper-case hex is refused.
    assert_eq!(
        api.sync(form(&sso, &sig.to_uppercase())).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // URL-safe Base64 characters are refused.
    assert_eq!(
        api.sync(format!("sso={}_&sig={sig}", rack_escape(&sso)))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (sso, sig) = signed("external_id=&email=a%40b.c", &secret);
    let (status, body) = api.sync(form(&sso, &sig)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["failed"], "FAILED");
    let (sso, sig) = signed("external_id=684&name=100%", &secret);
    assert_eq!(
        api.sync(form(&sso, &sig)).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    // sso/sig in the query string work too (Rails merges them).
    let (sso, sig) = signed(&api.avatar_only("alice", ""), &secret);
    let r = api
        .admin(
            api.http
                .post(api.url(&format!("/admin/users/sync_sso?{}", form(&sso, &sig)))),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    api.sb.set_setting("enable_discourse_connect", "false");
    let (status, _) = api.sync(form(&sso, &sig)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn repeated_keys_are_lists_and_recorded() {
    let api = Api::start(quick()).await;
    let secret = api.sb.sso_secret();
    // Repeated groups: an Array where a comma string is expected → 500.
    let raw = format!(
        "{}&groups=beta_testers&groups=vip",
        query(&[("external_id", "684"), ("email", "alice@example.com")])
    );
    let (sso, sig) = signed(&raw, &secret);
    assert_eq!(
        api.sync(form(&sso, &sig)).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert!(api.rules().contains(&"repeated_key".to_string()));
    // A repeated boolean becomes nil: accepted, ignored.
    let raw = format!(
        "{}&avatar_force_update=true&avatar_force_update=true&groups=beta_testers",
        query(&[("external_id", "684"), ("email", "alice@example.com")])
    );
    let (sso, sig) = signed(&raw, &secret);
    assert_eq!(api.sync(form(&sso, &sig)).await.0, StatusCode::OK);
    // A repeated `sso` in the request: the last one wins (Rails params).
    let (good, gsig) = signed(&api.avatar_only("alice", ""), &secret);
    let body = format!("sso=garbage&sso={}&sig={gsig}", rack_escape(&good));
    assert_eq!(api.sync(body).await.0, StatusCode::OK);
}

#[tokio::test]
async fn sync_that_changes_more_than_the_avatar_is_recorded() {
    let api = Api::start(quick()).await;
    let secret = api.sb.sso_secret();
    // No groups, empty title, no email, inactive user without require_activation.
    let (sso, sig) = signed(
        &query(&[("external_id", "684"), ("title", ""), ("admin", "True")]),
        &secret,
    );
    assert_eq!(api.sync(form(&sso, &sig)).await.0, StatusCode::OK);
    let alice = api.sb.user("alice").unwrap();
    assert_eq!(alice.title, None, "an empty title clears it");
    assert!(
        alice.manual_groups().is_empty(),
        "overrides_groups without groups drops them"
    );
    assert!(!alice.admin);
    let rules = api.rules();
    for r in [
        "sync_forbidden_field",
        "groups_dropped",
        "email_omitted",
        "inexact_boolean",
        "sync_changes_field",
    ] {
        assert!(rules.contains(&r.to_string()), "{r} missing from {rules:?}");
    }

    let (sso, sig) = signed(
        &query(&[("external_id", "1001"), ("email", "bob.smith@example.com")]),
        &secret,
    );
    assert_eq!(api.sync(form(&sso, &sig)).await.0, StatusCode::OK);
    assert!(
        api.sb.user("bob.smith").unwrap().active,
        "activated without require_activation"
    );
    assert!(api.rules().contains(&"user_activated".to_string()));

    let (sso, sig) = signed(
        &query(&[("external_id", "684"), ("email", "new@example.com")]),
        &secret,
    );
    assert_eq!(api.sync(form(&sso, &sig)).await.0, StatusCode::OK);
    assert_eq!(api.sb.user("alice").unwrap().email, "new@example.com");
    assert!(api.rules().contains(&"email_changed".to_string()));
}

// ---------- auth, rate limit ----------

// ---------- true to Discourse (issue 9): each case as Discourse answers it ----------

/// A POST with a raw body and query, an explicit Accept, as admin.
async fn post_raw(api: &Api, path_q: &str, body: Vec<u8>, json_accept: bool) -> reqwest::Response {
    let mut rb = api
        .admin(api.http.post(api.url(path_q)))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body);
    if json_accept {
        rb = rb.header("Accept", "application/json");
    }
    rb.send().await.unwrap()
}

#[tokio::test]
async fn parameters_in_query_and_body_the_query_wins() {
    // Rails: `request_parameters.merge(query_parameters)` (actionpack http/parameters.rb).
    let api = Api::start(quick()).await;
    let secret = api.sb.sso_secret();
    let (sso, sig) = signed(&api.avatar_only("alice", ""), &secret);
    let good = form(&sso, &sig);
    let bad = form(&sso, &"0".repeat(64));
    let r = post_raw(
        &api,
        &format!("/admin/users/sync_sso?{good}"),
        bad.clone().into(),
        true,
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the query's good signature wins"
    );
    let r = post_raw(
        &api,
        &format!("/admin/users/sync_sso?{bad}"),
        good.into(),
        true,
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "the query's bad signature wins"
    );
}

#[tokio::test]
async fn repeated_accessors_are_arrays_answered_200_and_repeated_groups_fail_after_saving() {
    let api = Api::start(quick()).await;
    let secret = api.sb.sso_secret();
    // `nonce` and `name` twice: Arrays, which sync_sso never calls a String method on.
    let raw = format!(
        "{}&nonce=a&nonce=b&name=Alice&name=Al",
        api.avatar_only("alice", "")
    );
    let (sso, sig) = signed(&raw, &secret);
    let (status, body) = api.sync(form(&sso, &sig)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rec = api.sb.user("alice").unwrap().sso.unwrap();
    // ActiveRecord stores the Array's `to_s`; `last_payload` repeats the key (build_query).
    assert_eq!(rec.external_name.as_deref(), Some(r#"["Alice", "Al"]"#));
    let payload = rec.last_payload.unwrap();
    assert!(payload.contains("name=Alice&name=Al"), "{payload}");
    assert!(payload.contains("nonce=a&nonce=b"), "{payload}");
    assert_eq!(
        api.sb.user("alice").unwrap().name,
        "Alice Liddell",
        "auth_overrides_name is off"
    );
    assert!(api.rules().contains(&"repeated_key".to_string()));

    // `groups` twice with overrides_groups on: NoMethodError in `apply_group_rules`, which runs
    // after `user.save!` and `sso_record.save!`: a 500 whose other changes stay.
    let raw = format!(
        "{}&title=Changed&groups=beta_testers&groups=vip",
        query(&[("external_id", "684"), ("email", "alice@example.com")])
    );
    let (sso, sig) = signed(&raw, &secret);
    let r = post_raw(&api, "/admin/users/sync_sso", form(&sso, &sig).into(), true).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"status": 500, "error": "Internal Server Error"})
    );
    let alice = api.sb.user("alice").unwrap();
    assert_eq!(
        alice.title.as_deref(),
        Some("Changed"),
        "saved before the crash"
    );
    assert!(
        alice
            .sso
            .clone()
            .unwrap()
            .last_payload
            .unwrap()
            .contains("groups=beta_testers&groups=vip")
    );
    assert_eq!(
        alice.manual_groups(),
        vec!["beta_testers"],
        "groups untouched"
    );
    // With overrides_groups off the same payload is a 200 (groups are not read).
    api.sb
        .set_setting("discourse_connect_overrides_groups", "false");
    assert_eq!(api.sync(form(&sso, &sig)).await.0, StatusCode::OK);
    // …but a repeated add_groups then fails the same way.
    let raw = format!(
        "{}&add_groups=vip&add_groups=translators",
        query(&[("external_id", "684"), ("email", "alice@example.com")])
    );
    let (sso, sig) = signed(&raw, &secret);
    assert_eq!(
        api.sync(form(&sso, &sig)).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[tokio::test]
async fn rails_error_bodies_bad_escapes_and_invalid_utf8() {
    let api = Api::start(quick()).await;
    let secret = api.sb.sso_secret();
    // An unrescued exception: Rails' PublicExceptions body, JSON for a JSON request…
    let (sso, sig) = signed("external_id=684&name=100%", &secret);
    let r = post_raw(&api, "/admin/users/sync_sso", form(&sso, &sig).into(), true).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"status": 500, "error": "Internal Server Error"})
    );
    // …Discourse's static 500 page otherwise.
    let r = post_raw(
        &api,
        "/admin/users/sync_sso",
        form(&sso, &sig).into(),
        false,
    )
    .await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    // The escape error of the decoded payload comes before the signature check in Ruby.
    let (sso, _) = signed("external_id=684&name=100%", &secret);
    let r = post_raw(
        &api,
        "/admin/users/sync_sso",
        form(&sso, &"0".repeat(64)).into(),
        true,
    )
    .await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);

    // A broken escape in the request itself: ActionController::BadRequest, 400.
    let r = post_raw(
        &api,
        "/admin/users/sync_sso",
        b"sso=%zz&sig=1".to_vec(),
        true,
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"status": 400, "error": "Bad Request"})
    );
    // Invalid UTF-8 in a parameter, escaped or raw: `check_param_encoding`, 400.
    let r = post_raw(
        &api,
        "/admin/users/sync_sso",
        b"sso=%FF%FE&sig=1".to_vec(),
        true,
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = post_raw(
        &api,
        "/admin/users/sync_sso",
        b"sso=\xff&sig=1".to_vec(),
        true,
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let (status, body) = api.get("/u/alice.json?x=%C3%28").await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"status": 400, "error": "Bad Request"})
        )
    );
}

#[tokio::test]
async fn array_sso_and_smuggled_sso_on_the_old_and_the_fixed_path() {
    let api = Api::start(quick()).await;
    let secret = api.sb.sso_secret();
    let (sso, sig) = signed(&api.avatar_only("alice", ""), &secret);
    let (other, _) = signed("external_id=1001", &secret);
    let array = format!("sso[]={}&sig={sig}", rack_escape(&sso));
    let smuggled = format!(
        "sso={}&sig={sig}",
        rack_escape(&format!("{sso}&sso={other}"))
    );
    // Old path: `"sso=#{params[:sso]}&sig=…"`. An Array interpolates as `["…"]`, not Base64:
    // 422. The smuggled `&sso=` makes `parsed["sso"]` an Array, whose `=~` raises: 500.
    assert_eq!(
        api.sync(array.clone()).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        api.sync(smuggled.clone()).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    // Fixed path (discourse/discourse#42024, `Rack::Utils.build_query`): a one-element Array
    // is the same key once, and the smuggled text stays one value with `&` in it.
    api.sb.set_plus_bug(false);
    assert_eq!(api.sync(array).await.0, StatusCode::OK);
    assert_eq!(api.sync(smuggled).await.0, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_sync_that_activates_without_suppress_welcome_message_is_recorded() {
    let api = Api::start(quick()).await;
    let secret = api.sb.sso_secret();
    // bob.smith is inactive; no require_activation, no suppress_welcome_message.
    let raw = query(&[
        ("external_id", "1001"),
        ("email", "bob.smith@example.com"),
        ("groups", ""),
    ]);
    let (sso, sig) = signed(&raw, &secret);
    assert_eq!(api.sync(form(&sso, &sig)).await.0, StatusCode::OK);
    assert!(api.sb.user("bob.smith").unwrap().active);
    let rules = api.rules();
    assert!(rules.contains(&"user_activated".to_string()));
    assert!(
        rules.contains(&"welcome_message_sent".to_string()),
        "{rules:?}"
    );
    // Someone else activated with suppress_welcome_message=true: no welcome.
    let api = Api::start(quick()).await;
    let raw = format!("{raw}&suppress_welcome_message=true");
    let (sso, sig) = signed(&raw, &api.sb.sso_secret());
    assert_eq!(api.sync(form(&sso, &sig)).await.0, StatusCode::OK);
    assert!(!api.rules().contains(&"welcome_message_sent".to_string()));
    // An inactive user kept inactive (require_activation=true) gets nothing either.
    let api = Api::start(quick()).await;
    let (sso, sig) = signed(&api.avatar_only("bob.smith", ""), &api.sb.sso_secret());
    assert_eq!(api.sync(form(&sso, &sig)).await.0, StatusCode::OK);
    assert!(api.sb.violations().is_empty(), "{:?}", api.sb.violations());
}

#[tokio::test]
async fn relinking_by_email_updates_the_record_and_queues_nothing_then() {
    let api = Api::start(Scenario {
        download_delay: Duration::from_millis(50),
        ..Scenario::default()
    })
    .await;
    api.sb
        .set_setting("discourse_connect_overrides_avatar", "false");
    let before = api.sb.user("alice").unwrap();
    let rec = before.sso.clone().unwrap();
    assert!(rec.external_avatar_url.is_some());
    // An unknown external id with alice's email and a reachable new avatar URL. A new record
    // would queue its download at once; the relinked one does not, and with overrides off, an
    // avatar present and no force, `change_external_attributes_and_override` queues none either.
    let url = api.sb.default_avatar_url();
    let raw = query(&[
        ("external_id", "new-684"),
        ("email", "alice@example.com"),
        ("avatar_url", &url),
        ("groups", "beta_testers"),
    ]);
    let (sso, sig) = signed(&raw, &api.sb.sso_secret());
    let (status, body) = api.sync(form(&sso, &sig)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["single_sign_on_record"]["external_id"], "new-684");
    // The same record: created_at kept (it was not replaced).
    assert_eq!(
        body["single_sign_on_record"]["created_at"],
        api.get(&format!("/admin/users/{}.json", before.id)).await.1["single_sign_on_record"]["created_at"]
    );
    assert!(api.sb.user_by_external_id("684").is_none());
    assert_eq!(
        api.sb.user_by_external_id("new-684").unwrap().username,
        "alice"
    );
    assert!(api.rules().contains(&"sync_relinked_user".to_string()));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after = api.sb.user("alice").unwrap();
    assert_eq!(
        after.uploaded_avatar_id, before.uploaded_avatar_id,
        "no download was queued"
    );
    assert!(
        api.sb
            .requests()
            .iter()
            .all(|r| r.path != "/images/default-avatar.png")
    );
}

#[tokio::test]
async fn group_names_are_not_trimmed() {
    let api = Api::start(quick()).await;
    let dave = api.sb.user("dave").unwrap();
    assert_eq!(dave.manual_groups(), vec!["beta_testers", "vip"]);
    let raw = query(&[
        ("external_id", "4004"),
        ("email", "dave@example.com"),
        ("groups", "beta_testers, vip"),
    ]);
    let (sso, sig) = signed(&raw, &api.sb.sso_secret());
    assert_eq!(api.sync(form(&sso, &sig)).await.0, StatusCode::OK);
    // ` vip` is no group: dave leaves vip.
    assert_eq!(
        api.sb.user("dave").unwrap().manual_groups(),
        vec!["beta_testers"]
    );
    assert!(api.rules().contains(&"groups_dropped".to_string()));
    // Case does not matter (`LOWER(name)`).
    let raw = query(&[
        ("external_id", "4004"),
        ("email", "dave@example.com"),
        ("groups", "Beta_Testers,VIP"),
    ]);
    let (sso, sig) = signed(&raw, &api.sb.sso_secret());
    assert_eq!(api.sync(form(&sso, &sig)).await.0, StatusCode::OK);
    assert_eq!(
        api.sb.user("dave").unwrap().manual_groups(),
        vec!["beta_testers", "vip"]
    );
}

#[tokio::test]
async fn pick_type_gravatar_fills_the_gravatar_slot() {
    let api = Api::start(quick()).await;
    api.sb
        .set_setting("discourse_connect_overrides_avatar", "false");
    let alice = api.sb.user("alice").unwrap();
    let dave_upload = api.sb.user("dave").unwrap().custom_upload_id.unwrap();
    let r = api
        .admin(api.http.put(api.url("/u/alice/preferences/avatar/pick")))
        .form(&[
            ("type", "gravatar"),
            ("upload_id", &dave_upload.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let after = api.sb.user("alice").unwrap();
    assert_eq!(after.uploaded_avatar_id, Some(dave_upload));
    assert_eq!(after.gravatar_upload_id, Some(dave_upload));
    assert_eq!(
        after.custom_upload_id, alice.custom_upload_id,
        "custom slot unchanged"
    );
    let (_, u) = api.get("/u/alice.json").await;
    assert_eq!(u["user"]["gravatar_avatar_upload_id"], json!(dave_upload));
    assert_eq!(
        u["user"]["custom_avatar_upload_id"],
        json!(alice.custom_upload_id)
    );
}

#[tokio::test]
async fn the_admin_limit_counts_every_api_key_request_and_words_time_left() {
    let api = Api::start(Scenario {
        admin_rate_limit: 2,
        ..quick()
    })
    .await;
    let as_user = |name: &'static str| {
        api.http
            .get(api.url("/u/alice.json"))
            .header("Api-Key", api.sb.api_key())
            .header("Api-Username", name)
            .send()
    };
    // An unknown acting user is refused before the limiter: not counted.
    assert_eq!(
        as_user("nobody-here").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    // A moderator and a plain user acting through the key count like the admin.
    assert_eq!(as_user("mia_mod").await.unwrap().status(), StatusCode::OK);
    assert_eq!(as_user("frank").await.unwrap().status(), StatusCode::OK);
    let r = as_user("frank").await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = r.json().await.unwrap();
    let wait = body["extras"]["wait_seconds"].as_u64().unwrap();
    let left = body["extras"]["time_left"].as_str().unwrap();
    // `RateLimiter.time_left`: "1 minute" at 60 s, seconds below, "a few seconds" at ≤ 3 s.
    let expected = match wait {
        60 => "1 minute".to_string(),
        0..=3 => "a few seconds".to_string(),
        n => format!("{n} seconds"),
    };
    assert_eq!(left, expected);
    assert!(body["errors"][0].as_str().unwrap().contains(&expected));
}

#[tokio::test]
async fn review_json_has_discourses_meta_and_leaves_out_what_discourse_omits() {
    let api = Api::start(quick()).await;
    let (s, v) = api.get("/review.json").await;
    assert_eq!(s, StatusCode::OK);
    let meta = &v["meta"];
    assert_eq!(
        meta["types"],
        json!({"created_by": "user", "target_created_by": "user", "reviewed_by": "user", "claimed_by": "user"})
    );
    // Every filter key, nil when not sent (`filters.merge(…)`).
    for k in [
        "ids",
        "category_id",
        "topic_id",
        "priority",
        "username",
        "reviewed_by",
        "from_date",
        "to_date",
        "type",
        "sort_order",
        "flagged_by",
    ] {
        assert!(meta.get(k).is_some_and(Value::is_null), "meta.{k}: {meta}");
    }
    assert_eq!(meta["status"], "pending");
    assert_eq!(meta["additional_filters"], json!({}));
    let items = v["reviewables"].as_array().unwrap();
    let user_item = items
        .iter()
        .find(|r| r["type"] == "ReviewableUser")
        .unwrap();
    for k in ["topic_id", "topic_url", "target_url", "category_id"] {
        assert!(
            user_item.get(k).is_none(),
            "ReviewableUser has no {k}: {user_item}"
        );
    }
    assert!(user_item["removed_topic_id"].is_null());
    let post_item = items
        .iter()
        .find(|r| r["type"] == "ReviewableFlaggedPost")
        .unwrap();
    assert!(post_item["target_url"].as_str().unwrap().contains("/t/"));
    assert!(post_item["topic_id"].is_u64());
    // Echoed filters and a load-more URL with the query sorted, nil filters dropped.
    let (_, v) = api
        .get("/review.json?type=ReviewableUser&priority=low")
        .await;
    assert_eq!(v["meta"]["type"], "ReviewableUser");
    assert_eq!(v["meta"]["priority"], "low");
    if let Some(more) = v["meta"]["load_more_reviewables"].as_str() {
        assert_eq!(
            more,
            "/review?offset=10&priority=low&status=pending&type=ReviewableUser"
        );
    }
}

#[tokio::test]
async fn logster_echoes_filter_has_nil_backtraces_and_groups_identical_messages() {
    let api = Api::start(quick()).await;
    api.sb.add_log(3, "Job exception: the same failure");
    api.sb.add_log(2, "something else");
    api.sb.add_log(3, "Job exception: the same failure");
    let post = |form: Vec<(&'static str, &'static str)>| {
        api.admin(api.http.post(api.url("/logs/messages.json")))
            .form(&form)
            .send()
    };
    let v: Value = post(vec![]).await.unwrap().json().await.unwrap();
    assert_eq!(v["filter"], "", "`filter || \"\"`");
    let msgs = v["messages"].as_array().unwrap();
    let same: Vec<&Value> = msgs
        .iter()
        .filter(|m| m["message"] == "Job exception: the same failure")
        .collect();
    assert_eq!(same.len(), 1, "grouped");
    assert_eq!(same[0]["count"], 2);
    assert!(same[0]["first_timestamp"].is_i64());
    assert!(same[0]["backtrace"].is_null());
    assert_eq!(
        msgs.last().unwrap()["message"],
        "Job exception: the same failure",
        "bumped to newest"
    );
    let v: Value = post(vec![("filter", "3_4")])
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["filter"], json!([3, 4]));
}

#[tokio::test]
async fn admin_user_json_has_tl3_requirements_and_associated_accounts_only_when_discourse_does() {
    let api = Api::start(quick()).await;
    let alice = api.sb.user("alice").unwrap();
    let (_, a) = api.get(&format!("/admin/users/{}.json", alice.id)).await;
    assert_eq!(a["trust_level"], 2);
    assert!(a["tl3_requirements"].is_object(), "{a}");
    assert!(a["tl3_requirements"]["min_days_visited"].is_u64());
    assert!(
        a.get("associated_accounts").is_none(),
        "no associated accounts, no key"
    );
    assert!(a.get("user_fields").is_none());
    let bob = api.sb.user("bob.smith").unwrap();
    let (_, b) = api.get(&format!("/admin/users/{}.json", bob.id)).await;
    assert_eq!(b["trust_level"], 0);
    assert!(
        b.get("tl3_requirements").is_none(),
        "below trust level 2: {b}"
    );
}

#[tokio::test]
async fn demo_outcomes_a_job_that_raises_and_a_review_item_changed_under_you() {
    assert!(
        Api::start(quick()).await.sb.user("sam.stuck").is_none(),
        "only in the demo"
    );
    let api = Api::start(Scenario {
        demo_outcomes: true,
        ..quick()
    })
    .await;
    // sam.stuck: the sync is accepted, the job raises, the avatar stays, the log says why.
    let before = api.sb.user("sam.stuck").unwrap();
    let (sso, sig) = signed(
        &api.avatar_only("sam.stuck", &api.sb.default_avatar_url()),
        &api.sb.sso_secret(),
    );
    assert_eq!(api.sync(form(&sso, &sig)).await.0, StatusCode::OK);
    assert!(
        wait_for(
            || api
                .sb
                .logs()
                .iter()
                .any(|(sev, m)| *sev == 3 && m.starts_with("Job exception:")),
            Duration::from_secs(3)
        )
        .await
    );
    assert_eq!(
        api.sb.user("sam.stuck").unwrap().uploaded_avatar_id,
        before.uploaded_avatar_id
    );
    // alice's download still works in the same sandbox.
    let alice = api.sb.user("alice").unwrap();
    let (sso, sig) = signed(
        &api.avatar_only("alice", &api.sb.default_avatar_url()),
        &api.sb.sso_secret(),
    );
    assert_eq!(api.sync(form(&sso, &sig)).await.0, StatusCode::OK);
    assert!(
        wait_for(
            || api.sb.user("alice").unwrap().uploaded_avatar_id != alice.uploaded_avatar_id,
            Duration::from_secs(3)
        )
        .await
    );

    // rita.review: the version read is stale by the time the action lands, once.
    let (_, v) = api.get("/review.json?username=rita.review").await;
    let item = &v["reviewables"][0];
    assert_eq!(item["type"], "ReviewableUser");
    let (id, version) = (
        item["id"].as_u64().unwrap(),
        item["version"].as_u64().unwrap(),
    );
    let perform = |version: u64| {
        api.admin(api.http.put(api.url(&format!(
            "/review/{id}/perform/remove_avatar?version={version}"
        ))))
        .header("Accept", "application/json")
        .send()
    };
    assert_eq!(
        perform(version).await.unwrap().status(),
        StatusCode::CONFLICT
    );
    let (_, v) = api.get("/review.json?username=rita.review").await;
    let now = v["reviewables"][0]["version"].as_u64().unwrap();
    assert_eq!(now, version + 1);
    assert_eq!(
        perform(now).await.unwrap().status(),
        StatusCode::OK,
        "once only"
    );
}

#[tokio::test]
async fn bad_key_is_403_on_user_routes_and_404_on_admin_routes() {
    let api = Api::start(quick()).await;
    let bad = |rb: reqwest::RequestBuilder| {
        rb.header("Api-Key", "nope")
            .header("Api-Username", "system")
    };
    let r = bad(api.http.get(api.url("/u/alice.json")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error_type"],
        "invalid_access"
    );
    for (m, p) in [
        ("GET", "/admin/site_settings.json"),
        ("POST", "/admin/users/sync_sso"),
        ("GET", "/admin/users/1.json"),
        ("POST", "/logs/messages.json"),
    ] {
        let r = bad(api.http.request(m.parse().unwrap(), api.url(p)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{m} {p}");
    }
    // A non-admin acting user: admin routes do not match either.
    let r = api
        .http
        .get(api.url("/admin/site_settings.json"))
        .header("Api-Key", api.sb.api_key())
        .header("Api-Username", "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // GET on the Logster endpoint is a 404 even for an admin.
    assert_eq!(
        api.get("/logs/messages.json").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn credentials_in_the_query_string_are_ignored_and_recorded() {
    let api = Api::start(quick()).await;
    let url = api.url(&format!(
        "/admin/users/1.json?api_key={}&api_username=system",
        api.sb.api_key()
    ));
    let r = api.http.get(url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "runs as anonymous");
    assert!(api.rules().contains(&"credentials_in_query".to_string()));
    let rec = api.sb.requests();
    let last = rec.last().unwrap();
    assert!(
        !last.query.as_deref().unwrap().contains(&api.sb.api_key()),
        "secret redacted in the record"
    );
    // Headers are redacted too.
    api.get("/u/alice.json").await;
    assert_eq!(
        api.sb.requests().last().unwrap().header("Api-Key"),
        Some("[redacted]")
    );
}

#[tokio::test]
async fn rate_limit_429_with_retry_after_and_early_retry_violation() {
    let api = Api::start(Scenario {
        admin_rate_limit: 3,
        ..quick()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(api.get("/u/alice.json").await.0, StatusCode::OK);
    }
    let r = api
        .admin(api.http.get(api.url("/u/alice.json")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(
        r.headers()["discourse-rate-limit-error-code"],
        "admin_api_key_rate_limit"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error_type"], "rate_limit");
    assert_eq!(body["extras"]["wait_seconds"], json!(retry));
    assert!(body["extras"]["time_left"].is_string());
    assert!(api.sb.violations().is_empty());
    // Sending again at once breaks the rule.
    assert_eq!(
        api.get("/u/alice.json").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert!(api.rules().contains(&"retry_after_ignored".to_string()));
}

#[tokio::test]
async fn storm_and_error_faults() {
    let api = Api::start(quick()).await;
    api.sb.set_faults(Faults {
        storm_429: true,
        ..Faults::default()
    });
    let mut kinds = std::collections::BTreeSet::new();
    for _ in 0..3 {
        let r = api
            .admin(api.http.get(api.url("/u/alice.json")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(r.headers().contains_key("retry-after"));
        kinds.insert(r.headers()["content-type"].to_str().unwrap().to_string());
    }
    assert_eq!(kinds.len(), 2, "JSON and plain-text 429s: {kinds:?}");
    api.sb.set_faults(Faults {
        error_rate: 1.0,
        html_errors: true,
        ..Faults::default()
    });
    let r = api
        .admin(api.http.get(api.url("/u/alice.json")))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_server_error());
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    api.sb.set_faults(Faults {
        malformed_json: true,
        ..Faults::default()
    });
    let r = api
        .admin(api.http.get(api.url("/u/alice.json")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(serde_json::from_slice::<Value>(&r.bytes().await.unwrap()).is_err());
    api.sb.set_faults(Faults {
        slow_body: Some(Duration::from_millis(300)),
        latency: Duration::from_millis(100),
        ..Faults::default()
    });
    let t = Instant::now();
    let (s, v) = api.get("/u/alice.json").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["user"]["username"], "alice");
    assert!(t.elapsed() >= Duration::from_millis(350));
}

// ---------- users, pick_avatar, settings ----------

#[tokio::test]
async fn user_routes_case_unicode_dots_and_external() {
    let api = Api::start(quick()).await;
    let (s, v) = api.get("/u/ALICE.json").await;
    assert_eq!(s, StatusCode::OK);
    let u = &v["user"];
    assert_eq!(u["username"], "alice");
    assert!(u["uploaded_avatar_id"].is_u64());
    assert_eq!(u["custom_avatar_upload_id"], u["uploaded_avatar_id"]);
    assert!(
        u.get("email").is_none(),
        "UserSerializer hides other users' emails"
    );
    let (s, v) = api.get("/u/bob.smith.json").await;
    assert_eq!(
        (s, v["user"]["username"].as_str()),
        (StatusCode::OK, Some("bob.smith"))
    );
    let (s, v) = api
        .get("/u/%E5%B1%B1%E7%94%B0%E5%A4%AA%E9%83%8E.json")
        .await;
    assert_eq!(
        (s, v["user"]["username"].as_str()),
        (StatusCode::OK, Some("山田太郎"))
    );
    assert!(
        v["user"]["avatar_template"]
            .as_str()
            .unwrap()
            .contains("/%E5%B1%B1")
    );
    let (s, v) = api.get("/u/by-external/684.json").await;
    assert_eq!(
        (s, v["user"]["username"].as_str()),
        (StatusCode::OK, Some("alice"))
    );
    assert_eq!(
        api.get("/u/by-external/nope.json").await.0,
        StatusCode::NOT_FOUND
    );
    let (_, v) = api.get("/u/carol-dev_x.json").await;
    assert!(v["user"]["uploaded_avatar_id"].is_null());
    assert!(
        v["user"]["avatar_template"]
            .as_str()
            .unwrap()
            .starts_with("/letter_avatar_proxy/v4/letter/c/")
    );

    let id = api.sb.user("alice").unwrap().id;
    let (s, d) = api.get(&format!("/admin/users/{id}.json")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(d["email"], "alice@example.com");
    assert_eq!(d["active"], true);
    assert_eq!(d["single_sign_on_record"]["external_id"], "684");
    assert!(
        d["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "beta_testers" && g["automatic"] == false)
    );
    assert!(
        d["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["automatic"] == true)
    );
    let nosso = api.sb.user("nosso").unwrap().id;
    assert!(
        api.get(&format!("/admin/users/{nosso}.json")).await.1["single_sign_on_record"].is_null()
    );

    let (s, list) = api
        .get("/admin/users/list/all.json?filter=alice@example.com,%20dave&show_emails=true")
        .await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"alice") && names.contains(&"dave"),
        "{names:?}"
    );
    let (_, list) = api
        .get("/admin/users/list/all.json?email=ALICE@example.com")
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    // An HTML shell without .json or a JSON Accept header.
    let r = api
        .admin(api.http.get(api.url("/u/alice")))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

#[tokio::test]
async fn old_server_filter_and_hidden_emails() {
    let api = Api::start(Scenario {
        split_filter: false,
        hide_admin_emails: true,
        ..quick()
    })
    .await;
    let (_, list) = api
        .get("/admin/users/list/all.json?filter=alice,dave")
        .await;
    assert!(
        list.as_array().unwrap().is_empty(),
        "one substring on old servers"
    );
    let (_, list) = api.get("/admin/users/list/all.json?filter=alice").await;
    assert!(list[0].get("email").is_none());
    let id = api.sb.user("alice").unwrap().id;
    assert!(
        api.get(&format!("/admin/users/{id}.json"))
            .await
            .1
            .get("email")
            .is_none()
    );
    assert_eq!(
        api.get("/u/alice/emails.json").await.1["email"],
        "alice@example.com"
    );
}

#[tokio::test]
async fn pick_avatar_422_under_overrides_then_letter_avatar() {
    let api = Api::start(quick()).await;
    let pick = |kind: &'static str| {
        api.admin(api.http.put(api.url("/u/alice/preferences/avatar/pick")))
            .form(&[("type", kind)])
            .send()
    };
    let r = pick("system").await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"failed": "FAILED"})
    );
    // Turn overrides off through the API (body parameter named after the setting).
    let r = api
        .admin(
            api.http
                .put(api.url("/admin/site_settings/discourse_connect_overrides_avatar")),
        )
        .form(&[("discourse_connect_overrides_avatar", "false")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.bytes().await.unwrap().is_empty());
    let (_, s) = api.get("/admin/config/site_settings.json?filter_names[]=discourse_connect_overrides_avatar&filter_names[]=enable_discourse_connect").await;
    let settings = s["site_settings"].as_array().unwrap();
    assert_eq!(settings.len(), 2);
    assert!(
        settings
            .iter()
            .any(|s| s["setting"] == "discourse_connect_overrides_avatar" && s["value"] == "false")
    );
    assert_eq!(
        api.get("/admin/config/site_settings.json").await.0,
        StatusCode::BAD_REQUEST
    );
    let old = api.sb.user("alice").unwrap().custom_upload_id;
    let r = pick("system").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let alice = api.sb.user("alice").unwrap();
    assert_eq!(alice.uploaded_avatar_id, None);
    assert_eq!(alice.custom_upload_id, old, "custom_upload_id stays set");
    assert_eq!(
        pick("bogus").await.unwrap().status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (_, all) = api.get("/admin/site_settings.json").await;
    let secret = all["site_settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["setting"] == "discourse_connect_secret")
        .unwrap();
    assert_eq!(secret["value"].as_str().unwrap(), api.sb.sso_secret());
}

// ---------- review queue, logs, main app ----------

#[tokio::test]
async fn review_queue_pages_by_ten() {
    let api = Api::start(Scenario {
        flagged: 60,
        ..quick()
    })
    .await;
    let (s, first) = api.get("/review.json").await;
    assert_eq!(s, StatusCode::OK);
    let total = first["meta"]["total_rows_reviewables"].as_u64().unwrap() as usize;
    assert!(total > 10);
    assert_eq!(first["reviewables"].as_array().unwrap().len(), 10);
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let (_, page) = api.get(&format!("/review.json?offset={offset}")).await;
        let items = page["reviewables"].as_array().unwrap();
        assert!(items.len() <= 10);
        let users = page["users"].as_array().unwrap();
        for it in items {
            assert_eq!(it["status"], json!(0));
            let who = match it["type"].as_str().unwrap() {
                "ReviewableUser" => it["user_id"].as_i64().unwrap(),
                "ReviewableFlaggedPost" => it["target_created_by_id"].as_i64().unwrap(),
                t => panic!("unexpected type {t}"),
            };
            assert!(
                users.iter().any(|u| u["id"].as_i64() == Some(who)),
                "user {who} side-loaded"
            );
            seen.push(it["id"].as_u64().unwrap());
        }
        match page["meta"]["load_more_reviewables"].as_str() {
            Some(more) => {
                assert!(more.contains(&format!("offset={}", offset + 10)));
                offset += 10;
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), total);
    let (_, users_only) = api.get("/review.json?type=ReviewableUser").await;
    assert!(
        users_only["reviewables"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["type"] == "ReviewableUser")
    );
    assert_eq!(
        api.get("/review.json?type=Bogus").await.0,
        StatusCode::BAD_REQUEST
    );
    let (_, all) = api.get("/review.json?status=all").await;
    assert!(all["meta"]["total_rows_reviewables"].as_u64().unwrap() as usize > total);
}

#[tokio::test]
async fn logster_messages_pages_filters_and_login_lines() {
    let api = Api::start(Scenario {
        verbose_logging: true,
        ..quick()
    })
    .await;
    for i in 0..60 {
        api.sb
            .add_log(if i % 2 == 0 { 2 } else { 3 }, &format!("line {i}"));
    }
    api.sb.simulate_login(LoginKind::Ok);
    api.sb.simulate_login(LoginKind::TakenEmail);
    api.sb.simulate_login(LoginKind::BadSignature);
    let post = |form: Vec<(&'static str, String)>| {
        api.admin(api.http.post(api.url("/logs/messages.json")))
            .form(&form)
            .send()
    };
    let r = post(vec![("filter", "2_3_4_5".into())]).await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: Value = r.json().await.unwrap();
    let msgs = v["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 50);
    let ts: Vec<i64> = msgs
        .iter()
        .map(|m| m["timestamp"].as_i64().unwrap())
        .collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "oldest first");
    let first_key = msgs[0]["key"].as_str().unwrap().to_string();
    let older: Value = post(vec![("filter", "2_3_4_5".into()), ("before", first_key)])
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!older["messages"].as_array().unwrap().is_empty());
    let sso: Value = post(vec![
        ("filter", "2_3_4_5".into()),
        ("search", "Verbose SSO log".into()),
    ])
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let lines: Vec<&str> = sso["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message"].as_str().unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Verbose SSO log: User was logged on"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Signature verification failed"))
    );
    assert!(
        sso["messages"][0].get("env").is_some(),
        "env only with a search"
    );
    let errors: Value = post(vec![
        ("filter", "3".into()),
        ("search", "Verbose SSO".into()),
    ])
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert!(
        errors["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["severity"] == 3)
    );
    assert!(errors["messages"].as_array().unwrap().iter().any(|m| {
        m["message"]
            .as_str()
            .unwrap()
            .contains("already been taken")
    }));
}

#[tokio::test]
async fn main_app_pages_with_relative_next_and_bearer_token() {
    let api = Api::start(Scenario {
        flagged: 200,
        ..quick()
    })
    .await;
    let r = api.http.get(api.sb.flagged_url()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let mut url = reqwest::Url::parse(&api.sb.flagged_url()).unwrap();
    let mut items = Vec::new();
    let mut pages = 0;
    loop {
        let v: Value = api
            .http
            .get(url.clone())
            .bearer_auth(api.sb.main_app_token())
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        pages += 1;
        items.extend(v["users"].as_array().unwrap().clone());
        match v["next"].as_str() {
            Some(n) => url = url.join(n).unwrap(),
            None => break,
        }
    }
    assert!(pages >= 3);
    assert!(items.iter().any(|i| i["external_id"].is_string()));
    assert!(items.iter().any(|i| i["external_id"].is_u64()));
    assert!(items.iter().any(|i| i.get("external_id").is_none()));
    assert!(items.iter().any(|i| i["username"] == "alice"));
    let r = api
        .http
        .post(api.sb.resolved_url())
        .bearer_auth(api.sb.main_app_token())
        .json(&json!({"external_id": "684", "username": "alice", "outcome": "verified", "strategy": "sync-sso", "at": "2026-11-20T10:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(api.sb.resolved()[0]["username"], "alice");
    assert!(api.sb.violations().is_empty(), "{:?}", api.sb.violations());
}

#[tokio::test]
async fn control_endpoints_config_and_determinism() {
    let a = Api::start(Scenario {
        seed: 42,
        ..quick()
    })
    .await;
    let b = Sandbox::start(Scenario {
        seed: 42,
        ..quick()
    })
    .await
    .unwrap();
    let names = |s: &Sandbox| {
        s.users()
            .into_iter()
            .map(|u| (u.username, u.name, u.uploaded_avatar_id))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&a.sb), names(&b));
    let c = Sandbox::start(Scenario {
        seed: 43,
        ..quick()
    })
    .await
    .unwrap();
    assert_ne!(names(&a.sb), names(&c));

    let cfg: toml::Table = a.sb.config_toml().parse().unwrap();
    assert_eq!(cfg["discourse"]["url"].as_str(), Some(a.sb.url().as_str()));
    assert_eq!(
        cfg["discourse"]["api_key"].as_str(),
        Some(a.sb.api_key().as_str())
    );
    assert_eq!(
        cfg["main_app"]["token"].as_str(),
        Some(a.sb.main_app_token().as_str())
    );

    let r = a
        .http
        .post(a.url("/sandbox/login?kind=bad_signature"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let state: Value = a
        .http
        .get(a.url("/sandbox/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["url"], a.sb.url());
    a.http
        .get(a.url("/u/alice.json?api_key=x"))
        .send()
        .await
        .unwrap();
    let v: Value = a
        .http
        .get(a.url("/sandbox/violations"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v[0]["rule"], "credentials_in_query");
    let r = a
        .http
        .post(a.url("/sandbox/faults?error_rate=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(a.get("/u/alice.json").await.0.is_server_error());

    // The default avatar is a real PNG.
    let png = a
        .http
        .get(a.sb.default_avatar_url())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&png[12..16], b"IHDR");
}

/// The peer comparison (`benches/peer/`) sets the download delay and the admin limit of a
/// running sandbox over HTTP.
#[tokio::test]
async fn control_sets_download_delay_and_admin_limit() {
    let a = Api::start(quick()).await;
    for (path, ok) in [
        ("/sandbox/download_delay?ms=200", true),
        ("/sandbox/download_delay", false),
        ("/sandbox/admin_rate_limit?per_minute=7", true),
        ("/sandbox/admin_rate_limit?per_minute=x", false),
    ] {
        let r = a.http.post(a.url(path)).send().await.unwrap();
        assert_eq!(r.status().is_success(), ok, "{path}: {}", r.status());
    }
    let state: Value = a
        .http
        .get(a.url("/sandbox/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["admin_rate_limit"], 7);
}

/// The SSO avatar URLs the seed gives its users are pictures the sandbox serves itself (they
/// used to be on an unreachable `idp.example.com`): after a reset, syncing the old URL back (what
/// `undo` does under `discourse_connect_overrides_avatar`) downloads it and the avatar changes.
#[tokio::test]
async fn sso_avatar_urls_are_served_by_the_sandbox_so_syncing_one_back_works() {
    let api = Api::start(Scenario {
        demo_outcomes: true,
        ..quick()
    })
    .await;
    let mut checked = 0;
    for u in api.sb.users() {
        let Some(url) = u.sso.as_ref().and_then(|s| s.external_avatar_url.clone()) else {
            continue;
        };
        assert!(url.starts_with(&api.sb.url()), "{}: {url}", u.username);
        let r = api.http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}: {url}", u.username);
        let bytes = r.bytes().await.unwrap();
        assert_eq!(
            discourse_sandbox::png::image_type(&bytes),
            Some("png"),
            "{url}"
        );
        checked += 1;
    }
    assert!(checked > 50, "{checked}");

    let secret = api.sb.sso_secret();
    let old = api.sb.user("alice").unwrap();
    let old_url = old
        .sso
        .as_ref()
        .unwrap()
        .external_avatar_url
        .clone()
        .unwrap();
    let (sso, sig) = signed(
        &api.avatar_only("alice", &api.sb.default_avatar_url()),
        &secret,
    );
    assert_eq!(api.sync(form(&sso, &sig)).await.0, StatusCode::OK);
    assert!(
        wait_for(
            || api.sb.user("alice").unwrap().uploaded_avatar_id != old.uploaded_avatar_id,
            Duration::from_secs(5)
        )
        .await
    );
    let reset = api.sb.user("alice").unwrap().uploaded_avatar_id;
    let (sso, sig) = signed(&api.avatar_only("alice", &old_url), &secret);
    assert_eq!(api.sync(form(&sso, &sig)).await.0, StatusCode::OK);
    assert!(
        wait_for(
            || {
                let now = api.sb.user("alice").unwrap().uploaded_avatar_id;
                now.is_some() && now != reset
            },
            Duration::from_secs(5)
        )
        .await,
        "the old SSO avatar could not be downloaded again"
    );
    let back = api.sb.user("alice").unwrap();
    assert_eq!(
        back.sso.unwrap().external_avatar_url.as_deref(),
        Some(old_url.as_str())
    );
}

/// A user on the letter avatar has an `avatar_template` the sandbox serves (Discourse's
/// `letter_avatar_proxy` route, `config/routes.rb`), and the picture shows the letter: two
/// users with the same colour and other initials get other pictures.
#[tokio::test]
async fn system_avatar_templates_are_served_with_their_letter() {
    let api = Api::start(quick()).await;
    let users: Vec<_> = api
        .sb
        .users()
        .into_iter()
        .filter(|u| u.uploaded_avatar_id.is_none())
        .collect();
    assert!(!users.is_empty());
    for u in &users {
        assert!(
            u.avatar_template.starts_with("/letter_avatar_proxy/"),
            "{}: {}",
            u.username,
            u.avatar_template
        );
        let r = api
            .http
            .get(api.url(&u.avatar_template.replace("{size}", "96")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", u.avatar_template);
        let png = r.bytes().await.unwrap();
        assert_eq!(discourse_sandbox::png::image_type(&png), Some("png"));
    }
    let same_colour = |a: &str, b: &str| {
        let r = |l: &str| format!("/letter_avatar_proxy/v4/letter/{l}/dba1b3/96.png");
        (r(a), r(b))
    };
    let (f, g) = same_colour("f", "g");
    let get = |p: String| {
        let http = api.http.clone();
        let url = api.url(&p);
        async move { http.get(url).send().await.unwrap().bytes().await.unwrap() }
    };
    assert_ne!(get(f).await, get(g).await, "the letter is drawn");
}
