//! The console's side of pictures: which URLs the selected row wants, the fetches to start, the
//! answers kept in the cache, and `o` (open in the browser). State changes here are called from
//! `update` only.

use std::sync::Arc;

use url::Url;

use super::app::{App, DetailState, Effect};
use crate::images::cache::Entry;
use crate::images::{AVATAR_PX, Picture, fetch};
use crate::sanitize;

/// Which picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Which {
    Avatar,
    Photo,
}

impl Which {
    pub fn label(self) -> &'static str {
        match self {
            Which::Avatar => "avatar",
            Which::Photo => "app photo",
        }
    }
}

/// The absolute URLs of a row's pictures: the Discourse avatar (once the user is loaded) and the
/// main app's photo (from the queue).
pub fn urls(app: &App, slot: usize) -> Vec<(Which, String)> {
    let mut out = Vec::new();
    if let (Some(DetailState::Loaded(info)), Some(forum)) =
        (app.details.get(&slot), app.cfg.forum.as_ref())
        && let Some(t) = &info.detail.avatar_template
        && let Some(u) = fetch::avatar_url(forum, t, AVATAR_PX)
    {
        out.push((Which::Avatar, u));
    }
    if let Some(p) = app.queue.get(slot).and_then(|u| u.photo_url.as_deref()) {
        let base = app.cfg.main_app.as_ref().or(app.cfg.forum.as_ref());
        let resolved = match base {
            Some(b) => b.join(p).ok(),
            None => Url::parse(p).ok(),
        };
        if let Some(u) = resolved.and_then(|u| fetch::picture_url(u.as_str()).ok()) {
            out.push((Which::Photo, u.to_string()));
        }
    }
    out
}

/// Fetches for the selected row's pictures not yet cached (nothing when pictures are off).
pub fn wanted(app: &mut App) -> Vec<Effect> {
    if !app.cfg.images {
        return vec![];
    }
    let Some(slot) = app.selected_slot() else {
        return vec![];
    };
    let mut fx = Vec::new();
    for (_, url) in urls(app, slot) {
        if app.pictures.get(&url).is_none() {
            app.pictures.insert(url.clone(), Entry::Loading);
            fx.push(Effect::FetchImage { url });
        }
    }
    fx
}

pub fn on_loaded(app: &mut App, url: String, result: Result<Arc<Picture>, String>) {
    let entry = match result {
        Ok(p) => Entry::Ready(p),
        Err(e) => Entry::Failed(sanitize::clean(&e)),
    };
    // Drawn only if it is the selected row's; kept either way for when it comes back.
    let shown = app
        .selected_slot()
        .is_some_and(|s| urls(app, s).iter().any(|(_, u)| *u == url));
    app.pictures.insert(url, entry);
    if shown {
        app.redraw = true;
    }
}

/// `o`: opens the avatar in the browser; pressed again on the same row, the app photo (and so
/// on, in turn).
pub fn open(app: &mut App) -> Vec<Effect> {
    let Some(slot) = app.selected_slot() else {
        app.say("no user selected", true);
        return vec![];
    };
    let urls = urls(app, slot);
    if urls.is_empty() {
        let why = if matches!(app.details.get(&slot), Some(DetailState::Loaded(_))) {
            "no avatar address and no app photo for this user"
        } else {
            "no picture address yet: the user's details are still loading"
        };
        app.say(why, true);
        return vec![];
    }
    let turn = match app.open_turn {
        Some((s, n)) if s == slot => n + 1,
        _ => 0,
    };
    app.open_turn = Some((slot, turn));
    let (which, url) = urls[turn % urls.len()].clone();
    let name = app.queue.get(slot).map(|u| u.label()).unwrap_or_default();
    let what = format!("the {} of {name}", which.label());
    app.say(format!("opening {what} in the browser…"), false);
    vec![Effect::OpenUrl { url, what }]
}

pub fn on_opened(app: &mut App, what: String, result: Result<String, String>) {
    match result {
        Ok(how) => {
            let more = match app.open_turn {
                Some((slot, _)) if urls(app, slot).len() > 1 => " (o again: the other picture)",
                _ => "",
            };
            app.say(format!("opened {what} with {how}{more}"), false)
        }
        Err(e) => app.say(format!("could not open {what}: {e}"), true),
    }
}

/// Opens `url` with the desktop's opener (`xdg-open`, `open` on macOS), detached: its output
/// goes nowhere (it must not scribble on the console), and it is given 10 s to hand the URL
/// over. Only http(s) URLs without credentials get here; nothing secret is ever in one.
pub async fn open_url(url: String) -> Result<String, String> {
    let url = fetch::picture_url(&url)?;
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let mut child = tokio::process::Command::new(opener)
        .arg(url.as_str())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{opener} did not start ({e})"))?;
    match tokio::time::timeout(std::time::Duration::from_secs(10), child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(opener.to_string()),
        Ok(Ok(status)) => Err(format!(
            "{opener} failed ({})",
            status
                .code()
                .map(|c| format!("exit {c}"))
                .unwrap_or_else(|| "killed".into())
        )),
        Ok(Err(e)) => Err(format!("{opener}: {e}")),
        Err(_) => Err(format!("{opener} did not answer in 10 s")),
    }
}
