//! `autoconfig-host`: runs the relay-autoconfig component against an auto-configuration stream
//! and prints every handler callback on stdout as one JSON line.
//!
//! Exit codes: 0 clean shutdown (SIGINT/SIGTERM, or the end of the `--demo` story), 1 invalid
//! key, 2 bad usage or configuration, 3 any other fatal error.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use autoconfig_host::demo::{DEMO_SCRIPT, Script, ScriptServer};
use autoconfig_host::duration::parse_duration;
use autoconfig_host::output::JsonLines;
use autoconfig_host::runner::{self, Exit, StreamConfig};
use autoconfig_host::{COMPONENT, COMPONENT_SHA256, Driver, Limits, Runtime, Settings, report};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Runs the relay-autoconfig component on an auto-configuration stream and prints each handler
/// callback on stdout as a JSON line.
// No `Debug`: it holds the key.
#[derive(Parser)]
#[command(name = "autoconfig-host", version = VERSION.as_str(), about)]
struct Cli {
    /// The auto-configuration key (sent raw in Authorization).
    #[arg(long, env = "AUTO_CONFIG_KEY", hide_env_values = true)]
    key: Option<String>,
    /// The stream base URI; /relay_auto_config is appended.
    #[arg(
        long,
        env = "STREAM_URI",
        default_value = "https://stream.launchdarkly.com"
    )]
    stream_uri: String,
    /// First reconnect delay (doubles up to 30 s; at least 100ms), e.g. 500ms, 1.5s, 1m30s.
    #[arg(long, default_value = "1s", value_parser = parse_duration, allow_hyphen_values = true)]
    initial_retry_delay: Duration,
    /// Reconnect when nothing (not even a heartbeat) arrives for this long.
    #[arg(long, default_value = "5m", value_parser = parse_duration, allow_hyphen_values = true)]
    read_timeout: Duration,
    /// The component to run instead of the one embedded in this program.
    #[arg(long)]
    component: Option<PathBuf>,
    /// Keep the compiled component in this directory and reuse it on the next start.
    #[arg(long, env = "AUTOCONFIG_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Log level for stderr: error, warn, info, debug, trace, or a RUST_LOG filter.
    #[arg(long, env = "RUST_LOG", default_value = "info", value_parser = parse_log_level)]
    log_level: String,
    /// Extra CA certificates (PEM) to trust for the stream.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Keep the last known environments in this file (written atomically, mode 0600, at most
    /// once a second and at shutdown); at start they are restored and printed before the
    /// stream answers.
    #[arg(long, env = "AUTOCONFIG_STATE_FILE")]
    state_file: Option<PathBuf>,
    /// Event data over this many bytes is treated as malformed.
    #[arg(
        long,
        default_value_t = autoconfig_host::DEFAULT_MAX_MESSAGE_BYTES,
        value_parser = clap::value_parser!(u64).range(1024..=128 * 1024 * 1024)
    )]
    max_message_bytes: u64,
    /// Play a built-in story on a local stream (no key or network needed), then exit 0.
    #[arg(long)]
    demo: bool,
    /// With --demo: play this script instead of the built-in story.
    #[arg(long, requires = "demo")]
    script: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve a script of events as an auto-configuration stream on 127.0.0.1 until stopped.
    Serve {
        /// The script (JSON); default: the built-in demo story.
        #[arg(long)]
        script: Option<PathBuf>,
        /// The port (0 picks a free one; the address is printed on stderr).
        #[arg(long, default_value_t = 8030)]
        port: u16,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_new(&cli.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(|| LogWriter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(filter)
        .with_target(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    runtime.block_on(async_main(cli))
}

async fn async_main(cli: Cli) -> ExitCode {
    // Listen for SIGINT/SIGTERM from the very start: one that arrives while the component
    // compiles is then a clean shutdown (exit 0), not death by the signal.
    let mut signals = Signals::install();
    match cli.command {
        Some(Command::Serve { ref script, port }) => {
            return serve(script.as_ref(), port, &mut signals).await;
        }
        None => {}
    }
    let script = match load_script(cli.script.as_ref(), cli.demo) {
        Ok(script) => script,
        Err(e) => return usage(&format!("{e:#}")),
    };
    let demo = match script {
        Some(script) => {
            match ScriptServer::start(script, SocketAddr::from(([127, 0, 0, 1], 0))).await {
                Ok(server) => Some(server),
                Err(e) => {
                    tracing::error!("{e}");
                    return ExitCode::from(3);
                }
            }
        }
        None => None,
    };
    let (key, stream_uri) = match &demo {
        Some(server) => (
            cli.key.clone().unwrap_or_else(|| "demo-key".into()),
            server.uri(),
        ),
        None => match cli.key.clone().filter(|k| !k.is_empty()) {
            Some(key) => (key, cli.stream_uri.clone()),
            None => {
                return usage(
                    "no auto-configuration key: give --key or set AUTO_CONFIG_KEY (or run --demo)",
                );
            }
        },
    };
    let (bytes, origin) = match &cli.component {
        Some(path) => match std::fs::read(path) {
            Ok(bytes) => {
                let hash = sha256_hex(&bytes);
                (
                    std::borrow::Cow::Owned(bytes),
                    format!("{} (sha256 {hash})", path.display()),
                )
            }
            Err(e) => {
                return usage(&format!(
                    "--component {}: cannot read it: {e}",
                    path.display()
                ));
            }
        },
        None => (
            std::borrow::Cow::Borrowed(COMPONENT),
            format!("embedded (sha256 {COMPONENT_SHA256})"),
        ),
    };
    tracing::info!(
        "autoconfig-host {}, component {origin}",
        env!("CARGO_PKG_VERSION")
    );
    let loaded = match &cli.cache_dir {
        Some(dir) => Runtime::from_bytes_cached(&bytes, Limits::default(), dir),
        None => Runtime::from_bytes(&bytes, Limits::default()),
    };
    let wasm = match loaded {
        Ok(rt) => rt,
        Err(e) if cli.component.is_some() => {
            return usage(&format!("--component: {}", one_line(&report(&e))));
        }
        Err(e) => {
            tracing::error!("{}", report(&e));
            return ExitCode::from(3);
        }
    };
    let mut driver = match Driver::new(&wasm, JsonLines::new(std::io::stdout())) {
        Ok(d) => d,
        Err(e) => return usage(&format!("--component: {}", one_line(&report(&e)))),
    };
    if let Err(e) = driver.configure(Settings {
        max_message_bytes: cli.max_message_bytes,
        log_level: component_log_level(),
        ..Settings::default()
    }) {
        tracing::error!("{}", report(&e));
        return ExitCode::from(3);
    }
    let mut config = StreamConfig::new(key, stream_uri);
    config.read_timeout = cli.read_timeout;
    config.ca_file = cli.ca_file.clone();
    config.initial_retry_delay = cli.initial_retry_delay;
    config.state_file = cli.state_file.clone();
    let shutdown = async {
        match &demo {
            Some(server) => tokio::select! {
                _ = async { server.finished().await; tokio::time::sleep(Duration::from_millis(300)).await } => {
                    tracing::info!("The demo story is over");
                }
                _ = signals.wait() => {}
            },
            None => signals.wait().await,
        }
    };
    let outcome = runner::run(&mut driver, &config, shutdown).await;
    if let Some(server) = demo {
        server.stop();
    }
    match outcome {
        Ok(Exit::Shutdown) => ExitCode::SUCCESS,
        Ok(Exit::InvalidKey) => ExitCode::from(1),
        Ok(Exit::OutputClosed) => {
            tracing::error!("stdout was closed: nobody receives the changes any more; exiting");
            ExitCode::from(3)
        }
        Err(runner::RunError::Options(reason)) => usage(&flag_names(&reason)),
        Err(e @ runner::RunError::Component(_)) => {
            tracing::error!("{}", report(&e));
            ExitCode::from(3)
        }
        Err(e) => usage(&report(&e)),
    }
}

fn load_script(path: Option<&PathBuf>, demo: bool) -> anyhow::Result<Option<Script>> {
    let text = match (path, demo) {
        (Some(path), _) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        (None, true) => DEMO_SCRIPT.to_owned(),
        (None, false) => return Ok(None),
    };
    Ok(Some(Script::parse(&text)?))
}

async fn serve(script: Option<&PathBuf>, port: u16, signals: &mut Signals) -> ExitCode {
    let script = match load_script(script, true) {
        Ok(Some(script)) => script,
        Ok(None) => return usage("no script"),
        Err(e) => return usage(&format!("{e:#}")),
    };
    match ScriptServer::start(script, SocketAddr::from(([127, 0, 0, 1], port))).await {
        Ok(server) => {
            tracing::info!(
                "Serving the script at {} (stream URI {})",
                server.addr(),
                server.uri()
            );
            signals.wait().await;
            server.stop();
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(3)
        }
    }
}

/// The least severe level stderr shows, so the component does not format or send lines that
/// would be filtered out anyway.
fn component_log_level() -> autoconfig_host::Level {
    use tracing::level_filters::LevelFilter;
    match LevelFilter::current() {
        LevelFilter::TRACE => autoconfig_host::Level::Trace,
        LevelFilter::DEBUG => autoconfig_host::Level::Debug,
        LevelFilter::INFO => autoconfig_host::Level::Info,
        LevelFilter::WARN => autoconfig_host::Level::Warn,
        _ => autoconfig_host::Level::Error,
    }
}

/// A log level (`error`, `warn`, `info`, `debug`, `trace`, `off`) or a `tracing` filter with
/// directives (`info,autoconfig=debug`). A misspelt level is refused: it would silence every
/// line, the fatal ones included.
fn parse_log_level(text: &str) -> Result<String, String> {
    const LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];
    let lower = text.trim().to_ascii_lowercase();
    if LEVELS.contains(&lower.as_str()) {
        return Ok(lower);
    }
    let directives: Vec<&str> = lower.split(',').map(str::trim).collect();
    let valid = directives.iter().all(|d| match d.split_once('=') {
        Some((target, level)) => !target.is_empty() && LEVELS.contains(&level),
        None => LEVELS.contains(d),
    });
    if valid && EnvFilter::try_new(&lower).is_ok() {
        Ok(lower)
    } else {
        Err(format!(
            "{text:?} is not a log level: use error, warn, info, debug or trace (or a filter such as info,autoconfig=debug)"
        ))
    }
}

/// The program's and the embedded component's versions, for `--version`.
static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{} (component sha256 {COMPONENT_SHA256})",
        env!("CARGO_PKG_VERSION")
    )
});

