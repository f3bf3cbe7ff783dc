//! The integration tests, in one binary (one link instead of one per file).
//!
//! Support modules first, then one module per area. Each test runs real parts: HTTP servers on
//! loopback, real SSE, SQLite files, the real binary as a process.

mod cli_support;
mod common;
mod nginx_support;
mod redis_support;
mod serve_support;
mod server_support;
mod tui_common;

mod backpressure;
mod crash;
mod curl_paste;
mod delivery_spans;
mod durable;
mod exact_heads;
mod export;
mod faults;
mod forward_errors;
mod history_cli;
mod hostile_relay;
mod log_format;
mod malformed_events;
mod newcomer_cli;
mod output_props;
mod port_diff;
mod port_fixtures;
mod readme;
mod redis_forward_restart;
mod redis_limits;
mod redis_nginx;
mod redis_relay;
mod redis_side_by_side;
mod relay_fidelity;
mod roundtrip;
mod secrets_files;
mod send_sign;
mod server;
mod server_attacks;
mod server_deploy;
mod server_hardening;
mod server_peers;
mod server_shutdown;
mod server_stream;
mod signals;
mod slack_client;
mod slack_gate;
mod slack_message;
mod smee_captures;
mod store;
mod store_inbox;
mod store_writer;
mod targets;
mod tui_snapshots;
mod tui_tmux;
mod tui_update;
mod verify_e2e;
mod verify_fuzz;
mod verify_malformed;
mod verify_props;
mod verify_smee;
mod verify_unsigned_bytes;
mod verify_vectors;
mod write_ahead;
