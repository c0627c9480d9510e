//! The I/O shell around the component's stream client: it opens the requests the component asks
//! for, pushes the response status and body bytes in, and sleeps until the component's deadline.
//! Every decision (SSE framing, backoff, redirects, status codes, read timeout, timers) is the
//! component's; nothing here but I/O.
//!
//! One task does everything, so callbacks are strictly serialised. It sleeps until the next of:
//! the response or a chunk of the body, the component's deadline, or shutdown: no polling.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue, LOCATION};
use tracing::{error, info, warn};

use autoconfig_runtime::{
    Driver, Error, EventCounters, Handler, Level, Request, Settings, StreamOptions,
};

use crate::http::{self, HttpError};
use crate::state_file::{self, Saver};
use crate::telemetry::{ConnectionState, FailureCause, Telemetry, View, ViewRequests};

/// How the runner connects. Its `Debug` shows the key's last 4 characters only.
#[derive(Clone)]
pub struct StreamConfig {
    /// The auto-configuration key, sent raw in `Authorization`.
    pub key: String,
    /// The stream base URI; `/relay_auto_config` is appended.
    pub stream_uri: String,
    /// Reconnect when no byte (a heartbeat comment included) arrives for this long.
    pub read_timeout: Duration,
    /// Give up a connection attempt after this long.
    pub connect_timeout: Duration,
    /// The first reconnect delay (doubling to 30 s; at least 100 ms).
    pub initial_retry_delay: Duration,
    /// Extra CA certificates (PEM) to trust.
    pub ca_file: Option<PathBuf>,
    /// Keep the state in this file (see [`crate::state_file`]).
    pub state_file: Option<PathBuf>,
}

impl StreamConfig {
    /// The defaults for `key` and `stream_uri`: 5 min read timeout, 10 s connect timeout,
    /// 1 s initial retry delay.
    pub fn new(key: impl Into<String>, stream_uri: impl Into<String>) -> Self {
        StreamConfig {
            key: key.into(),
            stream_uri: stream_uri.into(),
            read_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
            initial_retry_delay: Duration::from_secs(1),
            ca_file: None,
            state_file: None,
        }
    }

    /// The component's `stream-options` for this configuration, with a random jitter seed.
    pub fn options(&self) -> StreamOptions {
        StreamOptions {
            key: self.key.clone(),
            stream_uri: self.stream_uri.clone(),
            initial_retry_delay_ms: millis(self.initial_retry_delay),
            read_timeout_ms: millis(self.read_timeout),
            jitter_seed: fastrand::u64(..),
            last_event_id: None,
            prior_failures: 0,
        }
    }
}

relay_autoconfig_types::debug_with_masked_keys!(StreamConfig {
    stream_uri, read_timeout, connect_timeout, initial_retry_delay, ca_file, state_file;
    masked: key
});

/// How the runner ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The shutdown future completed.
    Shutdown,
    /// The first connection was refused with 401 or 403.
    InvalidKey,
    /// The handler's output is gone (its reader closed stdout): nobody receives the changes.
    OutputClosed,
}

