//! The sans-IO stream client (the WIT `stream` interface): everything between the socket and
//! [`Machine`], minus the I/O.
//!
//! The host reports what happened ([`Stream::on_response`], [`Stream::on_body`],
//! [`Stream::on_closed`], [`Stream::on_timeout`], each with `now`) and gets a [`Step`]: close the
//! connection, open this request, stop, and when to call back. The policy, in one place:
//!
//! | what happened | what the client does |
//! |---|---|
//! | `start` | connect at once (or after the backoff for `prior_failures`) |
//! | 200 + `text/event-stream` | connected: read timeout armed, normal curve, reset after 60 s up |
//! | 301/302/303/307/308, same origin, < 10 in a row | connect to `Location` at once |
//! | 401/403, never connected yet | stop: [`StopReason::InvalidKey`] |
//! | 401/403 after the stream had worked | keep the state, retry on the slow curve (5 min → 1 h) |
//! | any other status, a wrong content type, a cross-origin redirect | back off |
//! | body bytes | parse SSE; each event goes to the [`Machine`]; any byte re-arms the read timeout |
//! | `retry: N` | new base delay, clamped to 100 ms..30 s (the failure count is kept) |
//! | a `reconnect` event | disconnect, reconnect after the base delay |
//! | malformed or oversized `put`/`patch`/`delete` | disconnect, back off |
//! | end of body, network error, read timeout | back off (1 s doubling to 30 s, jitter 0-50 %) |
//!
//! Every log line goes through the machine's log side (`Machine::logging`): its level filter and
//! the rate limits of Rule 9 (docs/rules.md), which this client shares. Heartbeats, `retry:`
//! lines, ignored oversized events and calls that do not fit the protocol are limited to 10 a
//! minute each, then summed up; connection changes never are. Header values and errors from the
//! network are cut (`Quoted`, `SafeMessage`, [`url::redact`]).
//!
//! One clock: `now`, wall-clock ms since the Unix epoch. Expiry timers are wall-clock instants;
//! the reconnect wait and the read timeout are durations from the `now` they started at. When
//! `now` goes backwards those are shifted back by the same amount, so a stepped-back clock never
//! stretches a wait; a forward jump ends them early (at most one early reconnect).

pub mod backoff;
pub mod sse;
pub mod url;

use alloc::string::String;
use alloc::vec::Vec;

use crate::handler::{Handler, Level};
use crate::machine::{Kind, Log, Machine, RestartReason};
use crate::mask::{Last4, Quoted, SafeMessage};
use backoff::{Backoff, Jitter};
pub use relay_autoconfig_types::stream::{Request, Step, StopReason, StreamOptions};
use sse::{Item, Parser};
use url::Url;

/// Redirects followed in a row before the response counts as a failure.
pub const MAX_REDIRECTS: u8 = 10;

/// Where the connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Conn {
    /// Waiting to connect at `until`.
    Waiting { until: u64 },
    /// A request is open; no response yet. `redirects` followed so far.
    Requesting { url: Url, since: u64, redirects: u8 },
    /// The event stream is open; the last byte came at `last_byte`.
    Open { last_byte: u64 },
    /// Stopped for good.
    Stopped,
}

/// The stream client.
#[derive(Debug, Clone)]
pub struct Stream {
    url: Url,
    key: String,
    read_timeout: u64,
    conn: Conn,
    parser: Parser,
    backoff: Backoff,
    jitter: Jitter,
    /// Whether a stream ever opened (a later 401/403 is not fatal).
    ever_connected: bool,
    /// The latest `now` seen, to notice a clock going backwards.
    last_now: u64,
}

