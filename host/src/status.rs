//! `--listen ADDR`: health, readiness, status and metrics over HTTP for operators.
//!
//! | path | answers |
//! |---|---|
//! | `/healthz` | 200 while the process runs |
//! | `/readyz` | 200 once the proxy has a full set of environments (a `put` was applied or a saved state restored), else 503 |
//! | `/status` | JSON: version and component hash, connection state and since when, attempts, last status and failure, last event time, environments (id, names, version, keys masked to their last 4 characters), pending expiries, counters |
//! | `/metrics` | the OpenMetrics text format (Prometheus reads it) |
//!
//! Keys never appear in full: `/status` shows them as `…` plus their last 4 characters.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use relay_autoconfig_types::mask::Last4;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::telemetry::{Telemetry, View};

/// How long `/status` and `/metrics` wait for the runner's loop.
const VIEW_TIMEOUT: Duration = Duration::from_secs(2);

/// At most this many connections are served at once; more wait in the kernel's backlog, so a
/// flood of idle clients cannot take the file descriptors the stream needs.
const MAX_CONNECTIONS: usize = 32;

/// A connection that neither sends nor receives a byte for this long is closed (slow or idle
/// clients, half-sent headers).
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// At most this many `/status` documents (which name every environment) are built at once.
const MAX_STATUS_BUILDS: usize = 2;

#[derive(Clone)]
struct Shared {
    telemetry: Telemetry,
    builds: Arc<Semaphore>,
}

/// The routes, on `telemetry`.
pub fn router(telemetry: Telemetry) -> Router {
    let shared = Shared {
        telemetry,
        builds: Arc::new(Semaphore::new(MAX_STATUS_BUILDS)),
    };
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .with_state(shared)
}

/// Serves the routes on `listener` until the task is dropped, at most `MAX_CONNECTIONS` (32) at
/// once, each closed after `IDLE_TIMEOUT` (10 s) without a byte either way.
pub async fn serve(listener: TcpListener, telemetry: Telemetry) -> io::Result<()> {
    let limited = Limited {
        inner: listener,
        permits: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
    };
    axum::serve(limited, router(telemetry)).await
}

/// A listener that holds a permit per open connection.
struct Limited {
    inner: TcpListener,
    permits: Arc<Semaphore>,
}

impl axum::serve::Listener for Limited {
    type Io = Guarded;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Guarded, SocketAddr) {
        loop {
            let Ok(permit) = Arc::clone(&self.permits).acquire_owned().await else {
                // The semaphore is never closed; wait rather than spin if it were.
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            };
            match self.inner.accept().await {
                Ok((io, addr)) => return (Guarded::new(io, permit), addr),
                // Out of descriptors, a reset before accept, ...: try again shortly.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection with its permit and an idle deadline, pushed back by every byte moved.
struct Guarded {
    io: TcpStream,
    _permit: OwnedSemaphorePermit,
    idle: Pin<Box<Sleep>>,
}

impl Guarded {
    fn new(io: TcpStream, permit: OwnedSemaphorePermit) -> Self {
        Guarded {
            io,
            _permit: permit,
            idle: Box::pin(tokio::time::sleep(IDLE_TIMEOUT)),
        }
    }

    /// Fails once the connection was idle too long (and arms the wake-up for that moment).
    fn check_idle(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        match self.idle.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "idle status connection",
            )),
            Poll::Pending => Ok(()),
        }
    }

    fn progressed(&mut self) {
        self.idle.as_mut().reset(Instant::now() + IDLE_TIMEOUT);
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        match polled {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                self.progressed();
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match self.check_idle(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
            other => other,
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.io).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.progressed();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending => match self.check_idle(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

async fn readyz(State(Shared { telemetry: t, .. }): State<Shared>) -> Response {
    if t.ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

async fn metrics(State(Shared { telemetry: t, .. }): State<Shared>) -> Response {
    let view = t.view(VIEW_TIMEOUT).await;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        t.metrics_text(view.as_ref()),
    )
        .into_response()
}

async fn status(
    State(Shared {
        telemetry: t,
        builds,
    }): State<Shared>,
) -> Response {
    let Ok(_build) = builds.try_acquire() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            "busy: other /status requests are being answered\n",
        )
            .into_response();
    };
    let view = t.view(VIEW_TIMEOUT).await;
    let code = if view.is_some() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(status_json(&t, view.as_ref()))).into_response()
}

/// A key as `…` plus its last 4 characters.
fn masked(key: &str) -> String {
    format!("…{}", Last4(key))
}

/// The `/status` document.
pub fn status_json(t: &Telemetry, view: Option<&View>) -> Value {
    let c = t.connection().clone();
    let mut doc = json!({
        "version": t.version(),
        "componentSha256": t.component_sha256(),
        "ready": t.ready(),
        "connection": {
            "state": c.state.name(),
            "since": c.since,
            "attempts": c.attempts,
            "lastStatus": c.last_status,
            "lastFailure": c.last_failure.map(|(cause, at)| json!({"cause": cause.name(), "at": at})),
        },
    });
    let Some(view) = view else {
        doc["error"] = json!("the runner did not answer in time; only the connection is shown");
        return doc;
    };
    let environments: Vec<Value> = view
        .served
        .iter()
        .map(|s| {
            let p = &s.params;
            json!({
                "envId": p.env_id,
                "envKey": p.env_key,
                "envName": p.env_name,
                "projectKey": p.project_key,
                "projectName": p.project_name,
                "version": p.version,
                "sdkKey": masked(&p.sdk_key),
                "mobileKey": masked(&p.mobile_key),
                "expiringSdkKey": p.expiring_sdk_key.as_ref().map(|x| json!({
                    "key": masked(&x.key),
                    "expiresAt": x.expires_at,
                    "expired": s.key_expired,
                })),
            })
        })
        .collect();
    let pending: Vec<Value> = view
        .served
        .iter()
        .filter(|s| !s.key_expired)
        .filter_map(|s| {
            let x = s.params.expiring_sdk_key.as_ref()?;
            let at = x.expires_at?;
            Some(json!({"envId": s.params.env_id, "key": masked(&x.key), "expiresAt": at}))
        })
        .collect();
    let cb = view.callbacks;
    doc["now"] = json!(view.now);
    doc["lastEventAt"] = json!(view.counters.as_ref().and_then(|e| e.last_event_at));
    doc["environments"] = json!(environments);
    doc["pendingExpiries"] = json!(pending);
    doc["events"] = match &view.counters {
        Some(e) => json!({
            "put": e.put_events,
            "patch": e.patch_events,
            "delete": e.delete_events,
            "reconnect": e.reconnect_events,
            "other": e.other_events,
            "malformed": e.malformed_events,
        }),
        None => Value::Null,
    };
    doc["callbacks"] = json!({
        "add": cb.add,
        "update": cb.update,
        "delete": cb.delete,
        "ready": cb.ready,
        "keyExpired": cb.key_expired,
        "reset": cb.reset,
    });
    doc["guestTraps"] = json!(view.traps);
    doc["guestMemoryBytes"] = json!(view.memory_bytes);
    doc
}
