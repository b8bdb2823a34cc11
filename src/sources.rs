//! Pages of flagged users from the two sources, as `FlagItem`s: the main app's flagged list and
//! Discourse's review queue. Shared by the console and `queue`.

use crate::discourse::client::DiscourseClient;
use crate::main_app::MainAppClient;
use crate::model::{AvatarKind, FlagItem, Source};

/// Pages one source may send before we stop asking (100,000 users at the smallest sensible
/// page size, with room to spare): a server that never stops must not run forever.
pub const MAX_PAGES: u32 = 50_000;

/// One page, and the opaque cursor of the next (`None` at the end).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<FlagItem>,
    pub next: Option<String>,
    /// Items the source sent that could not be used (no external id).
    pub skipped: usize,
}

/// A page of the main app. The cursor is the URL of the page (`next`, resolved).
pub async fn app_page(app: &MainAppClient, cursor: Option<String>) -> Result<Page, String> {
    let url = match cursor {
        Some(c) => url::Url::parse(&c).map_err(|e| format!("main app: bad next URL {c:?}: {e}"))?,
        None => app.first_page_url(),
    };
    let page = app.fetch_page(&url).await.map_err(|e| e.to_string())?;
    if page.skipped > 0 {
        tracing::warn!(skipped = page.skipped, url = %url, "main app items without external_id skipped");
    }
    let items = page
        .flags
        .into_iter()
        .map(|f| FlagItem {
            source: Source::App,
            external_id: Some(f.external_id),
            discourse_id: None,
            username: f.username,
            email: f.email,
            reason: f.reason.unwrap_or_default(),
            flagged_at: f.flagged_at,
            photo_url: f.photo_url,
            avatar: AvatarKind::Unknown,
            avatar_upload: None,
        })
        .collect();
    Ok(Page {
        items,
        next: page.next.map(|u| u.to_string()),
        skipped: page.skipped,
    })
}

/// A page (10 items) of Discourse's review queue, for each configured type in turn. The cursor
/// is `<type index>:<offset>`.
pub async fn review_page(
    client: &DiscourseClient,
    types: &[String],
    cursor: Option<String>,
) -> Result<Page, String> {
    let (mut idx, offset) = match cursor.as_deref() {
        None => (0usize, 0u64),
        Some(c) => {
            let (i, o) = c
                .split_once(':')
                .ok_or_else(|| format!("bad review cursor {c:?}"))?;
            (
                i.parse().map_err(|_| format!("bad review cursor {c:?}"))?,
                o.parse().map_err(|_| format!("bad review cursor {c:?}"))?,
            )
        }
    };
    let kind = if types.is_empty() {
        None
    } else {
        Some(
            types
                .get(idx)
                .ok_or("review cursor past the last type")?
                .as_str(),
        )
    };
    let page = client
        .review_page(offset, kind, "pending")
        .await
        .map_err(|e| e.to_string())?;
    let items = page
        .flags
        .into_iter()
        .map(|f| FlagItem {
            source: Source::Discourse,
            external_id: None,
            discourse_id: Some(f.user_id),
            avatar: AvatarKind::classify(None, f.avatar_template.as_deref()),
            avatar_upload: f
                .avatar_template
                .as_deref()
                .and_then(AvatarKind::upload_in_template),
            username: f.username,
            email: None,
            reason: f.reason,
            flagged_at: f.created_at,
            photo_url: None,
        })
        .collect();
    let next = match page.next_offset {
        Some(o) => Some(format!("{idx}:{o}")),
        None if idx + 1 < types.len() => {
            idx += 1;
            Some(format!("{idx}:0"))
        }
        None => None,
    };
    Ok(Page {
        items,
        next,
        skipped: 0,
    })
}
