//! Fetching one picture: a plain GET that carries no Discourse credential (an avatar may live on
//! a CDN, and the `Api-Key` never leaves the forum's API calls), read up to a cap, and not
//! counted against the admin request budget (it never goes through `DiscourseClient`).
//!
//! The main-app token is sent only to the main app's own origin, and only when a photo there
//! answered 401 without it: photos on a public bucket never see it.

use std::time::Duration;

use url::Url;

use crate::secret::{Secret, scrub};

/// The most bytes read from one picture (the client layer's image cap: Discourse refuses
/// uploads over `max_image_size_kb`, 4 MB by default).
pub const MAX_BYTES: usize = crate::net::IMAGE_LIMIT;
/// Redirects followed (a CDN or `letter_avatar_proxy` may redirect once or twice).
const MAX_REDIRECTS: usize = 3;
/// A picture that takes longer is given up: the pane says so and the rest goes on.
const TIMEOUT: Duration = Duration::from_secs(15);

/// The main app's token and the one origin it may go to.
#[derive(Clone)]
pub struct AppToken {
    pub origin: url::Origin,
    pub token: Secret,
}

/// How pictures are fetched: the shared client (it follows no redirects by itself) and the cap.
#[derive(Clone)]
pub struct Fetcher {
    http: reqwest::Client,
    app: Option<AppToken>,
    max_bytes: usize,
}

impl Fetcher {
    pub fn new(http: reqwest::Client, app: Option<AppToken>) -> Self {
        Fetcher {
            http,
            app,
            max_bytes: MAX_BYTES,
        }
    }

    pub fn with_max_bytes(mut self, max: usize) -> Self {
        self.max_bytes = max;
        self
    }

    /// The bytes of the picture at `url` (already absolute), or why not, in words for the pane.
    pub async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let secrets: Vec<&Secret> = self.app.iter().map(|a| &a.token).collect();
        tokio::time::timeout(TIMEOUT, self.get_inner(url))
            .await
            .unwrap_or_else(|_| Err(format!("no answer in {} s", TIMEOUT.as_secs())))
            .map_err(|e| scrub(&e, &secrets))
    }

    async fn get_inner(&self, url: &str) -> Result<Vec<u8>, String> {
        let mut url = picture_url(url)?;
        let mut with_token = false;
        for _ in 0..=MAX_REDIRECTS {
            let mut req = self.http.get(url.clone()).header("accept", "image/*");
            let token = self
                .app
                .as_ref()
                .filter(|a| with_token && url.origin() == a.origin);
            if let Some(a) = token {
                req = req.bearer_auth(a.token.expose());
            }
            let resp = req.send().await.map_err(describe)?;
            let status = resp.status();
            if status.is_redirection() {
                let location = resp
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| format!("{status} without a Location"))?;
                let next = url
                    .join(location)
                    .map_err(|_| "redirected to an unreadable address".to_string())?;
                url = picture_url(next.as_str())?;
                continue;
            }
            if status == reqwest::StatusCode::UNAUTHORIZED
                && !with_token
                && self.app.as_ref().is_some_and(|a| url.origin() == a.origin)
            {
                // The main app's photos need its token: try once more with it.
                with_token = true;
                continue;
            }
            if !status.is_success() {
                return Err(format!("HTTP {}", status.as_u16()));
            }
            return read_capped(resp, self.max_bytes).await;
        }
        Err(format!("more than {MAX_REDIRECTS} redirects"))
    }
}

/// A URL a picture may be fetched from: http(s), no user name or password in it.
pub fn picture_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|_| "not a valid address".to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("refused: a {}: address", url.scheme()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("refused: the address carries credentials".into());
    }
    if url.host().is_none() {
        return Err("not a valid address".into());
    }
    Ok(url)
}

/// The body through the client layer's capped read: a huge or endless body costs at most `max`
/// bytes of memory.
async fn read_capped(resp: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    crate::net::read_capped(resp, max)
        .await
        .map_err(|e| match e {
            crate::net::CappedError::TooLarge { limit } => {
                format!("too big (over the {} cap)", crate::net::human_size(limit))
            }
            crate::net::CappedError::Body(e) => describe(e),
        })
}

fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        // reqwest's text names the URL, which is the picture's own (no secret is in one).
        crate::sanitize::clean(&e.without_url().to_string())
    }
}

/// The absolute URL of an avatar at `size` pixels, from a Discourse `avatar_template`
/// (`/user_avatar/{host}/{username}/{size}/{id}_2.png`, `/letter_avatar_proxy/…/{size}.png`, or an
/// absolute or protocol-relative CDN address), relative to the forum.
pub fn avatar_url(forum: &Url, template: &str, size: u32) -> Option<String> {
    let path = template.replace("{size}", &size.to_string());
    let url = forum.join(&path).ok()?;
    picture_url(url.as_str()).ok().map(|u| u.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avatar_urls_resolve_against_the_forum() {
        let forum = Url::parse("http://127.0.0.1:4000/").unwrap();
        assert_eq!(
            avatar_url(&forum, "/user_avatar/h/alice/{size}/7_2.png", 96).as_deref(),
            Some("http://127.0.0.1:4000/user_avatar/h/alice/96/7_2.png")
        );
        assert_eq!(
            avatar_url(&forum, "//cdn.example.com/a/{size}/1.png", 48).as_deref(),
            Some("http://cdn.example.com/a/48/1.png")
        );
        assert_eq!(
            avatar_url(&forum, "https://cdn.example.com/x.png", 48).as_deref(),
            Some("https://cdn.example.com/x.png")
        );
        assert_eq!(avatar_url(&forum, "javascript:alert(1)", 48), None);
    }

    #[test]
    fn refuses_odd_addresses() {
        assert!(picture_url("file:///etc/passwd").is_err());
        assert!(picture_url("https://u:p@cdn.example.com/a.png").is_err());
        assert!(picture_url("not a url").is_err());
        assert!(picture_url("https://cdn.example.com/a.png").is_ok());
    }
}
