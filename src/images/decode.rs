//! Bytes to a [`Picture`]: the format is sniffed from the bytes (a server's Content-Type and file
//! name are not trusted), the decoder runs under the `image` crate's [`Limits`] so a small file
//! that claims to be 60 000 pixels wide cannot take the memory, and the result is encoded once
//! for the box, so drawing costs nothing more.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use ratatui::layout::Size;
use ratatui_image::protocol::Protocol;
use ratatui_image::{FilterType, Resize};

use super::{BOX_COLS, BOX_ROWS, Picture, Renderer};

/// The largest picture decoded, per side; avatars are at most 1000 px in Discourse.
pub const MAX_SIDE: u32 = 4096;
/// The most memory the decoder may allocate for one picture.
pub const MAX_ALLOC: u64 = 64 * 1024 * 1024;

fn limits() -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(MAX_SIDE);
    l.max_image_height = Some(MAX_SIDE);
    l.max_alloc = Some(MAX_ALLOC);
    l
}

/// Decodes `bytes` (png, jpeg, gif or webp) within the limits.
pub fn decode(bytes: &[u8]) -> Result<DynamicImage, String> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("unreadable: {e}"))?;
    match reader.format() {
        Some(ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::WebP) => {}
        Some(f) => return Err(format!("not shown: {f:?} pictures are not decoded")),
        None => return Err("not a picture (png, jpeg, gif or webp)".into()),
    }
    reader.limits(limits());
    reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => {
            format!(
                "too large to decode (over {MAX_SIDE} px a side or {} MB)",
                MAX_ALLOC >> 20
            )
        }
        e => format!("broken picture: {e}"),
    })
}

/// Decodes and encodes for the box. CPU work: run it off the UI thread.
pub fn picture(bytes: &[u8], renderer: &Renderer) -> Result<Picture, String> {
    let image = decode(bytes)?;
    let (width, height) = (image.width(), image.height());
    let protocol = renderer
        .picker()
        .new_protocol(
            image,
            Size::new(BOX_COLS, BOX_ROWS),
            // Scale, not fit: a 48 px letter avatar must fill the box too.
            Resize::Scale(Some(FilterType::Triangle)),
        )
        .map_err(|e| format!("could not encode: {e}"))?;
    let bytes = cost(&protocol, renderer);
    Ok(Picture {
        protocol,
        width,
        height,
        bytes,
    })
}

/// What a protocol keeps in memory, roughly: half blocks keep one coloured cell per box cell;
/// the others keep the escape sequence, about the box's pixels in RGBA, in Base64 (sixel's is
/// palette-indexed and smaller, so this is an upper bound).
fn cost(protocol: &Protocol, renderer: &Renderer) -> usize {
    let size = protocol.size();
    let cells = size.width as usize * size.height as usize;
    match protocol {
        Protocol::Halfblocks(_) => {
            cells * std::mem::size_of::<ratatui_image::protocol::halfblocks::HalfBlock>()
        }
        _ => {
            let font = renderer.picker().font_size();
            cells * font.width as usize * font.height as usize * 4 * 4 / 3
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(w, h, image::Rgb([200, 30, 40]));
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn decodes_a_png_into_a_box_picture() {
        let p = picture(&png(64, 64), &Renderer::halfblocks()).unwrap();
        assert_eq!((p.width, p.height), (64, 64));
        assert_eq!(p.protocol.size(), Size::new(BOX_COLS, BOX_ROWS));
        assert!(p.bytes > 0 && p.bytes < 16 * 1024, "{}", p.bytes);
    }

    /// Kitty, sixel and iTerm2 cannot be seen without such a terminal, but their encoding can:
    /// each gives a picture for the box that draws an escape sequence into its first cell.
    #[test]
    fn encodes_for_every_graphics_protocol() {
        use ratatui::buffer::Buffer;
        use ratatui::layout::Rect;
        use ratatui::widgets::Widget;
        use ratatui_image::picker::ProtocolType;
        for proto in [
            ProtocolType::Kitty,
            ProtocolType::Sixel,
            ProtocolType::Iterm2,
        ] {
            let r = Renderer::with_protocol(proto);
            let p = picture(&png(64, 64), &r).unwrap();
            let size = p.protocol.size();
            assert!(
                size.width <= BOX_COLS && size.height <= BOX_ROWS,
                "{proto:?} {size:?}"
            );
            assert!(p.bytes > 1000, "{proto:?} {}", p.bytes);
            let area = Rect::new(0, 0, BOX_COLS, BOX_ROWS);
            let mut buf = Buffer::empty(area);
            ratatui_image::Image::new(&p.protocol).render(area, &mut buf);
            assert!(
                buf[(0, 0)].symbol().contains('\x1b'),
                "{proto:?}: {:?}",
                buf[(0, 0)]
            );
        }
    }

    #[test]
    fn refuses_what_is_not_a_picture() {
        let e = decode(b"this is not an image, whatever the name says\n").unwrap_err();
        assert!(e.contains("not a picture"), "{e}");
        let mut bmp = b"BM".to_vec();
        bmp.extend_from_slice(&[0; 60]);
        assert!(decode(&bmp).is_err());
        let mut cut = png(32, 32);
        cut.truncate(cut.len() / 2);
        assert!(decode(&cut).unwrap_err().contains("broken"));
    }

    /// A valid PNG header claiming 60 000 × 60 000 pixels (a few bytes on the wire, 14 GB
    /// decoded) is refused by the limits before anything is allocated.
    #[test]
    fn a_decompression_bomb_hits_the_limits() {
        let mut bytes = png(1, 1);
        // IHDR starts at byte 16: width, height (big-endian), then the CRC at 29..33.
        bytes[16..20].copy_from_slice(&60_000u32.to_be_bytes());
        bytes[20..24].copy_from_slice(&60_000u32.to_be_bytes());
        let crc = crc32(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        let e = decode(&bytes).unwrap_err();
        assert!(e.contains("too large"), "{e}");
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    0xEDB8_8320 ^ (crc >> 1)
                } else {
                    crc >> 1
                };
            }
        }
        crc ^ 0xFFFF_FFFF
    }
}
