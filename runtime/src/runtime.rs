//! Loading the component once: the engine, the compiled component, and the limits every
//! instance runs under.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime::component::Component;
use wasmtime::{Config, Engine};

use crate::cache;
use crate::error::Error;

/// The component embedded in this crate (built from `guest/` by `autoconfig-component`).
pub use autoconfig_component::{COMPONENT, COMPONENT_PATH, COMPONENT_SHA256};

/// How a guest call that runs away is stopped.
///
/// Chosen when the [`Runtime`] compiles the component (the machine code differs), so a
/// [`crate::Driver::set_limits`] cannot change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Metering {
    /// Every call gets a fuel budget ([`Limits::fuel_for`]); a call that spends it traps, the
    /// same way on an idle or a loaded machine, and the driver brings a fresh instance back to
    /// what the proxy was told. It needs no timer thread. The price: the guest's code counts
    /// as it goes, about a quarter of its time (docs/benchmarks.md).
    #[default]
    Fuel,
    /// No metering: the guest's code runs as fast as Cranelift makes it. A call that never
    /// ended (a bug in the component: its work is bounded by its input) would hang the calling
    /// thread, so choose this only with a watchdog of your own on that thread (for example a
    /// supervisor that restarts the process when a call exceeds a wall-clock limit). The memory
    /// limit still applies. The `fuel_per_*` limits are ignored.
    Off,
}

/// Resource limits for each component instance. A guest that hits one traps, and the driver
/// turns the trap into [`Error::Trap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most linear memory the guest may use, in bytes. Default 512 MiB.
    pub max_memory_bytes: usize,
    /// Fuel (roughly, wasm instructions) per call, before the size-dependent part. Default 1e9.
    pub fuel_per_call: u64,
    /// Extra fuel per byte of event data. Default 4,000.
    pub fuel_per_byte: u64,
    /// Extra fuel per entry of the state (environment or remembered deletion), for work that
    /// grows with the state rather than the event: a small `put` that forgets every environment
    /// (about 4,700 fuel each), a `tick` that fires every expiry. Default 10,000.
    pub fuel_per_entry: u64,
    /// Whether calls are metered with fuel at all. Default [`Metering::Fuel`]. Read by the
    /// [`Runtime`] constructors only.
    pub metering: Metering,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_memory_bytes: 512 << 20,
            fuel_per_call: 1_000_000_000,
            fuel_per_byte: 4_000,
            fuel_per_entry: 10_000,
            metering: Metering::Fuel,
        }
    }
}

impl Limits {
    /// The fuel budget of one call carrying `data_len` bytes of data.
    pub fn fuel_for(&self, data_len: usize, entries: usize) -> u64 {
        let per_byte = self
            .fuel_per_byte
            .saturating_mul(u64::try_from(data_len).unwrap_or(u64::MAX));
        let per_entry = self
            .fuel_per_entry
            .saturating_mul(u64::try_from(entries).unwrap_or(u64::MAX));
        self.fuel_per_call
            .saturating_add(per_byte)
            .saturating_add(per_entry)
    }
}

