//! Pictures in the detail pane, `o`, and the mouse: `update` driven by messages, `view` drawn
//! into a `TestBackend`.

use std::io::Cursor;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;

use super::app::{App, AppConfig, Effect, Focus, Modal, Msg, update};
use super::effects::{QueuePage, UserInfo};
use super::view;
use crate::images::{Renderer, decode};
use crate::model::{AvatarKind, FlagItem, Source, UserDetail};

const RED: [u8; 3] = [200, 30, 40];
const BLUE: [u8; 3] = [20, 60, 210];

fn png(rgb: [u8; 3]) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(48, 48, image::Rgb(rgb));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

fn item(ext: &str, name: &str) -> FlagItem {
    FlagItem {
        source: Source::App,
        external_id: Some(ext.into()),
        discourse_id: None,
        username: Some(name.into()),
        email: None,
        reason: "nudity".into(),
        flagged_at: None,
        // Relative: resolved against the main app's flagged_url.
        photo_url: Some(format!("/app/photos/{ext}.png")),
        avatar: AvatarKind::Custom,
        avatar_upload: None,
    }
}

fn cfg(images: bool, mouse: bool) -> AppConfig {
    AppConfig {
        site: "forum.example.com".into(),
        api_user: "system".into(),
        images,
        mouse,
        forum: Some("https://forum.example.com/".parse().unwrap()),
        main_app: Some("https://app.example.com/api/flagged".parse().unwrap()),
        ..AppConfig::default()
    }
}

const AVATAR: &str = "https://forum.example.com/user_avatar/forum.example.com/ann/144/7_2.png";
const PHOTO: &str = "https://app.example.com/app/photos/1.png";

/// ann, ben, cat in a 120×40 terminal, ticked until ann's details are asked for; answers the
/// app and every effect so far.
fn start(images: bool, mouse: bool) -> (App, Vec<Effect>) {
    let mut app = App::new(cfg(images, mouse));
    app.init();
    update(
        &mut app,
        Msg::Resize {
            width: 120,
            height: 40,
        },
    );
    update(
        &mut app,
        Msg::QueuePage {
            source: Source::App,
            generation: 0,
            result: Ok(QueuePage {
                items: vec![item("1", "ann"), item("2", "ben"), item("3", "cat")],
                next: None,
                skipped: 0,
            }),
        },
    );
    app.settle();
    let now = Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap();
    let mut fx = update(&mut app, Msg::Tick { now });
    fx.extend(update(&mut app, Msg::Tick { now }));
    (app, fx)
}

fn load_ann(app: &mut App, fx: &[Effect]) -> Vec<Effect> {
    let req = fx
        .iter()
        .find_map(|e| match e {
            Effect::LoadUser { req, .. } => Some(*req),
            _ => None,
        })
        .expect("ann's details are asked for");
    update(
        app,
        Msg::UserLoaded {
            req,
            result: Ok(UserInfo {
                detail: UserDetail {
                    id: 7,
                    username: "ann".into(),
                    avatar_template: Some(
                        "/user_avatar/forum.example.com/ann/{size}/7_2.png".into(),
                    ),
                    ..Default::default()
                },
                audit: vec![],
            }),
        },
    )
}

fn fetches(fx: &[Effect]) -> Vec<String> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::FetchImage { url } => Some(url.clone()),
            _ => None,
        })
        .collect()
}

fn render(app: &App) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(120, 40)).unwrap();
    t.draw(|f| view(app, f)).unwrap();
    t.backend().buffer().clone()
}

fn text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

/// Cells whose foreground or background is `rgb`, with their columns.
fn cells_coloured(buf: &Buffer, rgb: [u8; 3]) -> Vec<(u16, u16)> {
    let c = Color::Rgb(rgb[0], rgb[1], rgb[2]);
    let mut out = Vec::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            let cell = &buf[(x, y)];
            if cell.fg == c || cell.bg == c {
                out.push((x, y));
            }
        }
    }
    out
}