impl Stream {
    /// Validates `options` and starts: the returned step asks for the first connection (or
    /// waits first, when `prior_failures` > 0). `max_event_bytes` is the data size limit.
    /// `previous` is the client this one replaces: its last event id is kept unless `options`
    /// gives one.
    pub fn start(
        options: &StreamOptions,
        max_event_bytes: u64,
        previous: Option<&Stream>,
        now: u64,
        h: &mut impl Handler,
    ) -> Result<(Stream, bool), String> {
        let url = Url::stream(&options.stream_uri).map_err(|reason| {
            alloc::format!(
                "stream-uri {} is not a valid stream URI: {reason}",
                Quoted(&url::redact(&options.stream_uri))
            )
        })?;
        if options.key.is_empty() {
            return Err("key: the auto-configuration key is empty".into());
        }
        if !is_header_value(&options.key) {
            return Err(
                "key: the auto-configuration key contains characters not allowed in an HTTP header"
                    .into(),
            );
        }
        if options.read_timeout_ms == 0 {
            return Err("read-timeout-ms: must be more than 0".into());
        }
        let last_event_id = options
            .last_event_id
            .clone()
            .or_else(|| previous.and_then(|p| p.parser.last_event_id().map(String::from)));
        let mut parser = Parser::with_last_event_id(last_event_id);
        parser.set_max_event_bytes(limit_for(max_event_bytes));
        let mut stream = Stream {
            url,
            key: options.key.clone(),
            read_timeout: options.read_timeout_ms,
            conn: Conn::Waiting { until: now },
            parser,
            backoff: Backoff::new(options.initial_retry_delay_ms),
            jitter: Jitter::new(options.jitter_seed),
            ever_connected: previous.is_some_and(|p| p.ever_connected),
            last_now: now,
        };
        if options.initial_retry_delay_ms > backoff::MAX_MS {
            h.log(
                Level::Warn,
                format_args!(
                    "The initial retry delay of {} ms is over the longest wait of {} ms; using {} ms",
                    options.initial_retry_delay_ms,
                    backoff::MAX_MS,
                    backoff::MAX_MS
                ),
            );
        }
        if options.prior_failures > 0 {
            stream
                .backoff
                .assume_failures(options.prior_failures.saturating_sub(1));
            let delay = stream.backoff.next_delay(now, &mut stream.jitter);
            stream.conn = Conn::Waiting {
                until: now.saturating_add(delay),
            };
            log_wait(h, delay);
        }
        let was_open = previous.is_some_and(|p| p.is_open());
        Ok((stream, was_open))
    }

    /// Changes the data size limit (from new settings).
    pub fn set_max_event_bytes(&mut self, max_event_bytes: u64) {
        self.parser.set_max_event_bytes(limit_for(max_event_bytes));
    }

    /// Whether a request is open.
    pub fn is_open(&self) -> bool {
        matches!(self.conn, Conn::Requesting { .. } | Conn::Open { .. })
    }

    /// The committed last event id.
    pub fn last_event_id(&self) -> Option<&str> {
        self.parser.last_event_id()
    }

    /// The first step after [`Stream::start`]: connect now, or when the wait ends.
    pub fn first_step(
        &mut self,
        disconnect: bool,
        machine: &mut Machine,
        now: u64,
        h: &mut impl Handler,
    ) -> Step {
        machine.logging(h, now, |machine, h| self.first(disconnect, machine, now, h))
    }

    /// [`Stream::first_step`] within a call's log side (see [`Machine::logging`]).
    pub(crate) fn first(
        &mut self,
        disconnect: bool,
        machine: &Machine,
        now: u64,
        h: &mut impl Log,
    ) -> Step {
        let mut step = Step {
            disconnect,
            ..Step::default()
        };
        if let Conn::Waiting { until } = self.conn
            && until <= now
        {
            step.connect = Some(self.connect(now, h));
        }
        self.finish(step, machine)
    }

    /// The open request got its response headers.
    pub fn on_response(
        &mut self,
        status: u16,
        content_type: Option<&str>,
        location: Option<&str>,
        machine: &mut Machine,
        now: u64,
        h: &mut impl Handler,
    ) -> Step {
        machine.logging(h, now, |machine, h| {
            self.response(status, content_type, location, machine, now, h)
        })
    }

