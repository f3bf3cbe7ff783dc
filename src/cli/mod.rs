//! The command line: clap definitions and dispatch. Each command's work lives in its own file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};

mod demo;
mod embedded;
mod forward;
mod history;
mod options;
mod pending;
mod preflight;
mod send;
mod serve;
mod session;
mod target_opts;

pub use options::{HistoryStore, SecretOpts, StoreOpts, VerifyOpts};
pub use target_opts::TargetOpts;

/// hookrelay: relay, verify, inspect and replay webhooks on your machine.
#[derive(Debug, Parser)]
#[command(name = "hookrelay", version, about, long_about = None)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// With no command, hookrelay forwards (`hookrelay URL TARGET` works like `forward`).
    #[command(flatten)]
    pub forward: ForwardArgs,
    /// Log level for the diagnostic log (or HOOKRELAY_LOG / RUST_LOG). On stderr; for forward
    /// and demo, in hookrelay.log unless the level is debug or trace or the variable is set.
    #[arg(long, global = true, default_value = "info")]
    pub log: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Subscribe to a channel and forward every webhook to your dev server
    /// (with no channel URL: run a relay on loopback and print its URL).
    Forward(ForwardArgs),
    /// Run a self-hosted Smee-compatible relay server.
    Serve(serve::ServeArgs),
    /// See it all work: a relay, a sample dev server and signed Port events, no setup.
    Demo(DemoArgs),
    /// POST a payload to a channel (for scripts and tests).
    Send(send::SendArgs),
    /// Measure latency, a 1 MB event, a burst and memory on loopback (the peers' figures).
    Bench(crate::bench::BenchArgs),
    /// List stored deliveries, newest first.
    List(history::ListArgs),
    /// Show one stored delivery: headers, body, verification, attempts, Slack.
    Show(history::ShowArgs),
    /// Send a stored delivery to the target again (re-signed with --resign), or every pending
    /// one (--pending).
    Replay(history::ReplayArgs),
    /// Print a stored delivery as a curl command, JSON or HAR.
    Export(history::ExportArgs),
    /// Delete old deliveries from the store.
    Prune(history::PruneArgs),
    /// The Port property diff of a delivery, or the diff of two deliveries.
    Diff(history::DiffArgs),
}

