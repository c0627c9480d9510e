//! Smoke tests of the I/O shell (`runner::run`) against a real HTTP server on 127.0.0.1 that
//! streams raw bytes: a failed status then success, a dropped connection, a refused key, request
//! headers and `Last-Event-ID`, byte-by-byte chunks, redirects, timers and shutdown. The policy
//! itself (backoff, slow curve, `retry:`, read timeout, oversized and malformed data, clock
//! jumps) is tested deterministically in the guest and in the shared corpus `tests/streams/`.
//! No test asserts on elapsed time: every wait is a condition polled up to a generous deadline.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use autoconfig_host::runner::Exit;
use bytes::Bytes;
use common::{
    Reply, Step, TestServer, delete, event, fast_config, patch, put, send, spawn_runner, wait_for,
};
use serde_json::json;

/// Milliseconds.
fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test]
async fn recoverable_statuses_then_success() {
    for status in [400, 404, 500, 503] {
        let server = TestServer::start(vec![
            Reply::status(status),
            Reply::sse(vec![send(put(&[("a", 1)]))]),
        ])
        .await;
        let running = spawn_runner(fast_config(&server.uri()));
        running.wait_ops(&["add a@1", "ready"]).await;
        assert_eq!(
            server.count(),
            2,
            "HTTP {status}: one failed request, one success"
        );
        assert_eq!(running.stop().await, Exit::Shutdown);
    }
}

#[tokio::test]
async fn connection_dropped_mid_event_discards_the_partial_event() {
    // The whole `put` of `a` except the blank line that would dispatch it.
    let full = put(&[("a", 1)]);
    let partial = full
        .strip_suffix('\n')
        .expect("an event ends with a blank line");
    for (how, end) in [("aborted", Step::Abort), ("closed", Step::End)] {
        let server = TestServer::start(vec![
            Reply::sse(vec![send(partial), end.clone()]),
            Reply::sse(vec![send(put(&[("b", 1)]))]),
        ])
        .await;
        let running = spawn_runner(fast_config(&server.uri()));
        running.wait_ops(&["add b@1", "ready"]).await;
        assert_eq!(server.count(), 2, "{how}: one reconnect");
        tokio::time::sleep(ms(100)).await;
        assert_eq!(
            running.calls.ops(),
            ["add b@1", "ready"],
            "{how}: the complete event is delivered once, the partial one never"
        );
        assert_eq!(running.stop().await, Exit::Shutdown);
    }
}

#[tokio::test]
async fn invalid_key_on_the_first_connection_exits() {
    for status in [401, 403] {
        let server = TestServer::start(vec![
            Reply::status(status),
            Reply::sse(vec![send(put(&[("a", 1)]))]),
        ])
        .await;
        let running = spawn_runner(fast_config(&server.uri()));
        let calls = running.calls.clone();
        assert_eq!(running.finished().await, Exit::InvalidKey, "HTTP {status}");
        assert_eq!(server.count(), 1, "HTTP {status}: no retry");
        assert!(calls.calls().is_empty(), "HTTP {status}: no callbacks");
    }
}

#[tokio::test]
async fn last_event_id_and_request_headers() {
    let with_id = format!(
        "{}id: abc\n\n",
        put(&[("a", 1)])
            .strip_suffix('\n')
            .expect("an event ends with a blank line")
    );
    let server = TestServer::start(vec![
        Reply::sse(vec![send(with_id), Step::Abort]),
        Reply::sse(vec![send(put(&[("a", 1)]))]),
    ])
    .await;
    let running = spawn_runner(fast_config(&server.uri()));
    running.wait_ops(&["add a@1", "ready", "ready"]).await;
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].header("last-event-id"), None);
    assert_eq!(requests[1].header("last-event-id").as_deref(), Some("abc"));
    for request in &requests {
        assert_eq!(request.path, "/relay_auto_config");
        assert_eq!(request.header("authorization").as_deref(), Some("test-key"));
        assert_eq!(
            request.header("accept").as_deref(),
            Some("text/event-stream")
        );
        assert_eq!(request.header("cache-control").as_deref(), Some("no-cache"));
        let agent = request.header("user-agent").unwrap_or_default();
        assert!(agent.starts_with("autoconfig-host/"), "{agent:?}");
    }
    assert_eq!(running.stop().await, Exit::Shutdown);
}

