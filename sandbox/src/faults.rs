//! Injected faults (`Faults`), settable at runtime: latency, 500/502 answers, 429 storms, slow
//! bodies, HTML error pages and malformed JSON. The avatar-download fault lives in
//! `download.rs`. None of them applies to `/sandbox/*` or to the images.

use super::Shared;
use super::http;
use super::prng::Prng;
use super::routes::rate_limited;
use axum::body::{Body, Bytes, to_bytes};
use axum::http::HeaderValue;
use axum::response::Response;
use std::time::{Duration, Instant};

/// Before routing: latency, then a 429 storm, then a share of 500/502.
pub async fn before(shared: &Shared, is_app: bool) -> Option<Response> {
    let (f, roll, n) = {
        let mut st = shared.lock();
        st.fault_counter += 1;
        let n = st.fault_counter;
        let mut p = Prng::new(st.scenario.seed ^ n.wrapping_mul(0x2545_F491_4F6C_DD1D));
        (st.faults().clone(), p.unit(), n)
    };
    if !f.latency.is_zero() {
        tokio::time::sleep(f.latency).await;
    }
    if f.storm_429 && !is_app {
        let mut st = shared.lock();
        let now = Instant::now();
        if n % 3 == 0 {
            // The per-IP middleware limiter (`lib/middleware/request_tracker.rb#call`): plain text.
            let until = now + Duration::from_secs(1);
            st.retry_not_before = Some(st.retry_not_before.map_or(until, |t| t.max(until)));
            let mut r = http::with_type(
                429,
                "text/plain",
                "Slow down, too many requests from this IP address.\nPlease retry again in 1 seconds.\nError code: ip_10_secs_limit.\n",
            );
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(1u64));
            r.headers_mut().insert(
                "discourse-rate-limit-error-code",
                HeaderValue::from_static("ip_10_secs_limit"),
            );
            return Some(r);
        }
        return Some(rate_limited(&mut st, 1 + n % 2, now));
    }
    if roll < f.error_rate {
        let bad_gateway = n % 2 == 0;
        return Some(match (f.html_errors, bad_gateway) {
            (true, true) => http::with_type(
                502,
                "text/html",
                "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
            ),
            (true, false) => http::with_type(
                500,
                "text/html; charset=utf-8",
                "<!DOCTYPE html><html><head><title>Oops - Error 500</title></head><body><h1>Oops</h1><p>The software powering this discussion forum encountered an unexpected problem.</p></body></html>",
            ),
            (false, true) => http::with_type(502, "text/plain", "Bad Gateway"),
            (false, false) => http::json(
                500,
                &serde_json::json!({"errors": ["Internal Server Error"], "error_type": "unknown"}),
            ),
        });
    }
    None
}

/// After routing: malformed JSON (a successful JSON body cut short) and slow bodies.
pub async fn shape_response(shared: &Shared, resp: Response) -> Response {
    let f = shared.lock().faults().clone();
    let is_json = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains("json"));
    if !(f.malformed_json && is_json && resp.status().is_success()) && f.slow_body.is_none() {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let Ok(mut bytes) = to_bytes(body, usize::MAX).await else {
        return Response::from_parts(parts, Body::empty());
    };
    if f.malformed_json && is_json && parts.status.is_success() && !bytes.is_empty() {
        let cut = (bytes.len() * 2 / 3).max(1);
        let mut v = bytes[..cut].to_vec();
        v.extend_from_slice(b"\x00<!-- truncated");
        bytes = Bytes::from(v);
    }
    let mut parts = parts;
    parts.headers.remove("content-length");
    match f.slow_body {
        Some(total) if !bytes.is_empty() => {
            let pieces = 8usize;
            let step = bytes.len().div_ceil(pieces).max(1);
            let chunks: Vec<Bytes> = bytes.chunks(step).map(Bytes::copy_from_slice).collect();
            let delay = total / chunks.len().max(1) as u32;
            let stream = futures::stream::unfold(chunks.into_iter(), move |mut it| async move {
                let c = it.next()?;
                tokio::time::sleep(delay).await;
                Some((Ok::<Bytes, std::io::Error>(c), it))
            });
            Response::from_parts(parts, Body::from_stream(stream))
        }
        _ => Response::from_parts(parts, Body::from(bytes)),
    }
}
