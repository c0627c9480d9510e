//! The stream loop: connect to the auto-configuration stream, feed every event to the
//! component, drive its timers, and reconnect with backoff.
//!
//! One task does everything, so callbacks are strictly serialised. It sleeps until the next of:
//! a chunk of the body, the component's next deadline, the read timeout, or shutdown. There is
//! no polling: an idle host wakes only for heartbeats and timers.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderValue, LOCATION};
use tracing::{debug, error, info, warn};

use crate::backoff::{Backoff, BackoffConfig};
use crate::clock::Clock;
use crate::driver::{Driver, RestartReason};
use crate::handler::Handler;
use crate::http::{self, HttpError};
use crate::sse::{Item, Parser};

/// How the runner connects and reconnects. Its `Debug` shows the key's last 4 characters only.
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
    /// Reconnect delays.
    pub backoff: BackoffConfig,
    /// Extra CA certificates (PEM) to trust.
    pub ca_file: Option<PathBuf>,
}

impl StreamConfig {
    /// The defaults for `key` and `stream_uri`: 5 min read timeout, 10 s connect timeout,
    /// 1 s initial retry doubling to 30 s.
    pub fn new(key: impl Into<String>, stream_uri: impl Into<String>) -> Self {
        StreamConfig {
            key: key.into(),
            stream_uri: stream_uri.into(),
            read_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
            backoff: BackoffConfig::default(),
            ca_file: None,
        }
    }
}

relay_autoconfig::debug_with_masked_keys!(StreamConfig {
    stream_uri, read_timeout, connect_timeout, backoff, ca_file;
    masked: key
});

/// How the runner ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The shutdown future completed.
    Shutdown,
    /// The first connection was refused with 401 or 403.
    InvalidKey,
}

/// Why the current connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The server asked for a reconnect.
    Requested,
    /// Bad data, a trap, a network error, EOF or a read timeout: back off.
    Failed,
}

