//! The one event loop: crossterm's EventStream, a tick and network results all arrive as
//! messages; `update` handles them, the runner starts the effects, and the screen is drawn only
//! when something changed, inside a synchronized update.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use crossterm::event::{DisableMouseCapture, EnableMouseCapture, Event, EventStream, KeyEventKind};
use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use crossterm::{execute, queue};
use futures::StreamExt;
use ratatui::DefaultTerminal;
use tokio::sync::{broadcast, mpsc};

use super::app::{App, Msg, TICK_MS, update};
use super::effects::{Backend, Runner};
use super::ui;

/// Runs the console until the operator quits. Restores the terminal on return, on error and on
/// panic (`ratatui::try_init` chains a restoring panic hook before the existing one; mouse
/// capture, when on, is turned off by a hook of ours and on every way out).
pub async fn run(
    mut app: App,
    backend: Arc<dyn Backend>,
    images: crate::config::ImageMode,
) -> io::Result<()> {
    app.cfg.no_color |= super::theme::no_color_env();
    let mode = crate::images::effective_mode(
        images,
        app.cfg.no_color,
        app.cfg.theme == super::theme::ThemeChoice::Mono,
    );
    let mut terminal = ratatui::try_init()?;
    // Asked before the event stream reads stdin: the terminal's answers must reach the picker.
    let renderer = crate::images::Renderer::detect(mode);
    app.cfg.images = renderer.is_some();
    if app.cfg.mouse {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = execute!(io::stdout(), DisableMouseCapture);
            hook(info);
        }));
        execute!(io::stdout(), EnableMouseCapture)?;
    }
    let result = event_loop(&mut terminal, app, backend, renderer).await;
    restore_terminal();
    result
}

/// Gives the terminal back: mouse reporting off (harmless when it was never on), raw mode and
/// the alternate screen off. For every way out, a signal's included.
pub fn restore_terminal() {
    let _ = execute!(io::stdout(), DisableMouseCapture);
    ratatui::restore();
}

fn draw(terminal: &mut DefaultTerminal, app: &App) -> io::Result<()> {
    queue!(terminal.backend_mut(), BeginSynchronizedUpdate)?;
    terminal.draw(|f| ui::view(app, f))?;
    execute!(terminal.backend_mut(), EndSynchronizedUpdate)
}

/// Handles one message and starts its effects; `false` when the console must quit.
fn handle(app: &mut App, runner: &mut Runner, msg: Msg) -> bool {
    let mut go_on = true;
    for effect in update(app, msg) {
        go_on &= runner.run(effect);
    }
    go_on && !app.should_quit()
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    mut app: App,
    backend: Arc<dyn Backend>,
    renderer: Option<crate::images::Renderer>,
) -> io::Result<()> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let mut runner = Runner::new(backend.clone(), tx.clone()).with_renderer(renderer);
    if let Some(mut feed) = backend.exchanges() {
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                match feed.recv().await {
                    Ok(e) => {
                        if tx.send(Msg::Exchange(e)).is_err() {
                            break;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
    }
    let size = terminal.size()?;
    update(
        &mut app,
        Msg::Resize {
            width: size.width,
            height: size.height,
        },
    );
    for effect in app.init() {
        runner.run(effect);
    }
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_millis(TICK_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    draw(terminal, &app)?;
    app.take_redraw();
    loop {
        let msg = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) if k.kind == KeyEventKind::Press => Msg::Key(k),
                Some(Ok(Event::Resize(width, height))) => Msg::Resize { width, height },
                Some(Ok(Event::Mouse(m))) if app.cfg.mouse => Msg::Mouse(m),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            Some(msg) = rx.recv() => msg,
            _ = tick.tick() => {
                if let Some(b) = backend.budget() {
                    handle(&mut app, &mut runner, Msg::Budget(b));
                }
                Msg::Tick { now: Utc::now() }
            }
        };
        if !handle(&mut app, &mut runner, msg) {
            return Ok(());
        }
        // Coalesce a burst of network results (queue pages) into one settle and one draw.
        for _ in 0..1024 {
            let Ok(msg) = rx.try_recv() else { break };
            if !handle(&mut app, &mut runner, msg) {
                return Ok(());
            }
        }
        app.settle();
        if app.take_redraw() {
            draw(terminal, &app)?;
        }
    }
}
