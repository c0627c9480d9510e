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

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use relay_autoconfig_types::mask::Last4;
use serde_json::{Value, json};

use crate::telemetry::{Telemetry, View};

/// How long `/status` and `/metrics` wait for the runner's loop.
const VIEW_TIMEOUT: Duration = Duration::from_secs(2);

/// The routes, on `telemetry`.
pub fn router(telemetry: Telemetry) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .with_state(telemetry)
}

/// Serves the routes on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, telemetry: Telemetry) -> std::io::Result<()> {
    axum::serve(listener, router(telemetry)).await
}

async fn readyz(State(t): State<Telemetry>) -> Response {
    if t.ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

async fn metrics(State(t): State<Telemetry>) -> Response {
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

async fn status(State(t): State<Telemetry>) -> Response {
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
