//! `POST /uploads.json` (`app/controllers/uploads_controller.rb#create` → `UploadCreator`,
//! `lib/upload_creator.rb`): the image comes as the multipart part `file`, the kind as
//! `upload_type` (older: `type`). Uploads are de-duplicated by content: the same bytes answer
//! the existing upload ("do we already have that upload?", `Upload.find_by(sha1:)`).

use super::http::{self, json};
use super::png;
use super::routes::Auth;
use super::state::{State, Upload, User};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// One part of a `multipart/form-data` body.
pub struct Part {
    pub name: String,
    pub file_name: Option<String>,
    pub bytes: Vec<u8>,
}

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let ct = content_type.trim();
    if !ct.to_ascii_lowercase().starts_with("multipart/form-data") {
        return None;
    }
    ct.split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_string())
        .next()
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len()).find(|&i| &hay[i..i + needle.len()] == needle)
}

/// Splits a multipart body (RFC 7578) into its parts; None when it is malformed (Rails: 400).
pub fn parse(body: &[u8], boundary: &str) -> Option<Vec<Part>> {
    let delim = format!("--{boundary}").into_bytes();
    let mut parts = Vec::new();
    let mut at = find(body, &delim, 0)? + delim.len();
    loop {
        if body.get(at..at + 2) == Some(b"--") {
            return Some(parts);
        }
        at += 2; // CRLF after the delimiter
        let head_end = find(body, b"\r\n\r\n", at)?;
        let head = String::from_utf8_lossy(&body[at..head_end]).into_owned();
        let start = head_end + 4;
        let next = find(body, &delim, start)?;
        let end = next.checked_sub(2)?; // the CRLF before the next delimiter
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))?;
        let attr = |key: &str| {
            disposition
                .split(';')
                .filter_map(|p| p.trim().strip_prefix(&format!("{key}=")))
                .map(|v| v.trim_matches('"').to_string())
                .next()
        };
        parts.push(Part {
            name: attr("name")?,
            file_name: attr("filename"),
            bytes: body.get(start..end)?.to_vec(),
        });
        at = next + delim.len();
    }
}

/// `UploadsController#create` for an admin API caller.
pub fn create(
    st: &mut State,
    auth: Auth,
    viewer: Option<&User>,
    parts: &[Part],
) -> axum::response::Response {
    if auth == Auth::Bad {
        return http::invalid_access();
    }
    let Some(v) = viewer else {
        return http::not_logged_in();
    };
    let field = |n: &str| {
        parts
            .iter()
            .find(|p| p.name == n && p.file_name.is_none())
            .map(|p| String::from_utf8_lossy(&p.bytes).into_owned())
    };
    let Some(kind) = field("upload_type").or_else(|| field("type")) else {
        return http::invalid_parameters("upload_type");
    };
    // The newest code refuses avatar uploads while DiscourseConnect overrides avatars, admins
    // included (discourse-api.md §2).
    if kind == "avatar" && st.setting_on("discourse_connect_overrides_avatar") {
        return http::failed();
    }
    let Some(file) = parts
        .iter()
        .find(|p| p.name == "file" && p.file_name.is_some())
    else {
        return json(
            422,
            &json!({"errors": ["You must provide a file to upload."]}),
        );
    };
    if png::image_type(&file.bytes).is_none() {
        return json(
            422,
            &json!({"errors": ["Sorry, the file you are trying to upload is not supported or is corrupted."]}),
        );
    }
    let sha: String = Sha256::digest(&file.bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let id = match st.uploads_by_sha.get(&sha) {
        Some(id) => *id,
        None => {
            let id = st.next_upload_id;
            st.next_upload_id += 1;
            st.uploads.insert(
                id,
                Upload {
                    id,
                    sha: sha.clone(),
                    bytes: Some(Arc::new(file.bytes.clone())),
                },
            );
            st.uploads_by_sha.insert(sha.clone(), id);
            id
        }
    };
    let _ = v;
    let name = file.file_name.clone().unwrap_or_default();
    // `UploadSerializer`
    json(
        200,
        &json!({
            "id": id,
            "url": format!("/uploads/default/original/1X/{sha}.png"),
            "original_filename": name,
            "filesize": file.bytes.len(),
            "width": 96,
            "height": 96,
            "thumbnail_width": 96,
            "thumbnail_height": 96,
            "extension": "png",
            "short_url": format!("upload://{}.png", &sha[..20]),
            "short_path": format!("/uploads/short-url/{}.png", &sha[..20]),
            "retain_hours": null,
            "human_filesize": format!("{} Bytes", file.bytes.len()),
            "dominant_color": null,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_a_file() {
        let b = "XyZ";
        let body = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"upload_type\"\r\n\r\navatar\r\n--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\u{1}\u{2}\r\n--{b}--\r\n"
        );
        let parts = parse(body.as_bytes(), b).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "upload_type");
        assert_eq!(parts[0].bytes, b"avatar");
        assert_eq!(parts[1].file_name.as_deref(), Some("a.png"));
        assert_eq!(parts[1].bytes, vec![1, 2]);
        assert_eq!(
            boundary("multipart/form-data; boundary=XyZ").as_deref(),
            Some("XyZ")
        );
        assert!(parse(b"garbage", b).is_none());
    }
}
