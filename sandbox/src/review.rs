//! Acting on review items: the actions each item offers (`bundled_actions`), one item
//! (`GET /review/:id.json`), `PUT /review/:id/perform/:action_id?version=N`, Discourse's
//! "Remove avatar" action (PR discourse/discourse#42724) with its staff action log, and the
//! `/sandbox/review/…` controls that play a second moderator.
//!
//! Behaviour follows `app/controllers/reviewables_controller.rb` (`version_required` → 422,
//! `Reviewable::InvalidAction` → `Discourse::InvalidAccess` → 403, `UpdateConflict` → 409) and
//! `app/models/reviewable.rb#perform` (the action must be offered to the acting user, checked
//! before the version; every successful perform increments the version). Which actions an item
//! offers follows the 2025 rework (`app/models/concerns/reviewable_action_builder.rb`: bundles
//! named `"#{id}-user-actions"` / `"#{id}-post-actions"`), so it differs by item type and by
//! the acting user: only admins get the delete actions here.
//!
//! The sandbox keeps accounts that a `delete_user` rejects: the item is rejected, the user stays,
//! so other tests and the demo keep their data.

use super::http::{self, Params, json};
use super::routes::Auth;
use super::state::{ReviewKind, Reviewable, State, User};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;

/// What the sandbox remembers about review actions beyond the items themselves.
#[derive(Debug, Clone, Default)]
pub struct ReviewBook {
    /// `reviewables.version` (schema default 0); bumped by every perform and by the control.
    versions: HashMap<u64, u32>,
    /// `UserHistory` rows written by actions (`StaffActionLogger`), newest last.
    pub staff_actions: Vec<StaffAction>,
    /// Every perform that got past authentication, whatever its answer, for assertions.
    pub performs: Vec<PerformRecord>,
    /// Items another moderator claimed (`ReviewableClaimedTopic`), by username.
    claimed_by: HashMap<u64, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StaffAction {
    /// `removed_avatar` for the Remove avatar action (PR #42724).
    pub action: String,
    pub acting_user: String,
    pub target_user: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PerformRecord {
    pub reviewable_id: u64,
    pub action: String,
    pub version_sent: Option<String>,
    pub status: u16,
}

impl ReviewBook {
    pub fn version(&self, id: u64) -> u32 {
        self.versions.get(&id).copied().unwrap_or(0)
    }

    fn bump(&mut self, id: u64) -> u32 {
        let v = self.versions.entry(id).or_insert(0);
        *v += 1;
        *v
    }
}

/// One action an item offers: its id, its label, and the status it moves the item to
/// (`None`: the item stays pending, like Remove avatar, #43539).
struct ActionDef {
    id: &'static str,
    label: &'static str,
    transition: Option<u8>,
}

struct BundleDef {
    id: String,
    label: &'static str,
    actions: Vec<ActionDef>,
}

const APPROVED: u8 = 1;
const REJECTED: u8 = 2;

fn status_name(s: u8) -> &'static str {
    match s {
        0 => "pending",
        1 => "approved",
        2 => "rejected",
        3 => "ignored",
        _ => "deleted",
    }
}

fn has_avatar(u: &User) -> bool {
    u.uploaded_avatar_id.is_some() || u.custom_upload_id.is_some()
}

/// `Reviewable#actions_for(guardian)`: nothing for a non-pending item or a non-staff viewer.
fn offered(st: &State, r: &Reviewable, viewer: Option<&User>) -> Vec<BundleDef> {
    let Some(v) = viewer.filter(|v| v.admin || v.moderator) else {
        return Vec::new();
    };
    if r.status != 0 {
        return Vec::new();
    }
    let target = st.user_by_id(r.target_user);
    let mut bundles = Vec::new();
    match r.kind {
        ReviewKind::User => {
            let mut actions = vec![ActionDef {
                id: "approve_user",
                label: "Approve user",
                transition: Some(APPROVED),
            }];
            if v.admin {
                actions.push(ActionDef {
                    id: "delete_user",
                    label: "Delete user",
                    transition: Some(REJECTED),
                });
                actions.push(ActionDef {
                    id: "delete_user_block",
                    label: "Delete and block user",
                    transition: Some(REJECTED),
                });
            }
            bundles.push(BundleDef {
                id: format!("{}-user-actions", r.id),
                label: "User",
                actions,
            });
            // PR #42724: only while the user still has an avatar to remove.
            if target.is_some_and(has_avatar) {
                bundles.push(BundleDef {
                    id: format!("{}-remove_avatar", r.id),
                    label: "Remove avatar",
                    actions: vec![ActionDef {
                        id: "remove_avatar",
                        label: "Remove avatar",
                        transition: None,
                    }],
                });
            }
        }
        ReviewKind::FlaggedPost => {
            bundles.push(BundleDef {
                id: format!("{}-post-actions", r.id),
                label: "Post",
                actions: vec![
                    ActionDef {
                        id: "no_action_post",
                        label: "Keep post",
                        transition: Some(APPROVED),
                    },
                    ActionDef {
                        id: "hide_post",
                        label: "Hide post",
                        transition: Some(REJECTED),
                    },
                    ActionDef {
                        id: "delete_post",
                        label: "Delete post",
                        transition: Some(REJECTED),
                    },
                ],
            });
            let mut actions = vec![
                ActionDef {
                    id: "silence_user",
                    label: "Silence user",
                    transition: Some(REJECTED),
                },
                ActionDef {
                    id: "suspend_user",
                    label: "Suspend user",
                    transition: Some(REJECTED),
                },
            ];
            if v.admin {
                actions.push(ActionDef {
                    id: "delete_user",
                    label: "Delete user",
                    transition: Some(REJECTED),
                });
            }
            bundles.push(BundleDef {
                id: format!("{}-user-actions", r.id),
                label: "User",
                actions,
            });
        }
    }
    bundles
}

/// The side-loaded parts of one item, as the rest serializer lays them out: the item carries
/// `bundled_action_ids`; `bundled_actions` (with `action_ids`) and `actions` sit at the top
/// level of the answer (`ApplicationSerializer` embeds ids and includes the objects).
#[derive(Debug, Default)]
pub struct Sideload {
    pub bundled_action_ids: Vec<String>,
    pub bundled_actions: Vec<Value>,
    pub actions: Vec<Value>,
}

pub fn sideload(st: &State, r: &Reviewable, viewer: Option<&User>) -> Sideload {
    let mut out = Sideload::default();
    for b in offered(st, r, viewer) {
        out.bundled_action_ids.push(b.id.clone());
        out.bundled_actions.push(json!({
            "id": b.id,
            "icon": null,
            "label": b.label,
            "action_ids": b.actions.iter().map(|a| a.id).collect::<Vec<_>>(),
        }));
        for a in &b.actions {
            out.actions.push(json!({
                "id": a.id,
                "action_name": a.id,
                "label": a.label,
                "server_action": a.id,
                "button_class": null,
                "icon": null,
                "confirm_destructive": null,
                "completed_message": null,
            }));
        }
    }
    out
}

/// Adds an item's side-loads to a page's top-level lists, once per id (the controller's
/// `uniq!`).
pub fn merge_sideload(bundles: &mut Vec<Value>, actions: &mut Vec<Value>, s: Sideload) {
    for b in s.bundled_actions {
        if !bundles.iter().any(|x| x["id"] == b["id"]) {
            bundles.push(b);
        }
    }
    for a in s.actions {
        if !actions.iter().any(|x| x["id"] == a["id"]) {
            actions.push(a);
        }
    }
}

fn item_json(st: &State, r: &Reviewable, ids: &[String]) -> Value {
    let mut j = json!({
        "id": r.id,
        "type": r.kind.type_name(),
        "type_source": "core",
        "status": r.status,
        "created_at": r.created_at,
        "score": r.score,
        "version": st.review.version(r.id),
        "can_edit": false,
        "created_by_id": r.created_by,
        "target_created_by_id": r.target_user,
        "reviewable_score_ids": [r.id * 10],
        "bundled_action_ids": ids,
    });
    match r.kind {
        ReviewKind::User => {
            j["target_type"] = json!("User");
            j["target_id"] = json!(r.target_user);
            j["user_id"] = json!(r.target_user);
        }
        ReviewKind::FlaggedPost => {
            j["target_type"] = json!("Post");
            j["target_id"] = json!(r.post_id);
            j["post_id"] = json!(r.post_id);
            j["topic_id"] = json!(r.topic_id);
        }
    }
    j
}

/// Routes this module answers; `None` for every other path.
pub fn route(
    st: &mut State,
    method: &str,
    segs: &[&str],
    params: &Params,
    auth: Auth,
    viewer: Option<&User>,
) -> Option<Response> {
    let (id, action) = match (method, segs) {
        ("GET", ["review", id]) if id.ends_with(".json") && *id != "review.json" => {
            (id.trim_end_matches(".json"), None)
        }
        ("PUT", ["review", id, "perform", action]) => (*id, Some(*action)),
        _ => return None,
    };
    // `requires_login` and `ensure_can_see_review_queue!` come first.
    if auth == Auth::Bad {
        return Some(http::invalid_access());
    }
    let Some(v) = viewer else {
        return Some(http::not_logged_in());
    };
    if !(v.admin || v.moderator) {
        return Some(http::forbidden());
    }
    let Ok(id) = id.parse::<u64>() else {
        return Some(http::not_found());
    };
    match action {
        None => Some(show(st, id, v)),
        Some(action) => {
            let action = action.trim_end_matches(".json");
            let resp = perform(st, id, action, params, v);
            st.review.performs.push(PerformRecord {
                reviewable_id: id,
                action: action.to_string(),
                version_sent: params.get("version").map(str::to_string),
                status: resp.status().as_u16(),
            });
            Some(resp)
        }
    }
}

type Response = axum::response::Response;

/// `ReviewablesController#show`: `{"reviewable": …}` plus the side-loads.
fn show(st: &State, id: u64, viewer: &User) -> Response {
    let Some(r) = st.reviewables.iter().find(|r| r.id == id) else {
        return http::not_found();
    };
    let s = sideload(st, r, Some(viewer));
    let users: Vec<Value> = [r.target_user, r.created_by]
        .iter()
        .filter_map(|id| st.user_by_id(*id))
        .map(|u| st.basic_user_json(u))
        .collect();
    json(
        200,
        &json!({
            "reviewable": item_json(st, r, &s.bundled_action_ids),
            "users": users,
            "bundled_actions": s.bundled_actions,
            "actions": s.actions,
            "reviewable_scores": [{"id": r.id * 10, "score": r.score, "reason": r.reason, "status": r.status}],
            "__rest_serializer": "1",
            "meta": {"types": {"created_by": "user", "target_created_by": "user"}},
        }),
    )
}

fn perform(st: &mut State, id: u64, action: &str, params: &Params, viewer: &User) -> Response {
    // `before_action :version_required`.
    let Some(sent) = params.get("version").filter(|v| !v.trim().is_empty()) else {
        return json(
            422,
            &json!({"errors": ["You must supply a version"], "error_type": "invalid_parameters"}),
        );
    };
    // `params[:version].to_i`: junk becomes 0.
    let sent: u32 = sent.trim().parse().unwrap_or(0);
    let Some(idx) = st.reviewables.iter().position(|r| r.id == id) else {
        return http::not_found();
    };
    let r = st.reviewables[idx].clone();
    let def = offered(st, &r, Some(viewer))
        .into_iter()
        .flat_map(|b| b.actions)
        .find(|a| a.id == action);
    let Some(def) = def else {
        // `Reviewable::InvalidAction` rescued as `Discourse::InvalidAccess`.
        return http::forbidden();
    };
    // `claim_error?` runs before `perform`: a claim by someone else is a 422 with `errors`.
    if let Some(by) = st.review.claimed_by.get(&id)
        && !by.eq_ignore_ascii_case(&viewer.username)
    {
        return json(
            422,
            &json!({"errors": ["This item has been claimed by another user."]}),
        );
    }
    if sent != st.review.version(id) {
        return json(
            409,
            &json!({"errors": ["Someone else has updated this review item. Refresh and try again."]}),
        );
    }
    if def.id == "remove_avatar" {
        // `User#reset_avatar!` (PR #42724): the current avatar and both slots go; the system
        // avatar shows; a `removed_avatar` staff action is logged.
        let Some(ui) = st.by_id.get(&r.target_user).copied() else {
            return json(
                422,
                &json!({"errors": ["The user of this item no longer exists."]}),
            );
        };
        let u = &mut st.users[ui];
        u.uploaded_avatar_id = None;
        u.custom_upload_id = None;
        let target = u.username.clone();
        st.review.staff_actions.push(StaffAction {
            action: "removed_avatar".into(),
            acting_user: viewer.username.clone(),
            target_user: target,
            at: Utc::now(),
        });
    }
    let version = st.review.bump(id);
    if let Some(to) = def.transition {
        st.reviewables[idx].status = to;
    }
    let pending = st.reviewables.iter().filter(|r| r.status == 0).count();
    json(
        200,
        &json!({"reviewable_perform_result": {
            "success": true,
            "transition_to": def.transition.map(status_name),
            "transition_to_id": def.transition,
            "remove_reviewable_ids": if def.transition.is_some() { vec![id] } else { Vec::new() },
            "version": version,
            "reviewable_count": pending,
        }}),
    )
}

/// `/sandbox/review…` controls (`rest` is the path after `/sandbox/`):
/// - `GET review`: versions, staff actions and performs;
/// - `POST review/{id}/bump`: another moderator changed the item (its version goes up);
/// - `POST review/{id}/status?status=approved|rejected|ignored|pending`: another moderator
///   resolved it (the version goes up too);
/// - `POST review/{id}/claim?by=USERNAME` (empty `by` releases it): another moderator claimed it.
pub fn control(st: &mut State, method: &str, rest: &str, p: &Params) -> Response {
    let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        ("GET", ["review"]) => {
            let items: Vec<Value> = st
                .reviewables
                .iter()
                .map(|r| {
                    json!({"id": r.id, "type": r.kind.type_name(), "status": r.status,
                        "version": st.review.version(r.id), "target_user": r.target_user})
                })
                .collect();
            json(
                200,
                &json!({
                    "items": items,
                    "staff_actions": st.review.staff_actions,
                    "performs": st.review.performs,
                }),
            )
        }
        ("POST", ["review", id, what]) => {
            let Some(idx) = id
                .parse::<u64>()
                .ok()
                .and_then(|id| st.reviewables.iter().position(|r| r.id == id))
            else {
                return json(404, &json!({"error": "no such review item"}));
            };
            let rid = st.reviewables[idx].id;
            match *what {
                "bump" => {}
                "claim" => {
                    match p.get("by").filter(|b| !b.is_empty()) {
                        Some(by) => st.review.claimed_by.insert(rid, by.to_string()),
                        None => st.review.claimed_by.remove(&rid),
                    };
                    return json(200, &json!({"id": rid, "claimed_by": p.get("by")}));
                }
                "status" => {
                    let to = match p.get("status").unwrap_or("") {
                        "pending" => 0,
                        "approved" => 1,
                        "rejected" => 2,
                        "ignored" => 3,
                        other => {
                            return json(
                                400,
                                &json!({"error": format!("unknown status {other:?}")}),
                            );
                        }
                    };
                    st.reviewables[idx].status = to;
                }
                _ => return json(404, &json!({"error": "unknown review control"})),
            }
            let version = st.review.bump(rid);
            json(
                200,
                &json!({"id": rid, "version": version, "status": st.reviewables[idx].status}),
            )
        }
        _ => json(404, &json!({"error": "unknown review control"})),
    }
}
