//! What an operator can see of a running host: the connection's state, live metrics kept by the
//! runner, and a view of the component's state taken on request by the runner's own loop (so
//! nothing is copied per event). [`crate::status`] serves it over HTTP.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use autoconfig_runtime::{Callbacks, EventCounters, Served};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, oneshot};

/// Where the connection to the stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Not started yet (loading the state file, checking options).
    Starting,
    /// A request is open, no event stream yet.
    Connecting,
    /// The event stream is open.
    Connected,
    /// Waiting before the next attempt.
    Waiting,
    /// Stopped for good (the key was refused).
    Stopped,
}

impl ConnectionState {
    /// The state's name in `/status`.
    pub fn name(self) -> &'static str {
        match self {
            ConnectionState::Starting => "starting",
            ConnectionState::Connecting => "connecting",
            ConnectionState::Connected => "connected",
            ConnectionState::Waiting => "waiting",
            ConnectionState::Stopped => "stopped",
        }
    }
}

/// Why a connection ended or failed, as the runner saw it (the label of
/// `autoconfig_connection_failures_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureCause {
    /// 401 or 403 on the first connection: the key is invalid.
    InvalidKey,
    /// Any other refused status.
    HttpStatus,
    /// 200 without `text/event-stream`.
    ContentType,
    /// A network or TLS error.
    Network,
    /// The server ended the body.
    EndOfStream,
    /// No byte for the read timeout.
    ReadTimeout,
    /// An event's data was malformed or too large.
    MalformedData,
    /// The server sent `reconnect`.
    ServerReconnect,
    /// Anything else the component closed the connection for.
    Other,
}

impl FailureCause {
    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            FailureCause::InvalidKey => "invalid_key",
            FailureCause::HttpStatus => "http_status",
            FailureCause::ContentType => "content_type",
            FailureCause::Network => "network",
            FailureCause::EndOfStream => "end_of_stream",
            FailureCause::ReadTimeout => "read_timeout",
            FailureCause::MalformedData => "malformed_data",
            FailureCause::ServerReconnect => "server_reconnect",
            FailureCause::Other => "other",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabel {
    cause: &'static str,
}

/// The connection as the runner last reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The state.
    pub state: ConnectionState,
    /// Since when (ms since the Unix epoch).
    pub since: u64,
    /// Requests opened so far (redirects included).
    pub attempts: u64,
    /// The last response's HTTP status.
    pub last_status: Option<u16>,
    /// The last failure and when it happened.
    pub last_failure: Option<(FailureCause, u64)>,
}

/// The component's state, taken by the runner's loop when asked.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// Every environment the proxy was told about, as it serves it now.
    pub served: Vec<Served>,
    /// What the current instance has seen (`None` if asking failed).
    pub counters: Option<EventCounters>,
    /// Callbacks delivered, by kind.
    pub callbacks: Callbacks,
    /// Guest traps so far.
    pub traps: u32,
    /// The guest's linear memory in bytes.
    pub memory_bytes: usize,
    /// When the view was taken (ms since the Unix epoch).
    pub now: u64,
}

/// The runner's end of view requests: answer each with the current [`View`].
#[derive(Debug)]
pub struct ViewRequests(pub(crate) mpsc::Receiver<oneshot::Sender<View>>);

/// The live metrics the runner updates as things happen.
#[derive(Debug)]
struct Live {
    attempts: Counter,
    failures: Family<CauseLabel, Counter>,
    connected: Gauge,
    processing: Histogram,
}

struct Shared {
    live: Live,
    registry: Registry,
    connection: Mutex<Connection>,
    ready: AtomicBool,
    requests: mpsc::Sender<oneshot::Sender<View>>,
    version: String,
    component_sha256: String,
}

/// What an operator can see of the running host; cheap to clone, shared between the runner and
/// the status server.
#[derive(Clone)]
pub struct Telemetry {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("connection", &*self.connection())
            .finish_non_exhaustive()
    }
}

