//! The terminal UI (issue 6): model / update / view, driven by one loop.
//!
//! - [`model`]: the state, with [`row`]s for the list; [`update`]: [`action`]s → state +
//!   effects (pure); [`view`]: render (pure); [`keymap`]: the keys, as data.
//! - [`detail_view`]: the selected delivery's view, built once per selection;
//!   [`json_view`]: bodies as lines; [`compare`], [`curl`], [`filter`]: what they say.
//! - [`terminal`], [`input`], [`editor`]: the only parts that touch the real terminal.
//! - [`source`]: where rows and full deliveries come from (the store, or memory).
//! - [`port_view`]: what the UI reads of a Port payload (diff, subject, Slack message).

pub mod action;
pub mod compare;
pub mod curl;
pub mod detail_view;
pub mod editor;
pub mod filter;
pub mod input;
pub mod json_view;
pub mod keymap;
pub mod model;
pub mod port_view;
pub mod row;
pub mod source;
pub mod store_source;
pub mod terminal;
pub mod theme;
pub mod update;
pub mod view;

use std::io::IsTerminal as _;
use std::time::Duration;

use bytes::Bytes;
use crossterm::event::Event;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc;

use crate::delivery::now_ms;
use crate::events::{AppEvent, Command, ConnState};
pub use curl::Sending;
pub use model::{App, HeaderInfo, Row};
pub use source::{DeliverySource, MemorySource};
use terminal::TerminalGuard;
pub use theme::Theme;
use update::{Effect, handle_key, handle_mouse, on_app_event, on_loaded};

/// Rows loaded from the source per page at startup.
const PAGE: usize = 10_000;
/// App events folded in before one redraw.
const MAX_EVENTS_PER_FRAME: usize = 256;

/// What the UI is told at startup.
#[derive(Clone, Debug, Default)]
pub struct TuiSetup {
    pub channel_url: String,
    pub target: String,
    pub verify_mode: String,
    pub store_path: Option<String>,
    pub newest_first: bool,
    /// The forward job's target and options, for copy-as-curl.
    pub sending: Option<std::sync::Arc<curl::Sending>>,
}

/// Whether the terminal UI can run here (stdin and stdout are terminals).
pub fn tty_available() -> bool {
    std::io::stdout().is_terminal() && std::io::stdin().is_terminal()
}

/// A fresh [`App`] for a setup, with rows from the source (the newest [`model::MAX_ROWS`]).
pub fn build_app(setup: &TuiSetup, theme: Theme, loader: &mut dyn DeliverySource) -> App {
    let header = HeaderInfo {
        channel_url: setup.channel_url.clone(),
        target: setup.target.clone(),
        verify_mode: setup.verify_mode.clone(),
        store_path: setup.store_path.clone(),
    };
    let mut app = App::new(header, setup.newest_first, theme);
    app.sending = setup.sending.clone();
    let total = loader.count();
    let mut offset = total.saturating_sub(model::MAX_ROWS);
    app.dropped = offset;
    while offset < total {
        let page = loader.page(offset, PAGE);
        if page.is_empty() {
            break;
        }
        offset += page.len();
        app.extend_rows(page);
    }
    if let Some(pos) = app.newest_pos() {
        app.selected = app.row_at(pos);
        if let Some(id) = app.selected_row().map(|r| r.id.clone()) {
            let d = loader.load(&id);
            on_loaded(&mut app, &id, d);
        }
    }
    app
}

