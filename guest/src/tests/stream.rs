//! The stream client: connection policy, backoff, redirects, timeouts and clocks, on a virtual
//! clock.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use proptest::prelude::*;

use super::{Call, Recorder, T0, env_expiring, env_json, params, put};
use crate::stream::backoff::{Backoff, Jitter, MAX_MS, MIN_BASE_MS, SLOW_INITIAL_MS, SLOW_MAX_MS};
use crate::stream::url::Url;
use crate::{Client, Level, Settings, Step, StopReason, StreamOptions};

const KEY: &str = "rel-key-0001";
const READ_TIMEOUT: u64 = 300_000;

fn options() -> StreamOptions {
    StreamOptions {
        key: KEY.into(),
        stream_uri: "http://stream.test".into(),
        initial_retry_delay_ms: 1000,
        read_timeout_ms: READ_TIMEOUT,
        jitter_seed: 1,
        last_event_id: None,
        prior_failures: 0,
    }
}

/// A client, a recorder and a virtual clock.
struct Sim {
    client: Client,
    rec: Recorder,
    now: u64,
}

impl Sim {
    fn started() -> (Sim, Step) {
        Sim::with(options())
    }

    fn with(options: StreamOptions) -> (Sim, Step) {
        let mut sim = Sim {
            client: Client::new(),
            rec: Recorder::default(),
            now: T0,
        };
        let step = sim
            .client
            .start(&options, sim.now, &mut sim.rec)
            .expect("valid options");
        (sim, step)
    }

    /// Started and connected (200 event-stream) at T0.
    fn connected() -> Sim {
        let (mut sim, step) = Sim::started();
        assert!(step.connect.is_some());
        let step = sim.respond(200, "text/event-stream");
        assert!(!step.disconnect, "{:?}", sim.rec.logs);
        sim
    }

    fn at(&mut self, now: u64) -> &mut Self {
        self.now = now;
        self
    }

    fn respond(&mut self, status: u16, content_type: &str) -> Step {
        self.client
            .on_response(status, Some(content_type), None, self.now, &mut self.rec)
    }

    fn redirect(&mut self, status: u16, location: Option<&str>) -> Step {
        self.client
            .on_response(status, None, location, self.now, &mut self.rec)
    }

    fn body(&mut self, text: &str) -> Step {
        self.client
            .on_body(text.as_bytes(), self.now, &mut self.rec)
    }

    fn event(&mut self, name: &str, data: &str) -> Step {
        self.body(&format!("event: {name}\ndata: {data}\n\n"))
    }

    fn closed(&mut self, error: Option<&str>) -> Step {
        self.client.on_closed(error, self.now, &mut self.rec)
    }

    fn timeout(&mut self) -> Step {
        self.client.on_timeout(self.now, &mut self.rec)
    }

    /// Waits for the reconnect the last step scheduled; returns the wait and the request step.
    fn reconnect(&mut self, step: &Step) -> (u64, Step) {
        let until = step.next_deadline.expect("a reconnect deadline");
        let wait = until - self.now;
        self.now = until;
        let step = self.timeout();
        assert!(step.connect.is_some(), "no connect at {until}: {step:?}");
        (wait, step)
    }

    fn logged(&self, level: Level, fragment: &str) -> bool {
        self.rec
            .logs
            .iter()
            .any(|(l, m)| *l == level && m.contains(fragment))
    }

    fn take_calls(&mut self) -> Vec<Call> {
        core::mem::take(&mut self.rec.calls)
    }
}

fn header<'a>(step: &'a Step, name: &str) -> Option<&'a str> {
    step.connect
        .as_ref()?
        .headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// A wait of `delay` with 0-50 % jitter.
fn assert_jittered(wait: u64, delay: u64) {
    assert!(
        wait > delay / 2 && wait <= delay,
        "wait {wait} not in ({}, {delay}]",
        delay / 2
    );
}

