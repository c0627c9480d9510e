//! The state machine natively: a full put of 1,000 and 10,000 environments into an empty
//! machine, and the same put again (every environment unchanged).
//!
//! The handler formats every log line, as a real logger does and as the component does before it
//! hands a line to `wasi:logging` (until 2026-11-30 it dropped the lines unformatted, so this
//! side skipped work the component did: the component-to-native ratios in docs/benchmarks.md
//! before that date are not comparable).

use std::fmt::{self, Write};
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use relay_autoconfig::{EnvironmentParams, Handler, Level, Machine};

use autoconfig_test_support::events::put_of;

/// Counts callbacks; formats each log line into a reused buffer and drops it.
#[derive(Default)]
struct Count(usize, String);

impl Handler for Count {
    fn add_environment(&mut self, params: EnvironmentParams) {
        self.0 += black_box(params).version as usize & 1;
    }
    fn update_environment(&mut self, _: EnvironmentParams) {
        self.0 += 1;
    }
    fn delete_environment(&mut self, _: &str) {
        self.0 += 1;
    }
    fn received_all_environments(&mut self) {
        self.0 += 1;
    }
    fn key_expired(&mut self, _: &str, _: &str) {
        self.0 += 1;
    }
    fn log(&mut self, _: Level, message: fmt::Arguments<'_>) {
        self.1.clear();
        let _ = self.1.write_fmt(message);
        black_box(&self.1);
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("native put");
    group.sample_size(20);
    for n in [1_000, 10_000] {
        let data = put_of(n);
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_with_input(BenchmarkId::new("into empty", n), &data, |b, data| {
            b.iter(|| {
                let mut m = Machine::new();
                let mut h = Count::default();
                m.on_event("put", black_box(data), 1_800_000_000_000, &mut h);
                h.0
            })
        });
        let mut warm = Machine::new();
        warm.on_event("put", &data, 1_800_000_000_000, &mut Count::default());
        group.bench_with_input(BenchmarkId::new("unchanged", n), &data, |b, data| {
            b.iter(|| {
                warm.on_event(
                    "put",
                    black_box(data),
                    1_800_000_000_000,
                    &mut Count::default(),
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
