//! Port payloads and their diffs (issue 5).