#[test]
fn start_connects_at_once_with_the_headers() {
    let (_, step) = Sim::started();
    let request = step.connect.expect("connect");
    assert_eq!(request.url, "http://stream.test/relay_auto_config");
    let headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        headers,
        [
            ("Authorization", KEY),
            ("Accept", "text/event-stream"),
            ("Cache-Control", "no-cache")
        ]
    );
    assert!(!step.disconnect);
    assert_eq!(step.stop, None);
    // No response yet: the read timeout covers the wait for one.
    assert_eq!(step.next_deadline, Some(T0 + READ_TIMEOUT));
}

#[test]
fn start_rejects_bad_options_and_keeps_the_state() {
    type Breaker = fn(&mut StreamOptions);
    let cases: [(Breaker, &str); 7] = [
        (|o| o.key = String::new(), "key"),
        (|o| o.key = "a\nb".into(), "key"),
        (|o| o.stream_uri = "ftp://x".into(), "stream-uri"),
        (|o| o.stream_uri = "http://".into(), "stream-uri"),
        (|o| o.stream_uri = "not a url".into(), "stream-uri"),
        (|o| o.stream_uri = "http://h:99999".into(), "stream-uri"),
        (|o| o.read_timeout_ms = 0, "read-timeout"),
    ];
    let mut sim = Sim::connected();
    sim.event("put", &put(&[("e1", env_json("e1", 1))]));
    for (break_it, names) in cases {
        let mut o = options();
        break_it(&mut o);
        let err = sim
            .client
            .start(&o, sim.now, &mut sim.rec)
            .expect_err("invalid options");
        assert!(err.starts_with(names), "{err}");
        assert!(!err.contains("a\nb"), "{err}");
    }
    // Still connected, still one environment.
    assert_eq!(sim.client.machine().environments().count(), 1);
    let step = sim.body(":heartbeat\n");
    assert!(!step.disconnect);
}

#[test]
fn stream_urls() {
    let u = |s: &str| Url::stream(s).map(|u| u.as_str().to_string());
    assert_eq!(
        u("https://stream.launchdarkly.com/").as_deref(),
        Ok("https://stream.launchdarkly.com/relay_auto_config")
    );
    assert_eq!(
        u("http://h/base?region=eu#frag").as_deref(),
        Ok("http://h/base/relay_auto_config?region=eu")
    );
    assert_eq!(
        u("HTTP://H:8030").as_deref(),
        Ok("http://H:8030/relay_auto_config")
    );
    for bad in [
        "http://",
        "https://",
        "http:///",
        "http://h:x",
        "mailto:a@b",
        "",
        "http://::1:9",
        "http://[fe80::1%25lo]:9",
        "http://a_b<>:9",
        "http://127.0.0.1:0",
        "http://bücher.example",
        "http://-x-.example",
        "http://a..b",
    ] {
        assert!(u(bad).is_err(), "{bad}");
    }
    let long = format!("http://{}", "a".repeat(100_000));
    assert!(u(&long).is_err());
    assert!(Url::stream("http://user:pass@h:1/x").is_err());
    for good in [
        "http://[::1]:8030",
        "http://h.example.",
        "https://xn--bcher-kva.example/x",
    ] {
        assert!(u(good).is_ok(), "{good}");
    }
    let redact = crate::stream::url::redact;
    assert_eq!(redact("http://user:pass@h:1/x?q#f"), "http://***@h:1/x?…");
    assert_eq!(redact("https://h/x?token=secret"), "https://h/x?…");
    assert_eq!(redact("//u:p@h/x"), "//***@h/x");
    assert_eq!(redact("/a@b"), "/a@b");
    assert_eq!(redact("https:/user:pass@h"), "https:/***@h");
    assert_eq!(redact("user:pass@h"), "user:***@h");
}

#[test]
fn credentials_in_the_uri_are_refused_without_being_shown() {
    let mut c = Client::new();
    let mut rec = Recorder::default();
    for uri in [
        "http://user:secret@stream.test",
        "http://user:secret@stream.test:notaport/x",
        "ftp://user:secret@stream.test",
    ] {
        let err = c
            .start(
                &StreamOptions {
                    stream_uri: uri.into(),
                    ..options()
                },
                T0,
                &mut rec,
            )
            .expect_err(uri);
        assert!(err.starts_with("stream-uri"), "{err}");
        assert!(
            !err.contains("secret") && !err.contains("user:secret"),
            "{err}"
        );
    }
    // The key itself is only ever shown by its last 4 characters.
    let (sim, _) = Sim::started();
    let all: String = sim.rec.logs.iter().map(|(_, m)| m.as_str()).collect();
    assert!(!all.contains(KEY), "{all}");
    assert!(all.contains("0001"), "{all}");
}