/// Runs the stream until `shutdown` completes or the key is refused at the first connection.
///
/// The driver's state (the last known environments) survives every reconnect.
pub async fn run<H: Handler, C: Clock>(
    driver: &mut Driver<H, C>,
    config: &StreamConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<Exit, HttpError> {
    let url = http::stream_url(&config.stream_uri)?;
    let headers = http::base_headers(&config.key)?;
    let client = http::client(config.ca_file.as_ref(), config.connect_timeout)?;
    let mut parser = Parser::new();
    if let Ok(limit) = usize::try_from(driver.settings().max_message_bytes) {
        parser.set_max_event_bytes(limit.saturating_add(1024));
    }
    let mut backoff = Backoff::new(config.backoff);
    let mut ever_connected = false;
    let mut delay = Duration::ZERO;
    tokio::pin!(shutdown);
    info!("Connecting to auto-configuration stream at {url}");

    loop {
        if !delay.is_zero() {
            info!("Reconnecting in {:.3} s", delay.as_secs_f64());
            let wake = tokio::time::Instant::now() + delay;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(wake) => break,
                    _ = sleep_until_deadline(driver) => tick(driver),
                    _ = &mut shutdown => return Ok(Exit::Shutdown),
                }
            }
        }

        let mut request = client.get(url.clone()).headers(headers.clone());
        if let Some(id) = parser
            .last_event_id()
            .and_then(|id| HeaderValue::from_str(id).ok())
        {
            request = request.header("Last-Event-ID", id);
        }
        let sent = request.send();
        tokio::pin!(sent);
        let response = loop {
            tokio::select! {
                r = tokio::time::timeout(config.read_timeout, &mut sent) => break r,
                _ = sleep_until_deadline(driver) => tick(driver),
                _ = &mut shutdown => return Ok(Exit::Shutdown),
            }
        };
        let response = match response {
            Err(_) => {
                warn!(
                    "Unexpected error on auto-configuration stream: no response within {:?}",
                    config.read_timeout
                );
                delay = backoff.next_delay(Instant::now(), fastrand::f64());
                continue;
            }
            Ok(Err(e)) => {
                warn!(
                    "Unexpected error on auto-configuration stream: {}",
                    describe(&e)
                );
                delay = backoff.next_delay(Instant::now(), fastrand::f64());
                continue;
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            if !ever_connected {
                error!(
                    "Invalid auto-configuration key; cannot get environments (HTTP {})",
                    status.as_u16()
                );
                return Ok(Exit::InvalidKey);
            }
            error!(
                "Invalid auto-configuration key (HTTP {}) on a stream that had worked; keeping the last known environments and retrying slowly",
                status.as_u16()
            );
            backoff.use_slow_curve(true);
            delay = backoff.next_delay(Instant::now(), fastrand::f64());
            continue;
        }
        if status != StatusCode::OK {
            if status.is_redirection() {
                let target = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .unwrap_or("");
                warn!(
                    "HTTP error {} on auto-configuration stream: refusing to follow a redirect to {target:?} (another host, or too many)",
                    status.as_u16()
                );
            } else {
                warn!(
                    "HTTP error {} on auto-configuration stream",
                    status.as_u16()
                );
            }
            delay = backoff.next_delay(Instant::now(), fastrand::f64());
            continue;
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("text/event-stream")
        {
            warn!(
                "Unexpected error on auto-configuration stream: content type {content_type:?} is not text/event-stream"
            );
            delay = backoff.next_delay(Instant::now(), fastrand::f64());
            continue;
        }

        ever_connected = true;
        backoff.use_slow_curve(false);
        backoff.connected(Instant::now());
        parser.reset_connection();
        info!("Connected to auto-configuration stream");
        let mut body = response.bytes_stream();
        let mut idle_until = tokio::time::Instant::now() + config.read_timeout;
        let ended = loop {
            tokio::select! {
                chunk = body.next() => match chunk {
                    Some(Ok(bytes)) => {
                        idle_until = tokio::time::Instant::now() + config.read_timeout;
                        parser.push(&bytes);
                        if let Some(ended) = dispatch(driver, &mut parser, &mut backoff) {
                            break ended;
                        }
                    }
                    Some(Err(e)) => {
                        warn!("Unexpected error on auto-configuration stream: {}", describe(&e));
                        break Ended::Failed;
                    }
                    None => {
                        warn!("Unexpected error on auto-configuration stream: the server closed the stream");
                        break Ended::Failed;
                    }
                },
                _ = tokio::time::sleep_until(idle_until) => {
                    warn!("Unexpected error on auto-configuration stream: no data for {:?} (read timeout)", config.read_timeout);
                    break Ended::Failed;
                }
                _ = sleep_until_deadline(driver) => tick(driver),
                _ = &mut shutdown => return Ok(Exit::Shutdown),
            }
        };
        drop(body);
        let dropped = parser.drain().count();
        if dropped > 0 {
            debug!("Discarded {dropped} item(s) received after the connection was ended");
        }
        delay = match ended {
            Ended::Requested => {
                // The server's own request: reconnect at the base delay, not the grown one.
                backoff.reset();
                backoff.next_delay(Instant::now(), fastrand::f64())
            }
            Ended::Failed => backoff.next_delay(Instant::now(), fastrand::f64()),
        };
    }
}

/// Feeds every parsed item to the component; `Some` when the connection must end.
fn dispatch<H: Handler, C: Clock>(
    driver: &mut Driver<H, C>,
    parser: &mut Parser,
    backoff: &mut Backoff,
) -> Option<Ended> {
    while let Some(item) = parser.next_item() {
        match item {
            Item::Event(event) => match driver.on_event(&event.event, &event.data) {
                Ok(directive) => match directive.restart {
                    Some(RestartReason::ReconnectRequested) => return Some(Ended::Requested),
                    Some(RestartReason::MalformedData) => return Some(Ended::Failed),
                    None => {}
                },
                Err(e) => {
                    error!("{e}; restarting the stream to reload every environment");
                    return Some(Ended::Failed);
                }
            },
            Item::Comment(_) => debug!("Heartbeat on auto-configuration stream"),
            Item::Retry(ms) => {
                debug!("The server set the reconnect delay to {ms} ms");
                backoff.set_base(ms);
            }
            Item::Oversized { event, .. } => {
                if matches!(event.as_str(), "put" | "patch" | "delete") {
                    error!(
                        "Received streaming {event:?} event with malformed JSON data (over the limit of {} bytes); will restart stream",
                        driver.settings().max_message_bytes
                    );
                    return Some(Ended::Failed);
                }
                warn!("Ignoring an oversized {event:?} event");
            }
        }
    }
    None
}

/// Fires the component's due timers; a trap is logged (the next `put` refills the state).
fn tick<H: Handler, C: Clock>(driver: &mut Driver<H, C>) {
    if let Err(e) = driver.tick() {
        error!("{e}");
    }
}

/// A future sleeping until the component's next deadline on the driver's clock (forever when
/// none is pending). Waits are capped at a day; waking early is harmless.
fn sleep_until_deadline<H: Handler, C: Clock>(
    driver: &Driver<H, C>,
) -> impl Future<Output = ()> + use<H, C> {
    let wait = driver
        .next_deadline()
        .map(|at| at.saturating_sub(driver.clock().now_ms()).min(86_400_000));
    async move {
        match wait {
            Some(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            None => std::future::pending::<()>().await,
        }
    }
}

/// A reqwest error with its causes, which name the real problem (refused, reset, TLS...).
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
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
    }
}
