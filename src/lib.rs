//! hookrelay: a byte-exact, Smee-compatible webhook relay with signature verification,
//! Port diffs, Slack notifications, a delivery store and a terminal UI.
//!
//! Module map (find a concept by its file name):
//! - [`delivery`]: the delivery model (request as sent, attempts, ids).
//! - [`wire`]: the SSE event JSON (smee.io's fields plus the exact request), encode and decode.
//! - [`sse`]: the SSE parser and the reconnecting subscription.
//! - [`forward`]: rebuilding a request for the target and sending it (typed [`forward::ForwardError`]).
//! - [`pipeline`]: the forward job, in stages: [`pipeline::intake`] decodes each relay event
//!   and derives once (label, Port event, verdict) → [`pipeline::inbox`], the store, where every
//!   delivery is committed `pending` with the channel's cursor before anything else happens →
//!   [`pipeline::worker`] forwards in order, retries, settles (delivered / failed / held) →
//!   [`pipeline::outcomes`], typed events for the log, the UI and Slack. [`pipeline::ForwardConfig`]
//!   configures it all.
//! - [`backoff`]: the one retry policy (jittered, capped) for forwards, Slack and reconnects.
//! - [`server`]: the relay server (`hookrelay serve`, the embedded default).
//! - [`verify`]: signature verification and re-signing.
//! - [`store`]: the SQLite delivery history.
//! - [`curl`]: a request as a curl command, safe to paste (the UI's copy and `export --curl`).
//! - [`export`]: a stored delivery as a curl command, JSON or HAR.
//! - [`port`]: Port payloads and their property diffs.
//! - [`slack`]: Slack incoming-webhook notifications.
//! - [`private_files`]: owner-only files, directories and temporary files.
//! - [`gap_notice`]: a relay's gap announcement in words (a loss only when one was counted).
//! - [`sanitize`]: the one sanitizer for untrusted text shown on a screen or in a log.
//! - [`tui`]: the terminal UI.

pub mod backoff;
pub mod bench;
pub mod cli;
pub mod curl;
pub mod delivery;
pub mod delivery_cache;
pub mod delivery_state;
pub mod demo;
pub mod events;
pub mod export;
pub mod forward;
pub mod forward_error;
pub mod gap_notice;
pub mod logline;
pub mod pipeline;
pub mod port;
pub mod private_files;
pub mod sanitize;
pub mod server;
pub mod slack;
pub mod sse;
pub mod store;
pub mod tls;
pub mod tui;
pub mod verify;
pub mod wire;