#[test]
fn a_backslash_cannot_smuggle_another_authority() {
    // HTTP stacks read `\` as `/`: `localhost:9\@stream.test` is the host `localhost:9` to them.
    let (mut sim, _) = Sim::started();
    for location in [
        "http://localhost:9\\@stream.test/x",
        "//localhost:9\\@stream.test/x",
        "http://stream.test\\@localhost:9/",
    ] {
        let step = sim.redirect(302, Some(location));
        assert_eq!(step.connect, None, "{location}");
        assert!(sim.logged(Level::Warn, "backslash"), "{:?}", sim.rec.logs);
        sim.reconnect(&step);
    }
    assert!(Url::stream("http://stream.test\\x").is_err());
}

#[test]
fn redirect_locations_with_credentials_are_masked_in_logs() {
    let (mut sim, _) = Sim::started();
    sim.redirect(302, Some("http://u:hunter2@other.test/x"));
    let all: String = sim.rec.logs.iter().map(|(_, m)| m.as_str()).collect();
    assert!(!all.contains("hunter2"), "{all}");
    assert!(all.contains("***@other.test"), "{all}");
}

#[test]
fn events_flow_to_the_machine_and_rearm_the_read_timeout() {
    let mut sim = Sim::connected();
    sim.at(T0 + 10);
    let step = sim.event("put", &put(&[("e1", env_json("e1", 1))]));
    assert_eq!(
        sim.take_calls(),
        [Call::Add(params("e1", 1)), Call::ReceivedAll]
    );
    assert_eq!(step.next_deadline, Some(T0 + 10 + READ_TIMEOUT));
    // A heartbeat is a byte too.
    sim.at(T0 + 200_000);
    let step = sim.body(":\n");
    assert_eq!(step.next_deadline, Some(T0 + 200_000 + READ_TIMEOUT));
}

#[test]
fn events_split_anywhere_are_reassembled() {
    let mut sim = Sim::connected();
    let text = format!(
        "\u{FEFF}event: put\r\ndata: {}\r\n\r\n",
        put(&[("e1", env_json("e1", 1))])
    );
    for byte in text.as_bytes() {
        sim.client
            .on_body(core::slice::from_ref(byte), sim.now, &mut sim.rec);
    }
    assert_eq!(
        sim.take_calls(),
        [Call::Add(params("e1", 1)), Call::ReceivedAll]
    );
}

#[test]
fn first_401_or_403_stops() {
    for status in [401, 403] {
        let (mut sim, _) = Sim::started();
        let step = sim.respond(status, "text/plain");
        assert_eq!(step.stop, Some(StopReason::InvalidKey));
        assert!(step.disconnect);
        assert_eq!(step.connect, None);
        assert_eq!(step.next_deadline, None);
        assert!(sim.logged(Level::Error, "Invalid auto-configuration key"));
        // Nothing more happens, whatever the host does.
        sim.at(T0 + 3_600_000);
        assert_eq!(sim.timeout(), Step::default());
    }
}

#[test]
fn a_401_after_success_keeps_the_state_and_retries_slowly() {
    let mut sim = Sim::connected();
    sim.event("put", &put(&[("e1", env_json("e1", 1))]));
    sim.take_calls();
    let step = sim.closed(None);
    let (_, _) = sim.reconnect(&step);
    let mut delays = Vec::new();
    for _ in 0..6 {
        let step = sim.respond(401, "text/plain");
        assert_eq!(step.stop, None);
        assert!(step.disconnect);
        let (wait, _) = sim.reconnect(&step);
        delays.push(wait);
    }
    for (wait, delay) in delays.iter().zip([5, 10, 20, 40, 60, 60]) {
        assert_jittered(*wait, delay * 60_000);
    }
    assert_eq!(sim.take_calls(), []);
    assert_eq!(sim.client.machine().environments().count(), 1);
    // Back to the normal curve once the stream works again.
    sim.respond(200, "text/event-stream");
    let step = sim.closed(Some("reset"));
    let (wait, _) = sim.reconnect(&step);
    assert_jittered(wait, 1000);
}

