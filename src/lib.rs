//! hookrelay: a byte-exact, Smee-compatible webhook relay with signature verification,
//! Port diffs, Slack notifications, a delivery store and a terminal UI.
//!
//! Module map (find a concept by its file name). Layers point down: the core crate
//! (crates/core: the model and pure formats) at the bottom, then IO, the forward job and the
//! server, then the faces (log, UI, command line) on top.
//!
//! From the core crate, re-exported here:
//! - [`delivery`]: the delivery model (request as sent, attempts, states, ids, verdicts).
//! - [`headers`]: the one hop-by-hop list; the headers that go on to a target.
//! - [`wire`]: the SSE event JSON (smee.io's fields plus the exact request), encode and decode.
//! - [`verify`]: signature verification and re-signing.
//! - [`json_diff`]: a property-level diff of two JSON values.
//! - [`sanitize`]: the one sanitizer for untrusted text shown on a screen or in a log.
//! - [`curl`]: a request as a curl command, safe to paste (the UI's copy and `export --curl`).
//!
//! IO and the jobs:
//! - [`sse`]: the SSE parser (core) and the reconnecting subscription.
//! - [`tls`]: the TLS set-up shared by every HTTPS client.
//! - [`backoff`]: the one retry policy (jittered, capped) for forwards, Slack and reconnects.
//! - [`forward`]: rebuilding a request for the target and sending it; [`forward_error`]: why
//!   a send got no response, as a type.
//! - [`store`]: the SQLite delivery history, which is also the forward job's inbox.
//! - [`delivery_cache`]: deliveries kept in memory, bounded (`--no-store`, the replay cache).
//! - [`events`]: the messages from the IO tasks to the one loop that shows them.
//! - [`pipeline`]: the forward job, in stages: [`pipeline::intake`] decodes each relay event
//!   and derives once (label, Port event, verdict) → [`pipeline::inbox`], the store, where every
//!   delivery is committed `pending` with the channel's cursor before anything else happens →
//!   [`pipeline::worker`] forwards in order, retries, settles (delivered / failed / held) →
//!   [`pipeline::outcomes`], typed events for the log, the UI and Slack. [`pipeline::ForwardConfig`]
//!   configures it all.
//! - [`server`]: the relay server (`hookrelay serve`, the embedded default).
//! - [`port`]: Port payloads, their summaries and property diffs as text.
//! - [`slack`]: Slack incoming-webhook notifications.
//! - [`private_files`]: owner-only files, directories and temporary files.
//! - [`heap`]: when freed memory goes back to the OS (glibc's malloc: thresholds, arenas, trims).
//! - [`proc_mem`]: a process's resident memory from /proc, for benchmarks and memory tests.
//!
//! The faces:
//! - [`human`]: times, sizes and verdict words as a person reads them.
//! - [`gap_notice`]: a relay's gap announcement in words (a loss only when one was counted).
//! - [`logline`]: the plain and JSON log of a forward job.
//! - [`export`]: a stored delivery as a curl command, JSON or HAR.
//! - [`tui`]: the terminal UI.
//! - [`cli`]: the command line; [`demo`]: `hookrelay demo`; [`bench`](mod@bench): `hookrelay bench`.

pub mod backoff;
pub mod bench;
pub mod cli;
pub mod delivery_cache;
pub mod demo;
pub mod events;
pub mod export;
pub mod forward;
pub mod forward_error;
pub mod gap_notice;
pub mod heap;
pub mod human;
pub mod logline;
pub mod pipeline;
pub mod port;
pub mod private_files;
pub mod proc_mem;
pub mod server;
pub mod slack;
pub mod sse;
pub mod store;
pub mod tls;
pub mod tui;

// The core crate (crates/core): the model and the pure formats every layer here stands on.
pub use hookrelay_core::{curl, delivery, headers, json_diff, reply, sanitize, verify, wire};
