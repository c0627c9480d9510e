//! `autoconfig-host`: runs the relay-autoconfig component against an auto-configuration stream
//! and prints every handler callback on stdout as one JSON line.
//!
//! Exit codes: 0 clean shutdown (SIGINT/SIGTERM, or the end of the `--demo` story), 1 invalid
//! key, 2 bad usage or configuration, 3 any other fatal error.

mod cli;
mod logs;
mod signals;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use autoconfig_host::demo::{DEMO_SCRIPT, Script, ScriptServer};
use autoconfig_host::output::JsonLines;
use autoconfig_host::runner::{self, Exit, Observer, StreamConfig};
use autoconfig_host::telemetry::Telemetry;
use autoconfig_host::{COMPONENT, COMPONENT_SHA256, Driver, Limits, Runtime, Settings, report};

use cli::{Cli, Command, flag_names, one_line, usage};
use signals::Signals;

/// How long a shutdown may take after SIGINT/SIGTERM before the process exits anyway (a reader
/// that stopped reading stdout would otherwise hold it forever).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let filter = match cli::log_filter(&cli) {
        Ok(filter) => filter,
        Err(e) => return usage(&e),
    };
    logs::init(&filter, cli.log_format);
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
    signals::exit_if_shutdown_stalls(SHUTDOWN_GRACE);
    match cli.command {
        Some(Command::Serve { ref script, port }) => {
            return serve(script.as_ref(), port, &mut signals).await;
        }
        None => {}
    }
    if cli.demo && cli.on_command_line("stream_uri") {
        return usage(
            "--stream-uri cannot be used with --demo: the demo plays its own stream on 127.0.0.1",
        );
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
    let key = if cli.demo {
        cli::demo_key(&cli)
    } else {
        cli::key(&cli)
    };
    let key = match key {
        Ok(key) => key,
        Err(e) => return usage(&e),
    };
    let (key, stream_uri) = match (&demo, key) {
        (Some(server), key) => (key.unwrap_or_else(|| "demo-key".into()), server.uri()),
        (None, Some(key)) => (key, cli.stream_uri.clone()),
        (None, None) => {
            return usage(
                "no auto-configuration key: set AUTO_CONFIG_KEY or give --key-file (or run --demo)",
            );
        }
    };
    if let Err(e) = autoconfig_host::http::check_proxy_environment() {
        return usage(&e);
    }
    let listener = match cli.listen {
        Some(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => Some(listener),
            Err(e) => {
                return usage(&format!(
                    "{} {addr}: cannot listen there: {e}",
                    cli.name_of("listen")
                ));
            }
        },
        None => None,
    };
    let (bytes, origin, component_sha256) = match &cli.component {
        Some(path) => match std::fs::read(path) {
            Ok(bytes) => {
                let hash = sha256_hex(&bytes);
                let origin = format!("{} (sha256 {hash})", path.display());
                (std::borrow::Cow::Owned(bytes), origin, hash)
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
            COMPONENT_SHA256.to_owned(),
        ),
    };
    let loaded = match cli::cache_dir(&cli) {
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
    let mut driver = match Driver::new(
        &wasm,
        JsonLines::new(std::io::stdout()).after_each_call(logs::release_held),
    ) {
        Ok(d) => d,
        Err(e) => return usage(&format!("--component: {}", one_line(&report(&e)))),
    };
    if let Err(e) = driver.configure(Settings {
        max_message_bytes: cli.max_message_bytes,
        log_level: logs::component_log_level(),
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
    // Every option is checked before the first log line, so a mistake is one line.
    match runner::check_options(&mut driver, &config) {
        Ok(()) => {}
        Err(runner::RunError::Options(reason)) => return usage(&flag_names(&cli, &reason)),
        Err(e) => {
            tracing::error!("{}", report(&e));
            return ExitCode::from(3);
        }
    }
    if let Some(path) = &config.state_file
        && let Err(e) = autoconfig_host::state_file::check(path)
    {
        return usage(&format!("{}: {}", cli.name_of("state_file"), report(&e)));
    }
    tracing::info!(
        "autoconfig-host {}, component {origin}",
        env!("CARGO_PKG_VERSION")
    );
    cli::key_warnings(&cli);
    if demo.is_some() {
        for var in cli::ignored_by_the_demo(&cli) {
            tracing::warn!("{var} is ignored: --demo plays its own stream on 127.0.0.1");
        }
    }
    if stdout_is_dev_null() {
        tracing::warn!(
            "stdout is /dev/null (or was closed when the host started): the environments are printed nowhere"
        );
    }
    let shutdown = async {
        match &demo {
            Some(server) => tokio::select! {
                _ = async { server.finished().await; tokio::time::sleep(Duration::from_millis(300)).await } => {
                    tracing::info!("The demo story is over");
                }
                name = signals.wait() => tracing::info!("Received {name}; shutting down"),
            },
            None => {
                let name = signals.wait().await;
                tracing::info!("Received {name}; shutting down");
            }
        }
    };
    let observer = match listener {
        Some(listener) => {
            let (telemetry, requests) = Telemetry::new(
                env!("CARGO_PKG_VERSION"),
                &component_sha256,
                runner::now_ms(),
            );
            let addr = listener
                .local_addr()
                .map_or_else(|_| "?".into(), |a| a.to_string());
            if !listener
                .local_addr()
                .is_ok_and(|a| a.ip().to_canonical().is_loopback())
            {
                tracing::warn!(
                    "--listen {addr} is not a loopback address: /status (environment names, masked keys) and /metrics are open to the network"
                );
            }
            tracing::info!("Serving /healthz, /readyz, /status and /metrics on http://{addr}");
            let served = telemetry.clone();
            tokio::spawn(async move {
                if let Err(e) = autoconfig_host::status::serve(listener, served).await {
                    tracing::error!("The status server stopped: {e}");
                }
            });
            Observer::new(telemetry, requests)
        }
        None => Observer::default(),
    };
    let outcome = runner::run_observed(&mut driver, &config, observer, shutdown).await;
    if let Some(server) = demo {
        server.stop();
    }
    match outcome {
        Ok(Exit::Shutdown) => ExitCode::SUCCESS,
        Ok(Exit::InvalidKey) => ExitCode::from(1),
        Ok(Exit::OutputClosed) => {
            tracing::error!(
                "stdout was closed or cannot be written: nobody receives the changes any more; exiting"
            );
            ExitCode::from(3)
        }
        Err(runner::RunError::Options(reason)) => usage(&flag_names(&cli, &reason)),
        Err(e @ runner::RunError::Component(_)) => {
            tracing::error!("{}", report(&e));
            ExitCode::from(3)
        }
        Err(e) => usage(&report(&e)),
    }
}

fn load_script(path: Option<&PathBuf>, demo: bool) -> anyhow::Result<Option<Script>> {
    /// The largest script read.
    const MAX_SCRIPT_BYTES: u64 = 64 << 20;
    let text = match (path, demo) {
        (Some(path), _) => {
            use std::io::Read;
            let fail = || format!("cannot read {}", path.display());
            let file = autoconfig_host::state_file::open_for_reading(path).with_context(fail)?;
            anyhow::ensure!(
                file.metadata().with_context(fail)?.is_file(),
                "{} is not a regular file",
                path.display()
            );
            let mut text = String::new();
            file.take(MAX_SCRIPT_BYTES + 1)
                .read_to_string(&mut text)
                .with_context(fail)?;
            anyhow::ensure!(
                text.len() as u64 <= MAX_SCRIPT_BYTES,
                "{} is larger than 64 MiB",
                path.display()
            );
            text
        }
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

/// Whether stdout is `/dev/null`: redirected there, or closed when the process started (the
/// Rust runtime then opens `/dev/null` in its place, and every line would vanish silently).
fn stdout_is_dev_null() -> bool {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() else {
            return false;
        };
        let (Ok(out), Ok(null)) = (
            std::fs::File::from(fd).metadata(),
            std::fs::metadata("/dev/null"),
        ) else {
            return false;
        };
        out.file_type().is_char_device() && out.rdev() == null.rdev()
    }
    #[cfg(not(unix))]
    false
}

/// Lowercase hex SHA-256.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
