//! Shared pieces of the runner's integration tests: a raw-bytes SSE test server on 127.0.0.1
//! with per-request scripted responses, short stream timings, and deadline-bounded waits. The
//! recording handler and the event builders are `autoconfig-test-support`'s.

#![allow(
    dead_code,
    unused_imports,
    reason = "each test binary uses a different part of this module"
)]

pub mod process;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use autoconfig_host::runner::{self, Exit, RunError, StreamConfig};
use autoconfig_host::{Driver, Settings};
pub use autoconfig_test_support::events::{delete, env, patch, put, sse as event};
pub use autoconfig_test_support::{Recorder, op, runtime};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// How long any wait on a condition may take before the test fails: generous, so that the suite
/// passes on a fully loaded machine (nothing waits this long when things work).
pub const DEADLINE: Duration = Duration::from_secs(30);

/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(10);

/// Logs to the test output when `RUST_LOG` is set (for debugging a failing test).
pub fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .try_init();
    }
}

// ---------------------------------------------------------------------------------------------
// The SSE test server.
// ---------------------------------------------------------------------------------------------

/// One step of a scripted response body.
#[derive(Debug, Clone)]
pub enum Step {
    /// Send these bytes as one flushed chunk.
    Send(Bytes),
    /// Send these bytes one chunk per byte, pausing between chunks.
    Bytewise(Bytes, Duration),
    /// Wait.
    Sleep(Duration),
    /// Send `chunk` `count` times, `interval` apart (heartbeats).
    Repeat {
        /// The chunk.
        chunk: Bytes,
        /// The pause before each send.
        interval: Duration,
        /// How many sends.
        count: usize,
    },
    /// End the body cleanly (the client sees EOF).
    End,
    /// Drop the connection mid-body (the client sees an incomplete body).
    Abort,
}

/// `Step::Send` of text.
pub fn send(text: impl Into<String>) -> Step {
    Step::Send(Bytes::from(text.into()))
}

/// One scripted response. When its steps run out without [`Step::End`] or [`Step::Abort`], the
/// body stays open (silent) until the client goes away.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub steps: Vec<Step>,
}

impl Reply {
    /// A 200 `text/event-stream` response playing `steps`.
    pub fn sse(steps: Vec<Step>) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type", "text/event-stream".to_owned())],
            steps,
        }
    }

    /// A response with this status and an empty body.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            steps: vec![Step::End],
        }
    }

    /// A redirect to `location`.
    pub fn redirect(status: u16, location: &str) -> Reply {
        Reply {
            status,
            headers: vec![("location", location.to_owned())],
            steps: vec![Step::End],
        }
    }
}

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Request {
    /// When it arrived.
    pub at: Instant,
    /// Its path.
    pub path: String,
    /// Its query, if any.
    pub query: Option<String>,
    /// Its headers.
    pub headers: HeaderMap,
}

impl Request {
    /// A header as text, if present.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }
}

struct Shared {
    replies: Vec<Reply>,
    requests: Mutex<Vec<Request>>,
}

