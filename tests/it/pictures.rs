//! Pictures over loopback: fetched through the console's backend from the sandbox without any
//! credential and outside the request budget; the read cap; the main-app token only for the
//! main app's own origin, only when its photos ask for it.

use std::path::Path;
use std::sync::{Arc, Mutex};

use avatar_console::commands::console::ConsoleBackend;
use avatar_console::config::Config;
use avatar_console::images::fetch::{AppToken, Fetcher, avatar_url};
use avatar_console::images::{AVATAR_PX, Renderer, decode};
use avatar_console::secret::Secret;
use avatar_console::session::Session;
use avatar_console::tui::Backend;
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::common::Scratch;

fn header<'a>(r: &'a discourse_sandbox::RecordedRequest, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn pictures_carry_no_credential_and_spend_no_budget() {
    let sb = discourse_sandbox::Sandbox::start(discourse_sandbox::Scenario::default())
        .await
        .unwrap();
    let scratch = Scratch::new("pictures");
    let config = Config::from_toml_str(&sb.config_toml(), Path::new("config.toml")).unwrap();
    let session = Session::new(&config, &scratch.path("data")).unwrap();
    let backend = ConsoleBackend::new(&config, &session, false, false);

    let alice = sb.user("alice").unwrap();
    let avatar = avatar_url(&config.discourse.url, &alice.avatar_template, AVATAR_PX).unwrap();
    // alice's photo in the main app (on the sandbox: the main app's origin is the forum's).
    let photo = format!("{}/app/photos/684.png", sb.url());
    let budget = session.discourse.budget();

    let r = Renderer::halfblocks();
    let mut pictures = Vec::new();
    for url in [&avatar, &photo] {
        let bytes = backend.fetch_image(url.clone()).await.unwrap();
        pictures.push(decode::picture(&bytes, &r).unwrap());
    }
    assert_eq!((pictures[0].width, pictures[0].height), (64, 64));
    // Distinct pictures: the avatar's colours are alice's, the photo's the main app's.
    let look = discourse_sandbox::pictures::colors_of("photo:684");
    let img = decode::decode(&backend.fetch_image(photo.clone()).await.unwrap()).unwrap();
    assert_eq!(img.to_rgb8().get_pixel(0, 0).0, look.background);

    let after = session.discourse.budget();
    assert_eq!(
        after.remaining, budget.remaining,
        "pictures do not count against the admin budget"
    );
    let seen: Vec<_> = sb
        .requests()
        .into_iter()
        .filter(|q| avatar.ends_with(&q.path) || photo.ends_with(&q.path))
        .collect();
    assert_eq!(seen.len(), 3, "{seen:#?}");
    for q in &seen {
        assert_eq!(q.status, 200, "{q:#?}");
        for h in ["api-key", "api-username", "authorization", "cookie"] {
            assert!(header(q, h).is_none(), "{h} went with {}: {q:#?}", q.path);
        }
    }
    assert!(sb.violations().is_empty(), "{:#?}", sb.violations());
    // The sandbox's /images/huge.png is 120 kB: over a 100 kB cap it is refused.
    let capped = Fetcher::new(session.http.clone(), None).with_max_bytes(100_000);
    let e = capped
        .get(&format!("{}/images/huge.png", sb.url()))
        .await
        .unwrap_err();
    assert!(e.contains("too big"), "{e}");
}

/// What a test server saw: path and Authorization header of each request.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

const TOKEN: &str = "tok-abcdef-123456";

async fn serve(seen: Seen, other: Option<String>) -> String {
    let private = {
        let seen = seen.clone();
        move |headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                seen.lock()
                    .unwrap()
                    .push(("/private.png".into(), auth.clone()));
                if auth.as_deref() == Some(&format!("Bearer {TOKEN}")) {
                    png().into_response()
                } else {
                    StatusCode::UNAUTHORIZED.into_response()
                }
            }
        }
    };
    // A body with no Content-Length that never stops growing: the cap must stop it.
    let endless = || async {
        let chunks = futures::stream::repeat_with(|| {
            Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![0u8; 64 * 1024]))
        })
        .take(1000);
        Response::new(axum::body::Body::from_stream(chunks))
    };
    let away = move || {
        let to = other.clone().unwrap_or_default();
        async move {
            (
                StatusCode::FOUND,
                [("location", format!("{to}/private.png"))],
            )
        }
    };
    let app = Router::new()
        .route("/private.png", get(private))
        .route("/endless.png", get(endless))
        .route("/away.png", get(away));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

use futures::StreamExt;

fn png() -> Vec<u8> {
    discourse_sandbox::png::solid(8, [1, 2, 3])
}

#[tokio::test]
async fn the_token_goes_only_to_the_main_apps_origin_and_the_cap_stops_endless_bodies() {
    let other_seen = Seen::default();
    let other = serve(other_seen.clone(), None).await;
    let app_seen = Seen::default();
    let app = serve(app_seen.clone(), Some(other.clone())).await;
    let http = avatar_console::discourse::client::http_client(std::time::Duration::from_secs(5));
    let fetcher = Fetcher::new(
        http,
        Some(AppToken {
            origin: url::Url::parse(&app).unwrap().origin(),
            token: Secret::new(TOKEN),
        }),
    )
    .with_max_bytes(1024 * 1024);

    // The main app's private photo: asked without the token first, then with it.
    let bytes = fetcher.get(&format!("{app}/private.png")).await.unwrap();
    assert_eq!(bytes, png());
    let seen = app_seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].1, None);
    assert_eq!(seen[1].1.as_deref(), Some(&*format!("Bearer {TOKEN}")));

    // Another origin asking for a token never gets it, not even through a redirect from the
    // main app.
    let e = fetcher
        .get(&format!("{other}/private.png"))
        .await
        .unwrap_err();
    assert_eq!(e, "HTTP 401");
    let e = fetcher.get(&format!("{app}/away.png")).await.unwrap_err();
    assert_eq!(e, "HTTP 401");
    let seen = other_seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|(_, auth)| auth.is_none()), "{seen:?}");

    // An endless body is cut at the cap, and the error says so.
    let e = fetcher
        .get(&format!("{app}/endless.png"))
        .await
        .unwrap_err();
    assert!(e.contains("too big"), "{e}");
    assert!(!e.contains(TOKEN));
}
