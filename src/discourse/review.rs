//! Review items and their actions: the user's pending items with the actions each offers,
//! one item re-read, and `PUT /review/:id/perform/:action_id?version=N`.
//!
//! Sources (discourse/discourse): `app/controllers/reviewables_controller.rb` (`perform`:
//! `version_required` answers 422 without a version, `Reviewable::InvalidAction` becomes
//! `Discourse::InvalidAccess`, a 403 with `error_type: invalid_access` — the same body a bad API
//! key gets — and `Reviewable::UpdateConflict` a 409 with `errors`; a claim error is a 422),
//! `app/serializers/reviewable_serializer.rb` (`has_many :bundled_actions`: with the rest
//! serializer an item carries `bundled_action_ids` and the page side-loads `bundled_actions`
//! with `action_ids`, and `actions`), `app/serializers/reviewable_perform_result_serializer.rb`
//! (`{"reviewable_perform_result": {success, transition_to, version, remove_reviewable_ids}}`)
//! and `app/models/concerns/reviewable_action_builder.rb` (which actions exist depends on the
//! item and on the acting user, so they are always read, never assumed).

use reqwest::Method;
use serde::Serialize;
use serde_json::Value;

use super::client::{ClientError, DiscourseClient, display_path, segment};
use crate::sanitize;

/// One action an item offers, read from its bundles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewAction {
    pub id: String,
    pub label: Option<String>,
}

/// One review item about a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewItem {
    pub id: u64,
    #[serde(rename = "type")]
    pub kind: String,
    /// 0 pending, 1 approved, 2 rejected, 3 ignored, 4 deleted.
    pub status: Option<i64>,
    pub version: Option<i64>,
    pub created_at: Option<String>,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub reasons: Vec<String>,
    pub actions: Vec<ReviewAction>,
}

impl ReviewItem {
    pub fn is_pending(&self) -> bool {
        self.status.is_none_or(|s| s == 0)
    }

    pub fn offers(&self, action: &str) -> bool {
        self.actions.iter().any(|a| a.id == action)
    }

    pub fn action_ids(&self) -> Vec<&str> {
        self.actions.iter().map(|a| a.id.as_str()).collect()
    }

    pub fn status_name(&self) -> &'static str {
        status_name(self.status)
    }
}

pub fn status_name(s: Option<i64>) -> &'static str {
    match s {
        None | Some(0) => "pending",
        Some(1) => "approved",
        Some(2) => "rejected",
        Some(3) => "ignored",
        Some(4) => "deleted",
        Some(_) => "resolved",
    }
}

fn clean_str(v: &Value) -> Option<String> {
    v.as_str()
        .map(sanitize::clean)
        .filter(|s| !s.trim().is_empty())
}

fn find_by_id<'a>(list: Option<&'a Value>, id: &Value) -> Option<&'a Value> {
    list?.as_array()?.iter().find(|x| x.get("id") == Some(id))
}

/// The actions of one bundle: embedded objects (`actions: [{id, label}]`), ids into the page's
/// `actions`, or `action_ids`.
fn bundle_actions(root: &Value, bundle: &Value, out: &mut Vec<ReviewAction>) {
    let listed = bundle
        .get("actions")
        .or_else(|| bundle.get("action_ids"))
        .and_then(Value::as_array);
    for a in listed.into_iter().flatten() {
        let (id, label) = match a {
            Value::Object(_) => (
                a.get("id").and_then(clean_str),
                a.get("label").and_then(clean_str),
            ),
            other => (
                clean_str(other),
                find_by_id(root.get("actions"), other)
                    .and_then(|x| x.get("label"))
                    .and_then(clean_str),
            ),
        };
        if let Some(id) = id
            && !out.iter().any(|x| x.id == id)
        {
            out.push(ReviewAction { id, label });
        }
    }
}

fn item_actions(root: &Value, item: &Value) -> Vec<ReviewAction> {
    let mut out = Vec::new();
    if let Some(embedded) = item.get("bundled_actions").and_then(Value::as_array) {
        for b in embedded {
            match b {
                Value::Object(_) => bundle_actions(root, b, &mut out),
                id => {
                    if let Some(b) = find_by_id(root.get("bundled_actions"), id) {
                        bundle_actions(root, b, &mut out);
                    }
                }
            }
        }
    }
    for id in item
        .get("bundled_action_ids")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(b) = find_by_id(root.get("bundled_actions"), id) {
            bundle_actions(root, b, &mut out);
        }
    }
    out
}