#[test]
fn the_detail_pane_draws_the_avatar_and_the_photo_in_half_blocks() {
    let (mut app, fx) = start(true, false);
    // The photo is known from the queue: fetched as soon as the row has stayed selected.
    assert_eq!(fetches(&fx), vec![PHOTO.to_string()]);
    // The avatar once Discourse has said its template, at once.
    let fx = load_ann(&mut app, &fx);
    assert_eq!(fetches(&fx), vec![AVATAR.to_string()]);
    let screen = text(&render(&app));
    assert!(screen.contains("avatar: loading…"), "{screen}");
    assert!(screen.contains("app photo: load…"), "{screen}");

    let r = Renderer::halfblocks();
    for (url, rgb) in [(AVATAR, RED), (PHOTO, BLUE)] {
        let picture = decode::picture(&png(rgb), &r).unwrap();
        update(
            &mut app,
            Msg::ImageLoaded {
                url: url.into(),
                result: Ok(Arc::new(picture)),
            },
        );
    }
    let buf = render(&app);
    let screen = text(&buf);
    // The queue takes 60 % of 120 columns: the detail pane starts at column 72.
    let red = cells_coloured(&buf, RED);
    let blue = cells_coloured(&buf, BLUE);
    assert_eq!(red.len(), 16 * 8, "a full box of avatar cells:\n{screen}");
    assert_eq!(blue.len(), 16 * 8, "a full box of photo cells:\n{screen}");
    assert!(
        red.iter()
            .all(|(x, y)| (73..89).contains(x) && (3..11).contains(y))
    );
    assert!(
        blue.iter()
            .all(|(x, y)| (91..107).contains(x) && (3..11).contains(y))
    );
    // Half blocks: each cell is one of the block characters.
    let (x, y) = red[0];
    assert!(
        ["▀", "▄", "█", " "].contains(&buf[(x, y)].symbol()),
        "{:?}",
        buf[(x, y)]
    );
    assert!(screen.contains("avatar "), "{screen}");
    assert!(screen.contains("app photo"), "{screen}");
    // The text goes on below the pictures.
    assert!(screen.lines().nth(12).unwrap().contains("ids"), "{screen}");

    // Cached: coming back to ann fetches nothing again.
    let now = Utc::now();
    let fx = press_and_tick(&mut app, 'j', now);
    assert_eq!(
        fetches(&fx),
        vec!["https://app.example.com/app/photos/2.png".to_string()]
    );
    let fx = press_and_tick(&mut app, 'k', now);
    assert!(fetches(&fx).is_empty(), "{fx:?}");
    assert_eq!(cells_coloured(&render(&app), RED).len(), 16 * 8);
}

fn press_and_tick(app: &mut App, c: char, now: chrono::DateTime<Utc>) -> Vec<Effect> {
    let mut fx = update(
        app,
        Msg::Key(crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Char(c),
            KeyModifiers::NONE,
        )),
    );
    fx.extend(update(app, Msg::Tick { now }));
    fx.extend(update(app, Msg::Tick { now }));
    fx
}

#[test]
fn a_failed_picture_says_why_and_pictures_off_fetch_nothing() {
    let (mut app, fx) = start(true, false);
    update(
        &mut app,
        Msg::ImageLoaded {
            url: PHOTO.into(),
            result: Err("HTTP 404".into()),
        },
    );
    let _ = load_ann(&mut app, &fx);
    let screen = text(&render(&app));
    assert!(screen.contains("app photo: fail…"), "{screen}");
    assert!(screen.contains("HTTP 404"), "{screen}");

    let (mut off, fx) = start(false, false);
    let fx2 = load_ann(&mut off, &fx);
    assert!(fetches(&fx).is_empty() && fetches(&fx2).is_empty());
    let screen = text(&render(&off));
    assert!(!screen.contains("loading…"), "{screen}");
    // The addresses are still shown, and `o` still opens them.
    assert!(screen.contains("app photo  /app/photos/1.png"), "{screen}");
}

