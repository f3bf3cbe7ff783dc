//! What the user can ask the UI for: the keymap and the mouse produce an [`Action`]; `update`
//! applies it to the state.

/// What the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Scroll by lines (mouse wheel over the list, or keys in an overlay): negative is up.
    Wheel(i8),
    /// Scroll the detail pane by lines (mouse wheel over it): negative is up.
    WheelDetail(i8),
    ToggleFocus,
    NextTab,
    PrevTab,
    SelectTab(u8),
    ToggleRaw,
    PrevAttempt,
    NextAttempt,
    Replay {
        resign: bool,
    },
    EditReplay,
    StartFilter,
    FilterInput(char),
    FilterBackspace,
    FilterApply,
    FilterCancel,
    CopyCurl,
    CopyBody,
    CopyUrl,
    Mark,
    Compare,
    ToggleHelp,
    /// Close an overlay, leave the zoomed detail, or clear the filter.
    Back,
    Quit,
}
