//! Classifying hosts by address, without connecting: is a default avatar URL something
//! Discourse's SSRF guard would refuse? (`lib/final_destination/ssrf_detector.rb`, §5.)

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
    fn own_host_and_allowed_hosts_are_exempt() {
        let forum = Url::parse("http://127.0.0.1:4000").unwrap();
        let own = Url::parse("http://127.0.0.1:4000/images/default.png").unwrap();
        let other = Url::parse("http://localhost:9/x.png").unwrap();
        assert!(allowed_internal(&own, &forum, &[]));
        assert!(!allowed_internal(&other, &forum, &[]));
        assert!(allowed_internal(&other, &forum, &["localhost".into()]));
    }
}
