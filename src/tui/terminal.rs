//! The real terminal: raw mode, alternate screen and mouse capture on, restored on drop, on
//! error and on panic; OSC 52 clipboard copies (tmux/screen passthrough) with a fallback file.

use std::io::{self, Stdout, Write};
use std::path::PathBuf;
use std::sync::Once;

use base64::Engine as _;
use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::terminal::{
    Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use crossterm::{cursor, execute};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

/// The largest copy sent through OSC 52 (terminals cap it); bigger ones go to the file only.
pub const MAX_OSC52_BYTES: usize = 512 * 1024;

/// Owns the terminal while the UI runs; puts it back when dropped.
pub struct TerminalGuard {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
    active: bool,
}

impl TerminalGuard {
    /// Take over the terminal (and make sure a panic gives it back first).
    pub fn init() -> io::Result<Self> {
        install_panic_hook();
        enter()?;
        let terminal = match Terminal::new(CrosstermBackend::new(io::stdout())) {
            Ok(t) => t,
            Err(e) => {
                let _ = leave();
                return Err(e);
            }
        };
        Ok(TerminalGuard {
            terminal,
            active: true,
        })
    }

    /// Give the terminal back for a while (to run an editor).
    pub fn suspend(&mut self) -> io::Result<()> {
        self.active = false;
        leave()
    }

    /// Take it again after [`suspend`](Self::suspend).
    pub fn resume(&mut self) -> io::Result<()> {
        enter()?;
        self.active = true;
        self.repaint()
    }

    /// Clear the screen and forget what was drawn, so the next draw paints everything.
    /// Not `Terminal::clear`: it asks the terminal for the cursor position, an answer that can
    /// be late or lost after another program used the terminal, and crossterm then fails with
    /// "The cursor position could not be read within a normal duration".
    pub fn repaint(&mut self) -> io::Result<()> {
        execute!(io::stdout(), Clear(ClearType::All))?;
        self.terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        Ok(())
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        if self.active {
            let _ = leave();
        }
    }
}

fn enter() -> io::Result<()> {
    enable_raw_mode()?;
    execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture)
}

/// Put the terminal back the way a shell expects it. Safe to call more than once.
pub fn leave() -> io::Result<()> {
    let r = execute!(
        io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        cursor::Show
    );
    disable_raw_mode()?;
    r
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = leave();
            previous(info);
        }));
    });
}

/// The OSC 52 sequence that puts `data` on the clipboard, wrapped for tmux or screen.
pub fn osc52(data: &[u8], tmux: bool, screen: bool) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    let seq = format!("\x1b]52;c;{b64}\x07");
    if tmux {
        format!("\x1bPtmux;{}\x1b\\", seq.replace('\x1b', "\x1b\x1b"))
    } else if screen {
        format!("\x1bP{seq}\x1b\\")
    } else {
        seq
    }
}

/// Where copies are also written (terminals may ignore OSC 52).
pub fn fallback_path() -> PathBuf {
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("hookrelay")
        .join("clipboard")
}

/// What a copy did.
#[derive(Debug)]
pub struct CopyReport {
    pub osc52: bool,
    pub file: Option<PathBuf>,
}

/// Copy bytes: OSC 52 to the terminal (when small enough) and the fallback file (owner-only).
/// Whether the terminal honours OSC 52 cannot be known, hence the file.
pub fn copy(data: &[u8]) -> CopyReport {
    let mut osc = false;
    if data.len() <= MAX_OSC52_BYTES {
        let tmux = std::env::var_os("TMUX").is_some();
        let screen = std::env::var("TERM").is_ok_and(|t| t.starts_with("screen")) && !tmux;
        // In tmux, the plain sequence reaches tmux's own clipboard (`set-clipboard on`) and the
        // wrapped one passes through to the outer terminal (`allow-passthrough on`).
        let seq = if tmux {
            osc52(data, false, false) + &osc52(data, true, false)
        } else {
            osc52(data, false, screen)
        };
        let mut out = io::stdout();
        osc = out
            .write_all(seq.as_bytes())
            .and_then(|_| out.flush())
            .is_ok();
    }
    let path = fallback_path();
    let file = write_private(&path, data).ok().map(|_| path);
    CopyReport { osc52: osc, file }
}

/// Write a file readable by the owner only (replaced, never followed through a symlink).
pub(crate) fn write_private(path: &std::path::Path, data: &[u8]) -> io::Result<()> {
    crate::private_files::write_replace(path, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc52_forms() {
        assert_eq!(osc52(b"hi", false, false), "\x1b]52;c;aGk=\x07");
        assert_eq!(
            osc52(b"hi", true, false),
            "\x1bPtmux;\x1b\x1b]52;c;aGk=\x07\x1b\\"
        );
        assert_eq!(osc52(b"hi", false, true), "\x1bP\x1b]52;c;aGk=\x07\x1b\\");
    }

    #[test]
    fn private_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/clip");
        write_private(&p, b"x").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