#[test]
fn failures_back_off_doubling_to_30_s() {
    let (mut sim, _) = Sim::started();
    let mut waits = Vec::new();
    for i in 0..8 {
        let step = match i % 4 {
            0 => sim.respond(500, "text/plain"),
            1 => sim.closed(Some("connection refused")),
            2 => sim.respond(200, "application/json"),
            _ => sim.redirect(302, Some("http://elsewhere.test/x")),
        };
        assert_eq!(step.disconnect, i % 4 != 1, "step {i}");
        let (wait, _) = sim.reconnect(&step);
        waits.push(wait);
    }
    for (wait, delay) in waits.iter().zip([1, 2, 4, 8, 16, 30, 30, 30]) {
        assert_jittered(*wait, delay * 1000);
    }
    assert!(sim.logged(Level::Warn, "HTTP error 500"));
    assert!(sim.logged(Level::Warn, "connection refused"));
    assert!(sim.logged(Level::Warn, "is not text/event-stream"));
    assert!(sim.logged(Level::Warn, "another scheme, host or port"));
}

#[test]
fn a_connection_up_60_s_resets_the_backoff() {
    let (mut sim, _) = Sim::started();
    for _ in 0..4 {
        let step = sim.respond(503, "");
        sim.reconnect(&step);
    }
    sim.respond(200, "text/event-stream");
    sim.at(sim.now + 59_999);
    let step = sim.closed(None);
    let (wait, _) = sim.reconnect(&step);
    assert_jittered(wait, 16_000);
    sim.respond(200, "text/event-stream");
    sim.at(sim.now + 60_000);
    let step = sim.closed(None);
    let (wait, _) = sim.reconnect(&step);
    assert_jittered(wait, 1000);
}

#[test]
fn reconnect_event_waits_the_base_delay_after_a_stable_connection_and_backs_off_otherwise() {
    let (mut sim, _) = Sim::started();
    for _ in 0..3 {
        let step = sim.respond(500, "");
        sim.reconnect(&step);
    }
    sim.respond(200, "text/event-stream");
    // Asked to reconnect right after three failures: the fourth delay (1 s doubled three times),
    // so a server that sends `reconnect` on every connection cannot make a loop.
    let step = sim.body("event: reconnect\ndata: \n\nevent: put\ndata: {}\n\n");
    assert!(step.disconnect);
    assert!(sim.logged(Level::Debug, "Discarded 1 item"));
    let (wait, _) = sim.reconnect(&step);
    assert_jittered(wait, 8000);
    // After a connection that stayed up 60 s: the base delay.
    sim.respond(200, "text/event-stream");
    sim.now += 61_000;
    let step = sim.body("event: reconnect\ndata: \n\n");
    assert!(step.disconnect);
    let (wait, _) = sim.reconnect(&step);
    assert_jittered(wait, 1000);
}

#[test]
fn malformed_data_backs_off_and_keeps_the_state() {
    let mut sim = Sim::connected();
    sim.event("put", &put(&[("e1", env_json("e1", 1))]));
    sim.take_calls();
    let mut waits = Vec::new();
    for _ in 0..3 {
        let step = sim.event("put", "{not json");
        assert!(step.disconnect);
        assert_eq!(sim.take_calls(), []);
        let (wait, _) = sim.reconnect(&step);
        waits.push(wait);
        sim.respond(200, "text/event-stream");
    }
    for (wait, delay) in waits.iter().zip([1000, 2000, 4000]) {
        assert_jittered(*wait, delay);
    }
    assert_eq!(sim.client.machine().environments().count(), 1);
}