    /// [`Stream::on_response`] within a call's log side.
    fn response(
        &mut self,
        status: u16,
        content_type: Option<&str>,
        location: Option<&str>,
        machine: &Machine,
        now: u64,
        h: &mut impl Log,
    ) -> Step {
        self.observe(now);
        let mut step = Step::default();
        let (url, redirects) = match &self.conn {
            Conn::Requesting { url, redirects, .. } => (url.clone(), *redirects),
            _ => {
                h.limited(
                    Kind::ResponseWithoutRequest,
                    Level::Warn,
                    format_args!("Ignoring a response (HTTP {status}) while no request is open"),
                );
                return self.finish(step, machine);
            }
        };
        step.disconnect = true;
        match status {
            200 => {
                let content_type = content_type.unwrap_or("");
                if is_event_stream(content_type) {
                    step.disconnect = false;
                    self.ever_connected = true;
                    self.backoff.connected(now);
                    self.parser.reset_connection();
                    self.conn = Conn::Open { last_byte: now };
                    h.log(
                        Level::Info,
                        format_args!("Connected to auto-configuration stream"),
                    );
                } else {
                    h.log(
                        Level::Warn,
                        format_args!(
                            "Unexpected error on auto-configuration stream: content type {} is not text/event-stream",
                            Quoted(content_type)
                        ),
                    );
                    self.back_off(now, h);
                }
            }
            401 | 403 if !self.ever_connected => {
                h.log(
                    Level::Error,
                    format_args!(
                        "Invalid auto-configuration key; cannot get environments (HTTP {status})"
                    ),
                );
                self.conn = Conn::Stopped;
                step.stop = Some(StopReason::InvalidKey);
            }
            401 | 403 => {
                h.log(
                    Level::Error,
                    format_args!(
                        "Invalid auto-configuration key (HTTP {status}) on a stream that had worked; keeping the last known environments and retrying slowly"
                    ),
                );
                self.backoff.use_slow_curve(true);
                self.back_off(now, h);
            }
            301 | 302 | 303 | 307 | 308 => {
                let target = match location.map(|l| url.join(l)) {
                    None => Err("the response has no Location header"),
                    Some(Err(reason)) => Err(reason),
                    Some(Ok(target)) if !url.same_origin(&target) => {
                        Err("it leads to another scheme, host or port")
                    }
                    Some(Ok(_)) if redirects >= MAX_REDIRECTS => Err("too many redirects"),
                    Some(Ok(target)) => Ok(target),
                };
                match target {
                    Ok(target) => {
                        h.log(
                            Level::Debug,
                            format_args!(
                                "Following a redirect (HTTP {status}) to {}",
                                target.redacted()
                            ),
                        );
                        let redirects = redirects.saturating_add(1);
                        step.connect = Some(self.request(&target));
                        self.conn = Conn::Requesting {
                            url: target,
                            since: now,
                            redirects,
                        };
                    }
                    Err(reason) => {
                        h.log(
                            Level::Warn,
                            format_args!(
                                "HTTP error {status} on auto-configuration stream: not following the redirect to {}: {reason}",
                                Quoted(&url::redact(location.unwrap_or("")))
                            ),
                        );
                        self.back_off(now, h);
                    }
                }
            }
            _ => {
                h.log(
                    Level::Warn,
                    format_args!("HTTP error {status} on auto-configuration stream"),
                );
                self.back_off(now, h);
            }
        }
        self.finish(step, machine)
    }

    /// The next bytes of the open stream's body.
    pub fn on_body(
        &mut self,
        chunk: &[u8],
        machine: &mut Machine,
        now: u64,
        h: &mut impl Handler,
    ) -> Step {
        machine.logging(h, now, |machine, h| self.body(chunk, machine, now, h))
    }

