//! The avatar download job: `app/jobs/regular/download_avatar_from_url.rb` →
//! `UserAvatar.import_url_for_user` (`app/models/user_avatar.rb`) → `FileHelper.download`
//! (`lib/file_helper.rb`) behind the SSRF checks of `lib/final_destination/ssrf_detector.rb`.
//! A real HTTP GET through reqwest, after the SSRF check.

use super::Shared;
use super::png;
use super::sync::DownloadJob;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// `SsrfDetector::PRIVATE_IPV4_RANGES` / `PRIVATE_IPV6_RANGES`.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            o[0] == 0
                || o[0] == 10
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || o[0] == 127
                || (o[0] == 169 && o[1] == 254)
                || (o[0] == 172 && (16..32).contains(&o[1]))
                || (o[0] == 192 && o[1] == 168)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (18..20).contains(&o[1]))
                || o[0] >= 224
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xff00) == 0xff00
        }
    }
}

enum Fail {
    /// Swallowed by the job: nothing logged (SSRF, HTTP error, too big, not an image, bad URL).
    Silent(&'static str),
    /// Escapes the job: an error line in /logs.
    Logged(String),
}

/// Runs the job after the scenario's delay.
pub fn spawn(shared: Arc<Shared>, job: DownloadJob) {
    let delay = shared.lock().scenario.download_delay;
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        run(&shared, job).await;
    });
}

