//! Integration tests of the stream loop (`runner::run`) against a real HTTP server on 127.0.0.1
//! that streams raw bytes: statuses, dropped connections, the `reconnect` event, malformed data,
//! read timeouts and heartbeats, `Last-Event-ID` and request headers, byte-by-byte and CR/CRLF
//! streams, content types, redirects, `retry:` and timers. Timings are shortened through
//! `StreamConfig`, and every wait is a condition polled up to a deadline.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
        assert!(calls.all().is_empty(), "HTTP {status}: no callbacks");
    }
}

#[tokio::test]
async fn unauthorized_after_success_keeps_state_and_retries_slowly() {
    let server = TestServer::start(vec![
        Reply::sse(vec![send(put(&[("a", 1), ("b", 1)])), Step::End]),
        Reply::status(401),
        Reply::sse(vec![send(put(&[("a", 1), ("b", 2)]))]),
    ])
    .await;
    let config = fast_config(&server.uri());
    let slow_initial = config.backoff.slow_initial;
    let running = spawn_runner(config);
    // The put after the 401 is diffed against the kept state: no delete, no second add.
    running
        .wait_ops(&["add a@1", "add b@1", "ready", "update b@2", "ready"])
        .await;
    assert_eq!(server.count(), 3);
    let gaps = server.gaps();
    assert!(
        gaps[1] >= slow_initial / 2,
        "the retry after a 401 is on the slow curve: {gaps:?}"
    );
    assert_eq!(running.stop().await, Exit::Shutdown);
}

#[tokio::test]
async fn reconnect_event_reconnects_promptly_without_duplicate_callbacks() {
    let both = put(&[("a", 1), ("b", 1)]);
    let mut replies: Vec<Reply> = (0..5).map(|_| Reply::status(500)).collect();
    replies.push(Reply::sse(vec![
        send(both.clone()),
        send(event("reconnect", " ")),
    ]));
    replies.push(Reply::sse(vec![send(both)]));
    let server = TestServer::start(replies).await;
    let mut config = fast_config(&server.uri());
    config.backoff.jitter_ratio = 0.0;
    config.backoff.max = Duration::from_secs(2);
    let running = spawn_runner(config);
    running
        .wait_ops(&["add a@1", "add b@1", "ready", "ready"])
        .await;
    assert_eq!(
        server.count(),
        7,
        "five failures, the connection, one reconnect"
    );
    // Five failures grew the delay to 640 ms; a server-requested reconnect starts again at 20 ms.
    let gaps = server.gaps();
    assert!(
        gaps[5] < ms(400),
        "the reconnect is not delayed by the earlier failures: {gaps:?}"
    );
    tokio::time::sleep(ms(100)).await;
    assert_eq!(server.count(), 7, "the server's reconnect is done once");
    assert_eq!(running.stop().await, Exit::Shutdown);
}

#[tokio::test]
async fn malformed_data_restarts_with_growing_backoff_and_keeps_state() {
    let bad = event("put", "{\"oh no");
    let mut replies = vec![Reply::sse(vec![send(put(&[("a", 1)])), send(bad.clone())])];
    for _ in 0..3 {
        replies.push(Reply::sse(vec![send(bad.clone())]));
    }
    replies.push(Reply::sse(vec![send(put(&[("a", 1)]))]));
    let server = TestServer::start(replies).await;
    let mut config = fast_config(&server.uri());
    config.backoff.jitter_ratio = 0.0;
    config.backoff.max = Duration::from_secs(2);
    let running = spawn_runner(config);
    running.wait_ops(&["add a@1", "ready", "ready"]).await;
    assert_eq!(server.count(), 5);
    let gaps = server.gaps();
    for (gap, at_least) in gaps.iter().zip([20, 40, 80, 160]) {
        assert!(
            *gap >= ms(at_least),
            "malformed-data restarts back off: {gaps:?}"
        );
    }
    assert_eq!(running.stop().await, Exit::Shutdown);
}