/// `hookrelay forward`: flags of pysmee (positional URL and TARGET) and smee-client (-u -t -p -P).
#[derive(Debug, Args, Clone)]
pub struct ForwardArgs {
    /// Channel URL (smee.io, any Smee-compatible relay, or `hookrelay serve`).
    #[arg(value_name = "URL")]
    pub url_pos: Option<String>,
    /// Where to forward (your dev server).
    #[arg(value_name = "TARGET")]
    pub target_pos: Option<String>,
    /// Channel URL (smee-client's flag).
    #[arg(short = 'u', long = "url", conflicts_with = "url_pos")]
    pub url: Option<String>,
    /// Full target URL (smee-client's flag).
    #[arg(short = 't', long = "target", conflicts_with = "target_pos")]
    pub target: Option<String>,
    /// Target port on localhost when no target URL is given.
    #[arg(short = 'p', long, env = "PORT", default_value_t = 3000)]
    pub port: u16,
    /// Target path when no target URL is given.
    #[arg(short = 'P', long, default_value = "/")]
    pub path: String,
    /// Address of the embedded relay (used when no channel URL is given; port 0: the port this
    /// project's channel had last time, else any).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// With the embedded relay: a fresh channel URL instead of the one this project's store
    /// keeps (the new one is kept from then on).
    #[arg(long)]
    pub new_channel: bool,
    /// Deliveries forwarded at once; 1 keeps the sender's order.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// How long a delivery is retried while the target is down (refused, 502, 503, 504).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2m")]
    pub retry_for: Duration,
    /// Time allowed for the target to answer.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub timeout: Duration,
    /// The relay's keep-alive interval; two silent intervals mean a dead connection.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub keepalive: Duration,
    /// Print JSON lines instead of text (never opens the UI).
    #[arg(long)]
    pub json: bool,
    /// Keep the plain log even on a terminal.
    #[arg(long)]
    pub no_tui: bool,
    /// Do not mark replays with `x-hookrelay-replay-of`.
    #[arg(long)]
    pub no_replay_header: bool,
    /// Post a message to this Slack incoming webhook for every Port event whose signature is
    /// valid (or every one, with --slack-all).
    #[arg(
        long,
        env = "HOOKRELAY_SLACK_WEBHOOK",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub slack_webhook: Option<String>,
    /// Without a webhook: print the Slack message each Port event would produce.
    #[arg(long, conflicts_with = "slack_webhook")]
    pub slack_preview: bool,
    /// Tell Slack about every Port event, each marked with its signature verdict (default:
    /// only those whose signature is valid, as Port's guide does).
    #[arg(long)]
    pub slack_all: bool,
    /// Answer for the channel: the relay holds each sender until the target's response comes
    /// back through this subscriber, and answers the sender with it (Port's synchronized
    /// actions). See README "Round trip".
    #[arg(long)]
    pub reply: bool,
    /// With the embedded relay: how long it holds a sender for the answer before `504`.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub reply_timeout: Duration,
    /// Forward only deliveries with these event labels (comma-separated, repeatable; `push`,
    /// `UPDATE entity`, `invoice.*`); the rest are stored as skipped.
    #[arg(long, value_name = "EVENT[,EVENT...]")]
    pub only: Vec<String>,
    /// Do not forward deliveries with these event labels (stored as skipped).
    #[arg(long, value_name = "EVENT[,EVENT...]")]
    pub skip: Vec<String>,
    /// In the UI, list the newest delivery first.
    #[arg(long)]
    pub newest_first: bool,
    /// Subscriber token for a relay run with `serve --subscriber-tokens` (never logged).
    #[arg(
        long,
        env = "HOOKRELAY_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    #[command(flatten)]
    pub target_opts: TargetOpts,
    #[command(flatten)]
    pub verify: VerifyOpts,
    #[command(flatten)]
    pub store: StoreOpts,
}

/// `hookrelay demo`.
#[derive(Debug, Args, Clone)]
pub struct DemoArgs {
    /// Keep the plain log even on a terminal.
    #[arg(long)]
    pub no_tui: bool,
    /// Print JSON lines.
    #[arg(long)]
    pub json: bool,
    /// Pause between sample events.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "700ms")]
    pub interval: Duration,
    /// Where the demo keeps its history (default: `demo.sqlite` in hookrelay's data directory,
    /// started afresh each run and kept after it).
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Also print the Slack message each sample would produce.
    #[arg(long)]
    pub slack_preview: bool,
}

/// Parse arguments and run. Returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    reject_unknown_command(&cli);
    crate::heap::init(match cli.command {
        Some(Command::Serve(_)) => crate::heap::Role::Relay,
        _ => crate::heap::Role::Client,
    });
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hookrelay: cannot start the runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => 0,
        // `hookrelay list | head`: the reader has all it wanted
        Err(e) if history::is_closed_pipe(&e) => 0,
        Err(e) => {
            eprintln!(
                "hookrelay: {}",
                crate::sanitize::display_safe(&error_text(&e))
            );
            1
        }
    }
}

/// With no command, the first word is the channel URL. A bare word (`hookrelay lst`) is neither
/// a URL nor a command: exit with clap's own "unrecognized subcommand" error and its suggestion
/// (`a similar subcommand exists: 'list'`) rather than subscribing to a channel named `lst`.
fn reject_unknown_command(cli: &Cli) {
    if cli.command.is_some() {
        return;
    }
    let Some(word) = &cli.forward.url_pos else {
        return;
    };
    if !is_bare_word(word) {
        return;
    }
    let full = Cli::command();
    let commands = clap::Command::new("hookrelay").subcommands(full.get_subcommands().cloned());
    if let Err(e) = commands.try_get_matches_from(["hookrelay", word.as_str()]) {
        e.exit();
    }
}

/// A word that cannot be a URL: letters, digits, `-` and `_` only.
fn is_bare_word(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
}