#[test]
fn oversized_events_end_the_connection_only_for_put_patch_delete() {
    let mut sim = Sim::connected();
    sim.client.configure(Settings {
        max_message_bytes: 64,
        ..Settings::default()
    });
    let big = "x".repeat(65);
    let step = sim.event("message", &big);
    assert!(!step.disconnect);
    assert!(sim.logged(Level::Warn, "Ignoring an oversized \"message\" event"));
    // Exactly at the limit is not oversized (it is just not valid JSON).
    let exact = format!(
        "{{\"path\":\"/\",\"data\":{{\"environments\":{{}}}},\"x\":\"{}\"}}",
        "y".repeat(18)
    );
    assert_eq!(exact.len(), 64);
    let step = sim.event("put", &exact);
    assert!(!step.disconnect, "{:?}", sim.rec.logs);
    assert_eq!(sim.take_calls(), [Call::ReceivedAll]);
    let step = sim.event("patch", &big);
    assert!(step.disconnect);
    assert!(sim.logged(Level::Error, "over the limit of 64 bytes"));
}

#[test]
fn retry_sets_the_base_with_a_floor_and_keeps_the_failure_count() {
    let (mut sim, _) = Sim::with(StreamOptions {
        initial_retry_delay_ms: 100,
        ..options()
    });
    // A server that says `retry: 0` and drops the connection, forever: the base is raised to
    // 1 s (a server cannot ask for less) and keeps doubling.
    let mut waits = Vec::new();
    for _ in 0..7 {
        sim.respond(200, "text/event-stream");
        sim.body("retry: 0\n\n");
        let step = sim.closed(None);
        let (wait, _) = sim.reconnect(&step);
        waits.push(wait);
    }
    for (wait, delay) in waits
        .iter()
        .zip([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000])
    {
        assert_jittered(*wait, delay);
    }
    // A large value is capped.
    sim.respond(200, "text/event-stream");
    sim.at(sim.now + 60_000);
    sim.body("retry: 99999999999999999999999\n\n");
    let step = sim.closed(None);
    let (wait, _) = sim.reconnect(&step);
    assert_jittered(wait, MAX_MS);
}

#[test]
fn last_event_id_is_sent_on_reconnect() {
    let mut sim = Sim::connected();
    sim.body("id: abc-1\nevent: put\ndata: {\"path\":\"/\",\"data\":{\"environments\":{}}}\n\n");
    // A partial block's id never counts.
    sim.body("id: partial\n");
    let step = sim.closed(None);
    let (_, step) = sim.reconnect(&step);
    assert_eq!(header(&step, "Last-Event-ID"), Some("abc-1"));
    // An id that is not a valid header value is kept but not sent.
    sim.respond(200, "text/event-stream");
    sim.body("id: caf\u{e9}\n\n");
    let step = sim.closed(None);
    let (_, step) = sim.reconnect(&step);
    assert_eq!(header(&step, "Last-Event-ID"), None);
    // The id given at start is sent on the first request.
    let (_, step) = Sim::with(StreamOptions {
        last_event_id: Some("resume-7".into()),
        ..options()
    });
    assert_eq!(header(&step, "Last-Event-ID"), Some("resume-7"));
}

#[test]
fn restart_keeps_the_state_and_the_last_event_id() {
    let mut sim = Sim::connected();
    sim.body("id: 42\nevent: put\n");
    sim.body(&format!("data: {}\n\n", put(&[("e1", env_json("e1", 1))])));
    sim.take_calls();
    let step = sim
        .client
        .start(&options(), sim.now, &mut sim.rec)
        .expect("valid");
    assert!(step.disconnect, "the open connection must be closed");
    assert_eq!(header(&step, "Last-Event-ID"), Some("42"));
    assert_eq!(sim.client.machine().environments().count(), 1);
}