#[tokio::test]
async fn read_timeout_drops_a_silent_connection() {
    let server = TestServer::start(vec![Reply::sse(vec![send(put(&[("a", 1)]))])]).await;
    let mut config = fast_config(&server.uri());
    config.read_timeout = ms(300);
    let running = spawn_runner(config);
    running.wait_ops(&["add a@1", "ready"]).await;
    wait_for("a second request after the read timeout", || {
        server.count() >= 2
    })
    .await;
    let gaps = server.gaps();
    assert!(
        gaps[0] >= ms(300),
        "dropped only after the timeout: {gaps:?}"
    );
    running.wait_ops(&["add a@1", "ready", "ready"]).await;
    assert_eq!(running.stop().await, Exit::Shutdown);
}

#[tokio::test]
async fn comment_heartbeats_keep_the_connection_alive() {
    let server = TestServer::start(vec![Reply::sse(vec![
        send(put(&[("a", 1)])),
        Step::Repeat {
            chunk: Bytes::from_static(b":\n"),
            interval: ms(60),
            count: 10,
        },
        Step::Repeat {
            chunk: Bytes::from_static(b": keep-alive\n"),
            interval: ms(60),
            count: 10,
        },
    ])])
    .await;
    let mut config = fast_config(&server.uri());
    config.read_timeout = ms(300);
    let running = spawn_runner(config);
    running.wait_ops(&["add a@1", "ready"]).await;
    // 1.2 s of heartbeats: four read timeouts, none of which may fire.
    tokio::time::sleep(ms(1100)).await;
    assert_eq!(server.count(), 1, "heartbeats reset the read timeout");
    // Once the heartbeats stop, the timeout does fire.
    wait_for("a reconnect after the heartbeats stop", || {
        server.count() >= 2
    })
    .await;
    assert_eq!(running.stop().await, Exit::Shutdown);
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
    assert_eq!(first.calls.all(), second.calls.all());
    assert_eq!((whole.count(), bytewise.count()), (1, 1));
    assert_eq!(first.stop().await, Exit::Shutdown);
    assert_eq!(second.stop().await, Exit::Shutdown);
}

#[tokio::test]
async fn crlf_and_cr_line_ends() {
    let (text, expected) = story();
    for (name, ending, bytewise) in [
        ("CRLF", "\r\n", false),
        ("CR", "\r", false),
        ("CRLF byte by byte", "\r\n", true),
    ] {
        let converted = Bytes::from(text.replace('\n', ending));
        let step = if bytewise {
            Step::Bytewise(converted, ms(1))
        } else {
            Step::Send(converted)
        };
        // The stream stays open after the last blank line: a CR-ended event must be dispatched
        // without waiting to see whether an LF follows.
        let server = TestServer::start(vec![Reply::sse(vec![step])]).await;
        let running = spawn_runner(fast_config(&server.uri()));
        running.wait_ops(&expected).await;
        assert_eq!(server.count(), 1, "{name}");
        assert_eq!(running.stop().await, Exit::Shutdown);
    }
}