/// The error and its causes, `a: b: c`, leaving out a cause whose text is already shown (many
/// errors print their source in their own message, which `{:#}` would repeat).
fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    crate::tls::install_provider();
    let command = cli.command.unwrap_or(Command::Forward(cli.forward));
    let ui = match &command {
        Command::Forward(a) => !a.json && !a.no_tui,
        Command::Demo(a) => !a.json && !a.no_tui,
        _ => false,
    } && crate::tui::tty_available();
    // forward and demo speak for themselves (the UI, or the plain / JSON log on stdout):
    // tracing's own lines go to the log file unless asked for (debug level or HOOKRELAY_LOG)
    let speaks = matches!(&command, Command::Forward(_) | Command::Demo(_));
    let asked = std::env::var_os("HOOKRELAY_LOG").is_some()
        || std::env::var_os("RUST_LOG").is_some()
        || matches!(cli.log.as_str(), "debug" | "trace");
    init_logging(&cli.log, ui || (speaks && !asked));
    match command {
        Command::Forward(a) => forward::run(a).await,
        Command::Serve(a) => serve::serve(a).await,
        Command::Demo(a) => demo::demo(a).await,
        Command::Send(a) => send::run(a).await,
        Command::Bench(a) => crate::bench::run(a).await,
        Command::List(a) => history::list(a),
        Command::Show(a) => history::show(a),
        Command::Replay(a) => history::replay(a).await,
        Command::Export(a) => history::export(a),
        Command::Prune(a) => history::prune(a),
        Command::Diff(a) => history::diff(a),
    }
}

/// Diagnostics go to stderr without colour codes and through the sanitizer
/// ([`crate::sanitize::SafeLines`]), so logged input can never drive the terminal
/// (tracing-subscriber ≥ 0.3.20 escapes ESC too; RUSTSEC-2025-0055). With `to_file` (the UI
/// owns the screen, or forward's own log speaks on stdout in one human format) they go to
/// `hookrelay.log` in the data directory instead.
fn init_logging(level: &str, to_file: bool) {
    let filter = std::env::var("HOOKRELAY_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| format!("hookrelay={level},warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(false)
        .with_target(false);
    if to_file {
        let file = log_file_path().and_then(|p| crate::private_files::open_append(&p).ok());
        match file {
            Some(f) => {
                let safe = crate::sanitize::SafeLines(f);
                let _ = builder.with_writer(std::sync::Mutex::new(safe)).try_init();
            }
            None => {
                let _ = builder.with_writer(std::io::sink).try_init();
            }
        }
        return;
    }
    let _ = builder
        .with_writer(|| crate::sanitize::SafeLines(std::io::stderr()))
        .try_init();
}

/// Where the log goes while the UI is on screen (0600 in a 0700 directory: it names the
/// channel URL).
pub fn log_file_path() -> Option<PathBuf> {
    let dir = dirs::data_dir()?.join("hookrelay");
    crate::private_files::create_own_dir(&dir).ok()?;
    Some(dir.join("hookrelay.log"))
}

impl ForwardArgs {
    /// The channel URL, if one was given (positional or `-u`).
    pub fn channel(&self) -> Option<String> {
        self.url.clone().or_else(|| self.url_pos.clone())
    }

    /// The target URL: `-t`/positional, else `http://127.0.0.1:PORT/PATH`.
    pub fn target_url(&self) -> String {
        self.target
            .clone()
            .or_else(|| self.target_pos.clone())
            .unwrap_or_else(|| {
                let path = if self.path.starts_with('/') {
                    self.path.clone()
                } else {
                    format!("/{}", self.path)
                };
                format!("http://127.0.0.1:{}{path}", self.port)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::{error_text, is_bare_word};

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "Permission denied");
        let inner = anyhow::Error::new(io).context("store file /x: Permission denied");
        let e = inner.context("cannot open the store /x");
        assert_eq!(
            error_text(&e),
            "cannot open the store /x: store file /x: Permission denied"
        );
    }

    #[test]
    fn bare_words_are_not_urls() {
        assert!(is_bare_word("lst") && is_bare_word("my-channel_2"));
        for url in ["https://smee.io/x", "smee.io/x", "localhost:3000", ""] {
            assert!(!is_bare_word(url), "{url}");
        }
    }
}
