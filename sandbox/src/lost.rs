//! Writes applied with their answer lost: the server does the work, then the connection breaks
//! mid-answer (a reset) or a proxy answers 502 in its place. What a console must not record as
//! `failed`. Control: `POST /sandbox/lost?count=N&as=cut|502` or [`super::Sandbox::lose_write_answers`].

use super::http;
use axum::body::{Body, Bytes};
use axum::http::Method;
use axum::response::Response;
use std::sync::Mutex;

/// How the answer is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LostAs {
    /// Status and headers arrive, then the body breaks off (connection reset).
    #[default]
    Cut,
    /// A proxy's 502 page instead of the forum's answer.
    BadGateway,
}

#[derive(Debug, Default)]
pub struct Knob {
    state: Mutex<(u32, LostAs)>,
}

impl Knob {
    pub fn set(&self, count: u32, how: LostAs) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = (count, how);
    }

    fn take(&self) -> Option<LostAs> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (st.0 > 0).then(|| {
            st.0 -= 1;
            st.1
        })
    }
}

/// A write the client makes to the forum (not the log viewer, not the sandbox's own controls).
fn is_write(method: &Method, path: &str) -> bool {
    matches!(method.as_str(), "PUT" | "POST" | "DELETE")
        && !path.starts_with("/logs")
        && !path.starts_with("/app/")
}

/// After the route ran (the write is applied): loses the answer of the next counted writes.
pub fn maybe_lose(knob: &Knob, method: &Method, path: &str, resp: Response) -> Response {
    if !is_write(method, path) || !resp.status().is_success() {
        return resp;
    }
    match knob.take() {
        None => resp,
        Some(LostAs::BadGateway) => http::with_type(
            502,
            "text/html",
            "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>",
        ),
        Some(LostAs::Cut) => {
            let (mut parts, _) = resp.into_parts();
            parts.headers.remove("content-length");
            // A first chunk, then an error: hyper aborts the connection mid-body.
            let stream = futures::stream::iter(vec![
                Ok::<Bytes, std::io::Error>(Bytes::from_static(b"{\"id\":")),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "sandbox: answer lost",
                )),
            ]);
            Response::from_parts(parts, Body::from_stream(stream))
        }
    }
}

pub fn control(knob: &Knob, query: Option<&str>) -> Response {
    let q: Vec<(String, String)> = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let count = get("count").and_then(|c| c.parse().ok()).unwrap_or(1);
    let how = match get("as") {
        Some("502") => LostAs::BadGateway,
        _ => LostAs::Cut,
    };
    knob.set(count, how);
    http::json(200, &serde_json::json!({"ok": true, "count": count}))
}