/// A compiled component, ready to be instantiated by [`crate::Driver`]s. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    component: Component,
    limits: Limits,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Compiles the component in `path`.
    pub fn from_file(path: impl AsRef<Path>, limits: Limits) -> Result<Self, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: PathBuf::from(path),
            source,
        })?;
        Self::from_bytes(&bytes, limits)
    }

    /// Like [`Runtime::from_file`], but keeps the compiled machine code in `cache_dir` and
    /// reuses it when the same component is loaded again by the same wasmtime build and
    /// configuration: start-up drops from a compilation to a file read.
    ///
    /// Loading a cached entry runs its machine code, so it is never trusted blindly:
    ///
    /// - `cache_dir` is created with mode 0700 (on unix) if it does not exist. If it exists but
    ///   is writable by its group or others, or belongs to another user than this one or root,
    ///   the cache is not used at all (one warning, then a plain compilation): whoever can write
    ///   there could run code in this process.
    /// - Each entry `relay-autoconfig-<hash>.cwasm` has its SHA-256 next to it
    ///   (`<entry>.sha256`, hex). Both are written atomically (a uniquely named temporary file in
    ///   the same directory, then a rename; the hash last).
    /// - On load the entry is read into memory (at most 64 MiB) and its SHA-256 compared with
    ///   the hash file; only then does wasmtime deserialize those same bytes, with its own
    ///   version and configuration check.
    ///
    /// A missing, unreadable, oversized, corrupt or incompatible entry, or a missing or wrong
    /// hash, is logged (one `warn` line naming the file and why), recompiled and replaced. Not
    /// being able to use or write the cache is never an error: the component is compiled.
    ///
    /// The directory does not grow without bound: writing a new entry removes the other entries
    /// unused for 30 days or beyond the 8 most recently used (a load counts as a use), hash
    /// files left without their entry, and temporary files of writers that died an hour ago or
    /// more. Nothing else in the directory is touched.
    pub fn from_file_cached(
        path: impl AsRef<Path>,
        limits: Limits,
        cache_dir: impl AsRef<Path>,
    ) -> Result<Self, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: PathBuf::from(path),
            source,
        })?;
        Self::from_bytes_cached(&bytes, limits, cache_dir)
    }

    /// Like [`Runtime::from_bytes`], with the verified cache of [`Runtime::from_file_cached`]:
    /// `cache_dir` must belong to this user and be writable by no one else, and an entry is
    /// loaded only if its SHA-256 matches the hash written next to it and wasmtime accepts it;
    /// anything else is recompiled (and replaced).
    pub fn from_bytes_cached(
        bytes: &[u8],
        limits: Limits,
        cache_dir: impl AsRef<Path>,
    ) -> Result<Self, Error> {
        let engine =
            Engine::new(&engine_config(limits.metering)).map_err(|e| Error::Compile(e.into()))?;
        let component = cache::component(&engine, bytes, cache_dir.as_ref())?;
        Ok(Self::assemble(engine, component, limits))
    }

    /// Compiles the component embedded in this crate ([`COMPONENT`]).
    pub fn embedded(limits: Limits) -> Result<Self, Error> {
        Self::from_bytes(COMPONENT, limits)
    }

    /// Compiles a component from its bytes.
    pub fn from_bytes(bytes: &[u8], limits: Limits) -> Result<Self, Error> {
        let engine =
            Engine::new(&engine_config(limits.metering)).map_err(|e| Error::Compile(e.into()))?;
        Self::compile(engine, bytes, limits)
    }

    /// Compiles `bytes` for `engine`.
    fn compile(engine: Engine, bytes: &[u8], limits: Limits) -> Result<Self, Error> {
        let component = Component::new(&engine, bytes).map_err(|e| Error::Compile(e.into()))?;
        Ok(Self::assemble(engine, component, limits))
    }

    fn assemble(engine: Engine, component: Component, limits: Limits) -> Self {
        Runtime {
            inner: Arc::new(Inner {
                engine,
                component,
                limits,
            }),
        }
    }

    /// The engine the component was compiled for.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The compiled component.
    pub fn component(&self) -> &Component {
        &self.inner.component
    }

    /// The limits every instance runs under.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// The names of every interface the component imports, e.g. `wasi:logging/logging@0.1.0-draft`.
    pub fn imports(&self) -> Vec<String> {
        let ty = self.inner.component.component_type();
        ty.imports(&self.inner.engine)
            .map(|(name, _)| name.to_string())
            .collect()
    }
}

/// The engine configuration: fuel metering unless `metering` is [`Metering::Off`] (with it, no
/// call can run forever). With the
/// environment variable `AUTOCONFIG_PERFMAP` set, wasmtime also writes `/tmp/perf-PID.map`, so
/// that `perf report` names the component's functions (a profiling aid; see docs/benchmarks.md).
pub(crate) fn engine_config(metering: Metering) -> Config {
    let mut config = Config::new();
    config.consume_fuel(metering == Metering::Fuel);
    if std::env::var_os("AUTOCONFIG_PERFMAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    config
}
