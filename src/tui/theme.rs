//! Colours, with a monochrome variant for `NO_COLOR` (chosen once, at setup).

use ratatui::style::{Color, Modifier, Style};

/// The styles the views use. `mono` keeps only modifiers (bold, reversed, dim, ...).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Theme {
    pub mono: bool,
}

impl Theme {
    /// Monochrome when `NO_COLOR` is set to a non-empty value (<https://no-color.org>).
    pub fn from_env() -> Self {
        let mono = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme { mono }
    }

    fn fg(&self, c: Color) -> Style {
        if self.mono {
            Style::default()
        } else {
            Style::default().fg(c)
        }
    }

    pub fn ok(&self) -> Style {
        self.fg(Color::Green)
    }
    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow)
    }
    pub fn err(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    pub fn dim(&self) -> Style {
        self.fg(Color::DarkGray).add_modifier(Modifier::DIM)
    }
    pub fn accent(&self) -> Style {
        self.fg(Color::Cyan)
    }
    pub fn title(&self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }
    pub fn selected(&self) -> Style {
        if self.mono {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
                .bg(Color::DarkGray)
                .add_modifier(Modifier::BOLD)
        }
    }
    pub fn json_key(&self) -> Style {
        self.fg(Color::Cyan)
    }
    pub fn json_string(&self) -> Style {
        self.fg(Color::Green)
    }
    pub fn json_number(&self) -> Style {
        self.fg(Color::Yellow)
    }
    pub fn json_literal(&self) -> Style {
        self.fg(Color::Magenta)
    }
    pub fn added(&self) -> Style {
        self.fg(Color::Green)
    }
    pub fn removed(&self) -> Style {
        self.fg(Color::Red)
    }
    pub fn changed(&self) -> Style {
        self.fg(Color::Yellow)
    }
    /// A status code: 2xx green, 3xx cyan, 4xx yellow, 5xx red.
    pub fn status(&self, code: u16) -> Style {
        match code {
            200..=299 => self.ok(),
            300..=399 => self.accent(),
            400..=499 => self.warn(),
            _ => self.err(),
        }
    }
}