#[test]
fn same_origin_redirects_are_followed_up_to_ten() {
    let (mut sim, _) = Sim::started();
    let step = sim.redirect(307, Some("/moved/relay_auto_config?x=1"));
    assert!(step.disconnect);
    let request = step.connect.expect("follow");
    assert_eq!(
        request.url,
        "http://stream.test/moved/relay_auto_config?x=1"
    );
    assert_eq!(
        header(
            &Step {
                connect: Some(request),
                ..Step::default()
            },
            "Authorization"
        ),
        Some(KEY)
    );
    for _ in 0..9 {
        let step = sim.redirect(301, Some("http://STREAM.test:80/again"));
        assert!(step.connect.is_some(), "{:?}", sim.rec.logs);
    }
    let step = sim.redirect(301, Some("/again"));
    assert_eq!(step.connect, None);
    assert!(sim.logged(Level::Warn, "too many redirects"));
    // After the wait, the original URL again, with a fresh redirect budget.
    let (_, step) = sim.reconnect(&step);
    assert_eq!(
        step.connect.map(|r| r.url).as_deref(),
        Some("http://stream.test/relay_auto_config")
    );
    let step = sim.redirect(308, Some("https://stream.test/x"));
    assert_eq!(step.connect, None, "another scheme");
    let (_, _) = sim.reconnect(&step);
    let step = sim.redirect(302, None);
    assert_eq!(step.connect, None);
    assert!(sim.logged(Level::Warn, "no Location header"));
}

#[test]
fn relative_locations_resolve_against_the_request() {
    let base = Url::parse("http://h:81/a/b/relay_auto_config?q").expect("valid");
    let j = |l: &str| base.join(l).map(|u| u.as_str().to_string());
    assert_eq!(j("c").as_deref(), Ok("http://h:81/a/b/c"));
    assert_eq!(j("/c").as_deref(), Ok("http://h:81/c"));
    assert_eq!(
        j("?r").as_deref(),
        Ok("http://h:81/a/b/relay_auto_config?r")
    );
    assert_eq!(j("//other/x").as_deref(), Ok("http://other/x"));
    assert_eq!(j("HTTP://h:81/y#f").as_deref(), Ok("http://h:81/y"));
    assert!(j("").is_err());
    assert!(base.same_origin(&Url::parse("http://H:81/").expect("valid")));
    assert!(!base.same_origin(&Url::parse("http://h/").expect("valid")));
    assert!(
        Url::parse("https://h/")
            .expect("valid")
            .same_origin(&Url::parse("https://h:443/x").expect("valid"))
    );
}

#[test]
fn read_timeout_ends_a_silent_connection_and_a_hung_request() {
    let mut sim = Sim::connected();
    sim.at(T0 + READ_TIMEOUT - 1);
    assert!(!sim.timeout().disconnect, "early wake-ups are harmless");
    sim.at(T0 + READ_TIMEOUT);
    let step = sim.timeout();
    assert!(step.disconnect);
    assert!(sim.logged(Level::Warn, "read timeout"));
    let (_, step) = sim.reconnect(&step);
    assert_eq!(step.next_deadline, Some(sim.now + READ_TIMEOUT));
    sim.at(sim.now + READ_TIMEOUT);
    let step = sim.timeout();
    assert!(step.disconnect);
    assert!(sim.logged(Level::Warn, "no response within"));
}

#[test]
fn the_deadline_merges_expiry_timers() {
    let mut sim = Sim::connected();
    let expiry = T0 + 5_000;
    sim.event(
        "put",
        &put(&[("e1", env_expiring("e1", 1, "old-key", expiry))]),
    );
    let step = sim.event("patch", "{}");
    assert_eq!(step.next_deadline, Some(expiry));
    sim.take_calls();
    sim.at(expiry);
    let step = sim.timeout();
    assert_eq!(
        sim.take_calls(),
        [Call::KeyExpired("e1".into(), "old-key".into())]
    );
    assert!(!step.disconnect);
    assert_eq!(step.next_deadline, Some(T0 + READ_TIMEOUT));
}

#[test]
fn a_clock_stepped_back_does_not_stretch_waits() {
    let (mut sim, _) = Sim::started();
    let step = sim.respond(500, "");
    let wait = step.next_deadline.expect("deadline") - sim.now;
    // The wall clock is stepped back an hour: the wait still ends `wait` ms later.
    sim.at(T0 - 3_600_000);
    let step = sim.timeout();
    assert_eq!(step.connect, None);
    assert_eq!(step.next_deadline, Some(sim.now + wait));
    sim.at(sim.now + wait);
    assert!(sim.timeout().connect.is_some());
    // Connected, then stepped back: the read timeout still comes READ_TIMEOUT after the last byte.
    sim.respond(200, "text/event-stream");
    let last_byte = sim.now;
    sim.at(last_byte - 10_000);
    let step = sim.timeout();
    assert!(!step.disconnect);
    assert_eq!(step.next_deadline, Some(sim.now + READ_TIMEOUT));
}