    /// [`Stream::on_body`] within a call's log side.
    fn body(&mut self, chunk: &[u8], machine: &mut Machine, now: u64, h: &mut impl Log) -> Step {
        self.observe(now);
        let mut step = Step::default();
        let Conn::Open { last_byte } = &mut self.conn else {
            h.limited(
                Kind::BodyWithoutStream,
                Level::Warn,
                format_args!(
                    "Ignoring {} bytes of body while no event stream is open",
                    chunk.len()
                ),
            );
            return self.finish(step, machine);
        };
        *last_byte = now;
        let id_changes = self.parser.id_changes();
        self.parser.push(chunk);
        while let Some(item) = self.parser.next_item() {
            let ended = match item {
                Item::Event(event) => {
                    match machine.event(&event.event, &event.data, now, h).restart {
                        // The server's own request: the base delay after a connection that
                        // stayed up (the backoff resets after 60 s), growing like any failure
                        // when every connection is asked to reconnect at once.
                        Some(RestartReason::ReconnectRequested) => true,
                        Some(RestartReason::MalformedData) => true,
                        None => false,
                    }
                }
                Item::Comment(_) => {
                    h.limited(
                        Kind::Heartbeat,
                        Level::Debug,
                        format_args!("Heartbeat on auto-configuration stream"),
                    );
                    false
                }
                Item::Retry(ms) => {
                    self.backoff.set_base(ms);
                    h.limited(
                        Kind::RetrySet,
                        Level::Debug,
                        format_args!(
                            "The server set the reconnect delay to {ms} ms (base now {} ms)",
                            self.backoff.base()
                        ),
                    );
                    false
                }
                Item::Oversized { event, .. } => {
                    if matches!(event.as_str(), "put" | "patch" | "delete") {
                        h.log(
                            Level::Error,
                            format_args!(
                                "Received streaming {} event with malformed JSON data (over the limit of {} bytes); will restart stream",
                                Quoted(&event),
                                machine.settings().max_message_bytes
                            ),
                        );
                        true
                    } else {
                        h.limited(
                            Kind::OversizedIgnored,
                            Level::Warn,
                            format_args!(
                                "Ignoring an oversized {} event (over the limit of {} bytes)",
                                Quoted(&event),
                                machine.settings().max_message_bytes
                            ),
                        );
                        false
                    }
                }
            };
            if ended {
                let dropped = self.parser.drain().count();
                if dropped > 0 {
                    h.log(
                        Level::Debug,
                        format_args!(
                            "Discarded {dropped} item(s) received after the connection was ended"
                        ),
                    );
                }
                step.disconnect = true;
                self.back_off(now, h);
                break;
            }
        }
        if self.parser.id_changes() != id_changes {
            step.last_event_id = Some(self.parser.last_event_id().unwrap_or("").into());
        }
        self.finish(step, machine)
    }

    /// The open request ended (`error`: why, or `None` for a clean end of the body).
    pub fn on_closed(
        &mut self,
        error: Option<&str>,
        machine: &mut Machine,
        now: u64,
        h: &mut impl Handler,
    ) -> Step {
        machine.logging(h, now, |machine, h| self.closed(error, machine, now, h))
    }

    /// [`Stream::on_closed`] within a call's log side.
    fn closed(
        &mut self,
        error: Option<&str>,
        machine: &Machine,
        now: u64,
        h: &mut impl Log,
    ) -> Step {
        self.observe(now);
        if self.is_open() {
            match error {
                Some(error) => h.log(
                    Level::Warn,
                    format_args!(
                        "Unexpected error on auto-configuration stream: {}",
                        SafeMessage(error)
                    ),
                ),
                None if matches!(self.conn, Conn::Open { .. }) => h.log(
                    Level::Warn,
                    format_args!(
                        "Unexpected error on auto-configuration stream: the server closed the stream"
                    ),
                ),
                None => h.log(
                    Level::Warn,
                    format_args!(
                        "Unexpected error on auto-configuration stream: the request ended without a response"
                    ),
                ),
            }
            self.back_off(now, h);
        } else {
            h.limited(
                Kind::ClosedWhileClosed,
                Level::Debug,
                format_args!("Ignoring the end of a connection that was already closed"),
            );
        }
        self.finish(Step::default(), machine)
    }

    /// The deadline passed: expiry timers, the read timeout, the end of a reconnect wait.
    pub fn on_timeout(&mut self, machine: &mut Machine, now: u64, h: &mut impl Handler) -> Step {
        machine.logging(h, now, |machine, h| self.timeout(machine, now, h))
    }

