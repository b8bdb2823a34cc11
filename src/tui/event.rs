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
use tokio::sync::mpsc;

use super::app::{App, Msg, TICK_MS, update};
use super::effects::{Backend, Runner};
use super::ui;

/// Runs the console until the operator quits. Restores the terminal on return, on error and on
/// panic (`ratatui::try_init` chains a restoring panic hook before the existing one; mouse
/// capture, when on, is turned off by a hook of ours and on every way out), and after SIGTERM or
/// SIGHUP, which quit as a confirmed `q` does once resets in flight have written their outcomes.
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
    // Registered before the terminal goes raw: from here on a signal waits for the loop instead
    // of killing the process with the terminal left raw.
    let mut signals = Signals::new()?;
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
    let result = event_loop(&mut terminal, app, backend, renderer, &mut signals).await;
    restore_terminal();
    result
}

/// Gives the terminal back: mouse reporting off (harmless when it was never on), raw mode and
/// the alternate screen off, the cursor shown (`ratatui::restore` leaves it as the last frame
/// had it: hidden). For every way out, a signal's included.
pub fn restore_terminal() {
    // The alternate screen is blanked before it is left: tmux, when the window grew while it
    // was on, copies the main screen back through a resize that keeps alternate-screen lines
    // below the old height (tmux screen.c `screen_alternate_off`: "temporarily resize to the
    // old size before copying back", then resize back with history on), and those lines would
    // show the console's last frame above the shell prompt.
    let _ = execute!(
        io::stdout(),
        DisableMouseCapture,
        crossterm::terminal::Clear(crossterm::terminal::ClearType::All)
    );
    ratatui::restore();
    let _ = execute!(io::stdout(), crossterm::cursor::Show);
}

/// SIGTERM and SIGHUP, as a stream of the signal's name.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    #[cfg(unix)]
    fn new() -> io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    #[cfg(not(unix))]
    fn new() -> io::Result<Self> {
        Ok(Signals {})
    }

    #[cfg(unix)]
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.hup.recv() => "SIGHUP",
        }
    }

    #[cfg(not(unix))]
    async fn recv(&mut self) -> &'static str {
        std::future::pending().await
    }
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
    signals: &mut Signals,
) -> io::Result<()> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let mut runner = Runner::new(backend.clone(), tx.clone()).with_renderer(renderer);
    super::effects::forward_exchanges(backend.as_ref(), &tx);
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
    // After a signal the terminal may be gone (SIGHUP): its input and drawing errors no longer
    // end the loop, which runs on until the resets in flight have written their outcomes.
    let mut terminating = false;
    let mut last_draw = std::time::Instant::now();
    loop {
        let msg = tokio::select! {
            ev = events.next(), if !terminating => match ev {
                Some(Ok(Event::Key(k))) if k.kind == KeyEventKind::Press => Msg::Key(k),
                Some(Ok(Event::Resize(width, height))) => Msg::Resize { width, height },
                Some(Ok(Event::Mouse(m))) if app.cfg.mouse => Msg::Mouse(m),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            signal = signals.recv() => {
                if terminating {
                    // A second signal: stop waiting.
                    return Ok(());
                }
                terminating = true;
                Msg::Terminate { signal }
            },
            Some(msg) = rx.recv() => msg,
            _ = tick.tick() => {
                if let Some(b) = backend.budget() {
                    handle(&mut app, &mut runner, Msg::Budget(b));
                }
                Msg::Tick { now: Utc::now() }
            }
        };
        let acted = matches!(msg, Msg::Key(_) | Msg::Mouse(_));
        if !handle(&mut app, &mut runner, msg) {
            return Ok(());
        }
        // Coalesce a burst of network results (queue pages) into one draw; the queue's order
        // follows at most every `SETTLE_EVERY` while pages arrive.
        for _ in 0..1024 {
            let Ok(msg) = rx.try_recv() else { break };
            if !handle(&mut app, &mut runner, msg) {
                return Ok(());
            }
        }
        let now = std::time::Instant::now();
        app.settle_throttled(now);
        let frame_due = acted
            || !app.is_loading()
            || now.saturating_duration_since(last_draw) >= super::app::FRAME_EVERY;
        if frame_due && app.take_redraw() {
            last_draw = now;
            match draw(terminal, &app) {
                Err(_) if terminating => {}
                other => other?,
            }
        }
    }
}