#[test]
fn a_clock_jumping_forward_fires_expiries_and_ends_waits_early() {
    let mut sim = Sim::connected();
    let expiry = T0 + 86_400_000;
    sim.event(
        "put",
        &put(&[("e1", env_expiring("e1", 1, "old-key", expiry))]),
    );
    sim.take_calls();
    // A day later in one step (a suspended laptop, an NTP step): the expiry fires, and the
    // silent connection is ended once.
    sim.at(T0 + 86_400_000 + 1);
    let step = sim.timeout();
    assert_eq!(
        sim.take_calls(),
        [Call::KeyExpired("e1".into(), "old-key".into())]
    );
    assert!(step.disconnect);
    let (wait, _) = sim.reconnect(&step);
    assert_jittered(wait, 1000);
}

#[test]
fn prior_failures_delay_the_first_connection() {
    let (_, step) = Sim::with(StreamOptions {
        prior_failures: 3,
        ..options()
    });
    assert_eq!(step.connect, None);
    assert_jittered(step.next_deadline.expect("deadline") - T0, 4000);
}

#[test]
fn calls_out_of_protocol_are_ignored() {
    let mut c = Client::new();
    let mut rec = Recorder::default();
    assert_eq!(c.on_body(b"data: x\n\n", T0, &mut rec), Step::default());
    assert_eq!(
        c.on_response(200, None, None, T0, &mut rec),
        Step::default()
    );
    assert_eq!(c.on_closed(None, T0, &mut rec), Step::default());
    let (mut sim, _) = Sim::started();
    // A body before the response, a second response, a close after the close.
    assert!(!sim.body("event: put\ndata: {}\n\n").disconnect);
    sim.respond(200, "text/event-stream");
    let step = sim.respond(200, "text/event-stream");
    assert!(!step.disconnect);
    assert!(sim.logged(Level::Warn, "while no request is open"));
    let step = sim.closed(None);
    let deadline = step.next_deadline;
    assert_eq!(sim.closed(None).next_deadline, deadline);
    assert_eq!(sim.take_calls(), []);
}

#[test]
fn a_partial_event_at_the_end_is_discarded() {
    let mut sim = Sim::connected();
    sim.body("event: put\ndata: {\"path\":\"/\",\"data\":{\"environments\":{}}}\n");
    let step = sim.closed(None);
    let (_, _) = sim.reconnect(&step);
    sim.respond(200, "text/event-stream");
    sim.body("\n");
    assert_eq!(sim.take_calls(), []);
}

#[test]
fn retry_zero_with_a_reconnect_on_every_connection_is_not_a_hot_loop() {
    let (mut sim, _) = Sim::with(StreamOptions {
        initial_retry_delay_ms: 100,
        ..options()
    });
    let start = sim.now;
    let mut connections = 0;
    while sim.now < start + 60_000 {
        sim.respond(200, "text/event-stream");
        let step = sim.body("retry: 0\n\nevent: reconnect\ndata: x\n\n");
        assert!(step.disconnect);
        sim.reconnect(&step);
        connections += 1;
    }
    assert!(connections <= 120, "{connections} connections in a minute");
}

#[test]
fn the_same_seed_gives_the_same_delays() {
    let waits = |seed: u64| -> Vec<u64> {
        let (mut sim, _) = Sim::with(StreamOptions {
            jitter_seed: seed,
            ..options()
        });
        (0..5)
            .map(|_| {
                let step = sim.respond(500, "");
                sim.reconnect(&step).0
            })
            .collect()
    };
    assert_eq!(waits(7), waits(7));
    assert_ne!(waits(7), waits(8));
}

