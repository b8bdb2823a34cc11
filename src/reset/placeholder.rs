//! The neutral image a pick reset puts in the custom slot, so the flagged photo is not left
//! there to be picked again (issue 12, point 1). A plain 96×96 grey PNG: what it looks like
//! hardly matters, the user sees the letter avatar picked right after it.

use crate::audit::AuditEntry;
use crate::model::Outcome;

pub const PNG: &[u8] = include_bytes!("placeholder.png");
pub const FILE_NAME: &str = "avatar-console-placeholder.png";
/// The audit action of the (one-time) upload.
pub const ACTION: &str = "upload-placeholder";

/// The placeholder's upload id from an earlier run, so it is uploaded once per forum.
pub fn known_upload(entries: &[AuditEntry]) -> Option<u64> {
    entries
        .iter()
        .rev()
        .filter(|e| e.action == ACTION && e.outcome == Some(Outcome::Verified))
        .find_map(|e| e.after_uploaded_avatar_id)
}

#[cfg(test)]
mod tests {
    #[test]
    fn is_a_png() {
        assert!(super::PNG.starts_with(b"\x89PNG\r\n\x1a\n"));
    }
}
