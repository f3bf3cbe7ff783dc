//! Port payloads and their property diffs (issue 5).

pub mod diff;
