//! hookrelay's core: the layer every feature stands on. No IO, no async runtime, no terminal,
//! no database: the fuzz target links this crate alone.
//!
//! - [`delivery`]: the delivery model (the request as sent, attempts, states, ids) and what
//!   happened to it ([`delivery::verdict`], [`delivery::notification`]).
//! - [`headers`]: the one hop-by-hop list; the headers that go on to a target.
//! - [`wire`]: the SSE event JSON (smee.io's fields plus the exact request), encode and decode.
//! - [`sse_parser`]: the bounded, incremental Server-Sent Events parser.
//! - [`verify`]: signature verification and re-signing (Port, GitHub, Scalr, Stripe, Standard
//!   Webhooks).
//! - [`json_diff`]: a property-level diff of two JSON values (Port's `diff.before` / `after`).
//! - [`sanitize`]: the one sanitizer for untrusted text shown on a screen or in a log.
//! - [`curl`]: a request as a curl command, safe to paste.
//!
//! Layers point down only: `delivery` depends on nothing here; everything else may use it.

pub mod curl;
pub mod delivery;
pub mod headers;
pub mod json_diff;
pub mod reply;
pub mod sanitize;
pub mod sse_parser;
pub mod verify;
pub mod wire;
