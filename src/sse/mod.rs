//! The SSE source: an incremental parser and a reconnecting subscription.

pub mod client;
pub use hookrelay_core::sse_parser as parser;

pub use client::{SourceEvent, SubscribeConfig, subscribe};
pub use parser::{Parsed, Parser, SseEvent};
