//! The key map, as data: `handle_key` dispatches from it and the `?` overlay shows it, so the
//! two cannot disagree (and the README quotes [`help_table`]).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;

/// One key that triggers a binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

const fn k(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: false,
    }
}

const fn code(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: true,
    }
}

/// A binding: the keys, how help names them (empty: folded into the previous line), what it
/// does, and the action.
#[derive(Clone, Copy, Debug)]
pub struct Binding {
    pub keys: &'static [Key],
    pub label: &'static str,
    pub help: &'static str,
    pub action: Action,
}

const fn b(
    keys: &'static [Key],
    label: &'static str,
    help: &'static str,
    action: Action,
) -> Binding {
    Binding {
        keys,
        label,
        help,
        action,
    }
}

/// Every key of the main screen.
pub const KEYMAP: &[Binding] = &[
    b(
        &[code(KeyCode::Up), k('k')],
        "↑↓ k j",
        "move (scroll when zoomed); wheel scrolls",
        Action::Up,
    ),
    b(&[code(KeyCode::Down), k('j')], "", "", Action::Down),
    b(
        &[code(KeyCode::PageUp)],
        "PgUp PgDn",
        "page up / down",
        Action::PageUp,
    ),
    b(&[code(KeyCode::PageDown)], "", "", Action::PageDown),
    b(
        &[k('g'), code(KeyCode::Home)],
        "g G",
        "first / last (newest: follow)",
        Action::Top,
    ),
    b(&[k('G'), code(KeyCode::End)], "", "", Action::Bottom),
    b(
        &[code(KeyCode::Enter)],
        "Enter",
        "zoom the detail pane / back",
        Action::ToggleFocus,
    ),
    b(
        &[code(KeyCode::Tab)],
        "Tab",
        "next tab (S-Tab previous)",
        Action::NextTab,
    ),
    b(&[code(KeyCode::BackTab)], "", "", Action::PrevTab),
    b(
        &[k('1')],
        "1-5",
        "Request, Response, Diff, Verification, Slack",
        Action::SelectTab(0),
    ),
    b(&[k('2')], "", "", Action::SelectTab(1)),
    b(&[k('3')], "", "", Action::SelectTab(2)),
    b(&[k('4')], "", "", Action::SelectTab(3)),
    b(&[k('5')], "", "", Action::SelectTab(4)),
    b(&[k('v')], "v", "raw body / pretty body", Action::ToggleRaw),
    b(
        &[k('[')],
        "[ ]",
        "previous / next attempt (Response tab)",
        Action::PrevAttempt,
    ),
    b(&[k(']')], "", "", Action::NextAttempt),
    b(
        &[k('r')],
        "r",
        "replay to the target",
        Action::Replay { resign: false },
    ),
    b(
        &[k('R')],
        "R",
        "re-sign and replay",
        Action::Replay { resign: true },
    ),
    b(
        &[k('e')],
        "e",
        "edit the body in $EDITOR and replay",
        Action::EditReplay,
    ),
    b(
        &[k('/')],
        "/",
        "filter: text method:post status:5xx event:push sig:invalid",
        Action::StartFilter,
    ),
    b(&[k('c')], "c", "copy as curl", Action::CopyCurl),
    b(&[k('y')], "y", "copy the body", Action::CopyBody),
    b(&[k('u')], "u", "copy the channel URL", Action::CopyUrl),
    b(
        &[k('m')],
        "m",
        "mark this delivery (attempt, in Response)",
        Action::Mark,
    ),
    b(&[k('d')], "d", "compare with the mark", Action::Compare),
    b(&[k('?')], "?", "this help", Action::ToggleHelp),
    b(
        &[code(KeyCode::Esc)],
        "Esc",
        "close / back / clear the filter",
        Action::Back,
    ),
    b(&[k('q'), ctrl('c')], "q C-c", "quit", Action::Quit),
];

/// The binding for a key press, if any.
pub fn lookup(ev: &KeyEvent) -> Option<Action> {
    let ctrl_down = ev.modifiers.contains(KeyModifiers::CONTROL);
    KEYMAP.iter().find_map(|b| {
        b.keys
            .iter()
            .any(|key| key.code == ev.code && key.ctrl == ctrl_down)
            .then_some(b.action)
    })
}

/// `(keys, what they do)` for every visible line of help.
pub fn help_table() -> impl Iterator<Item = (&'static str, &'static str)> {
    KEYMAP
        .iter()
        .filter(|b| !b.label.is_empty())
        .map(|b| (b.label, b.help))
}