/// Why the runner could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The HTTP client could not be set up.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The component refused an option (the message names it).
    #[error("invalid stream option: {0}")]
    Options(String),
    /// The component failed and could not be restarted.
    #[error(transparent)]
    Component(#[from] Error),
    /// The state file is in use by another process, or cannot be locked.
    #[error(transparent)]
    StateFile(#[from] state_file::StateFileError),
}

/// A response on its way.
type Pending = Pin<Box<dyn Future<Output = reqwest::Result<reqwest::Response>> + Send>>;
/// An open response body.
type Body = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// The one connection, if any.
enum Connection {
    /// Waiting for the response headers.
    Pending(Pending),
    /// Reading the body.
    Body(Body),
}

/// What happened on the connection.
enum Io {
    /// The response headers arrived.
    Response(reqwest::Response),
    /// A chunk of the body.
    Chunk(Bytes),
    /// The request or the body ended: `None` for a clean end.
    Closed(Option<String>),
}

/// Runs the stream until `shutdown` completes or the key is refused at the first connection.
/// The driver's state (the last known environments) survives every reconnect.
pub async fn run<H: Handler>(
    driver: &mut Driver<H>,
    config: &StreamConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<Exit, RunError> {
    run_observed(driver, config, Observer::default(), shutdown).await
}

/// What the runner reports to (for `--listen`): the telemetry it updates, and the view requests
/// it answers from its own loop. The default reports nowhere.
#[derive(Debug, Default)]
pub struct Observer {
    telemetry: Option<Telemetry>,
    requests: Option<ViewRequests>,
}

impl Observer {
    /// Reports to `telemetry` and answers `requests`.
    pub fn new(telemetry: Telemetry, requests: ViewRequests) -> Self {
        Observer {
            telemetry: Some(telemetry),
            requests: Some(requests),
        }
    }

    fn note(&self, f: impl FnOnce(&Telemetry)) {
        if let Some(t) = &self.telemetry {
            f(t);
        }
    }
}

/// Like [`run`], reporting to `observer`.
pub async fn run_observed<H: Handler>(
    driver: &mut Driver<H>,
    config: &StreamConfig,
    mut observer: Observer,
    shutdown: impl Future<Output = ()>,
) -> Result<Exit, RunError> {
    let client = http::client(config.ca_file.as_ref(), config.connect_timeout)?;
    let mut options = config.options();
    if config.state_file.is_some() {
        // The options are checked before the saved state is announced.
        check_options(driver, config)?;
    }
    let _lock = match &config.state_file {
        Some(path) => Some(state_file::lock(path)?),
        None => None,
    };
    let mut saver = match &config.state_file {
        Some(path) => {
            let (saver, last_event_id) = load_state(driver, path)?;
            options.last_event_id = last_event_id;
            Some(saver)
        }
        None => None,
    };
    let now = now_ms();
    let mut step = driver.start(&options, now)?.map_err(RunError::Options)?;
    let mut connection: Option<Connection> = None;
    let mut at_connect: Option<EventCounters> = None;
    let mut requests = observer.requests.take();
    tokio::pin!(shutdown);
    loop {
        if driver.handler().output_broken() {
            return Ok(Exit::OutputClosed);
        }
        if driver.readies() > 0 {
            observer.note(Telemetry::set_ready);
        }
        // Each step's actions are applied once; only its deadline stays for the wait below.
        if std::mem::take(&mut step.disconnect) {
            connection = None;
        }
        if step.stop.take().is_some() {
            observer.note(|t| t.set_state(ConnectionState::Stopped, now_ms()));
            return Ok(Exit::InvalidKey);
        }
        if let Some(request) = step.connect.take() {
            observer.note(|t| t.attempt(now_ms()));
            connection = Some(Connection::Pending(open(&client, request)));
        }
        if connection.is_none() {
            // Ended by the component, the server or the network: waiting for the next attempt.
            observer.note(|t| t.set_state(ConnectionState::Waiting, now_ms()));
        }
        let save_at = saver.as_mut().and_then(|s| save_if_due(driver, s));
        let wait = step
            .next_deadline
            .map(|at| at.saturating_sub(now_ms()).min(86_400_000));
        let io = tokio::select! {
            io = next_io(&mut connection) => io,
            _ = sleep(wait) => {
                let open = connection.is_some();
                step = driver.on_timeout(now_ms())?;
                if open && step.disconnect {
                    observer.note(|t| t.failure(FailureCause::ReadTimeout, now_ms()));
                }
                continue;
            }
            _ = sleep_until(save_at) => continue,
            Some(reply) = next_request(&mut requests) => {
                let _ = reply.send(view(driver));
                continue;
            }
            _ = &mut shutdown => {
                if let Some(saver) = saver.as_mut() {
                    save(driver, saver);
                }
                return Ok(Exit::Shutdown);
            }
        };
        let now = now_ms();
        step = match io {
            Io::Response(response) => {
                let header = |name| {
                    response
                        .headers()
                        .get(name)
                        .and_then(|v: &HeaderValue| v.to_str().ok())
                };
                let status = response.status().as_u16();
                let s = driver.on_response(status, header(CONTENT_TYPE), header(LOCATION), now)?;
                let connected = !s.disconnect && s.connect.is_none() && s.stop.is_none();
                if connected {
                    connection = Some(Connection::Body(Box::pin(response.bytes_stream())));
                    at_connect = observed_counters(driver, &observer);
                }
                observer.note(|t| {
                    t.response(status);
                    match () {
                        () if s.stop.is_some() => t.failure(FailureCause::InvalidKey, now),
                        () if s.disconnect && status != 200 => {
                            t.failure(FailureCause::HttpStatus, now)
                        }
                        () if s.disconnect => t.failure(FailureCause::ContentType, now),
                        () if connected => t.set_state(ConnectionState::Connected, now),
                        () => {}
                    }
                });
                s
            }
            Io::Chunk(bytes) => {
                let started = std::time::Instant::now();
                let s = driver.on_body(&bytes, now)?;
                observer.note(|t| t.processed(started.elapsed()));
                if s.disconnect && observer.telemetry.is_some() {
                    let cause = disconnect_cause(at_connect, driver.counters().ok());
                    observer.note(|t| t.failure(cause, now));
                }
                s
            }
            Io::Closed(reason) => {
                connection = None;
                let cause = match reason {
                    Some(_) => FailureCause::Network,
                    None => FailureCause::EndOfStream,
                };
                observer.note(|t| t.failure(cause, now));
                driver.on_closed(reason.as_deref(), now)?
            }
        };
    }
}

/// Checks the stream options with the component without connecting: a start whose request is
/// never opened, its log lines held back (the real start logs them). `Err(RunError::Options)`
/// names the bad option.
pub fn check_options<H: Handler>(
    driver: &mut Driver<H>,
    config: &StreamConfig,
) -> Result<(), RunError> {
    let settings = driver.settings();
    driver.configure(Settings {
        log_level: Level::Error,
        ..settings
    })?;
    let checked = driver.start(&config.options(), now_ms());
    driver.configure(settings)?;
    checked?.map(drop).map_err(RunError::Options)
}

/// The next view request, or never when there is no one to ask.
async fn next_request(
    requests: &mut Option<ViewRequests>,
) -> Option<tokio::sync::oneshot::Sender<View>> {
    match requests {
        Some(r) => r.0.recv().await,
        None => std::future::pending().await,
    }
}

/// The component's state for `/status` and `/metrics`.
fn view<H: Handler>(driver: &mut Driver<H>) -> View {
    View {
        served: driver.served(),
        counters: driver.counters().ok(),
        callbacks: driver.callbacks(),
        traps: driver.traps(),
        memory_bytes: driver.memory_bytes(),
        now: now_ms(),
    }
}

/// The event counters when the stream opened, if someone is watching: a chunk that ends the
/// connection is then told apart (malformed data or a server `reconnect`) by comparing with them
/// once, rather than asking the component before every chunk. Any earlier malformed event or
/// `reconnect` would already have ended this connection.
fn observed_counters<H: Handler>(
    driver: &mut Driver<H>,
    observer: &Observer,
) -> Option<EventCounters> {
    observer.telemetry.as_ref()?;
    driver.counters().ok()
}

/// Why a chunk of the body ended the connection: a malformed event or a server `reconnect` since
/// the stream opened.
fn disconnect_cause(before: Option<EventCounters>, after: Option<EventCounters>) -> FailureCause {
    match (before, after) {
        (Some(b), Some(a)) if a.malformed_events > b.malformed_events => {
            FailureCause::MalformedData
        }
        (Some(b), Some(a)) if a.reconnect_events > b.reconnect_events => {
            FailureCause::ServerReconnect
        }
        _ => FailureCause::Other,
    }
}

/// Restores the state file, announcing its environments; a bad file is a warning and a clean
/// start that keeps the file until a valid state exists. Returns the saver and the restored
/// stream's last event id.
fn load_state<H: Handler>(
    driver: &mut Driver<H>,
    path: &std::path::Path,
) -> Result<(Saver, Option<String>), RunError> {
    let keep = |why: &dyn std::fmt::Display| {
        warn!(
            "Ignoring the state file {}: {why}; starting with no environments (the file is kept until the stream gives a valid state)",
            path.display()
        );
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        warn!(
            "The directory of the state file {} does not exist: the state cannot be saved",
            path.display()
        );
    }
    let mut last_event_id = None;
    let writable = match state_file::read(path) {
        Ok(None) => {
            info!("No state file at {} yet: a first start", path.display());
            true
        }
        Ok(Some(bytes)) => match driver.restore(&bytes, true) {
            Ok(Ok(restored)) => {
                info!(
                    "Restored {} environment(s) from the state file {}",
                    restored.environments,
                    path.display()
                );
                last_event_id = restored.last_event_id;
                true
            }
            Ok(Err(reason)) => {
                keep(&reason);
                false
            }
            Err(e) => {
                keep(&format_args!("restoring it failed ({e})"));
                false
            }
        },
        Err(e) => {
            keep(&e);
            false
        }
    };
    Ok((
        Saver::new(path.to_owned(), writable, driver.changes()),
        last_event_id,
    ))
}

/// Writes the state file if a write is due; returns when the next one may happen.
fn save_if_due<H: Handler>(
    driver: &mut Driver<H>,
    saver: &mut Saver,
) -> Option<tokio::time::Instant> {
    if driver.readies() > 0 {
        saver.allow();
    }
    match saver.due(driver.changes(), std::time::Instant::now()) {
        Ok(true) => {
            save(driver, saver);
            None
        }
        Ok(false) => None,
        Err(at) => Some(tokio::time::Instant::from_std(at)),
    }
}

/// Writes the state file now if anything changed since the last write (errors are logged: the
/// next change tries again).
fn save<H: Handler>(driver: &mut Driver<H>, saver: &mut Saver) {
    if driver.readies() > 0 {
        saver.allow();
    }
    if saver.due(driver.changes(), std::time::Instant::now()) == Ok(false) {
        return;
    }
    let changes = driver.changes();
    match driver.snapshot() {
        Ok(bytes) => {
            if let Err(e) = saver.write(&bytes, changes, std::time::Instant::now()) {
                error!("{e}");
            }
        }
        Err(e) => error!("Cannot take a snapshot for the state file: {e}"),
    }
}

/// Sleeps until `at` (forever for `None`).
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Sends `request` (redirects are the component's business: the client follows none).
fn open(client: &reqwest::Client, request: Request) -> Pending {
    let mut builder = client.get(&request.url);
    for (name, value) in &request.headers {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(name), Ok(mut value)) => {
                value.set_sensitive(name == reqwest::header::AUTHORIZATION);
                builder = builder.header(name, value);
            }
            _ => error!("Dropping a header the component asked for: {name:?} is not valid"),
        }
    }
    Box::pin(builder.send())
}

/// The next thing that happens on the connection; never resolves when there is none.
async fn next_io(connection: &mut Option<Connection>) -> Io {
    match connection {
        None => std::future::pending().await,
        Some(Connection::Pending(pending)) => match pending.await {
            Ok(response) => Io::Response(response),
            Err(e) => Io::Closed(Some(describe(&e))),
        },
        Some(Connection::Body(body)) => match body.next().await {
            Some(Ok(bytes)) => Io::Chunk(bytes),
            Some(Err(e)) => Io::Closed(Some(describe(&e))),
            None => Io::Closed(None),
        },
    }
}

/// Sleeps `ms` milliseconds (forever for `None`).
async fn sleep(ms: Option<u64>) {
    match ms {
        Some(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        None => std::future::pending().await,
    }
}

/// A duration in whole milliseconds, saturating.
/// The wall clock, in ms since the Unix epoch (the component's `now`).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(millis)
        .unwrap_or(0)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A reqwest error with its causes, which name the real problem (refused, reset, TLS...). The
/// URL (which may hold credentials) is left out.
fn describe(e: &reqwest::Error) -> String {
    let mut text = String::from(if e.is_connect() {
        "cannot connect"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_body() || e.is_decode() {
        "error reading the body"
    } else {
        "the request failed"
    });
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_masks_the_key() {
        let config = StreamConfig::new("rel-0123456789-abcd", "https://example.test");
        let text = format!("{config:?}");
        assert!(!text.contains("0123456789"), "{text}");
        assert!(text.contains("…abcd"), "{text}");
        assert_eq!(config.options().initial_retry_delay_ms, 1000);
        assert_eq!(config.options().read_timeout_ms, 300_000);
    }
}
