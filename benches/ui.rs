//! Timings of the console at 100,000 queued users: merging the pages, drawing one frame,
//! filtering as you type. `cargo bench --bench ui`.

use std::time::{Duration, Instant};

use avatar_console::model::{AvatarKind, FlagItem, Source};
use avatar_console::tui::{App, AppConfig, Msg, QueuePage, update, view};
use chrono::{TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const USERS: usize = 100_000;
const REASONS: [&str; 5] = [
    "nudity",
    "violence",
    "spam avatar",
    "impersonation",
    "hate symbol",
];

fn items(source: Source, range: std::ops::Range<usize>) -> Vec<FlagItem> {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap();
    range
        .map(|i| FlagItem {
            source,
            external_id: (source == Source::App).then(|| (10_000 + i).to_string()),
            discourse_id: (source == Source::Discourse).then_some(i as u64),
            username: Some(format!("user{i:06}")),
            email: Some(format!("user{i:06}@example.com")),
            reason: REASONS[i % REASONS.len()].to_string(),
            flagged_at: Some(t0 - chrono::Duration::seconds((i * 7 % 86_400) as i64)),
            photo_url: None,
            avatar: AvatarKind::Custom,
        })
        .collect()
}

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let mut app = App::new(AppConfig {
        site: "bench".into(),
        api_user: "system".into(),
        ..AppConfig::default()
    });
    app.init();
    update(
        &mut app,
        Msg::Resize {
            width: 160,
            height: 50,
        },
    );

    // Pages of 500 from the app and, overlapping half of them by username, of 10 from Discourse.
    let start = Instant::now();
    for chunk in (0..USERS).step_by(500) {
        let page = QueuePage {
            items: items(Source::App, chunk..chunk + 500),
            next: Some("n".into()),
            skipped: 0,
        };
        update(
            &mut app,
            Msg::QueuePage {
                source: Source::App,
                generation: 0,
                result: Ok(page),
            },
        );
    }
    let merge_app = start.elapsed();
    let start = Instant::now();
    for chunk in (0..USERS / 2).step_by(10) {
        let page = QueuePage {
            items: items(Source::Discourse, chunk..chunk + 10),
            next: None,
            skipped: 0,
        };
        update(
            &mut app,
            Msg::QueuePage {
                source: Source::Discourse,
                generation: 0,
                result: Ok(page),
            },
        );
    }
    let merge_discourse = start.elapsed();
    let start = Instant::now();
    app.settle();
    let settle = start.elapsed();
    assert_eq!(app.queue().len(), USERS);
    println!(
        "merge: {USERS} app items in pages of 500: {}",
        ms(merge_app)
    );
    println!(
        "merge: {} discourse items in pages of 10: {}",
        USERS / 2,
        ms(merge_discourse)
    );
    println!("order + first filter at 100k (settle): {}", ms(settle));

    // One frame, 160×50, repeated.
    let mut terminal = Terminal::new(TestBackend::new(160, 50)).unwrap();
    let runs = 200;
    let start = Instant::now();
    for _ in 0..runs {
        terminal.draw(|f| view(&app, f)).unwrap();
    }
    println!(
        "draw one frame at 100k (160×50): {} (mean of {runs})",
        ms(start.elapsed() / runs)
    );

    // Filter as you type: each keystroke of `/user0999`, then an inverted filter, then clearing.
    update(&mut app, key('/'));
    let mut worst = Duration::ZERO;
    for c in "user0999".chars() {
        let start = Instant::now();
        update(&mut app, key(c));
        let d = start.elapsed();
        worst = worst.max(d);
        println!(
            "  filter keystroke {c:?}: {} ({} shown)",
            ms(d),
            app.visible().len()
        );
    }
    println!("filter at 100k, worst keystroke: {}", ms(worst));
    update(
        &mut app,
        Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)),
    );
    update(&mut app, key('/'));
    update(&mut app, key('!'));
    let start = Instant::now();
    update(&mut app, key('n'));
    println!(
        "inverted filter `!n` at 100k: {} ({} shown)",
        ms(start.elapsed()),
        app.visible().len()
    );
    let start = Instant::now();
    update(
        &mut app,
        Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)),
    );
    println!("clearing the filter at 100k: {}", ms(start.elapsed()));
    let start = Instant::now();
    for _ in 0..runs {
        update(&mut app, key('j'));
    }
    println!("move one row at 100k: {}", ms(start.elapsed() / runs));
    let start = Instant::now();
    terminal.draw(|f| view(&app, f)).unwrap();
    println!("draw after the filter: {}", ms(start.elapsed()));
}
