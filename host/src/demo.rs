//! A built-in auto-configuration stream on 127.0.0.1 that plays a script of events: the
//! `--demo` story, or a user's own script (`autoconfig-host serve --script FILE`) for testing an
//! embedding without a real account.
//!
//! A script is JSON: `{"connections": [[STEP, ...], ...]}`. Connection *n* to the server plays
//! list *n* (the last list again for any later connection). A step is
//! `{"delayMs": N, "event": "put", "data": ..., "id": "..."}`, `{"delayMs": N, "comment": "..."}`
//! or `{"delayMs": N, "close": true}` (end the response: the client sees EOF); a connection whose
//! first step is `{"delayMs": N, "status": 401}` is answered with that status instead. `data` is a
//! string sent as is, or any other JSON value sent as its text. In `data`, the token
//! `"{{now+N}}"` (quotes included) becomes the number of ms since the Unix epoch N ms after the
//! step is sent, so expiry timestamps can be relative. When the last step of the last list has
//! been played, the story is over ([`ScriptServer::finished`]); the connection then stays open
//! with a heartbeat comment every 15 s.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, watch};

/// The story `--demo` plays.
pub const DEMO_SCRIPT: &str = include_str!("demo-story.json");

/// A script of SSE connections.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Script {
    /// What the script shows.
    #[serde(default)]
    pub description: String,
    /// One list of steps per connection.
    pub connections: Vec<Vec<ScriptStep>>,
}

/// One step of a connection.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScriptStep {
    /// Wait this long before the step.
    #[serde(default)]
    pub delay_ms: u64,
    /// Send an event of this name.
    #[serde(default)]
    pub event: Option<String>,
    /// The event's data.
    #[serde(default)]
    pub data: Option<Box<RawValue>>,
    /// The event's `id:` field.
    #[serde(default)]
    pub id: Option<String>,
    /// Send a comment line instead.
    #[serde(default)]
    pub comment: Option<String>,
    /// End the response here.
    #[serde(default)]
    pub close: bool,
    /// Answer the connection with this HTTP status and an empty body instead of an event
    /// stream (only in a connection's first step; its other fields are ignored).
    #[serde(default)]
    pub status: Option<u16>,
}

/// Why a script could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScriptError {
    /// Not valid script JSON.
    #[error("invalid script")]
    Parse(#[source] serde_json::Error),
    /// No connection in it.
    #[error("invalid script: it has no connections")]
    Empty,
    /// The listener could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl Script {
    /// Parses a script.
    pub fn parse(text: &str) -> Result<Script, ScriptError> {
        let script: Script = serde_json::from_str(text).map_err(ScriptError::Parse)?;
        if script.connections.is_empty() {
            return Err(ScriptError::Empty);
        }
        Ok(script)
    }
}

struct Shared {
    script: Script,
    connections: AtomicUsize,
    finished: watch::Sender<bool>,
}

