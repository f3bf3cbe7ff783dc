//! The SSE source: an incremental parser and a reconnecting subscription.