/// A stream exercising put, patch, a comment and delete, with LF line ends, and its callbacks.
fn story() -> (String, [&'static str; 5]) {
    let text = [
        put(&[("a", 1), ("b", 1)]),
        patch("b", 2),
        ": a comment\n".to_owned(),
        delete("a", 2),
    ]
    .concat();
    (
        text,
        ["add a@1", "add b@1", "ready", "update b@2", "delete a"],
    )
}

#[tokio::test]
async fn events_split_byte_by_byte_give_the_same_callbacks() {
    let (text, expected) = story();
    let whole = TestServer::start(vec![Reply::sse(vec![send(text.clone())])]).await;
    let bytewise = TestServer::start(vec![Reply::sse(vec![Step::Bytewise(
        Bytes::from(text),
        ms(1),
    )])])
    .await;
    let first = spawn_runner(fast_config(&whole.uri()));
    let second = spawn_runner(fast_config(&bytewise.uri()));
    first.wait_ops(&expected).await;
    second.wait_ops(&expected).await;
    assert_eq!(first.calls.calls(), second.calls.calls());
    assert_eq!((whole.count(), bytewise.count()), (1, 1));
    assert_eq!(first.stop().await, Exit::Shutdown);
    assert_eq!(second.stop().await, Exit::Shutdown);
}

#[tokio::test]
async fn a_redirect_to_another_host_is_not_followed() {
    let other = TestServer::start(vec![Reply::sse(vec![send(put(&[("evil", 1)]))])]).await;
    // `localhost` is another host name than `127.0.0.1`, yet reaches the other server.
    let resolved: Vec<std::net::SocketAddr> =
        std::net::ToSocketAddrs::to_socket_addrs(&("localhost", other.port()))
            .expect("localhost resolves")
            .collect();
    assert!(
        resolved.iter().any(|a| a.ip().is_loopback() && a.is_ipv4()),
        "this test needs localhost to resolve to 127.0.0.1: {resolved:?}"
    );
    let server = TestServer::start(vec![
        Reply::redirect(
            307,
            &format!("http://localhost:{}/relay_auto_config", other.port()),
        ),
        Reply::sse(vec![send(put(&[("a", 1)]))]),
    ])
    .await;
    let running = spawn_runner(fast_config(&server.uri()));
    running.wait_ops(&["add a@1", "ready"]).await;
    assert_eq!(server.count(), 2, "the refused redirect is retried");
    assert_eq!(other.count(), 0, "the other host never sees the key");
    assert_eq!(running.stop().await, Exit::Shutdown);
}

#[tokio::test]
async fn a_redirect_on_the_same_host_is_followed() {
    let server = TestServer::start(vec![
        Reply::redirect(307, "/moved/relay_auto_config"),
        Reply::sse(vec![send(put(&[("a", 1)]))]),
    ])
    .await;
    let running = spawn_runner(fast_config(&server.uri()));
    running.wait_ops(&["add a@1", "ready"]).await;
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].path, "/moved/relay_auto_config");
    assert_eq!(
        requests[1].header("authorization").as_deref(),
        Some("test-key")
    );
    assert_eq!(running.stop().await, Exit::Shutdown);
}

#[tokio::test]
async fn timers_fire_without_stream_traffic() {
    let server = TestServer::start(vec![Reply::sse(vec![send(rotation_put(300))])]).await;
    let running = spawn_runner(fast_config(&server.uri()));
    running
        .wait_ops(&["add a@1", "ready", "key-expired a sdk-old"])
        .await;
    assert_eq!(server.count(), 1);
    assert_eq!(running.stop().await, Exit::Shutdown);
}

#[tokio::test]
async fn shutdown_during_a_backoff_wait_is_prompt() {
    let server = TestServer::start(vec![Reply::status(500)]).await;
    let mut config = fast_config(&server.uri());
    // The longest normal wait: the stop must not wait for it (stop() fails after DEADLINE).
    config.initial_retry_delay = Duration::from_secs(30);
    let running = spawn_runner(config);
    wait_for("the first request", || server.count() == 1).await;
    assert_eq!(running.stop().await, Exit::Shutdown);
    assert_eq!(server.count(), 1);
}

/// A `put` of `a` whose SDK key was rotated: the old key `sdk-old` expires `in_ms` from now.
fn rotation_put(in_ms: u64) -> String {
    let now = u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_millis(),
    )
    .expect("ms since 1970 fit in u64");
    let mut rotated = common::env("a", 1);
    rotated["sdkKey"] = json!({
        "value": "sdk-new",
        "expiring": {"value": "sdk-old", "timestamp": now + in_ms},
    });
    let data = json!({"path": "/", "data": {"environments": {"a": rotated}}});
    event("put", &data.to_string())
}