/// Run the UI until the user quits or `stop` resolves (SIGTERM, SIGHUP: the same as `q`).
/// IO tasks send [`AppEvent`]s; the UI sends [`Command`]s. Refuses to start without a TTY.
/// The terminal is restored on every way out. A channel the relay refuses on the first
/// connection ends the UI with that error.
pub async fn run(
    setup: TuiSetup,
    mut events: mpsc::Receiver<AppEvent>,
    commands: mpsc::Sender<Command>,
    mut loader: Box<dyn DeliverySource>,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    if !tty_available() {
        anyhow::bail!(
            "the terminal UI needs a terminal (stdin and stdout); use --output compact or json"
        );
    }
    let mut app = build_app(&setup, Theme::from_env(), loader.as_mut());
    app.now_ms = now_ms();
    app.tz_offset_s = chrono::Local::now().offset().local_minus_utc();
    tokio::pin!(stop);
    let mut guard = TerminalGuard::init()?;
    let mut input = input::Input::start()?;
    let mut events_open = true;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dirty = true;
    loop {
        if dirty {
            let size = guard.terminal.size()?;
            app.list_height = view::list_rows(&app, size.into());
            update::ensure_visible(&mut app);
            let detail_width = view::layout(&app, size.into()).detail.width;
            app.sync_view(detail_width as usize);
            let mut drawn = view::Drawn::default();
            guard.terminal.draw(|f| drawn = view::draw(&app, f))?;
            // Scrolling past the end must not leave keys that seem to do nothing.
            app.detail_scroll = app.detail_scroll.min(drawn.detail_max_scroll);
            dirty = false;
        }
        let animating = app.animating();
        let mut effects = Vec::new();
        tokio::select! {
            _ = &mut stop => return Ok(()),
            ev = input.next() => match ev {
                Some(Ok(Event::Key(k))) => {
                    app.now_ms = now_ms();
                    if let Some(a) = handle_key(&app, k) {
                        effects = update::update(&mut app, a);
                        dirty = true;
                    }
                }
                Some(Ok(Event::Mouse(m))) => {
                    let areas = view::layout(&app, guard.terminal.size()?.into());
                    if let Some(a) = handle_mouse(&app, m, &areas) {
                        effects = update::update(&mut app, a);
                        dirty = true;
                    }
                }
                Some(Ok(Event::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
            ev = events.recv(), if events_open => match ev {
                Some(ev) => {
                    app.now_ms = now_ms();
                    fold(&mut app, loader.as_mut(), ev)?;
                    for _ in 1..MAX_EVENTS_PER_FRAME {
                        match events.try_recv() {
                            Ok(ev) => fold(&mut app, loader.as_mut(), ev)?,
                            Err(_) => break,
                        }
                    }
                    dirty = true;
                }
                None => {
                    events_open = false;
                    app.complain("the relay side stopped; history is still here (q quits)");
                    dirty = true;
                }
            },
            _ = tick.tick(), if animating => {
                app.now_ms = now_ms();
                dirty = true;
            }
        }
        for eff in effects {
            match eff {
                Effect::Quit => return Ok(()),
                Effect::Send(cmd) => send(&mut app, &commands, cmd),
                Effect::LoadDelivery(id) => {
                    let d = loader.load(&id);
                    on_loaded(&mut app, &id, d);
                }
                Effect::CopyToClipboard { what, data } => {
                    let r = terminal::copy(&data);
                    // The terminal may ignore OSC 52 (tmux does by default): say where the
                    // file is rather than claim the clipboard has it.
                    match (r.osc52, r.file) {
                        (true, Some(p)) => {
                            app.say(format!("{what}: sent by OSC 52, saved in {}", p.display()))
                        }
                        (true, None) => app.say(format!("{what}: sent by OSC 52 (no file)")),
                        (false, Some(p)) => app.say(format!("{what}: saved in {}", p.display())),
                        (false, None) => app.complain(format!("could not copy the {what}")),
                    }
                    // OSC 52 wrote behind ratatui's back: repaint everything.
                    guard.repaint()?;
                }
                Effect::EditBody {
                    id,
                    body,
                    resign,
                    json,
                } => {
                    // stop reading keys while the editor owns the terminal
                    input.pause().await;
                    guard.suspend()?;
                    let edited = tokio::select! {
                        r = editor::edit(&id, &body, json) => r,
                        _ = &mut stop => {
                            // quitting while the editor runs: it is killed (and its file
                            // removed) as the edit is dropped; put the terminal back after it
                            let _ = terminal::leave();
                            return Ok(());
                        }
                    };
                    guard.resume()?;
                    input.resume();
                    match edited {
                        Ok(new) => {
                            send(
                                &mut app,
                                &commands,
                                Command::Replay {
                                    id,
                                    resign,
                                    body: Some(Bytes::from(new)),
                                },
                            );
                        }
                        Err(e) => app.complain(e.to_string()),
                    }
                }
            }
            dirty = true;
        }
    }
}

/// Fold one event into the state; a refused channel ends the UI with that error.
fn fold(app: &mut App, loader: &mut dyn DeliverySource, ev: AppEvent) -> anyhow::Result<()> {
    if let AppEvent::Conn(ConnState::Refused(r)) = &ev {
        return Err(r.clone().into());
    }
    loader.observe(&ev);
    on_app_event(app, ev);
    Ok(())
}

fn send(app: &mut App, commands: &mpsc::Sender<Command>, cmd: Command) {
    let Command::Replay { id, resign, body } = &cmd;
    let what = format!(
        "replaying {id}{}{}",
        if body.is_some() {
            " with the edited body"
        } else {
            ""
        },
        if *resign { " (re-signed)" } else { "" }
    );
    match commands.try_send(cmd) {
        Ok(()) => app.say(what),
        Err(mpsc::error::TrySendError::Full(_)) => app.complain("busy: too many replays queued"),
        Err(mpsc::error::TrySendError::Closed(_)) => {
            app.complain("replay is not available (no target)")
        }
    }
}

/// Render the app on a `w`×`h` test backend and return the screen as text (for tests and
/// snapshots), one line per row, trailing spaces trimmed.
pub fn render_to_string(app: &App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    term.draw(|f| view::render(app, f)).expect("draw");
    buffer_to_string(term.backend().buffer())
}

/// A buffer as text (wide characters counted once).
pub fn buffer_to_string(buf: &ratatui::buffer::Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        let mut skip = 0usize;
        for x in 0..buf.area.width {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = buf[(x, y)].symbol();
            line.push_str(sym);
            skip = ratatui::text::Span::raw(sym).width().saturating_sub(1);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
