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

/// The address of the main app's photo of the user with this external id, on the sandbox at
/// `base_url`. It is also the user's SSO `avatar_url`: the photo the main app flagged is the one
/// it syncs to Discourse, and the sandbox can download it again (an `undo` by sync-sso works).
pub fn photo_url(base_url: &str, external_id: &str) -> String {
    format!("{base_url}{PHOTO_PREFIX}{external_id}.png")
}

/// The main app's photo at `path` (`/app/photos/<external id>.png`), if it names one.
pub fn photo_at(path: &str) -> Option<Vec<u8>> {
    let file = path.strip_prefix(PHOTO_PREFIX)?;
    let external = file.strip_suffix(".png").unwrap_or(file);
    (!external.is_empty() && !external.contains('/')).then(|| photo(external))
}

/// A letter avatar (`/letter_avatar_proxy/v4/letter/<letter>/<rrggbb>/<size>.png`, the route
/// `user_avatars#show_proxy_letter` of Discourse's `config/routes.rb`, which the default
/// `external_system_avatars_url` names): the letter in white on a square of the path's colour,
/// as Discourse draws it. A letter with no glyph here (not A–Z or 0–9) leaves the plain square.
pub fn letter_avatar(path: &str) -> Vec<u8> {
    let parts: Vec<&str> = path.split('/').collect();
    let color_at = parts
        .iter()
        .position(|p| p.len() == 6 && p.bytes().all(|b| b.is_ascii_hexdigit()));
    let rgb = color_at
        .and_then(|i| u32::from_str_radix(parts[i], 16).ok())
        .map(|v| [(v >> 16) as u8, (v >> 8) as u8, v as u8])
        .unwrap_or([0xb3, 0xb5, 0xb4]);
    // The letter is the segment before the colour (`…/letter/<letter>/<color>/…`).
    let glyph = color_at
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| percent_decoded_char(parts[i]))
        .and_then(glyph_of);
    const SIDE: u32 = 48;
    // A 5×7 glyph scaled by 4 (20×28), centred.
    const SCALE: u32 = 4;
    let (left, top) = ((SIDE - 5 * SCALE) / 2, (SIDE - 7 * SCALE) / 2);
    png::rgb_image(SIDE, SIDE, |x, y| {
        let on = glyph.is_some_and(|rows| {
            x >= left && y >= top && {
                let (col, row) = ((x - left) / SCALE, (y - top) / SCALE);
                col < 5 && row < 7 && rows[row as usize] >> (4 - col) & 1 == 1
            }
        });
        if on { [0xff, 0xff, 0xff] } else { rgb }
    })
}

/// The first character of a path segment, `%XX` sequences decoded (a bad one kept as it is).
fn percent_decoded_char(segment: &str) -> Option<char> {
    let bytes = segment.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() && out.len() < 4 {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).chars().next()
}

/// The 5×7 bitmap of an ASCII letter or digit (one row a byte, the high bit of 5 the left).
fn glyph_of(c: char) -> Option<[u8; 7]> {
    const LETTERS: [[u8; 7]; 26] = [
        [0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11], // A
        [0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e], // B
        [0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e], // C
        [0x1e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1e], // D
        [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f], // E
        [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10], // F
        [0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f], // G
        [0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11], // H
        [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e], // I
        [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c], // J
        [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11], // K
        [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f], // L
        [0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11], // M
        [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11], // N
        [0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e], // O
        [0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10], // P
        [0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d], // Q
        [0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11], // R
        [0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e], // S
        [0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04], // T
        [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e], // U
        [0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04], // V
        [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a], // W
        [0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11], // X
        [0x11, 0x11, 0x0a, 0x04, 0x04, 0x04, 0x04], // Y
        [0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f], // Z
    ];
    const DIGITS: [[u8; 7]; 10] = [
        [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e], // 0
        [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e], // 1
        [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f], // 2
        [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e], // 3
        [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02], // 4
        [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e], // 5
        [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e], // 6
        [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08], // 7
        [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e], // 8
        [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c], // 9
    ];
    let c = c.to_ascii_uppercase();
    match c {
        'A'..='Z' => Some(LETTERS[(c as u8 - b'A') as usize]),
        '0'..='9' => Some(DIGITS[(c as u8 - b'0') as usize]),
        _ => None,
    }
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

    #[test]
    fn letter_avatars_show_their_letter() {
        let a = letter_avatar("/letter_avatar_proxy/v4/letter/f/dba1b3/96.png");
        let b = letter_avatar("/letter_avatar_proxy/v4/letter/g/dba1b3/96.png");
        let plain = letter_avatar("/letter_avatar_proxy/v4/letter/%E5%B1%B1/dba1b3/96.png");
        assert_ne!(a, b, "another letter, another picture");
        assert_ne!(a, plain, "the letter is drawn");
        assert_eq!(
            letter_avatar("/letter_avatar_proxy/v4/letter/F/dba1b3/96.png"),
            a
        );
        assert_eq!(glyph_of('f'), glyph_of('F'));
        assert_eq!(glyph_of('山'), None);
        assert_eq!(percent_decoded_char("%E5%B1%B1"), Some('山'));
        assert_eq!(percent_decoded_char("x"), Some('x'));
        assert_eq!(percent_decoded_char("%"), Some('%'));
    }
}
