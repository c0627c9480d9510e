//! End to end on loopback, through the real runner (HTTP, SSE parsing, the component under
//! wasmtime): how long a put of 1,000 and 10,000 environments takes from the first byte leaving a
//! local SSE server to the `received-all-environments` callback, and 10,000 patch events (each
//! adding an environment) from the first byte to the last `add-environment`.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use autoconfig_host::runner::{self, StreamConfig};
use autoconfig_host::{Driver, EnvironmentParams, Handler, Limits, Runtime};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use autoconfig_test_support::events::put_of;

/// Reports `received-all-environments`, or the `adds`-th `add-environment`, on a channel.
struct Ready {
    done: mpsc::Sender<Instant>,
    /// Signal after this many adds instead of on `received-all-environments`.
    adds: Option<usize>,
}

impl Handler for Ready {
    fn add_environment(&mut self, _: EnvironmentParams) {
        if let Some(left) = self.adds.as_mut() {
            *left -= 1;
            if *left == 0 {
                let _ = self.done.send(Instant::now());
            }
        }
    }
    fn update_environment(&mut self, _: EnvironmentParams) {}
    fn delete_environment(&mut self, _: String) {}
    fn received_all_environments(&mut self) {
        if self.adds.is_none() {
            let _ = self.done.send(Instant::now());
        }
    }
    fn key_expired(&mut self, _: String, _: String) {}
    fn log(&mut self, _: autoconfig_host::Level, _: &str) {}
}

/// The put of `n` environments as one SSE event.
fn put_event(n: usize) -> Vec<u8> {
    format!("event: put\ndata: {}\n\n", put_of(n)).into_bytes()
}

/// `n` patch events, each adding a new environment (taken from a put of `n`).
fn patch_events(n: usize) -> Vec<u8> {
    let put: serde_json::Value = serde_json::from_str(&put_of(n)).expect("valid put");
    let mut out = String::new();
    if let Some(envs) = put["data"]["environments"].as_object() {
        for (id, env) in envs {
            out.push_str(&format!(
                "event: patch\ndata: {{\"path\":\"/environments/{id}\",\"data\":{env}}}\n\n"
            ));
        }
    }
    out.into_bytes()
}

fn bench(c: &mut Criterion) {
    let runtime = Runtime::embedded(Limits::default()).expect("the built component loads");
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let mut group = c.benchmark_group("first byte to ready");
    group.sample_size(10);
    for n in [1_000, 10_000] {
        let event = put_event(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &event, |b, event| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += tokio.block_on(one_put(&runtime, event, None));
                }
                total
            })
        });
    }
    group.finish();
    let mut group = c.benchmark_group("first byte to last patch");
    group.sample_size(10);
    let n = 10_000;
    let events = patch_events(n);
    group.bench_with_input(BenchmarkId::from_parameter(n), &events, |b, events| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += tokio.block_on(one_put(&runtime, events, Some(n)));
            }
            total
        })
    });
    group.finish();
}

/// Serves one connection that sends `event` in 64 KiB writes, runs the runner against it, and
/// returns the time from the first write to `ready` (or to the `adds`-th add).
async fn one_put(runtime: &Runtime, event: &[u8], adds: Option<usize>) -> Duration {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (first_tx, first_rx) = tokio::sync::oneshot::channel::<Instant>();
    let body = event.to_vec();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut request = [0u8; 4096];
        let _ = socket.read(&mut request).await;
        let head =
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\r\n";
        socket.write_all(head.as_bytes()).await.expect("head");
        let start = Instant::now();
        let _ = first_tx.send(start);
        for chunk in body.chunks(64 * 1024) {
            socket.write_all(chunk).await.expect("body");
        }
        // Keep the connection open until the client is done.
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let (ready_tx, ready_rx) = mpsc::channel();
    let handler = Ready {
        done: ready_tx,
        adds,
    };
    let mut driver = Driver::new(runtime, handler).expect("instantiate");
    let config = StreamConfig::new("bench-key", format!("http://{addr}"));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = runner::run(&mut driver, &config, async {
        let _ = stop_rx.await;
    });
    let watcher = async {
        loop {
            if let Ok(done) = ready_rx.try_recv() {
                let _ = stop_tx.send(());
                return done;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    };
    let (_, done) = tokio::join!(run, watcher);
    server.abort();
    let start = first_rx.await.expect("the server wrote");
    done.duration_since(start)
}

criterion_group!(benches, bench);
criterion_main!(benches);
