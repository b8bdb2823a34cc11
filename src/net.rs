//! Classifying hosts by address, without connecting: is a default avatar URL something
//! Discourse's SSRF guard would refuse? (`lib/final_destination/ssrf_detector.rb`, §5.)
//! And reading answers with a size cap, so a hostile or broken server cannot fill memory.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use url::{Host, Url};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostClass {
    /// A name we do not resolve (resolving could itself reach a private resolver; and this
    /// machine's DNS is not the forum's).
    Name,
    /// `localhost` or a loopback literal.
    Loopback,
    /// An IP literal in a private, link-local, CGNAT or unspecified range.
    Private,
    /// A public IP literal.
    PublicIp,
}

impl HostClass {
    pub fn is_internal(self) -> bool {
        matches!(self, HostClass::Loopback | HostClass::Private)
    }
}

pub fn classify_ip(ip: IpAddr) -> HostClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return classify_v4(v4);
            }
            classify_v6(v6)
        }
    }
}

fn classify_v4(ip: Ipv4Addr) -> HostClass {
    let o = ip.octets();
    if ip.is_loopback() {
        HostClass::Loopback
    } else if ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || o[0] == 0
        || (o[0] == 100 && (64..128).contains(&o[1]))
    {
        HostClass::Private
    } else {
        HostClass::PublicIp
    }
}

fn classify_v6(ip: Ipv6Addr) -> HostClass {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        HostClass::Loopback
    } else if ip.is_unspecified() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80 {
        HostClass::Private
    } else {
        HostClass::PublicIp
    }
}

/// Classifies a URL's host by its literal form only; never resolves or connects.
pub fn classify_url(url: &Url) -> Option<HostClass> {
    Some(match url.host()? {
        Host::Ipv4(ip) => classify_ip(IpAddr::V4(ip)),
        Host::Ipv6(ip) => classify_ip(IpAddr::V6(ip)),
        Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if d == "localhost" || d.ends_with(".localhost") {
                HostClass::Loopback
            } else {
                HostClass::Name
            }
        }
    })
}

/// Is this host one Discourse would fetch from although it is internal: the forum's own host,
/// or one listed in `allowed_internal_hosts`?
pub fn allowed_internal(url: &Url, forum: &Url, allowed_internal_hosts: &[String]) -> bool {
    let Some(host) = url
        .host_str()
        .map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase())
    else {
        return false;
    };
    forum
        .host_str()
        .is_some_and(|f| f.trim_matches(['[', ']']).eq_ignore_ascii_case(&host))
        || allowed_internal_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&host))
}

/// The most a JSON answer may hold. Discourse's biggest pages (a full site-settings list, a
/// review page with its users) are a few hundred kB; a main-app page of 1000 users is ~250 kB.
pub const JSON_LIMIT: usize = 16 * 1024 * 1024;

/// The most an avatar image may hold. Discourse itself refuses uploads over
/// `max_image_size_kb` (4 MB by default), so nothing it serves as an avatar is bigger.
pub const IMAGE_LIMIT: usize = 5 * 1024 * 1024;

/// Why a capped read stopped.
#[derive(Debug)]
pub enum CappedError {
    /// The body is (or says it is) over `limit` bytes; reading stopped there.
    TooLarge { limit: usize },
    /// The body broke off (reset, timeout, bad chunking).
    Body(reqwest::Error),
}

/// `limit` for people: `16 MB`, `512 kB`.
pub fn human_size(limit: usize) -> String {
    if limit >= 1024 * 1024 && limit.is_multiple_of(1024 * 1024) {
        format!("{} MB", limit / (1024 * 1024))
    } else if limit >= 1024 {
        format!("{} kB", limit.div_ceil(1024))
    } else {
        format!("{limit} bytes")
    }
}