/// A running script server.
#[derive(Debug)]
pub struct ScriptServer {
    addr: SocketAddr,
    finished: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl ScriptServer {
    /// Starts serving `script` on `addr` (port 0 picks a free port).
    pub async fn start(script: Script, addr: SocketAddr) -> Result<ScriptServer, ScriptError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ScriptError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ScriptError::Bind { addr, source })?;
        let (finished_tx, finished) = watch::channel(false);
        let shared = Arc::new(Shared {
            script,
            connections: AtomicUsize::new(0),
            finished: finished_tx,
        });
        let app = Router::new()
            .route("/relay_auto_config", get(stream))
            .with_state(shared);
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("script server stopped: {e}");
            }
        });
        Ok(ScriptServer {
            addr,
            finished,
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URI to give as `--stream-uri`.
    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Completes when the last step of the last connection has been played.
    pub async fn finished(&self) {
        let mut rx = self.finished.clone();
        let _ = rx.wait_for(|done| *done).await;
    }

    /// Stops the server.
    pub fn stop(self) {
        self.task.abort();
    }
}

async fn stream(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let authorized = headers
        .get(header::AUTHORIZATION)
        .is_some_and(|v| !v.is_empty());
    if !authorized {
        return (StatusCode::UNAUTHORIZED, "missing Authorization").into_response();
    }
    let index = shared.connections.fetch_add(1, Ordering::SeqCst);
    let count = shared.script.connections.len();
    let steps = shared.script.connections[index.min(count - 1)].clone();
    let last = index + 1 >= count;
    if let Some(first) = steps.first()
        && let Some(status) = first.status
    {
        tokio::time::sleep(Duration::from_millis(first.delay_ms)).await;
        if last {
            let _ = shared.finished.send(true);
        }
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, "").into_response();
    }
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let shared_for_task = Arc::clone(&shared);
    tokio::spawn(async move {
        for step in steps {
            tokio::time::sleep(Duration::from_millis(step.delay_ms)).await;
            if step.close {
                return;
            }
            if tx.send(Bytes::from(frame(&step))).await.is_err() {
                return;
            }
        }
        if last {
            let _ = shared_for_task.finished.send(true);
        }
        loop {
            tokio::time::sleep(Duration::from_secs(15)).await;
            if tx.send(Bytes::from_static(b":heartbeat\n")).await.is_err() {
                return;
            }
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|bytes| (Ok::<_, Infallible>(bytes), rx))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// The SSE text of one step.
pub fn frame(step: &ScriptStep) -> String {
    let mut out = String::new();
    if let Some(comment) = &step.comment {
        for line in comment.lines() {
            out.push(':');
            out.push_str(line);
            out.push('\n');
        }
    }
    if let Some(event) = &step.event {
        out.push_str("event: ");
        out.push_str(event);
        out.push('\n');
        let data = step
            .data
            .as_ref()
            .map(|raw| data_text(raw.get()))
            .unwrap_or_default();
        for line in data.split('\n') {
            out.push_str("data: ");
            out.push_str(line.strip_suffix('\r').unwrap_or(line));
            out.push('\n');
        }
        if let Some(id) = &step.id {
            out.push_str("id: ");
            out.push_str(id);
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// The data text of a raw JSON value, with `"{{now+N}}"` tokens replaced.
fn data_text(raw: &str) -> String {
    let text = if raw.starts_with('"') {
        serde_json::from_str::<String>(raw).unwrap_or_default()
    } else {
        raw.to_owned()
    };
    substitute_now(&text, now_ms())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Replaces `"{{now}}"` and `"{{now+N}}"` (quotes included) by `now` + N.
pub fn substitute_now(text: &str, now: u64) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("\"{{now") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 6..];
        let Some(end) = after.find("}}\"") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let offset = &after[..end];
        let value = if offset.is_empty() {
            Some(now)
        } else {
            offset
                .strip_prefix('+')
                .and_then(|n| n.trim().parse::<u64>().ok())
                .map(|n| now.saturating_add(n))
        };
        match value {
            Some(v) => out.push_str(&v.to_string()),
            None => out.push_str(&rest[start..start + 6 + end + 3]),
        }
        rest = &after[end + 3..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_script_parses() {
        let script = Script::parse(DEMO_SCRIPT).expect("valid");
        assert!(script.connections.len() >= 2);
    }

    #[test]
    fn now_tokens_become_numbers() {
        assert_eq!(
            substitute_now(r#"{"t":"{{now+3000}}","u":"{{now}}"}"#, 1000),
            r#"{"t":4000,"u":1000}"#
        );
        assert_eq!(
            substitute_now(r#""{{now+x}}" "{{now"#, 5),
            r#""{{now+x}}" "{{now"#
        );
    }

    #[test]
    fn frames_are_sse() {
        let step: ScriptStep = serde_json::from_str(r#"{"event":"patch","data":{"a":1},"id":"7"}"#)
            .expect("valid step");
        assert_eq!(frame(&step), "event: patch\ndata: {\"a\":1}\nid: 7\n\n");
        let step: ScriptStep =
            serde_json::from_str(r#"{"event":"reconnect","data":"x\ny"}"#).expect("valid");
        assert_eq!(frame(&step), "event: reconnect\ndata: x\ndata: y\n\n");
        let step: ScriptStep = serde_json::from_str(r#"{"comment":"hi"}"#).expect("valid");
        assert_eq!(frame(&step), ":hi\n");
    }
}
