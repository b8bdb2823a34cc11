//! The Discourse and main-app clients over real loopback HTTP: against the sandbox where it can
//! play the part, and against a tiny axum server in this file where a precise answer (or the
//! exact arrival time of each request) is needed. Also `config check` through the real binary.
//!
//! Nothing here mocks our own client: every call goes through `reqwest` to a socket.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use avatar_console::discourse::client::{
    ClientError, ClientSettings, DiscourseClient, LogQuery, http_client,
};
use avatar_console::main_app::{FieldNames, MainAppClient, MainAppError, MainAppSettings};
use avatar_console::model::Exchange;
use avatar_console::secret::Secret;
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use discourse_sandbox::{Faults, Sandbox, Scenario};
use url::Url;

const KEY: &str = "test-api-key-3f9a0c77d1e2";
const TOKEN: &str = "test-main-app-token-88b1c2";
const USER_JSON: &str = r#"{"user":{"id":1,"username":"alice","uploaded_avatar_id":7}}"#;

// ---- a tiny test server --------------------------------------------------------------------

/// One request as the test server saw it, with its arrival time.
#[derive(Debug, Clone)]
struct Hit {
    method: String,
    /// Path and query, as sent (percent-encoded).
    uri: String,
    headers: HeaderMap,
    body: String,
    at: Instant,
}

impl Hit {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

type Reply = Arc<dyn Fn(usize, &Hit) -> Response + Send + Sync>;

#[derive(Clone)]
struct ServerState {
    hits: Arc<Mutex<Vec<Hit>>>,
    reply: Reply,
}

/// Answers each request with `reply(index, hit)` and records it.
struct TestServer {
    url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    async fn start(reply: impl Fn(usize, &Hit) -> Response + Send + Sync + 'static) -> TestServer {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let hits = Arc::new(Mutex::new(Vec::new()));
        let state = ServerState {
            hits: hits.clone(),
            reply: Arc::new(reply),
        };
        let app = Router::new().fallback(handle).with_state(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestServer { url, hits, task }
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.hits.lock().unwrap().len()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(st): State<ServerState>, req: Request) -> Response {
    let at = Instant::now();
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, 1 << 20).await.unwrap_or_default();
    let hit = Hit {
        method: parts.method.to_string(),
        uri: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        at,
    };
    let n = {
        let mut hits = st.hits.lock().unwrap();
        hits.push(hit.clone());
        hits.len() - 1
    };
    (st.reply)(n, &hit)
}

fn resp(status: u16, ctype: &str, body: &str) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = axum::http::StatusCode::from_u16(status).unwrap();
    if !ctype.is_empty() {
        r.headers_mut()
            .insert("content-type", ctype.parse().unwrap());
    }
    r
}

fn json(status: u16, body: &str) -> Response {
    resp(status, "application/json; charset=utf-8", body)
}

fn with_header(mut r: Response, name: &'static str, value: &str) -> Response {
    r.headers_mut().insert(name, value.parse().unwrap());
    r
}

/// Discourse's admin-limit 429 (discourse-api.md §1).
fn admin_429(secs: u64) -> Response {
    let body = format!(
        r#"{{"errors":["You’ve performed this action too many times. Please wait {secs} seconds before trying again."],"error_type":"rate_limit","extras":{{"wait_seconds":{secs},"time_left":"{secs} seconds"}}}}"#
    );
    let r = with_header(json(429, &body), "retry-after", &secs.to_string());
    with_header(
        r,
        "discourse-rate-limit-error-code",
        "admin_api_key_rate_limit",
    )
}

// ---- clients -------------------------------------------------------------------------------

fn settings(base: &str, key: &str, user: &str, rpm: u32) -> ClientSettings {
    ClientSettings {
        base_url: Url::parse(base).unwrap(),
        api_username: user.to_string(),
        api_key: Secret::new(key),
        requests_per_minute: rpm,
        max_retry_wait: Duration::from_secs(120),
        other_secrets: Vec::new(),
    }
}

fn client(base: &str, rpm: u32) -> DiscourseClient {
    DiscourseClient::new(
        http_client(Duration::from_secs(10)),
        settings(base, KEY, "system", rpm),
    )
}

/// A client for the sandbox as `user` with `key`, the SSO secret and main-app token known as
/// secrets (as `Session` sets it up).
fn sandbox_client_as(sb: &Sandbox, user: &str, key: &str) -> DiscourseClient {
    let mut s = settings(&sb.url(), key, user, 600);
    s.other_secrets = vec![
        Secret::new(sb.sso_secret()),
        Secret::new(sb.main_app_token()),
    ];
    DiscourseClient::new(http_client(Duration::from_secs(10)), s)
}

fn sandbox_client(sb: &Sandbox) -> DiscourseClient {
    sandbox_client_as(sb, "system", &sb.api_key())
}

fn collect_exchanges(c: &DiscourseClient) -> Arc<Mutex<Vec<Exchange>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    c.set_observer(Arc::new(move |e: &Exchange| {
        s.lock().unwrap().push(e.clone())
    }));
    seen
}

async fn sandbox() -> Sandbox {
    Sandbox::start(Scenario::default()).await.unwrap()
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    l.local_addr().unwrap().port()
}

// ---- headers and credentials ---------------------------------------------------------------