#[tokio::test]
async fn a_200_that_is_not_an_event_stream_is_retried() {
    let server = TestServer::start(vec![
        Reply {
            status: 200,
            headers: vec![("content-type", "application/json".to_owned())],
            steps: vec![send(put(&[("a", 1)])), Step::End],
        },
        Reply::sse(vec![send(put(&[("a", 1)]))]),
    ])
    .await;
    let running = spawn_runner(fast_config(&server.uri()));
    running.wait_ops(&["add a@1", "ready"]).await;
    assert_eq!(server.count(), 2);
    tokio::time::sleep(ms(50)).await;
    assert_eq!(
        running.calls.ops(),
        ["add a@1", "ready"],
        "the non-SSE body is never parsed"
    );
    assert_eq!(running.stop().await, Exit::Shutdown);
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
async fn retry_field_sets_the_reconnect_delay() {
    let server = TestServer::start(vec![
        Reply::sse(vec![
            send("retry: 400\n\n"),
            send(put(&[("a", 1)])),
            Step::End,
        ]),
        Reply::sse(vec![send(put(&[("a", 1)]))]),
    ])
    .await;
    let mut config = fast_config(&server.uri());
    config.backoff.max = Duration::from_secs(2);
    let running = spawn_runner(config);
    running.wait_ops(&["add a@1", "ready", "ready"]).await;
    let gaps = server.gaps();
    assert!(
        gaps[0] >= ms(200),
        "retry: 400 with up to half jitter: {gaps:?}"
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
    config.backoff.initial = Duration::from_secs(60);
    config.backoff.max = Duration::from_secs(60);
    let running = spawn_runner(config);
    wait_for("the first request", || server.count() == 1).await;
    let started = std::time::Instant::now();
    assert_eq!(running.stop().await, Exit::Shutdown);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn timers_fire_while_waiting_to_reconnect() {
    let server = TestServer::start(vec![
        Reply::sse(vec![send(rotation_put(300)), Step::End]),
        Reply::status(500),
    ])
    .await;
    let mut config = fast_config(&server.uri());
    config.backoff.initial = Duration::from_secs(2);
    config.backoff.max = Duration::from_secs(2);
    let running = spawn_runner(config);
    running
        .wait_ops(&["add a@1", "ready", "key-expired a sdk-old"])
        .await;
    assert_eq!(
        server.count(),
        1,
        "the key expired during the reconnect delay, with no connection"
    );
    assert_eq!(running.stop().await, Exit::Shutdown);
}

#[tokio::test]
async fn connection_errors_and_missing_responses_are_retried() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // A raw HTTP server: the 1st connection is closed without a response, the 2nd never gets
    // one, the 3rd gets an event stream (close-delimited body).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let uri = format!(
        "http://{}",
        listener
            .local_addr()
            .expect("a bound listener has an address")
    );
    let accepted = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let log = Arc::clone(&accepted);
    let body = put(&[("a", 1)]);
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let n = {
                let mut log = log.lock().expect("not poisoned");
                log.push(Instant::now());
                log.len()
            };
            let mut request = vec![0_u8; 4096];
            let _ = socket.read(&mut request).await;
            match n {
                1 => drop(socket),
                2 => held.push(socket),
                _ => {
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n{body}"
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    held.push(socket);
                }
            }
        }
    });
    let mut config = fast_config(&uri);
    config.read_timeout = ms(300);
    let running = spawn_runner(config);
    running.wait_ops(&["add a@1", "ready"]).await;
    let times = accepted.lock().expect("not poisoned").clone();
    assert_eq!(times.len(), 3);
    assert!(
        times[2].duration_since(times[1]) >= ms(300),
        "a response that never comes is given up after the read timeout"
    );
    assert_eq!(running.stop().await, Exit::Shutdown);
    server.abort();
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

#[tokio::test]
async fn oversized_events_restart_the_stream_with_backoff() {
    use autoconfig_host::Settings;
    // 300 bytes: the component's limit rejects it. 5,000 bytes: the SSE parser drops it
    // before it is even buffered whole (its limit is the component's plus 1 KiB).
    let medium = event(
        "patch",
        &format!(
            r#"{{"path":"/environments/m","data":{{"envId":"m","envName":"{}"}}}}"#,
            "x".repeat(250)
        ),
    );
    let big = event(
        "patch",
        &format!(
            r#"{{"path":"/environments/b","data":{{"envId":"b","envName":"{}"}}}}"#,
            "y".repeat(5_000)
        ),
    );
    let small = event(
        "patch",
        r#"{"path":"/environments/s","data":{"envId":"s","version":1}}"#,
    );
    let server = TestServer::start(vec![
        Reply::sse(vec![send(big), Step::Sleep(ms(5_000))]),
        Reply::sse(vec![send(medium), Step::Sleep(ms(5_000))]),
        Reply::sse(vec![send(small)]),
    ])
    .await;
    let running = common::spawn_runner_with(
        fast_config(&server.uri()),
        Settings {
            max_message_bytes: 200,
            ..Settings::default()
        },
    );
    running.wait_ops(&["add s@1"]).await;
    assert_eq!(
        server.count(),
        3,
        "each oversized event ended its connection"
    );
    let gaps = server.gaps();
    assert!(
        gaps.iter().all(|g| *g >= ms(10)),
        "never a hot loop: {gaps:?}"
    );
    assert_eq!(running.stop().await, Exit::Shutdown);
}