/// A raw-bytes SSE server on 127.0.0.1 (any path). Request *n* gets reply *n*; requests past the
/// end get the last reply again.
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl TestServer {
    /// Starts a server on 127.0.0.1 with a free port. Must run inside a tokio runtime.
    pub async fn start(replies: Vec<Reply>) -> TestServer {
        assert!(
            !replies.is_empty(),
            "a test server needs at least one reply"
        );
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let shared = Arc::new(Shared {
            replies,
            requests: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .fallback(respond)
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the test server runs");
        });
        TestServer { addr, shared, task }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The stream URI to give the runner (`/relay_auto_config` is appended by it).
    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.shared
            .requests
            .lock()
            .expect("the requests lock is not poisoned")
            .clone()
    }

    /// How many requests so far.
    pub fn count(&self) -> usize {
        self.shared
            .requests
            .lock()
            .expect("the requests lock is not poisoned")
            .len()
    }

    /// The gaps between successive requests' arrivals.
    pub fn gaps(&self) -> Vec<Duration> {
        let requests = self.requests();
        requests
            .windows(2)
            .map(|w| w[1].at.duration_since(w[0].at))
            .collect()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn respond(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Response {
    let index = {
        let mut requests = shared
            .requests
            .lock()
            .expect("the requests lock is not poisoned");
        requests.push(Request {
            at: Instant::now(),
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
            headers,
        });
        requests.len() - 1
    };
    let reply = shared.replies[index.min(shared.replies.len() - 1)].clone();
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    tokio::spawn(play(reply.steps, tx));
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = StatusCode::from_u16(reply.status).expect("a valid status code");
    for (name, value) in reply.headers {
        response.headers_mut().insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).expect("a valid header value"),
        );
    }
    response
}

/// Plays a body script into the response channel.
async fn play(steps: Vec<Step>, tx: mpsc::Sender<Result<Bytes, std::io::Error>>) {
    for step in steps {
        let sent = match step {
            Step::Send(bytes) => tx.send(Ok(bytes)).await.is_ok(),
            Step::Bytewise(bytes, pause) => {
                let mut ok = true;
                for i in 0..bytes.len() {
                    if tx.send(Ok(bytes.slice(i..=i))).await.is_err() {
                        ok = false;
                        break;
                    }
                    tokio::time::sleep(pause).await;
                }
                ok
            }
            Step::Sleep(pause) => {
                tokio::time::sleep(pause).await;
                true
            }
            Step::Repeat {
                chunk,
                interval,
                count,
            } => {
                let mut ok = true;
                for _ in 0..count {
                    tokio::time::sleep(interval).await;
                    if tx.send(Ok(chunk.clone())).await.is_err() {
                        ok = false;
                        break;
                    }
                }
                ok
            }
            Step::End => return,
            Step::Abort => {
                let _ = tx
                    .send(Err(std::io::Error::other("the test server drops it")))
                    .await;
                return;
            }
        };
        if !sent {
            return;
        }
    }
    // Hold the body open until the client goes away.
    tx.closed().await;
}

// ---------------------------------------------------------------------------------------------
// Running the runner.
// ---------------------------------------------------------------------------------------------

/// Stream settings with short timings: the shortest backoff the component allows (100 ms),
/// read timeout 5 s.
pub fn fast_config(uri: &str) -> StreamConfig {
    let mut config = StreamConfig::new("test-key", uri);
    config.read_timeout = Duration::from_secs(5);
    config.connect_timeout = Duration::from_secs(2);
    config.initial_retry_delay = Duration::from_millis(100);
    config
}

/// A runner on its own task, with a recording handler.
pub struct Running {
    /// What the handler received.
    pub calls: Recorder,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<Exit, RunError>>,
}

/// Starts `runner::run` with a [`Recorder`] on a new driver (system clock).
pub fn spawn_runner(config: StreamConfig) -> Running {
    spawn_runner_with(config, Settings::default())
}

/// Like [`spawn_runner`], with the component configured with `settings`.
pub fn spawn_runner_with(config: StreamConfig, settings: Settings) -> Running {
    init_logs();
    let calls = Recorder::default();
    let handler = calls.clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut driver = Driver::new(runtime(), handler).expect("a driver on the built component");
        driver.configure(settings).expect("configure");
        let shutdown = async {
            let _ = stopped.await;
        };
        runner::run(&mut driver, &config, shutdown).await
    });
    Running {
        calls,
        stop: Some(stop),
        task,
    }
}

impl Running {
    /// Waits until the callbacks in short form equal `expected`; fails after [`DEADLINE`].
    pub async fn wait_ops(&self, expected: &[&str]) {
        let ok = poll_until(|| self.calls.ops() == expected).await;
        assert!(
            ok,
            "timed out waiting for callbacks {expected:?}; got {:?}",
            self.calls.ops()
        );
    }

    /// Waits for `run` to return by itself (within [`DEADLINE`]).
    pub async fn finished(mut self) -> Exit {
        // `self.stop` stays alive: dropping it would complete the shutdown future.
        let task = &mut self.task;
        tokio::time::timeout(DEADLINE, task)
            .await
            .expect("run() returns within the deadline")
            .expect("the runner task does not panic")
            .expect("run() does not fail")
    }

    /// Completes the shutdown future and waits for `run` to return.
    pub async fn stop(mut self) -> Exit {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.finished().await
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Polls `cond` every 10 ms until it holds (`true`) or [`DEADLINE`] passes (`false`).
pub async fn poll_until(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if cond() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until `cond` holds; fails with `what` after [`DEADLINE`].
pub async fn wait_for(what: &str, cond: impl FnMut() -> bool) {
    assert!(poll_until(cond).await, "timed out waiting for {what}");
}

/// The blocking form of [`poll_until`], for tests that drive a child process.
pub fn poll_until_blocking(deadline: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(POLL);
    }
}
