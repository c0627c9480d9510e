//! The state machine natively: a full put of 1,000 and 10,000 environments into an empty
//! machine, and the same put again (every environment unchanged).

use std::fmt;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use relay_autoconfig::{EnvironmentParams, Handler, Level, Machine};

use autoconfig_test_support::events::put_of;

/// Counts callbacks and drops everything else.
#[derive(Default)]
struct Count(usize);

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
        black_box(message);
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
