//! The pictures the sandbox serves: a distinct one per user for `/user_avatar/…`, the letter
//! avatars of `/letter_avatar_proxy/…`, and the main app's flagged photos (`photo_url`,
//! `/app/photos/<external_id>.png`, public like a CDN's: no token needed).
//!
//! Each picture is derived from a hash of what names it, so the same user always gets the same
//! colours, and a test can compute them with [`colors_of`] to look for them on the screen.
//! About a third of the flagged photos are not a person at all (stripes), so a moderator has
//! something to judge.

use crate::png;

/// Pixels per side of the avatars and photos served.
pub const SIZE: u32 = 64;

/// The path prefix of the main app's photos.
pub const PHOTO_PREFIX: &str = "/app/photos/";

/// FNV-1a: stable across runs and platforms (std's hasher is not).
fn hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A vivid colour for a hue in 0..360 (HSV with s = 0.7, v = 0.85).
fn hue(h: u32) -> [u8; 3] {
    let (s, v) = (0.7f32, 0.85f32);
    let c = v * s;
    let hp = (h % 360) as f32 / 60.0;
    let x = c * (1.0 - (hp % 2.0 - 1.0).abs());
    let (r, g, b) = match hp as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [r, g, b].map(|t| ((t + m) * 255.0).round() as u8)
}

/// What a picture looks like: its two colours and whether it is a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Look {
    pub background: [u8; 3],
    pub figure: [u8; 3],
    pub person: bool,
}

/// The look of the picture named `key` (`avatar:<username>:<upload id>`, `photo:<external id>`).
pub fn colors_of(key: &str) -> Look {
    let h = hash(key);
    let bg = (h % 360) as u32;
    // The figure's hue is far from the background's, so the two never blur into one.
    let fg = bg + 120 + ((h >> 16) % 120) as u32;
    Look {
        background: hue(bg),
        figure: hue(fg),
        person: !key.starts_with("photo:") || !(h >> 32).is_multiple_of(3),
    }
}

fn draw(look: Look) -> Vec<u8> {
    let n = SIZE as f32;
    png::rgb_image(SIZE, SIZE, |x, y| {
        let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
        let inside = if look.person {
            // A head and shoulders, as on a passport photo.
            let head = (fx - n / 2.0).powi(2) + (fy - n * 0.38).powi(2) <= (n * 0.18).powi(2);
            let shoulders =
                ((fx - n / 2.0) / (n * 0.38)).powi(2) + ((fy - n) / (n * 0.36)).powi(2) <= 1.0;
            head || shoulders
        } else {
            (x + y) / 8 % 2 == 0
        };
        if inside { look.figure } else { look.background }
    })
}

/// The avatar of `username` for upload `upload_id`: another upload gives another picture.
pub fn avatar(username: &str, upload_id: u64) -> Vec<u8> {
    draw(colors_of(&format!(
        "avatar:{}:{upload_id}",
        username.to_lowercase()
    )))
}

/// The main app's photo of the user with this external id.
pub fn photo(external_id: &str) -> Vec<u8> {
    draw(colors_of(&format!("photo:{external_id}")))
}

/// The main app's photo at `path` (`/app/photos/<external id>.png`), if it names one.
pub fn photo_at(path: &str) -> Option<Vec<u8>> {
    let file = path.strip_prefix(PHOTO_PREFIX)?;
    let external = file.strip_suffix(".png").unwrap_or(file);
    (!external.is_empty() && !external.contains('/')).then(|| photo(external))
}

/// A letter avatar (`/letter_avatar_proxy/v4/letter/<letter>/<rrggbb>/<size>.png`): a plain
/// square of the colour in the path (Discourse draws the letter on it; the colour is what tells
/// a system avatar apart on a screen).
pub fn letter_avatar(path: &str) -> Vec<u8> {
    let rgb = path
        .split('/')
        .find(|p| p.len() == 6 && p.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .map(|v| [(v >> 16) as u8, (v >> 8) as u8, v as u8])
        .unwrap_or([0xb3, 0xb5, 0xb4]);
    png::rgb_image(48, 48, |_, _| rgb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_user_gets_another_picture() {
        assert_ne!(avatar("alice", 1), avatar("bob", 2));
        assert_ne!(avatar("alice", 1), avatar("alice", 7));
        assert_eq!(avatar("Alice", 1), avatar("alice", 1));
        assert_ne!(photo("1001"), photo("1002"));
        assert_eq!(png::image_type(&photo("1001")), Some("png"));
        let l = colors_of("avatar:alice:1");
        assert_ne!(l.background, l.figure);
    }

    #[test]
    fn some_photos_are_not_people() {
        let looks: Vec<Look> = (0..30).map(|i| colors_of(&format!("photo:{i}"))).collect();
        assert!(looks.iter().any(|l| l.person));
        assert!(looks.iter().any(|l| !l.person));
    }

    #[test]
    fn photo_paths() {
        assert!(photo_at("/app/photos/1001.png").is_some());
        assert!(photo_at("/app/photos/").is_none());
        assert!(photo_at("/app/photos/a/b.png").is_none());
        assert!(photo_at("/app/api/x").is_none());
        let l = letter_avatar("/letter_avatar_proxy/v4/letter/a/e47c3c/96.png");
        assert_eq!(png::image_type(&l), Some("png"));
    }
}