#[tokio::test]
async fn credentials_and_accept_headers_on_every_request() {
    let srv = TestServer::start(|_, h| {
        if h.uri.starts_with("/u/alice.json") {
            json(200, USER_JSON)
        } else if h.uri.starts_with("/logs/") {
            json(200, r#"{"messages":[],"total":0,"search":"","filter":[5]}"#)
        } else {
            json(200, r#"{"success":"OK"}"#)
        }
    })
    .await;
    let c = client(&srv.url, 60);
    c.user("alice").await.unwrap();
    c.pick_system_avatar("alice").await.unwrap();
    let _ = c.log_messages(&LogQuery::default()).await;
    let hits = srv.hits();
    assert_eq!(hits.len(), 3);
    for h in &hits {
        assert_eq!(h.header("api-key"), Some(KEY), "{} {}", h.method, h.uri);
        assert_eq!(h.header("api-username"), Some("system"));
        assert_eq!(h.header("accept"), Some("application/json"));
        assert!(
            !h.uri.contains(KEY) && !h.uri.contains("api_key"),
            "{}",
            h.uri
        );
        assert!(!h.uri.contains("api_username"), "{}", h.uri);
        assert!(
            !h.body.contains(KEY) && !h.body.contains("api_key"),
            "{}",
            h.body
        );
    }
    assert_eq!(hits[0].uri, "/u/alice.json");
    assert_eq!(hits[1].method, "PUT");
    assert_eq!(
        hits[1].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(hits[1].body, "type=system");
    assert_eq!(hits[2].method, "POST");
    assert!(hits[2].body.contains("filter=2_3_4_5"), "{}", hits[2].body);
}

#[tokio::test]
async fn sandbox_sees_header_credentials_and_no_violation() {
    let sb = sandbox().await;
    let c = sandbox_client(&sb);
    c.user("alice").await.unwrap();
    c.user_by_external("684").await.unwrap();
    let dc = c.dc_settings().await.unwrap();
    assert_eq!(dc.enabled(), Some(true));
    c.admin_user(1).await.unwrap();
    let alice = sb.user("alice").unwrap();
    let found = c.users_by_email(&alice.email).await.unwrap();
    assert_eq!(found.len(), 1);
    let _ = c.review_page(0, None, "pending").await.unwrap();
    c.log_messages(&LogQuery::default()).await.unwrap();
    let reqs = sb.requests();
    assert!(reqs.len() >= 7, "{reqs:?}");
    for r in &reqs {
        // The sandbox records the Api-Key header's presence and redacts its value.
        assert_eq!(
            r.header("api-key"),
            Some("[redacted]"),
            "{} {}",
            r.method,
            r.path
        );
        assert_eq!(r.header("api-username"), Some("system"));
        assert!(
            r.header("accept")
                .is_some_and(|a| a.contains("application/json"))
        );
        let q = r.query.clone().unwrap_or_default();
        assert!(!q.contains("api_key") && !q.contains("api_username"), "{q}");
        assert!(r.status < 400, "{} {} -> {}", r.method, r.path, r.status);
    }
    assert!(sb.violations().is_empty(), "{:?}", sb.violations());
}

// ---- 429 and the budget --------------------------------------------------------------------

#[tokio::test]
async fn retry_after_2_sends_nothing_for_2_seconds_then_succeeds() {
    let srv = TestServer::start(|n, _| {
        if n == 0 {
            admin_429(2)
        } else {
            json(200, USER_JSON)
        }
    })
    .await;
    let c = client(&srv.url, 60);
    let t0 = Instant::now();
    let first = tokio::spawn({
        let c = c.clone();
        async move { c.user("alice").await }
    });
    // Wait for the 429 to pause the whole budget; a second call made now must wait too.
    while c.budget().paused_for.is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the 429 never paused the budget"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let paused = c.budget().paused_for.unwrap();
    assert!(paused > Duration::from_millis(1500), "{paused:?}");
    let second = tokio::spawn({
        let c = c.clone();
        async move { c.user("alice").await }
    });
    first.await.unwrap().unwrap();
    second.await.unwrap().unwrap();
    let hits = srv.hits();
    assert_eq!(hits.len(), 3, "one 429, then the retry and the second call");
    for h in &hits[1..] {
        let gap = h.at - hits[0].at;
        assert!(gap >= Duration::from_secs(2), "sent {gap:?} after the 429");
    }
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert_eq!(c.budget().paused_for, None);
    assert_eq!(c.requests_sent(), 3);
}

#[tokio::test]
async fn wait_seconds_and_text_429s_are_honoured_for_posts_too() {
    // No Retry-After: extras.wait_seconds (JSON); then the per-IP plain-text form.
    let srv = TestServer::start(|n, _| match n {
        0 => json(
            429,
            r#"{"errors":["slow down"],"error_type":"rate_limit","extras":{"wait_seconds":1}}"#,
        ),
        1 => resp(
            429,
            "text/plain",
            "Slow down, too many requests from this IP address.\nPlease retry again in 1 seconds.\nError code: ip_10_secs_limit.\n",
        ),
        _ => json(200, r#"{"messages":[],"total":0}"#),
    })
    .await;
    let c = client(&srv.url, 60);
    c.log_messages(&LogQuery::default()).await.unwrap();
    let hits = srv.hits();
    assert_eq!(hits.len(), 3, "a 429 is retried even for a POST");
    assert!(hits[1].at - hits[0].at >= Duration::from_secs(1));
    assert!(hits[2].at - hits[1].at >= Duration::from_secs(1));
    assert!(hits.iter().all(|h| h.method == "POST"));
}

#[tokio::test]
async fn sandbox_429_storm_is_waited_out_without_violation() {
    let sb = sandbox().await;
    let c = sandbox_client(&sb);
    sb.set_faults(Faults {
        storm_429: true,
        ..Faults::default()
    });
    let t0 = Instant::now();
    let call = tokio::spawn({
        let c = c.clone();
        async move { c.dc_settings().await }
    });
    let mut saw_pause = false;
    while t0.elapsed() < Duration::from_millis(2500) {
        saw_pause |= c.budget().paused_for.is_some();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sb.set_faults(Faults::default());
    call.await.unwrap().unwrap();
    assert!(saw_pause, "the budget was never paused");
    let statuses: Vec<u16> = sb.requests().iter().map(|r| r.status).collect();
    assert!(
        statuses.iter().filter(|s| **s == 429).count() >= 1,
        "{statuses:?}"
    );
    assert_eq!(*statuses.last().unwrap(), 200, "{statuses:?}");
    assert!(sb.violations().is_empty(), "{:?}", sb.violations());
}

/// The sandbox's own admin limit (a 60 s sliding window) hit by a client that thinks it may
/// send more: the 429 pauses the budget for the whole `Retry-After` (~60 s), then every call
/// succeeds with no `retry_after_ignored`. Slow by nature (about 60 s), but it runs beside the
/// other tests, so it adds little to the suite's wall time.
#[tokio::test]
async fn sandbox_small_admin_limit_pauses_the_budget() {
    let sb = Sandbox::start(Scenario {
        admin_rate_limit: 2,
        ..Scenario::default()
    })
    .await
    .unwrap();
    let c = sandbox_client(&sb);
    let t0 = Instant::now();
    let calls = tokio::spawn({
        let c = c.clone();
        async move {
            for name in ["alice", "dave", "eve"] {
                c.user(name).await?;
            }
            Ok::<_, ClientError>(())
        }
    });
    let mut saw_pause = false;
    while !calls.is_finished() {
        saw_pause |= c.budget().paused_for.is_some();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    calls.await.unwrap().unwrap();
    assert!(saw_pause);
    assert!(
        t0.elapsed() >= Duration::from_secs(55),
        "{:?}",
        t0.elapsed()
    );
    assert!(sb.violations().is_empty(), "{:?}", sb.violations());
    let statuses: Vec<u16> = sb.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200, 200, 429, 200]);
}

#[tokio::test]
async fn budget_never_lets_more_than_the_limit_through() {
    let srv = TestServer::start(|_, _| json(200, USER_JSON)).await;
    let c = client(&srv.url, 3);
    let t0 = Instant::now();
    for _ in 0..3 {
        c.user("alice").await.unwrap();
    }
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "the first 3 go at once"
    );
    let b = c.budget();
    assert_eq!((b.limit, b.remaining), (3, 0));
    // A 4th would have to wait for the first to leave the 60 s window.
    let fourth = tokio::time::timeout(Duration::from_millis(500), c.user("alice")).await;
    assert!(fourth.is_err(), "a 4th request went through within 60 s");
    let bg = tokio::time::timeout(Duration::from_millis(300), c.background().user("alice")).await;
    assert!(bg.is_err(), "the background clone shares the budget");
    assert_eq!(srv.count(), 3);
    assert_eq!(c.requests_sent(), 3);
}

#[tokio::test]
async fn concurrent_calls_share_one_budget() {
    let srv = TestServer::start(|_, _| json(200, USER_JSON)).await;
    let c = client(&srv.url, 3);
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.user("alice").await })
        })
        .collect();
    let t0 = Instant::now();
    while tasks.iter().filter(|t| t.is_finished()).count() < 3 {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "3 calls should go at once"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The others stay queued, unsent.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        srv.count(),
        3,
        "only 3 of 6 concurrent calls may go in a window"
    );
    assert_eq!(tasks.iter().filter(|t| t.is_finished()).count(), 3);
    for t in tasks {
        t.abort();
    }
}

