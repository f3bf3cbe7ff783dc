//! The terminal UI (issue 6).