    /// [`Stream::on_timeout`] within a call's log side.
    fn timeout(&mut self, machine: &mut Machine, now: u64, h: &mut impl Log) -> Step {
        self.observe(now);
        machine.fire(now, h);
        let mut step = Step::default();
        match self.conn {
            Conn::Waiting { until } if until <= now => {
                step.connect = Some(self.connect(now, h));
            }
            Conn::Requesting { since, .. } if now.saturating_sub(since) >= self.read_timeout => {
                h.log(
                    Level::Warn,
                    format_args!(
                        "Unexpected error on auto-configuration stream: no response within {} ms",
                        self.read_timeout
                    ),
                );
                step.disconnect = true;
                self.back_off(now, h);
            }
            Conn::Open { last_byte } if now.saturating_sub(last_byte) >= self.read_timeout => {
                h.log(
                    Level::Warn,
                    format_args!(
                        "Unexpected error on auto-configuration stream: no data for {} ms (read timeout)",
                        self.read_timeout
                    ),
                );
                step.disconnect = true;
                self.back_off(now, h);
            }
            _ => {}
        }
        self.finish(step, machine)
    }

    /// The next deadline of the connection alone.
    fn deadline(&self) -> Option<u64> {
        match self.conn {
            Conn::Waiting { until } => Some(until),
            Conn::Requesting { since, .. } => Some(since.saturating_add(self.read_timeout)),
            Conn::Open { last_byte } => Some(last_byte.saturating_add(self.read_timeout)),
            Conn::Stopped => None,
        }
    }

    /// Adds the merged deadline to `step`.
    fn finish(&self, mut step: Step, machine: &Machine) -> Step {
        step.next_deadline = match (self.deadline(), machine.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        step
    }

    /// Notes `now`; a clock that went back shifts the waits back by as much.
    fn observe(&mut self, now: u64) {
        if now < self.last_now {
            let back = self.last_now - now;
            match &mut self.conn {
                Conn::Waiting { until } => *until = until.saturating_sub(back),
                Conn::Requesting { since, .. } => *since = since.saturating_sub(back),
                Conn::Open { last_byte } => *last_byte = last_byte.saturating_sub(back),
                Conn::Stopped => {}
            }
            self.backoff.shift_back(back);
        }
        self.last_now = now;
    }

    /// The connection failed or was ended at `now`: wait, then reconnect.
    fn back_off(&mut self, now: u64, h: &mut impl Handler) {
        self.parser.reset_connection();
        let delay = self.backoff.next_delay(now, &mut self.jitter);
        self.conn = Conn::Waiting {
            until: now.saturating_add(delay),
        };
        log_wait(h, delay);
    }

    /// A new request to the stream URL, at `now`.
    fn connect(&mut self, now: u64, h: &mut impl Handler) -> Request {
        h.log(
            Level::Info,
            format_args!(
                "Connecting to auto-configuration stream at {} with key ending in {}",
                self.url.redacted(),
                Last4(&self.key)
            ),
        );
        let url = self.url.clone();
        let request = self.request(&url);
        self.conn = Conn::Requesting {
            url,
            since: now,
            redirects: 0,
        };
        request
    }

    /// The request for `url`, with the headers of every request.
    fn request(&self, url: &Url) -> Request {
        let mut headers = Vec::with_capacity(4);
        headers.push(("Authorization".into(), self.key.clone()));
        headers.push(("Accept".into(), "text/event-stream".into()));
        headers.push(("Cache-Control".into(), "no-cache".into()));
        if let Some(id) = self.parser.last_event_id().filter(|id| is_header_value(id)) {
            headers.push(("Last-Event-ID".into(), id.into()));
        }
        Request {
            url: url.as_str().into(),
            headers,
        }
    }
}

/// The parser's limit for a data limit: the data plus the `'\n'` the parser counts per line.
fn limit_for(max_event_bytes: u64) -> usize {
    usize::try_from(max_event_bytes.saturating_add(1)).unwrap_or(usize::MAX)
}

/// `text/event-stream`, parameters and case ignored.
fn is_event_stream(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("text/event-stream")
}

/// Visible ASCII and spaces/tabs only (what every HTTP stack accepts in a header value), and no
/// leading or trailing whitespace.
fn is_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
        && value.trim() == value
}

/// Logs the wait before the next connection.
fn log_wait(h: &mut impl Handler, delay: u64) {
    h.log(
        Level::Info,
        format_args!("Reconnecting in {}.{:03} s", delay / 1000, delay % 1000),
    );
}