#[tokio::test]
async fn retries_go_through_the_budget() {
    let srv = TestServer::start(|_, _| resp(503, "text/plain", "Service Unavailable")).await;
    let c = client(&srv.url, 2);
    let r = tokio::time::timeout(Duration::from_secs(3), c.user("alice")).await;
    assert!(r.is_err(), "the 2nd retry must wait for the budget");
    assert_eq!(srv.count(), 2);
    assert_eq!(c.requests_sent(), 2);
}

// ---- retries -------------------------------------------------------------------------------

#[tokio::test]
async fn gets_retry_502_503_504_then_succeed() {
    let srv = TestServer::start(|n, _| match n {
        0 => resp(502, "text/plain", "Bad Gateway"),
        1 => resp(503, "text/plain", "Service Unavailable"),
        2 => resp(504, "text/plain", "Gateway Timeout"),
        _ => json(200, USER_JSON),
    })
    .await;
    let c = client(&srv.url, 60);
    let u = c.user("alice").await.unwrap();
    assert_eq!(u.username, "alice");
    let hits = srv.hits();
    assert_eq!(hits.len(), 4);
    // With backoff between tries.
    for w in hits.windows(2) {
        assert!(w[1].at - w[0].at >= Duration::from_millis(350));
    }
}

#[tokio::test]
async fn gets_give_up_after_3_retries_and_never_retry_500() {
    let srv = TestServer::start(|_, h| {
        if h.uri.starts_with("/u/") {
            resp(503, "text/plain", "Service Unavailable")
        } else {
            json(
                500,
                r#"{"errors":["Internal Server Error"],"error_type":"unknown"}"#,
            )
        }
    })
    .await;
    let c = client(&srv.url, 60);
    let e = c.user("alice").await.unwrap_err();
    assert_eq!(e.status(), Some(503), "{e}");
    assert!(e.to_string().contains("503"), "{e}");
    assert_eq!(srv.count(), 4, "1 try + 3 retries");
    let e = c.admin_user(5).await.unwrap_err();
    assert_eq!(e.status(), Some(500), "{e}");
    assert_eq!(srv.count(), 5, "a 500 is not retried");
}