/// Lowercase hex SHA-256.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The first line of a message, cut to 300 characters (wasmtime's errors can be long dumps).
fn one_line(message: &str) -> String {
    let first = message.lines().next().unwrap_or("");
    match first.char_indices().nth(300) {
        Some((end, _)) => format!("{}…", &first[..end]),
        None => first.to_owned(),
    }
}

fn usage(message: &str) -> ExitCode {
    use std::io::Write;
    // Not `eprintln!`: it panics when stderr is closed.
    let _ = writeln!(std::io::stderr(), "autoconfig-host: {message}");
    ExitCode::from(2)
}

/// stderr for the logs, never failing: a reader that closed stderr must not crash the host
/// (tracing-subscriber reports a failed write with `eprintln!`, which panics on a closed pipe).
struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// A component option error in the words of the command line: `read-timeout-ms: ...` becomes
/// `--read-timeout: ...`.
fn flag_names(reason: &str) -> String {
    let flags = [
        ("read-timeout-ms", "--read-timeout"),
        ("initial-retry-delay-ms", "--initial-retry-delay"),
        ("stream-uri", "--stream-uri"),
        ("key", "--key"),
    ];
    for (option, flag) in flags {
        if let Some(rest) = reason.strip_prefix(option) {
            return format!("{flag}{rest}");
        }
    }
    reason.to_owned()
}

/// SIGINT and SIGTERM, registered when created (tokio's `ctrl_c` registers on first poll only).
struct Signals {
    #[cfg(unix)]
    listeners: Vec<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listeners = [SignalKind::interrupt(), SignalKind::terminate()]
                .into_iter()
                .filter_map(|kind| signal(kind).ok())
                .collect();
            Signals { listeners }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Resolves when either signal arrives (or arrived since `install`).
    async fn wait(&mut self) {
        #[cfg(unix)]
        {
            if self.listeners.is_empty() {
                return std::future::pending().await;
            }
            let waits = self.listeners.iter_mut().map(|l| Box::pin(l.recv()));
            let _ = futures_util::future::select_all(waits).await;
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