/// Reads a body, never holding more than `limit` bytes (plus one network chunk): a
/// `Content-Length` over the limit is refused before reading, and a body without one is cut off
/// as soon as it passes the limit. Memory stays near the cap whatever the server sends.
pub async fn read_capped(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, CappedError> {
    let declared = resp.content_length();
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(CappedError::TooLarge { limit });
    }
    let mut body = Vec::with_capacity(declared.map_or(8 * 1024, |n| n as usize));
    while let Some(chunk) = resp.chunk().await.map_err(CappedError::Body)? {
        if body.len() + chunk.len() > limit {
            return Err(CappedError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// How long a 429 or 503 asks us to wait, if it says: `Retry-After` in seconds or as an HTTP
/// date, else Discourse's `extras.wait_seconds` (`lib/rate_limiter/limit_exceeded.rb`), else the
/// "retry again in N seconds" text of its per-IP limiter (`lib/middleware/request_tracker.rb`).
/// Never panics: NaN, infinities, negatives and absurd values are clamped to 1 s..~115 days
/// (kept large so the message can say how long was asked).
pub fn retry_after(
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> Option<std::time::Duration> {
    let header = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let seconds = header.and_then(|v| v.parse::<f64>().ok());
    let date = || {
        let at = chrono::DateTime::parse_from_rfc2822(header?).ok()?;
        Some(
            (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_milliseconds() as f64
                / 1000.0,
        )
    };
    let extras = || {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()?
            .pointer("/extras/wait_seconds")?
            .as_f64()
    };
    let text = || {
        let head = &body[..body.len().min(4096)];
        let body = String::from_utf8_lossy(head).to_ascii_lowercase();
        let rest = &body[body.find("again in ")? + "again in ".len()..];
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse::<f64>().ok()
    };
    let finite = |v: f64| v.is_finite().then_some(v);
    let secs = seconds
        .and_then(finite)
        .or_else(|| date().and_then(finite))
        .or_else(|| extras().and_then(finite))
        .or_else(|| text().and_then(finite))?;
    Some(std::time::Duration::from_secs_f64(secs.clamp(1.0, 1.0e7)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(u: &str) -> HostClass {
        classify_url(&Url::parse(u).unwrap()).unwrap()
    }

    #[test]
    fn classifies_literals_without_resolving() {
        assert_eq!(c("http://127.0.0.1/a.png"), HostClass::Loopback);
        assert_eq!(c("http://localhost:3000/a.png"), HostClass::Loopback);
        assert_eq!(c("http://[::1]/a.png"), HostClass::Loopback);
        assert_eq!(c("http://10.1.2.3/a.png"), HostClass::Private);
        assert_eq!(c("http://192.168.0.5/a.png"), HostClass::Private);
        assert_eq!(c("http://172.20.0.1/a.png"), HostClass::Private);
        assert_eq!(c("http://169.254.169.254/latest"), HostClass::Private);
        assert_eq!(c("http://100.64.0.1/"), HostClass::Private);
        assert_eq!(c("http://[fd00::1]/"), HostClass::Private);
        assert_eq!(c("http://[::ffff:10.0.0.1]/"), HostClass::Private);
        assert_eq!(c("https://8.8.8.8/a.png"), HostClass::PublicIp);
        assert_eq!(c("https://cdn.example.com/a.png"), HostClass::Name);
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(JSON_LIMIT), "16 MB");
        assert_eq!(human_size(1500), "2 kB");
        assert_eq!(human_size(10), "10 bytes");
    }

    #[test]
    fn own_host_and_allowed_hosts_are_exempt() {
        let forum = Url::parse("http://127.0.0.1:4000").unwrap();
        let own = Url::parse("http://127.0.0.1:4000/images/default.png").unwrap();
        let other = Url::parse("http://localhost:9/x.png").unwrap();
        assert!(allowed_internal(&own, &forum, &[]));
        assert!(!allowed_internal(&other, &forum, &[]));
        assert!(allowed_internal(&other, &forum, &["localhost".into()]));
    }
}