#[tokio::test]
async fn puts_and_posts_are_never_retried_on_5xx() {
    for status in [502u16, 503, 504] {
        let srv =
            TestServer::start(move |_, _| resp(status, "text/plain", "upstream trouble")).await;
        let c = client(&srv.url, 60);
        let e = c.pick_system_avatar("alice").await.unwrap_err();
        assert_eq!(e.status(), Some(status), "{e}");
        let e = c
            .update_site_setting("max_image_size_kb", "4096")
            .await
            .unwrap_err();
        assert_eq!(e.status(), Some(status), "{e}");
        let e = c.sync_sso("sso=abc&sig=00".into()).await.unwrap_err();
        assert_eq!(e.status(), Some(status), "{e}");
        let e = c.log_messages(&LogQuery::default()).await.unwrap_err();
        assert_eq!(e.status(), Some(status), "{e}");
        let methods: Vec<String> = srv.hits().iter().map(|h| h.method.clone()).collect();
        assert_eq!(methods, ["PUT", "PUT", "POST", "POST"], "{status}");
    }
}

#[tokio::test]
async fn connection_errors_retry_gets_only() {
    let base = format!("http://127.0.0.1:{}", closed_port());
    let c = client(&base, 60);
    let e = c.user("alice").await.unwrap_err();
    assert!(matches!(e, ClientError::Network { .. }), "{e}");
    assert!(e.to_string().contains("could not connect"), "{e}");
    assert_eq!(c.requests_sent(), 4);
    let c = client(&base, 60);
    let e = c.pick_system_avatar("alice").await.unwrap_err();
    assert!(matches!(e, ClientError::Network { .. }), "{e}");
    assert_eq!(c.requests_sent(), 1);
}

// ---- typed errors and hints ----------------------------------------------------------------

const HTML_PAGE: &str =
    "<!DOCTYPE html>\n<html><head><title>Welcome</title></head><body>Hello</body></html>\n";

#[tokio::test]
async fn html_instead_of_json_says_this_is_not_discourse() {
    let srv = TestServer::start(|_, h| {
        if h.uri.starts_with("/u/") {
            resp(200, "text/html; charset=utf-8", HTML_PAGE)
        } else {
            // No content type at all, but clearly markup.
            resp(200, "", HTML_PAGE)
        }
    })
    .await;
    let c = client(&srv.url, 60);
    for e in [
        c.user("alice").await.unwrap_err(),
        c.admin_user(1).await.unwrap_err(),
        c.log_messages(&LogQuery::default()).await.unwrap_err(),
    ] {
        assert!(matches!(e, ClientError::NotJson { .. }), "{e:?}");
        assert!(
            e.to_string().contains("does not look like Discourse's API"),
            "{e}"
        );
    }
    // The hint on a 200 HTML page on a non-2xx-sensitive route too.
    let e = c.dc_settings().await.unwrap_err();
    assert!(
        e.to_string().contains("does not look like Discourse's API"),
        "{e}"
    );
}

/// An HTML error page from a proxy or Rails' own 500 page means the server is in trouble,
/// not that the URL is wrong: report the status, not the "not Discourse" hint.
#[tokio::test]
async fn html_error_pages_report_the_status() {
    let srv = TestServer::start(|_, h| {
        if h.method == "GET" {
            resp(
                502,
                "text/html",
                "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>",
            )
        } else {
            resp(
                500,
                "text/html; charset=utf-8",
                "<!DOCTYPE html><html><head><title>Oops - Error 500</title></head><body><h1>Oops</h1></body></html>",
            )
        }
    })
    .await;
    let c = client(&srv.url, 60);
    let e = c.user("alice").await.unwrap_err();
    assert_eq!(e.status(), Some(502), "{e}");
    assert!(e.to_string().contains("502"), "{e}");
    assert!(!e.to_string().contains("does not look like"), "{e}");
    let e = c.pick_system_avatar("alice").await.unwrap_err();
    assert_eq!(e.status(), Some(500), "{e}");
    assert!(e.to_string().contains("500"), "{e}");
    assert!(!e.to_string().contains("does not look like"), "{e}");
}

