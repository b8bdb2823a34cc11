//! Timings of the console at 100,000 queued users: loading them page by page as the console does
//! (each page through `update`, the loop's throttled settle after it, a frame whenever it
//! settled) with flag times distinct, all tied, in 840 groups and shuffled; what one settle and a
//! full sort cost; drawing one frame; filtering as you type. `cargo bench --bench ui`.

use std::time::{Duration, Instant};

use avatar_console::model::{AvatarKind, FlagItem, Source};
use avatar_console::tui::app::FRAME_EVERY;
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

/// How the flag times fall: what made the console's load slow was never the distinct,
/// in-order case.
#[derive(Clone, Copy, Debug)]
enum Times {
    /// Every user a different time, oldest first (each page lands above the last).
    Distinct,
    /// Everyone flagged in the same second.
    Tied,
    /// 840 distinct times (a batch job's minutes), pages in random order.
    Groups840,
    /// Distinct times, pages in random order.
    Shuffled,
}

fn flag_time(times: Times, i: usize) -> chrono::DateTime<Utc> {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap();
    let secs = match times {
        Times::Distinct | Times::Shuffled => (USERS - i) as i64,
        Times::Tied => 0,
        Times::Groups840 => ((i * 7919) % 840) as i64 * 60,
    };
    t0 - chrono::Duration::seconds(secs)
}

fn items(source: Source, times: Times, ids: &[usize]) -> Vec<FlagItem> {
    ids.iter()
        .map(|&i| FlagItem {
            source,
            external_id: (source == Source::App).then(|| (10_000 + i).to_string()),
            discourse_id: (source == Source::Discourse).then_some(i as u64),
            username: Some(format!("user{i:06}")),
            email: Some(format!("user{i:06}@example.com")),
            reason: REASONS[i % REASONS.len()].to_string(),
            flagged_at: Some(flag_time(times, i)),
            photo_url: None,
            avatar: AvatarKind::Custom,
            avatar_upload: None,
        })
        .collect()
}

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// A small deterministic shuffle (xorshift).
fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

fn new_app() -> App {
    let mut app = App::new(AppConfig {
        site: "bench".into(),
        api_user: "system".into(),
        sources: vec![Source::App, Source::Discourse],
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
    app
}

fn page(source: Source, items: Vec<FlagItem>, last: bool) -> Msg {
    Msg::QueuePage {
        source,
        generation: 0,
        result: Ok(QueuePage {
            items,
            next: (!last).then(|| format!("{source:?}-{}", rand_cursor())),
            skipped: 0,
        }),
    }
}

/// Distinct cursors, so the console's loop detection never stops the load.
fn rand_cursor() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Loads 100,000 users as the console does: main-app pages of 50 and, overlapping half of them
/// by username, review pages of 10, interleaved as both sources answer at once; after each page
/// the loop's settle (throttled), a frame drawn whenever it settled. Answers the load time, the
/// first frame, and the worst gap between two messages handled (what a key press could wait).
fn load(times: Times, terminal: &mut Terminal<TestBackend>) -> (App, Duration, Duration, Duration) {
    let mut ids: Vec<usize> = (0..USERS).collect();
    if matches!(times, Times::Groups840 | Times::Shuffled) {
        shuffle(&mut ids, 0x9e37_79b9_7f4a_7c15);
    }
    let app_pages: Vec<Vec<FlagItem>> = ids
        .chunks(50)
        .map(|c| items(Source::App, times, c))
        .collect();
    let half: Vec<usize> = ids.iter().copied().filter(|i| i % 2 == 0).collect();
    let disc_pages: Vec<Vec<FlagItem>> = half
        .chunks(10)
        .map(|c| items(Source::Discourse, times, c))
        .collect();
    let (na, nd) = (app_pages.len(), disc_pages.len());
    let mut app = new_app();
    let mut a = app_pages.into_iter().enumerate();
    let mut d = disc_pages.into_iter().enumerate();
    let mut first_frame = None;
    let mut worst = Duration::ZERO;
    let start = Instant::now();
    let mut last_draw = start - FRAME_EVERY;
    // Review pages are smaller: five of them per main-app page keeps both ending together.
    loop {
        let mut msgs = Vec::new();
        if let Some((i, p)) = a.next() {
            msgs.push(page(Source::App, p, i + 1 == na));
        }
        for _ in 0..5 {
            if let Some((i, p)) = d.next() {
                msgs.push(page(Source::Discourse, p, i + 1 == nd));
            }
        }
        if msgs.is_empty() {
            break;
        }
        for m in msgs {
            let t = Instant::now();
            update(&mut app, m);
            // As the loop: settle and draw when due.
            let now = Instant::now();
            app.settle_throttled(now);
            let due = !app.is_loading() || now.duration_since(last_draw) >= FRAME_EVERY;
            if due && app.take_redraw() {
                last_draw = now;
                let f = Instant::now();
                terminal.draw(|f| view(&app, f)).unwrap();
                first_frame.get_or_insert(f.elapsed());
            }
            worst = worst.max(t.elapsed());
        }
    }
    app.settle();
    let took = start.elapsed();
    assert_eq!(app.queue().len(), USERS);
    assert_eq!(app.visible().len(), USERS);
    assert!(!app.is_loading());
    (app, took, first_frame.unwrap_or_default(), worst)
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let mut terminal = Terminal::new(TestBackend::new(160, 50)).unwrap();
    let mut kept = None;
    for times in [
        Times::Distinct,
        Times::Tied,
        Times::Groups840,
        Times::Shuffled,
    ] {
        let (app, took, first, worst) = load(times, &mut terminal);
        println!(
            "load {USERS} ({times:?} flag times), settling as the console does: {} · first frame {} · slowest message {}",
            ms(took),
            ms(first),
            ms(worst),
        );
        kept = Some(app);
    }
    let mut app = kept.unwrap();
    // What one settle costs at 100k after one page (the old loop paid a full sort per page).
    let extra = items(
        Source::App,
        Times::Shuffled,
        &(USERS..USERS + 50).collect::<Vec<_>>(),
    );
    update(&mut app, page(Source::App, extra, true));
    let start = Instant::now();
    app.settle();
    println!(
        "one settle after a page of 50 at 100k: {}",
        ms(start.elapsed())
    );
    let start = Instant::now();
    let order = app.queue().sorted();
    println!(
        "a full sort of 100k (Queue::sorted, once): {} ({} rows)",
        ms(start.elapsed()),
        order.len()
    );
    println!("peak RSS of this bench so far: {:.1} MB", peak_rss_mb());

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