#[test]
fn o_opens_the_avatar_then_the_photo() {
    let (mut app, fx) = start(false, false);
    // Before the details: only the photo is known.
    let open = |app: &mut App| {
        update(
            app,
            Msg::Key(crossterm::event::KeyEvent::new(
                crossterm::event::KeyCode::Char('o'),
                KeyModifiers::NONE,
            )),
        )
    };
    assert_eq!(
        open(&mut app),
        vec![Effect::OpenUrl {
            url: PHOTO.into(),
            what: "the app photo of ann".into()
        }]
    );
    let _ = load_ann(&mut app, &fx);
    let urls: Vec<String> = (0..3)
        .flat_map(|_| open(&mut app))
        .map(|e| match e {
            Effect::OpenUrl { url, .. } => url,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(urls, vec![PHOTO, AVATAR, PHOTO]);
    update(
        &mut app,
        Msg::Opened {
            what: "the avatar of ann".into(),
            result: Ok("xdg-open".into()),
        },
    );
    assert!(
        app.message()
            .unwrap()
            .starts_with("opened the avatar of ann with xdg-open"),
        "{:?}",
        app.message()
    );
    update(
        &mut app,
        Msg::Opened {
            what: "the avatar of ann".into(),
            result: Err("xdg-open failed (exit 3)".into()),
        },
    );
    assert_eq!(
        app.message(),
        Some("could not open the avatar of ann: xdg-open failed (exit 3)")
    );
}

fn mouse(kind: MouseEventKind, column: u16, row: u16) -> Msg {
    Msg::Mouse(MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    })
}

fn selected(app: &App) -> String {
    app.queue()
        .get(app.selected_slot().unwrap())
        .unwrap()
        .label()
}

#[test]
fn a_click_selects_a_row_or_focuses_a_pane_and_the_wheel_scrolls() {
    let (mut app, _) = start(false, true);
    let click = |x, y| mouse(MouseEventKind::Down(MouseButton::Left), x, y);
    // Header 2 rows, queue border, column header: the first user row is row 4.
    update(&mut app, click(10, 6));
    assert_eq!(selected(&app), "cat");
    update(&mut app, click(10, 5));
    assert_eq!(selected(&app), "ben");
    // Below the last row: nothing selected anew.
    update(&mut app, click(10, 12));
    assert_eq!(selected(&app), "ben");
    assert_eq!(app.focus(), Focus::Queue);
    update(&mut app, click(100, 10));
    assert_eq!(app.focus(), Focus::Detail);
    // The wheel over the queue moves it, the focus stays on the detail pane.
    update(&mut app, mouse(MouseEventKind::ScrollUp, 10, 8));
    assert_eq!(selected(&app), "ann");
    assert_eq!(app.focus(), Focus::Detail);
    update(&mut app, mouse(MouseEventKind::ScrollDown, 10, 8));
    assert_eq!(selected(&app), "cat");
    // The wheel over the detail pane scrolls it.
    update(&mut app, mouse(MouseEventKind::ScrollDown, 100, 10));
    assert_eq!(app.detail_scroll, 3);
    // A click in the log pane focuses it.
    update(&mut app, click(10, 30));
    assert_eq!(app.focus(), Focus::Log);
}

#[test]
fn a_click_on_a_key_hint_runs_it_and_the_mouse_is_off_by_default() {
    let (mut app, _) = start(false, true);
    let screen = text(&render(&app));
    let footer = screen.lines().nth(39).unwrap();
    let col = |hint: &str| footer.find(hint).unwrap_or_else(|| panic!("{footer}")) as u16;
    let click = |x| mouse(MouseEventKind::Down(MouseButton::Left), x, 39);
    update(&mut app, click(col("? help")));
    assert_eq!(app.modal(), Some(&Modal::Help { scroll: 0 }));
    // The wheel scrolls the help.
    update(&mut app, mouse(MouseEventKind::ScrollDown, 60, 20));
    assert_eq!(app.modal(), Some(&Modal::Help { scroll: 3 }));
    update(
        &mut app,
        Msg::Key(crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Esc,
            KeyModifiers::NONE,
        )),
    );
    assert_eq!(app.modal(), None);
    // `r reset` asks for ann's reset; the space after a hint does nothing.
    let r = col("r reset");
    update(&mut app, click(r + 7));
    assert_eq!(app.modal(), None);
    update(&mut app, click(r));
    assert!(
        matches!(app.modal(), Some(Modal::Confirm(_))),
        "{:?}",
        app.modal()
    );

    // ui.mouse off (the default): the same click does nothing.
    let (mut off, _) = start(false, false);
    update(&mut off, click(col("? help")));
    update(
        &mut off,
        mouse(MouseEventKind::Down(MouseButton::Left), 10, 6),
    );
    assert_eq!(off.modal(), None);
    assert_eq!(selected(&off), "ann");
}