#[tokio::test]
async fn wrong_key_gives_credential_hints() {
    let sb = sandbox().await;
    let c = sandbox_client_as(&sb, "system", "0000wrong0000key0000");
    // Admin-constraint route: 404, with the admin hint.
    let e = c.dc_settings().await.unwrap_err();
    assert!(matches!(e, ClientError::AdminNotFound { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("key invalid, not an admin, missing scope, or DiscourseConnect disabled"),
        "{e}"
    );
    assert!(e.is_credentials());
    let e = c.log_messages(&LogQuery::default()).await.unwrap_err();
    assert!(matches!(e, ClientError::AdminNotFound { .. }), "{e:?}");
    // Ordinary route: 403 invalid_access.
    let e = c.user("alice").await.unwrap_err();
    assert!(matches!(e, ClientError::InvalidAccess { .. }), "{e:?}");
    assert!(e.to_string().contains("API key or username invalid"), "{e}");
    assert!(e.is_credentials());
    assert_eq!(e.status(), Some(403));
    assert!(!e.to_string().contains("0000wrong0000key0000"));
    assert!(sb.violations().is_empty(), "{:?}", sb.violations());
}

#[tokio::test]
async fn non_admin_and_missing_user_are_told_apart() {
    let sb = sandbox().await;
    // A moderator: the key works, admin routes answer 404.
    let c = sandbox_client_as(&sb, "mia_mod", &sb.api_key());
    assert_eq!(c.user("alice").await.unwrap().username, "alice");
    let e = c.dc_settings().await.unwrap_err();
    assert!(matches!(e, ClientError::AdminNotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("not an admin"), "{e}");
    // A missing user on an ordinary route is a plain 404, not a credentials problem.
    let c = sandbox_client(&sb);
    let e = c.user("no-such-user-here").await.unwrap_err();
    assert!(e.is_not_found() && !e.is_credentials(), "{e:?}");
    let e = c.user_by_external("no-such-external-id").await.unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
}

#[tokio::test]
async fn admin_404_hint_on_admin_and_logs_paths_only() {
    let srv = TestServer::start(|_, _| {
        json(
            404,
            r#"{"errors":["The requested URL or resource could not be found."],"error_type":"not_found"}"#,
        )
    })
    .await;
    let c = client(&srv.url, 60);
    assert!(matches!(
        c.admin_user(5).await.unwrap_err(),
        ClientError::AdminNotFound { .. }
    ));
    assert!(matches!(
        c.users_by_email("a@example.com").await.unwrap_err(),
        ClientError::AdminNotFound { .. }
    ));
    assert!(matches!(
        c.log_messages(&LogQuery::default()).await.unwrap_err(),
        ClientError::AdminNotFound { .. }
    ));
    assert!(matches!(
        c.user("alice").await.unwrap_err(),
        ClientError::NotFound { .. }
    ));
    // Site settings: the config endpoint 404s, the fallback is tried, and 404s with the hint.
    let before = srv.count();
    assert!(matches!(
        c.dc_settings().await.unwrap_err(),
        ClientError::AdminNotFound { .. }
    ));
    let tail: Vec<String> = srv.hits()[before..].iter().map(|h| h.uri.clone()).collect();
    assert_eq!(tail.len(), 2, "{tail:?}");
    assert!(tail[0].starts_with("/admin/config/site_settings.json?filter_names"));
    assert_eq!(tail[1], "/admin/site_settings.json");
}

#[tokio::test]
async fn pick_with_overrides_on_gives_the_overrides_hint() {
    let sb = sandbox().await; // discourse_connect_overrides_avatar is on by default
    let c = sandbox_client(&sb);
    let e = c.pick_system_avatar("alice").await.unwrap_err();
    assert!(matches!(e, ClientError::OverridesAvatar { .. }), "{e:?}");
    assert!(
        e.to_string().contains("DiscourseConnect overrides avatars"),
        "{e}"
    );
    assert_eq!(e.status(), Some(422));
    let puts = sb.requests().iter().filter(|r| r.method == "PUT").count();
    assert_eq!(puts, 1, "a 422 is not retried");
    assert!(sb.user("alice").unwrap().uploaded_avatar_id.is_some());
    // With overrides off the same call resets to the letter avatar.
    sb.set_setting("discourse_connect_overrides_avatar", "false");
    c.pick_system_avatar("alice").await.unwrap();
    assert_eq!(sb.user("alice").unwrap().uploaded_avatar_id, None);
}

#[tokio::test]
async fn other_422s_are_not_the_overrides_hint() {
    let srv = TestServer::start(|_, _| {
        json(
            422,
            r#"{"errors":["Sorry, but we couldn't find that avatar."]}"#,
        )
    })
    .await;
    let c = client(&srv.url, 60);
    let e = c.pick_system_avatar("alice").await.unwrap_err();
    assert!(!matches!(e, ClientError::OverridesAvatar { .. }), "{e:?}");
    assert!(e.to_string().contains("couldn't find that avatar"), "{e}");
}

#[tokio::test]
async fn redirects_are_reported_not_followed() {
    let srv = TestServer::start(|_, h| {
        if h.uri.starts_with("/u/") {
            with_header(
                resp(301, "text/html", ""),
                "location",
                "https://elsewhere.example.com/u/alice.json",
            )
        } else {
            json(200, USER_JSON)
        }
    })
    .await;
    let c = client(&srv.url, 60);
    let e = c.user("alice").await.unwrap_err();
    assert!(matches!(e, ClientError::Redirect { .. }), "{e:?}");
    assert!(e.to_string().contains("elsewhere.example.com"), "{e}");
    assert_eq!(srv.count(), 1);
}

// ---- paths -----------------------------------------------------------------------------------

#[tokio::test]
async fn unicode_and_dotted_usernames_reach_the_right_user() {
    let sb = sandbox().await;
    let c = sandbox_client(&sb);
    assert_eq!(c.user("山田太郎").await.unwrap().username, "山田太郎");
    // bob.smith is inactive: admins still see him.
    assert_eq!(c.user("bob.smith").await.unwrap().username, "bob.smith");
    assert_eq!(c.user("carol-dev_x").await.unwrap().username, "carol-dev_x");
    assert_eq!(
        c.user_by_external("ext~77").await.unwrap().username,
        "tilde"
    );
    assert_eq!(
        c.user_by_external("2002").await.unwrap().username,
        "山田太郎"
    );
    // pick looks the user up before checking overrides: a 422 means the user was found.
    for name in ["山田太郎", "bob.smith"] {
        let e = c.pick_system_avatar(name).await.unwrap_err();
        assert!(
            matches!(e, ClientError::OverridesAvatar { .. }),
            "{name}: {e:?}"
        );
        assert!(
            e.to_string().contains(name),
            "paths show usernames as typed: {e}"
        );
    }
    let paths: Vec<String> = sb.requests().iter().map(|r| r.path.clone()).collect();
    for want in [
        "/u/%E5%B1%B1%E7%94%B0%E5%A4%AA%E9%83%8E.json",
        "/u/bob.smith.json",
        "/u/by-external/ext~77.json",
        "/u/%E5%B1%B1%E7%94%B0%E5%A4%AA%E9%83%8E/preferences/avatar/pick",
        "/u/bob.smith/preferences/avatar/pick",
    ] {
        assert!(paths.iter().any(|p| p == want), "{want} not in {paths:?}");
    }
    assert!(sb.violations().is_empty(), "{:?}", sb.violations());
}

#[tokio::test]
async fn reserved_characters_in_segments_are_escaped() {
    let srv = TestServer::start(|_, _| json(200, USER_JSON)).await;
    let c = client(&srv.url, 60);
    c.user("a/b?c#d e").await.unwrap();
    c.user_by_external("x/../admin").await.unwrap();
    c.users_by_email("a+b@example.com").await.unwrap_err(); // not a list: decode error
    let uris: Vec<String> = srv.hits().iter().map(|h| h.uri.clone()).collect();
    assert_eq!(uris[0], "/u/a%2Fb%3Fc%23d%20e.json");
    assert_eq!(uris[1], "/u/by-external/x%2F..%2Fadmin.json");
    assert_eq!(
        uris[2],
        "/admin/users/list/all.json?email=a%2Bb%40example.com"
    );
}

// ---- the exchange observer -----------------------------------------------------------------

#[tokio::test]
async fn observer_sees_every_exchange_and_never_a_secret() {
    let sb = sandbox().await; // expose_secret_in_settings: site settings hold the SSO secret
    let c = sandbox_client(&sb);
    let seen = collect_exchanges(&c);
    c.user("alice").await.unwrap();
    let dc = c.dc_settings().await.unwrap();
    // The client gets the secret (to compare), the observer never sees it.
    assert_eq!(
        dc.secret.as_ref().map(|s| s.expose()),
        Some(sb.sso_secret().as_str())
    );
    let _ = c.pick_system_avatar("山田太郎").await.unwrap_err();
    let _ = c.user("no-such-user-here").await.unwrap_err();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len() as u64, c.requests_sent());
    let (key, secret, token) = (sb.api_key(), sb.sso_secret(), sb.main_app_token());
    for e in &seen {
        assert!(!e.method.is_empty() && e.path.starts_with('/'), "{e:?}");
        assert!(e.status.is_some(), "{e:?}");
        assert!(e.latency_ms < 10_000, "{e:?}");
        let all = format!("{e:?}");
        assert!(!all.contains(&key), "API key in {all}");
        assert!(!all.contains(&secret), "SSO secret in {all}");
        assert!(!all.contains(&token), "main-app token in {all}");
        assert!(!all.to_ascii_lowercase().contains("api-key"), "{all}");
    }
    let find = |p: &str| seen.iter().find(|e| e.path.starts_with(p)).unwrap();
    assert_eq!(find("/u/alice.json").status, Some(200));
    assert_eq!(find("/u/alice.json").method, "GET");
    let settings = find("/admin/config/site_settings.json");
    assert_eq!(settings.status, Some(200));
    let body = settings.response_body.as_deref().unwrap();
    assert!(body.contains("discourse_connect_secret"), "{body}");
    assert!(body.contains("[redacted]"), "{body}");
    let pick = find("/u/山田太郎/preferences/avatar/pick");
    assert_eq!((pick.method.as_str(), pick.status), ("PUT", Some(422)));
    assert_eq!(pick.request_body.as_deref(), Some("type=system"));
    assert_eq!(find("/u/no-such-user-here.json").status, Some(404));
}

#[tokio::test]
async fn secrets_echoed_by_a_server_are_scrubbed() {
    const SSO: &str = "sso-secret-that-must-not-show-1234";
    let srv = TestServer::start(|_, h| {
        if h.uri.starts_with("/u/") {
            json(
                400,
                &format!(r#"{{"errors":["bad key {KEY} for secret {SSO}"]}}"#),
            )
        } else {
            resp(418, "text/plain", &format!("teapot {KEY} {SSO}"))
        }
    })
    .await;
    let mut s = settings(&srv.url, KEY, "system", 60);
    s.other_secrets = vec![Secret::new(SSO)];
    let c = DiscourseClient::new(http_client(Duration::from_secs(5)), s);
    let seen = collect_exchanges(&c);
    let e1 = c.user("alice").await.unwrap_err();
    let e2 = c.admin_user(3).await.unwrap_err();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    for text in [format!("{seen:?}"), e1.to_string(), e2.to_string()] {
        assert!(!text.contains(KEY) && !text.contains(SSO), "{text}");
    }
    assert!(e1.to_string().contains("[redacted]"), "{e1}");
}

#[tokio::test]
async fn network_failures_are_reported_without_status() {
    let base = format!("http://127.0.0.1:{}", closed_port());
    let c = client(&base, 60);
    let seen = collect_exchanges(&c);
    let _ = c.pick_system_avatar("alice").await.unwrap_err();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].status, None);
    assert!(
        seen[0].summary.contains("could not connect"),
        "{:?}",
        seen[0]
    );
}

// ---- the main app --------------------------------------------------------------------------

fn main_app(flagged_url: &str, token: &str) -> MainAppClient {
    MainAppClient::new(
        http_client(Duration::from_secs(10)),
        MainAppSettings {
            flagged_url: Url::parse(flagged_url).unwrap(),
            token: Secret::new(token),
            resolved_url: None,
            fields: FieldNames::default(),
        },
        None,
    )
}

#[tokio::test]
async fn main_app_pages_through_every_next_form() {
    let sb = Sandbox::start(Scenario {
        flagged: 400,
        ..Scenario::default()
    })
    .await
    .unwrap();
    let app = main_app(&sb.flagged_url(), &sb.main_app_token());
    let mut url = Some(app.first_page_url());
    let (mut flags, mut skipped, mut pages) = (Vec::new(), 0, 0);
    while let Some(u) = url {
        let page = app.fetch_page(&u).await.unwrap();
        flags.extend(page.flags);
        skipped += page.skipped;
        pages += 1;
        assert!(pages < 50, "paging does not end");
        url = page.next;
    }
    assert!(pages >= 4, "{pages} pages");
    let mut ids: Vec<&str> = flags.iter().map(|f| f.external_id.as_str()).collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "no page read twice");
    assert!(ids.contains(&"2002"), "numeric ids become strings");
    assert!(ids.contains(&"684") && ids.contains(&"99999"));
    // The fixed item without external_id, and the generated ones (3 %) like it.
    assert!(
        skipped >= 1,
        "items without external_id are skipped and counted"
    );
    // Relative (`flagged-avatars?cursor=50`), absolute-path and absolute `next` all resolved.
    let reqs = sb.requests();
    for cursor in ["cursor=50", "cursor=100", "cursor=150"] {
        assert!(
            reqs.iter()
                .any(|r| r.path == "/app/api/moderation/flagged-avatars"
                    && r.query.as_deref() == Some(cursor)),
            "{cursor}"
        );
    }
    for r in &reqs {
        assert_eq!(r.header("authorization"), Some("Bearer [redacted]"));
        assert_eq!(
            r.header("api-key"),
            None,
            "no Discourse key to the main app"
        );
        assert_eq!(r.status, 200);
    }
    assert!(sb.violations().is_empty(), "{:?}", sb.violations());
}