pub async fn run(shared: &Shared, job: DownloadJob) {
    let (verbose, failing, broken_user) = {
        let st = shared.lock();
        (
            st.setting_on("verbose_upload_logging"),
            st.faults().failing_downloads,
            st.failing_download_users.contains(&job.user_id),
        )
    };
    if verbose {
        // `UserAvatar.import_url_for_user`: `Rails.logger.warn("Verbose Upload Logging: Downloading sso-avatar from #{url}")`
        shared.lock().log(
            2,
            &format!(
                "Verbose Upload Logging: Downloading sso-avatar from {}",
                job.url
            ),
        );
    }
    let result = if broken_user {
        // The demo's user whose job always raises (`seed.rs`, demo outcomes): the user's
        // `user_avatar` row is gone, so `import_url_for_user` calls a setter on nil.
        Err(Fail::Logged(
            "Job exception: undefined method 'custom_upload_id=' for nil\nJobs::DownloadAvatarFromUrl"
                .to_string(),
        ))
    } else if failing {
        Err(Fail::Logged(format!(
            "Job exception: Failed to open TCP connection to {} (Connection refused - connect(2))\nJobs::DownloadAvatarFromUrl",
            url::Url::parse(&job.url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default()
        )))
    } else {
        fetch(shared, &job.url).await
    };
    match result {
        Ok(bytes) => store(shared, &job, bytes),
        Err(Fail::Silent(why)) => {
            tracing::debug!(url = %job.url, why, "sandbox avatar download dropped silently");
            shared
                .lock()
                .silent_download_failures
                .push((job.url.clone(), why.to_string()));
        }
        Err(Fail::Logged(msg)) => {
            // `SidekiqLogsterReporter#call` (`lib/sidekiq_logster_reporter.rb`): "Job exception:
            // #{ex}" at error level, the job's context (class and args) in the env.
            let mut st = shared.lock();
            let env = serde_json::json!({
                "hostname": "sandbox",
                "process_id": std::process::id(),
                "application_version": "sandbox",
                "current_hostname": st.host,
                "job": {
                    "class": "Jobs::DownloadAvatarFromUrl",
                    "args": [{
                        "url": job.url,
                        "user_id": job.user_id,
                        "override_gravatar": job.override_gravatar,
                        "current_site_id": "default",
                    }],
                    "queue": "default",
                },
            });
            let text = msg
                .split("\nJobs::DownloadAvatarFromUrl")
                .next()
                .unwrap_or(&msg)
                .to_string();
            st.logs.add(3, &format!("{text}\n"), env);
        }
    }
}

async fn allowed(shared: &Shared, url: &url::Url) -> Result<(), Fail> {
    let host = url
        .host_str()
        .ok_or(Fail::Silent("no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let (own, internal) = {
        let st = shared.lock();
        let internal: Vec<String> = st
            .setting("allowed_internal_hosts")
            .unwrap_or("")
            .split('|')
            .map(|h| h.trim().to_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        (st.host.clone(), internal)
    };
    // `SsrfDetector.allowed_internal_hosts`: the forum's own host and `allowed_internal_hosts`.
    if host.eq_ignore_ascii_case(&own) || internal.contains(&host.to_lowercase()) {
        return Ok(());
    }
    let port = url.port_or_known_default().unwrap_or(80);
    let ips: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => match tokio::net::lookup_host((host.as_str(), port)).await {
            Ok(addrs) => addrs.map(|a| a.ip()).collect(),
            Err(e) => {
                return Err(Fail::Logged(format!(
                    "Job exception: getaddrinfo: {e} ({host})\nJobs::DownloadAvatarFromUrl"
                )));
            }
        },
    };
    if ips.iter().all(|ip| is_private(*ip)) {
        // `DisallowedIpError`: "all resolved IPs were disallowed", swallowed by download_for_user.
        return Err(Fail::Silent("ssrf: all resolved IPs were disallowed"));
    }
    Ok(())
}

async fn fetch(shared: &Shared, raw: &str) -> Result<Vec<u8>, Fail> {
    // `FileHelper.download`: `//host` gets https:, anything not http(s) is InvalidParameters (swallowed).
    let raw = if raw.starts_with("//") {
        format!("https:{raw}")
    } else {
        raw.to_string()
    };
    let mut url = url::Url::parse(&raw).map_err(|_| Fail::Silent("invalid url"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Fail::Silent("not http(s)"));
    }
    let max = shared
        .lock()
        .setting("max_image_size_kb")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(4096)
        * 1024;
    // follow_redirect: true, each hop checked again (FinalDestination).
    for _ in 0..5 {
        allowed(shared, &url).await?;
        let resp = shared
            .http
            .get(url.clone())
            .header("X-Sandbox-Job", "download_avatar_from_url")
            .send()
            .await
            .map_err(|e| {
                Fail::Logged(format!(
                    "Job exception: {e}\nJobs::DownloadAvatarFromUrl url={url}"
                ))
            })?;
        if resp.status().is_redirection() {
            let next = resp
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url.join(l).ok());
            url = next.ok_or(Fail::Silent("redirect without location"))?;
            continue;
        }
        if resp.status().as_u16() >= 400 {
            // OpenURI::HTTPError, swallowed.
            return Err(Fail::Silent("http error"));
        }
        if resp.content_length().is_some_and(|l| l > max) {
            return Err(Fail::Silent("too big"));
        }
        let mut resp = resp;
        let mut body = Vec::new();
        loop {
            match tokio::time::timeout(Duration::from_secs(5), resp.chunk()).await {
                Err(_) => return Err(Fail::Silent("read timeout")), // Net::ReadTimeout, swallowed
                Ok(Err(e)) => {
                    return Err(Fail::Logged(format!(
                        "Job exception: {e}\nJobs::DownloadAvatarFromUrl"
                    )));
                }
                Ok(Ok(None)) => break,
                Ok(Ok(Some(c))) => {
                    body.extend_from_slice(&c);
                    if body.len() as u64 > max {
                        return Err(Fail::Silent("too big"));
                    }
                }
            }
        }
        return Ok(body);
    }
    Err(Fail::Silent("too many redirects"))
}

fn store(shared: &Shared, job: &DownloadJob, bytes: Vec<u8>) {
    // UploadCreator: a non-image fails validation; `return unless upload&.persisted?`.
    if png::image_type(&bytes).is_none() {
        shared
            .lock()
            .silent_download_failures
            .push((job.url.clone(), "not an image".into()));
        return;
    }
    let sha: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut st = shared.lock();
    let Some(&idx) = st.by_id.get(&job.user_id) else {
        return;
    };
    let upload_id = match st.uploads_by_sha.get(&sha) {
        Some(id) => *id,
        None => {
            let id = st.next_upload_id;
            st.next_upload_id += 1;
            st.uploads.insert(
                id,
                super::state::Upload {
                    id,
                    sha: sha.clone(),
                    bytes: Some(Arc::new(bytes)),
                },
            );
            st.uploads_by_sha.insert(sha, id);
            id
        }
    };
    let u = &mut st.users[idx];
    // `cached_upload && !override_gravatar` → nothing changes.
    let cached = u.custom_upload_id == Some(upload_id);
    if cached && !job.override_gravatar {
        return;
    }
    u.custom_upload_id = Some(upload_id);
    // `if user.uploaded_avatar_id.nil? || !user.user_avatar.contains_upload?(user.uploaded_avatar_id)
    //  || override_gravatar`: with no Gravatar or system upload modelled, the only id the
    // user_avatar still contains is the new custom one, so the avatar always becomes it here.
    u.uploaded_avatar_id = Some(upload_id);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.20.0.1",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "203.0.113.5", "2001:db8::1"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }
}