impl Telemetry {
    /// New telemetry for a host of this `version` running the component with this SHA-256;
    /// give the [`ViewRequests`] to the runner.
    pub fn new(version: &str, component_sha256: &str, now: u64) -> (Telemetry, ViewRequests) {
        let live = Live {
            attempts: Counter::default(),
            failures: Family::default(),
            connected: Gauge::default(),
            // 50 µs to about 1.6 s.
            processing: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
        };
        for cause in [
            FailureCause::InvalidKey,
            FailureCause::HttpStatus,
            FailureCause::ContentType,
            FailureCause::Network,
            FailureCause::EndOfStream,
            FailureCause::ReadTimeout,
            FailureCause::MalformedData,
            FailureCause::ServerReconnect,
            FailureCause::Other,
        ] {
            // Every cause from the start, at 0, so dashboards see each series.
            let _ = live.failures.get_or_create(&CauseLabel {
                cause: cause.name(),
            });
        }
        let mut registry = Registry::with_prefix("autoconfig");
        registry.register(
            "connection_attempts",
            "Requests opened to the stream (redirects included)",
            live.attempts.clone(),
        );
        registry.register(
            "connection_failures",
            "Connections that failed or ended, by cause",
            live.failures.clone(),
        );
        registry.register(
            "connected",
            "Whether the event stream is open (1) or not (0)",
            live.connected.clone(),
        );
        registry.register(
            "event_processing_seconds",
            "Time in the component per chunk of the stream: parsing it and applying its events",
            live.processing.clone(),
        );
        let (tx, rx) = mpsc::channel(16);
        let shared = Shared {
            live,
            registry,
            connection: Mutex::new(Connection {
                state: ConnectionState::Starting,
                since: now,
                attempts: 0,
                last_status: None,
                last_failure: None,
            }),
            ready: AtomicBool::new(false),
            requests: tx,
            version: version.to_owned(),
            component_sha256: component_sha256.to_owned(),
        };
        (
            Telemetry {
                shared: Arc::new(shared),
            },
            ViewRequests(rx),
        )
    }

    fn connection_mut(&self) -> MutexGuard<'_, Connection> {
        // The lock guards plain data; a panic elsewhere cannot leave it inconsistent.
        self.shared
            .connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The connection as last reported.
    pub fn connection(&self) -> MutexGuard<'_, Connection> {
        self.connection_mut()
    }

    /// The connection moved to `state` at `now`.
    pub fn set_state(&self, state: ConnectionState, now: u64) {
        let mut c = self.connection_mut();
        if c.state != state {
            c.state = state;
            c.since = now;
        }
        self.shared
            .live
            .connected
            .set(i64::from(state == ConnectionState::Connected));
    }

    /// A request was opened.
    pub fn attempt(&self, now: u64) {
        self.shared.live.attempts.inc();
        self.connection_mut().attempts += 1;
        self.set_state(ConnectionState::Connecting, now);
    }

    /// A response came with this status.
    pub fn response(&self, status: u16) {
        self.connection_mut().last_status = Some(status);
    }

    /// A connection failed or ended for `cause`.
    pub fn failure(&self, cause: FailureCause, now: u64) {
        self.shared
            .live
            .failures
            .get_or_create(&CauseLabel {
                cause: cause.name(),
            })
            .inc();
        self.connection_mut().last_failure = Some((cause, now));
    }

    /// One chunk took the component this long.
    pub fn processed(&self, took: Duration) {
        self.shared.live.processing.observe(took.as_secs_f64());
    }

    /// The proxy has a full set of environments (a `put` was applied or a saved state restored).
    pub fn set_ready(&self) {
        self.shared.ready.store(true, Ordering::Relaxed);
    }

    /// Whether the proxy has a full set of environments.
    pub fn ready(&self) -> bool {
        self.shared.ready.load(Ordering::Relaxed)
    }

    /// The host's version.
    pub fn version(&self) -> &str {
        &self.shared.version
    }

    /// The component's SHA-256.
    pub fn component_sha256(&self) -> &str {
        &self.shared.component_sha256
    }

    /// Asks the runner's loop for a [`View`]; `None` if it does not answer within `timeout`
    /// (busy writing to a blocked stdout, say) or is gone.
    pub async fn view(&self, timeout: Duration) -> Option<View> {
        let (tx, rx) = oneshot::channel();
        let asked = tokio::time::timeout(timeout, self.shared.requests.send(tx)).await;
        if !matches!(asked, Ok(Ok(()))) {
            return None;
        }
        tokio::time::timeout(timeout, rx).await.ok()?.ok()
    }

    /// The metrics in the OpenMetrics text format (which Prometheus reads), the live ones and
    /// those of `view`.
    pub fn metrics_text(&self, view: Option<&View>) -> String {
        use prometheus_client::encoding::text::{encode, encode_registry};
        let mut text = String::new();
        let _ = encode_registry(&mut text, &self.shared.registry);
        let mut scraped = Registry::with_prefix("autoconfig");
        scraped.register_collector(Box::new(ScrapeCollector {
            view: view.cloned(),
            version: self.shared.version.clone(),
            component_sha256: self.shared.component_sha256.clone(),
        }));
        let _ = encode(&mut text, &scraped);
        text
    }
}