#[tokio::test]
async fn main_app_bearer_token_and_401() {
    let srv = TestServer::start(|_, h| {
        if h.header("authorization") == Some(format!("Bearer {TOKEN}").as_str()) {
            json(200, r#"[{"external_id": "1"}]"#)
        } else {
            json(401, r#"{"error":"invalid or missing bearer token"}"#)
        }
    })
    .await;
    let url = format!("{}/api/flagged?page=1", srv.url);
    let page = main_app(&url, TOKEN)
        .fetch_page(&Url::parse(&url).unwrap())
        .await
        .unwrap();
    assert_eq!(page.flags.len(), 1);
    assert!(page.next.is_none());
    let hits = srv.hits();
    assert_eq!(hits[0].header("accept"), Some("application/json"));
    assert!(!hits[0].uri.contains(TOKEN));

    let e = main_app(&url, "wrong-token-123456")
        .fetch_page(&Url::parse(&url).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(e, MainAppError::Unauthorized { status: 401, .. }),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.contains("main_app.token"), "{msg}");
    assert!(msg.contains("AVATAR_CONSOLE_MAIN_APP_TOKEN"), "{msg}");
    assert!(msg.contains("/api/flagged?page=1"), "{msg}");
    assert!(!msg.contains("wrong-token-123456"));

    // And against the sandbox.
    let sb = sandbox().await;
    let e = main_app(&sb.flagged_url(), "not-the-token-at-all")
        .fetch_page(&Url::parse(&sb.flagged_url()).unwrap())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("main_app.token"), "{e}");
}

#[tokio::test]
async fn main_app_html_and_malformed_json_name_the_page() {
    let srv = TestServer::start(|_, h| {
        if h.uri.contains("html") {
            resp(200, "text/html; charset=utf-8", HTML_PAGE)
        } else if h.uri.contains("login") {
            resp(200, "", "  <html><body>Sign in</body></html>")
        } else if h.uri.contains("broken") {
            json(200, r#"{"users": [{"external_id": "1"}, "#)
        } else {
            json(200, r#"{"items": []}"#)
        }
    })
    .await;
    let app = main_app(&format!("{}/x", srv.url), TOKEN);
    for (path, html) in [
        ("/flagged?page=html", true),
        ("/flagged?page=login", true),
        ("/flagged?page=broken", false),
        ("/flagged?page=shape", false),
    ] {
        let url = Url::parse(&format!("{}{path}", srv.url)).unwrap();
        let e = app.fetch_page(&url).await.unwrap_err();
        match (&e, html) {
            (MainAppError::NotJson { .. }, true) | (MainAppError::Malformed { .. }, false) => {}
            _ => panic!("{path}: {e:?}"),
        }
        assert!(e.to_string().contains(url.as_str()), "{path}: {e}");
    }
    // The sandbox's malformed-JSON fault too.
    let sb = sandbox().await;
    sb.set_faults(Faults {
        malformed_json: true,
        ..Faults::default()
    });
    let url = Url::parse(&sb.flagged_url()).unwrap();
    let e = main_app(url.as_str(), &sb.main_app_token())
        .fetch_page(&url)
        .await
        .unwrap_err();
    assert!(matches!(e, MainAppError::Malformed { .. }), "{e:?}");
    assert!(e.to_string().contains(url.as_str()), "{e}");
}

#[tokio::test]
async fn main_app_skips_items_without_external_id() {
    let srv = TestServer::start(|_, _| {
        json(
            200,
            r#"{"users": [
                {"username": "no-id"},
                {"external_id": 42, "username": "num"},
                {"external_id": null},
                {"external_id": "", "username": "empty"},
                {"external_id": "a-7", "reason": "nudity", "flagged_at": "2026-11-20T10:00:00Z"}
            ], "next": null}"#,
        )
    })
    .await;
    let url = format!("{}/f", srv.url);
    let page = main_app(&url, TOKEN)
        .fetch_page(&Url::parse(&url).unwrap())
        .await
        .unwrap();
    let ids: Vec<&str> = page.flags.iter().map(|f| f.external_id.as_str()).collect();
    assert_eq!(ids, ["42", "a-7"]);
    assert_eq!(page.skipped, 3);
    assert!(page.next.is_none());
    assert!(page.flags[1].flagged_at.is_some());
}

// ---- `config check` through the binary -----------------------------------------------------

const BIN: &str = env!("CARGO_BIN_EXE_avatar-console");

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `avatar-console --config <file> config check` with a clean environment and its own
/// data dir, off the runtime's threads (the sandbox keeps serving meanwhile).
async fn config_check(tag: &str, toml: String) -> Ran {
    let dir = std::env::temp_dir().join(format!(
        "avatar-console-it-client-{}-{tag}",
        std::process::id()
    ));
    tokio::task::spawn_blocking(move || {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("config.toml");
        std::fs::write(&cfg, toml).unwrap();
        let mut c = std::process::Command::new(BIN);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("AVATAR_CONSOLE_") {
                c.env_remove(&k);
            }
        }
        c.env("HOME", dir.join("home"))
            .env("XDG_CONFIG_HOME", dir.join("home/.config"))
            .env("XDG_DATA_HOME", dir.join("home/.local/share"))
            .env("AVATAR_CONSOLE_DATA_DIR", dir.join("data"))
            .env_remove("RUST_LOG")
            .arg("--config")
            .arg(&cfg)
            .args(["config", "check"]);
        let out = c.output().expect("run the binary");
        let _ = std::fs::remove_dir_all(&dir);
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

fn set_line(toml: &str, key: &str, value: &str) -> String {
    toml.lines()
        .map(|l| {
            if l.starts_with(&format!("{key} =")) {
                format!("{key} = \"{value}\"")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn no_secrets(sb: &Sandbox, r: &Ran) {
    for s in [sb.api_key(), sb.sso_secret(), sb.main_app_token()] {
        assert!(
            !r.stdout.contains(&s) && !r.stderr.contains(&s),
            "a secret was printed:\n{}\n{}",
            r.stdout,
            r.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_against_the_sandbox() {
    let sb = sandbox().await;
    let toml = sb.config_toml();

    let ok = config_check("ok", toml.clone()).await;
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    for want in [
        "OK",
        "server check",
        "key: works (acts as system)",
        "admin: yes",
        "DiscourseConnect: enabled",
        "overrides avatar on",
        "sso_secret: matches",
    ] {
        assert!(
            ok.stdout.contains(want),
            "wanted {want:?} in\n{}",
            ok.stdout
        );
    }
    no_secrets(&sb, &ok);

    let bad_key = config_check(
        "badkey",
        set_line(&toml, "api_key", "ffffffffffffffffffffffffffffffff"),
    )
    .await;
    assert_eq!(bad_key.code, 1, "{}\n{}", bad_key.stdout, bad_key.stderr);
    assert!(
        bad_key.stdout.contains("key: refused"),
        "{}",
        bad_key.stdout
    );
    assert!(
        bad_key.stderr.contains("API key or username invalid"),
        "{}",
        bad_key.stderr
    );
    no_secrets(&sb, &bad_key);

    let moderator = config_check("mod", set_line(&toml, "api_username", "mia_mod")).await;
    assert_eq!(
        moderator.code, 1,
        "{}\n{}",
        moderator.stdout, moderator.stderr
    );
    assert!(
        moderator.stdout.contains("key: works"),
        "{}",
        moderator.stdout
    );
    assert!(
        moderator.stdout.contains("admin: no"),
        "{}",
        moderator.stdout
    );
    assert!(
        moderator.stderr.contains("not an admin"),
        "{}",
        moderator.stderr
    );

    let other_secret = config_check(
        "secret",
        set_line(&toml, "sso_secret", "a-different-secret-0123456789"),
    )
    .await;
    assert_eq!(
        other_secret.code, 1,
        "{}\n{}",
        other_secret.stdout, other_secret.stderr
    );
    assert!(
        other_secret.stderr.contains("differs"),
        "{}",
        other_secret.stderr
    );
    assert!(
        !other_secret
            .stderr
            .contains("a-different-secret-0123456789")
    );

    assert!(sb.violations().is_empty(), "{:?}", sb.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_with_the_server_down_fails_saying_the_key_was_not_tried() {
    let sb = sandbox().await;
    let down = format!("http://127.0.0.1:{}", closed_port());
    let toml = sb.config_toml().replace(&sb.url(), &down);
    let r = config_check("down", toml).await;
    // The file is valid (said), but a check that could not try the key is no pass.
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(": OK"), "{}", r.stdout);
    assert!(r.stdout.contains("not reachable"), "{}", r.stdout);
    assert!(r.stderr.contains("key could not be tried"), "{}", r.stderr);
    no_secrets(&sb, &r);
}