/// One item of a page (`root` holds the side-loads), or `None` if it has no id.
pub fn parse_item(root: &Value, item: &Value) -> Option<ReviewItem> {
    let id = item.get("id")?.as_u64()?;
    let kind = item
        .get("type")
        .and_then(clean_str)
        .unwrap_or_else(|| "Reviewable".into());
    let int = |k: &str| item.get(k).and_then(Value::as_i64);
    // discourse-api.md §8 "Which user the item is about".
    let user_id = if kind == "ReviewableUser" {
        int("user_id")
            .or_else(|| {
                (item.get("target_type").and_then(Value::as_str) == Some("User"))
                    .then(|| int("target_id"))
                    .flatten()
            })
            .or_else(|| int("target_created_by_id"))
    } else {
        int("target_created_by_id").or_else(|| int("created_by_id"))
    };
    let username = user_id
        .and_then(|uid| {
            root.get("users")?
                .as_array()?
                .iter()
                .find(|u| u.get("id").and_then(Value::as_i64) == Some(uid))
        })
        .and_then(|u| u.get("username"))
        .and_then(clean_str)
        .or_else(|| item.pointer("/payload/username").and_then(clean_str));
    let mut reasons: Vec<String> = Vec::new();
    let mut add = |r: Option<String>| {
        if let Some(r) = r
            && !reasons.contains(&r)
        {
            reasons.push(r);
        }
    };
    add(item.get("reason").and_then(clean_str));
    for sid in item
        .get("reviewable_score_ids")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(s) = find_by_id(root.get("reviewable_scores"), sid) {
            add(s
                .get("reason")
                .and_then(clean_str)
                .or_else(|| s.pointer("/score_type/title").and_then(clean_str)));
        }
    }
    Some(ReviewItem {
        id,
        kind,
        status: int("status"),
        version: int("version"),
        created_at: item.get("created_at").and_then(clean_str),
        user_id,
        username,
        reasons,
        actions: item_actions(root, item),
    })
}

/// What a successful perform answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Performed {
    /// `approved`, `rejected`, …; `None` when the item stays pending (Remove avatar, #43539).
    pub transition_to: Option<String>,
    pub version: Option<i64>,
}

/// Why a perform did not happen. Each of these means Discourse did not apply it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PerformError {
    /// 409: the item changed since its version was read.
    #[error("409 conflict: {0}")]
    Conflict(String),
    /// 403: the item does not offer that action to this user (any more).
    #[error("403 refused: {0}")]
    Refused(String),
    /// 422: no version sent, the topic must be claimed, or claimed by someone else.
    #[error("422 refused: {0}")]
    Unprocessable(String),
    /// 200 with `success: false`.
    #[error("Discourse answered that the action failed: {0}")]
    Failed(String),
    #[error("{0}")]
    Client(ClientError),
}

fn first_error(v: Option<&Value>) -> String {
    v.and_then(|v| v.get("errors"))
        .and_then(Value::as_array)
        .and_then(|e| e.first())
        .and_then(Value::as_str)
        .map(|s| sanitize::truncate(&sanitize::clean(s), 200))
        .unwrap_or_default()
}

impl DiscourseClient {
    /// The user's pending items, all pages (`GET /review.json?status=pending&username=…`).
    /// The server's username filter is not trusted alone: each item's user is checked.
    pub async fn review_items_for(
        &self,
        username: &str,
        user_id: Option<u64>,
    ) -> Result<Vec<ReviewItem>, ClientError> {
        const MAX_PAGES: u64 = 20;
        let mut out: Vec<ReviewItem> = Vec::new();
        let mut offset = 0u64;
        for _ in 0..MAX_PAGES {
            let path = format!(
                "/review.json?status=pending&username={}&offset={offset}",
                segment(username)
            );
            let root: Value = self.get_json(&path).await?;
            let items = root
                .get("reviewables")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let n = items.len() as u64;
            for it in &items {
                if let Some(item) = parse_item(&root, it) {
                    let mine = match (user_id, item.user_id) {
                        (Some(want), Some(got)) => i64::try_from(want) == Ok(got),
                        _ => item
                            .username
                            .as_deref()
                            .is_some_and(|u| u.eq_ignore_ascii_case(username)),
                    };
                    if mine && item.is_pending() && !out.iter().any(|x| x.id == item.id) {
                        out.push(item);
                    }
                }
            }
            let more = root.pointer("/meta/load_more_reviewables").is_some();
            if !more || n == 0 {
                break;
            }
            offset += n;
        }
        Ok(out)
    }