/// The metrics taken from a [`View`] at scrape time.
#[derive(Debug)]
struct ScrapeCollector {
    view: Option<View>,
    version: String,
    component_sha256: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InfoLabels {
    version: String,
    component_sha256: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NameLabel {
    name: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

impl prometheus_client::collector::Collector for ScrapeCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;

        let info = ConstGauge::new(1i64);
        let labels = InfoLabels {
            version: self.version.clone(),
            component_sha256: self.component_sha256.clone(),
        };
        let mut m = encoder.encode_descriptor(
            "build_info",
            "The host's version and the component's SHA-256",
            None,
            info.metric_type(),
        )?;
        info.encode(m.encode_family(&labels)?)?;

        let Some(view) = &self.view else {
            return Ok(());
        };
        let gauge = |encoder: &mut prometheus_client::encoding::DescriptorEncoder,
                     name: &str,
                     help: &str,
                     value: i64|
         -> Result<(), std::fmt::Error> {
            let g = ConstGauge::new(value);
            let m = encoder.encode_descriptor(name, help, None, g.metric_type())?;
            g.encode(m)
        };
        let count = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        gauge(
            &mut encoder,
            "environments",
            "Environments the proxy serves",
            count(view.served.len()),
        )?;
        let pending = view
            .served
            .iter()
            .filter(|s| !s.key_expired)
            .filter(|s| {
                s.params
                    .expiring_sdk_key
                    .as_ref()
                    .is_some_and(|x| x.expires_at.is_some())
            })
            .count();
        gauge(
            &mut encoder,
            "pending_expiries",
            "Old SDK keys whose expiry is still to come",
            count(pending),
        )?;
        gauge(
            &mut encoder,
            "guest_memory_bytes",
            "The component's linear memory",
            count(view.memory_bytes),
        )?;
        let traps = ConstCounter::new(u64::from(view.traps));
        let m = encoder.encode_descriptor(
            "guest_traps",
            "Component instances lost to a trap and replaced",
            None,
            traps.metric_type(),
        )?;
        traps.encode(m)?;

        let c = view.callbacks;
        let mut m = encoder.encode_descriptor(
            "callbacks",
            "Callbacks delivered to the proxy, by kind",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (kind, value) in [
            ("add", c.add),
            ("update", c.update),
            ("delete", c.delete),
            ("ready", c.ready),
            ("key_expired", c.key_expired),
            ("reset", c.reset),
        ] {
            ConstCounter::new(value).encode(m.encode_family(&KindLabel { kind })?)?;
        }

        if let Some(e) = &view.counters {
            let mut m = encoder.encode_descriptor(
                "events",
                "SSE events received by the current component instance, by name",
                None,
                prometheus_client::metrics::MetricType::Counter,
            )?;
            for (name, value) in [
                ("put", e.put_events),
                ("patch", e.patch_events),
                ("delete", e.delete_events),
                ("reconnect", e.reconnect_events),
                ("other", e.other_events),
            ] {
                ConstCounter::new(value).encode(m.encode_family(&NameLabel { name })?)?;
            }
            let malformed = ConstCounter::new(e.malformed_events);
            let m = encoder.encode_descriptor(
                "malformed_events",
                "put, patch and delete events whose data was malformed or too large",
                None,
                malformed.metric_type(),
            )?;
            malformed.encode(m)?;
            if let Some(at) = e.last_event_at {
                let age = ConstGauge::new(view.now.saturating_sub(at) as f64 / 1000.0);
                let m = encoder.encode_descriptor(
                    "last_event_age_seconds",
                    "Seconds since the last SSE event",
                    None,
                    age.metric_type(),
                )?;
                age.encode(m)?;
            }
        }
        Ok(())
    }
}