#[test]
fn backoff_curves() {
    let mut j = Jitter::new(0);
    let mut b = Backoff::new(0);
    assert_eq!(b.base(), MIN_BASE_MS);
    b.use_slow_curve(true);
    for expected in [1, 2, 4, 8].map(|n| n * SLOW_INITIAL_MS) {
        assert_jittered(b.next_delay(T0, &mut j), expected);
    }
    for _ in 0..100 {
        assert_jittered(b.next_delay(T0, &mut j), SLOW_MAX_MS);
    }
    let mut b = Backoff::new(u64::MAX);
    b.assume_failures(u32::MAX);
    assert_jittered(b.next_delay(T0, &mut j), MAX_MS);
    for delay in [0u64, 1, 2, 3, u64::MAX] {
        let cut = j.apply(delay);
        assert!(
            cut <= delay && (delay < 2 || cut > delay / 2),
            "{delay} -> {cut}"
        );
    }
}

/// One host input, for the property test.
#[derive(Debug, Clone)]
enum Input {
    Response(u16, bool, Option<&'static str>),
    Body(Vec<u8>),
    Closed(bool),
    Timeout,
    Advance(u64),
    Back(u64),
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        (
            prop::sample::select(vec![200u16, 200, 301, 302, 401, 403, 500, 204]),
            any::<bool>(),
            prop::sample::select(vec![None, Some("/x"), Some("http://o.test/"), Some("")]),
        )
            .prop_map(|(s, ct, l)| Input::Response(s, ct, l)),
        prop::sample::select(vec![
            &b"event: reconnect\ndata:\n\n"[..],
            b"event: put\ndata: {bad\n\n",
            b"retry: 0\n",
            b"id: 1\n",
            b":hb\n",
            b"event: put\ndata: {\"path\":\"/\",\"data\":{\"environments\":{}}}\n\n",
            b"\r\n\xEF\xBB",
        ])
        .prop_map(|b| Input::Body(b.to_vec())),
        any::<bool>().prop_map(Input::Closed),
        Just(Input::Timeout),
        (0u64..400_000).prop_map(Input::Advance),
        (0u64..100_000).prop_map(Input::Back),
    ]
}

proptest! {
    /// Whatever the server and the host do, nothing panics, a `connect` comes only with a
    /// closed connection, and two connections never start closer than the minimum delay unless
    /// the second follows a redirect.
    #[test]
    fn no_input_sequence_makes_a_hot_loop(inputs in prop::collection::vec(input(), 1..120), seed in any::<u64>()) {
        let (mut sim, first) = Sim::with(StreamOptions { jitter_seed: seed, initial_retry_delay_ms: 0, ..options() });
        let mut open = first.connect.is_some();
        let mut last_connect = Some(sim.now);
        let mut elapsed_since_connect = 0u64;
        for input in inputs {
            let mut redirect = false;
            let step = match input {
                Input::Response(status, ct, location) => {
                    redirect = matches!(status, 301 | 302);
                    let ct = if ct { "text/event-stream" } else { "text/html" };
                    sim.client.on_response(status, Some(ct), location, sim.now, &mut sim.rec)
                }
                Input::Body(bytes) => sim.client.on_body(&bytes, sim.now, &mut sim.rec),
                Input::Closed(err) => {
                    let step = sim.client.on_closed(err.then_some("reset"), sim.now, &mut sim.rec);
                    open = false;
                    step
                }
                Input::Timeout => sim.timeout(),
                Input::Advance(ms) => {
                    sim.now += ms;
                    elapsed_since_connect += ms;
                    continue;
                }
                Input::Back(ms) => {
                    sim.now = sim.now.saturating_sub(ms).max(1_000_000_000);
                    continue;
                }
            };
            if step.disconnect {
                prop_assert!(open || step.connect.is_some() || step.stop.is_some(), "disconnect with nothing open");
                open = false;
            }
            if step.connect.is_some() {
                prop_assert!(!open, "connect while a request is open");
                if !redirect && last_connect.is_some() {
                    prop_assert!(elapsed_since_connect >= MIN_BASE_MS / 2, "reconnected after {elapsed_since_connect} ms");
                }
                last_connect = Some(sim.now);
                elapsed_since_connect = 0;
                open = true;
            }
            if step.stop.is_some() {
                open = false;
            }
        }
    }
}
