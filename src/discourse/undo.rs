//! The one write `undo` needs beyond a reset's: picking a given upload as the avatar.

use reqwest::Method;
use serde_json::Value;

use super::client::{Body, ClientError, DiscourseClient, display_path, segment};

impl DiscourseClient {
    /// `PUT /u/{username}/preferences/avatar/pick` with `type=custom&upload_id=N`
    /// (`UsersController#pick_avatar`: admins may pick any upload; the upload goes into the
    /// custom slot and becomes the avatar, synchronously). 422 FAILED while DiscourseConnect
    /// overrides avatars; 422 with `errors` when the upload no longer exists.
    pub async fn pick_upload_avatar(
        &self,
        username: &str,
        upload_id: u64,
    ) -> Result<(), ClientError> {
        let path = format!("/u/{}/preferences/avatar/pick", segment(username));
        let a = self
            .send(
                Method::PUT,
                &path,
                Some(Body::Form(vec![
                    ("type".into(), "custom".into()),
                    ("upload_id".into(), upload_id.to_string()),
                ])),
            )
            .await?;
        if a.status.is_success() {
            return Ok(());
        }
        if a.status.as_u16() == 422
            && a.json()
                .as_ref()
                .and_then(|v| v.get("failed"))
                .and_then(Value::as_str)
                == Some("FAILED")
        {
            return Err(ClientError::OverridesAvatar {
                method: "PUT".into(),
                path: display_path(&path),
            });
        }
        Err(self.error("PUT", &path, &a))
    }
}