    /// `GET /review/{id}.json` (`ReviewablesController#show`, root `reviewable`).
    pub async fn review_item(&self, id: u64) -> Result<ReviewItem, ClientError> {
        let path = format!("/review/{id}.json");
        let root: Value = self.get_json(&path).await?;
        root.get("reviewable")
            .and_then(|it| parse_item(&root, it))
            .ok_or_else(|| ClientError::Decode {
                method: "GET".into(),
                path,
                message: "no reviewable in the answer".into(),
            })
    }

    /// `PUT /review/{id}/perform/{action}?version={version}`.
    pub async fn perform_review(
        &self,
        id: u64,
        action: &str,
        version: i64,
    ) -> Result<Performed, PerformError> {
        let path = format!("/review/{id}/perform/{}?version={version}", segment(action));
        let a = self
            .send(Method::PUT, &path, None)
            .await
            .map_err(PerformError::Client)?;
        let json = a.json();
        let status = a.status.as_u16();
        match status {
            200..=299 => {
                let r = json
                    .as_ref()
                    .and_then(|v| v.get("reviewable_perform_result").or(Some(v)))
                    .cloned()
                    .unwrap_or(Value::Null);
                if r.get("success").and_then(Value::as_bool) == Some(false) {
                    return Err(PerformError::Failed(first_error(json.as_ref())));
                }
                Ok(Performed {
                    transition_to: r.get("transition_to").and_then(clean_str),
                    version: r.get("version").and_then(Value::as_i64),
                })
            }
            409 => Err(PerformError::Conflict(first_error(json.as_ref()))),
            // A 403 with a JSON body is Discourse refusing the action; an HTML or empty one is
            // a proxy, and the generic error says so.
            403 if json.is_some() => Err(PerformError::Refused(first_error(json.as_ref()))),
            422 => Err(PerformError::Unprocessable(first_error(json.as_ref()))),
            _ => Err(PerformError::Client(self.error("PUT", &path, &a))),
        }
    }
}

/// The perform request as shown to people and in the audit (no secret in it).
pub fn perform_path(id: u64, action: &str, version: i64) -> String {
    display_path(&format!(
        "/review/{id}/perform/{}?version={version}",
        segment(action)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_side_loaded_and_embedded_bundles() {
        let root = json!({
            "reviewables": [],
            "users": [{"id": 10, "username": "alice"}],
            "bundled_actions": [
                {"id": "1-user-actions", "action_ids": ["approve_user", "delete_user"]},
                {"id": "1-remove_avatar", "actions": ["remove_avatar"]}
            ],
            "actions": [{"id": "approve_user", "label": "Approve"}, {"id": "remove_avatar", "label": "Remove avatar"}],
            "reviewable_scores": [{"id": 10, "reason": "inappropriate photo"}]
        });
        let item = json!({"id": 1, "type": "ReviewableUser", "status": 0, "version": 3,
            "user_id": 10, "bundled_action_ids": ["1-user-actions", "1-remove_avatar"],
            "reviewable_score_ids": [10]});
        let it = parse_item(&root, &item).unwrap();
        assert_eq!(it.username.as_deref(), Some("alice"));
        assert_eq!(
            it.action_ids(),
            ["approve_user", "delete_user", "remove_avatar"]
        );
        assert_eq!(it.actions[0].label.as_deref(), Some("Approve"));
        assert_eq!(it.reasons, ["inappropriate photo"]);
        assert_eq!(it.version, Some(3));

        let embedded = json!({"id": 2, "type": "ReviewableFlaggedPost", "target_created_by_id": 10,
            "bundled_actions": [{"id": "b", "actions": [{"id": "hide_post", "label": "Hide\u{1b}[31m"}]}]});
        let it = parse_item(&root, &embedded).unwrap();
        assert_eq!(it.action_ids(), ["hide_post"]);
        assert_eq!(it.actions[0].label.as_deref(), Some("Hide"));
        assert!(it.is_pending());
    }
}
