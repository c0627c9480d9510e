//! The component under wasmtime: a full put of 1,000 and 10,000 environments through WIT into a
//! fresh instance (instantiation included), also with the callbacks batched (the WIT `batch`
//! interface, parsed back by the driver), and the same put again into a warm instance; the
//! same rows on a runtime without fuel metering (`Metering::Off`), to show what metering
//! costs; then the cost of keeping trap recovery possible (the driver's copy of what the proxy
//! was told): the 10,000-environment put and 10,000 patches, with recovery on and off.

use std::hint::black_box;

use autoconfig_host::{Driver, EnvironmentParams, Handler, Level, Limits, Metering, Runtime};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use autoconfig_test_support::events::put_of;

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
    fn log(&mut self, _: Level, message: &str) {
        black_box(message);
    }
}

/// The `now` of every call (ms since the Unix epoch).
const NOW: u64 = 1_800_000_000_000;

fn bench(c: &mut Criterion) {
    let runtime = Runtime::embedded(Limits::default()).expect("the built component loads");
    put_group(c, "component put", &runtime, true);
    let unmetered = Limits {
        metering: Metering::Off,
        ..Limits::default()
    };
    let unmetered = Runtime::embedded(unmetered).expect("the built component loads");
    put_group(c, "component put (unmetered)", &unmetered, false);

    let n = 10_000;
    let data = put_of(n);
    let patches = patches_of(n);
    let mut group = c.benchmark_group("recovery cost");
    group.sample_size(10);
    for recovery in [true, false] {
        let label = if recovery {
            "recovery on"
        } else {
            "recovery off"
        };
        group.bench_function(
            BenchmarkId::new("put 10000 into fresh instance", label),
            |b| {
                b.iter(|| {
                    let mut d = Driver::new(&runtime, Count::default()).expect("instantiate");
                    d.set_recovery(recovery);
                    d.on_event("put", black_box(&data), NOW).expect("no trap");
                    d.handler().0
                })
            },
        );
        group.bench_function(BenchmarkId::new("10000 patches", label), |b| {
            b.iter_batched(
                || {
                    let mut d = Driver::new(&runtime, Count::default()).expect("instantiate");
                    d.set_recovery(recovery);
                    d.on_event("put", &data, NOW).expect("no trap");
                    d
                },
                |mut d| {
                    for patch in &patches {
                        d.on_event("patch", black_box(patch), NOW).expect("no trap");
                    }
                    d
                },
                criterion::BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

/// The put rows of one runtime: into a fresh instance (also batched, with `batched`), and the
/// same put again into a warm instance.
fn put_group(c: &mut Criterion, name: &str, runtime: &Runtime, batched: bool) {
    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    for n in [1_000, 10_000] {
        let data = put_of(n);
        group.throughput(Throughput::Bytes(data.len() as u64));
        let forms: &[bool] = if batched { &[false, true] } else { &[false] };
        for &batch in forms {
            let id = if batch {
                "into fresh instance, batched"
            } else {
                "into fresh instance"
            };
            group.bench_with_input(BenchmarkId::new(id, n), &data, |b, data| {
                b.iter(|| {
                    let mut d = Driver::new(runtime, Count::default()).expect("instantiate");
                    if batch {
                        d.set_batched(true).expect("batching");
                    }
                    d.on_event("put", black_box(data), NOW).expect("no trap");
                    d.handler().0
                })
            });
        }
        let mut warm = Driver::new(runtime, Count::default()).expect("instantiate");
        warm.on_event("put", &data, NOW).expect("no trap");
        group.bench_with_input(BenchmarkId::new("unchanged", n), &data, |b, data| {
            b.iter(|| warm.on_event("put", black_box(data), NOW).expect("no trap"))
        });
    }
    group.finish();
}

/// A patch raising the version of each of the `n` environments of `put_of(n)`.
fn patches_of(n: usize) -> Vec<String> {
    let put: serde_json::Value = serde_json::from_str(&put_of(n)).expect("valid put");
    let mut out = Vec::with_capacity(n);
    if let Some(envs) = put["data"]["environments"].as_object() {
        for (id, env) in envs {
            let mut env = env.clone();
            env["version"] = serde_json::json!(100);
            out.push(format!(r#"{{"path":"/environments/{id}","data":{env}}}"#));
        }
    }
    out
}

criterion_group!(benches, bench);
criterion_main!(benches);
