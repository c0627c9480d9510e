//! The component under wasmtime: a full put of 1,000 and 10,000 environments through WIT into a
//! fresh instance (instantiation included), and the same put again into a warm instance.

use std::hint::black_box;

use autoconfig_host::{Driver, EnvironmentParams, Handler, Limits, LogLevel, ManualClock, Runtime};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

#[path = "../../guest/benches/fixtures/mod.rs"]
mod fixtures;
use fixtures::put_of;

/// Counts callbacks; drops logs.
#[derive(Default)]
struct Count(usize);

impl Handler for Count {
    fn add_environment(&mut self, params: EnvironmentParams) {
        self.0 += black_box(params).env_id.len() & 1;
    }
    fn update_environment(&mut self, _: EnvironmentParams) {
        self.0 += 1;
    }
    fn delete_environment(&mut self, _: String) {
        self.0 += 1;
    }
    fn received_all_environments(&mut self) {
        self.0 += 1;
    }
    fn key_expired(&mut self, _: String, _: String) {
        self.0 += 1;
    }
    fn log(&mut self, _: LogLevel, message: &str) {
        black_box(message);
    }
}

fn bench(c: &mut Criterion) {
    let runtime = Runtime::built(Limits::default()).expect("the built component loads");
    let clock = ManualClock::new(1_800_000_000_000);
    let mut group = c.benchmark_group("component put");
    group.sample_size(10);
    for n in [1_000, 10_000] {
        let data = put_of(n);
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("into fresh instance", n),
            &data,
            |b, data| {
                b.iter(|| {
                    let mut d = Driver::with_clock(&runtime, Count::default(), clock.clone())
                        .expect("instantiate");
                    d.on_event("put", black_box(data)).expect("no trap");
                    d.handler().0
                })
            },
        );
        let mut warm =
            Driver::with_clock(&runtime, Count::default(), clock.clone()).expect("instantiate");
        warm.on_event("put", &data).expect("no trap");
        group.bench_with_input(BenchmarkId::new("unchanged", n), &data, |b, data| {
            b.iter(|| warm.on_event("put", black_box(data)).expect("no trap"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
