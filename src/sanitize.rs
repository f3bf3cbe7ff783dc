//! Placeholder: replaced by the TUI's sanitizer when it lands.
use std::borrow::Cow;

/// Text from a payload made safe to show on a terminal.
pub fn display_safe(s: &str) -> Cow<'_, str> {
    if s.chars().any(|c| c.is_control()) {
        Cow::Owned(
            s.chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(s)
    }
}
