//! The UI's key and mouse reader, which stops reading while another program (the editor) owns
//! the terminal.
//!
//! Why not crossterm's `EventStream`: dropping it does not wait for its reader thread, which may
//! still be polling the terminal when the editor starts (taking the editor's keys, or leaving
//! crossterm's reader in a state where a later cursor query times out and ends the UI). This
//! reader is one thread polling crossterm with a short timeout; [`Input::pause`] returns only
//! once that thread is parked, and it reads nothing until [`Input::resume`].

use std::io;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use crossterm::event::Event;
use tokio::sync::{mpsc, oneshot};

/// How long one poll waits: the longest a pause waits for the reader to park.
const POLL: Duration = Duration::from_millis(50);
/// Input events waiting for the UI loop.
const QUEUE: usize = 64;

enum Ctl {
    Pause(oneshot::Sender<()>),
    Resume,
}

/// The running reader. Dropping it stops the thread (within one poll).
pub struct Input {
    rx: mpsc::Receiver<io::Result<Event>>,
    ctl: std_mpsc::Sender<Ctl>,
}

impl Input {
    /// Start reading the terminal.
    pub fn start() -> io::Result<Input> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (ctl, ctl_rx) = std_mpsc::channel();
        std::thread::Builder::new()
            .name("hookrelay-input".into())
            .spawn(move || read_loop(tx, ctl_rx))?;
        Ok(Input { rx, ctl })
    }

    /// The next key, mouse or resize event (`None` once the reader has stopped).
    pub async fn next(&mut self) -> Option<io::Result<Event>> {
        self.rx.recv().await
    }

    /// Stop reading the terminal; returns once the reader reads nothing more. Events already
    /// read are dropped (keys typed as the editor starts belong to no one).
    pub async fn pause(&mut self) {
        let (ack, mut parked) = oneshot::channel();
        if self.ctl.send(Ctl::Pause(ack)).is_err() {
            return;
        }
        loop {
            tokio::select! {
                _ = &mut parked => break,
                // keep the queue moving so a reader blocked on a full queue can park
                ev = self.rx.recv() => if ev.is_none() { break },
            }
        }
        while self.rx.try_recv().is_ok() {}
    }

    /// Read the terminal again after [`pause`](Self::pause).
    pub fn resume(&mut self) {
        let _ = self.ctl.send(Ctl::Resume);
    }
}

fn read_loop(tx: mpsc::Sender<io::Result<Event>>, ctl: std_mpsc::Receiver<Ctl>) {
    loop {
        match ctl.try_recv() {
            Ok(Ctl::Pause(ack)) => {
                let _ = ack.send(());
                loop {
                    match ctl.recv() {
                        Ok(Ctl::Resume) => break,
                        Ok(Ctl::Pause(ack)) => {
                            let _ = ack.send(());
                        }
                        Err(_) => return,
                    }
                }
            }
            Ok(Ctl::Resume) | Err(std_mpsc::TryRecvError::Empty) => {}
            Err(std_mpsc::TryRecvError::Disconnected) => return,
        }
        match crossterm::event::poll(POLL) {
            Ok(false) => {}
            Ok(true) => {
                if tx.blocking_send(crossterm::event::read()).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
    }
}
