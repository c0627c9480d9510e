//! Loading the component once: the engine, the compiled component, and the limits every
//! instance runs under.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime::component::Component;
use wasmtime::{Config, Engine};

use crate::error::Error;

/// The component embedded in this crate (built from `guest/` by `autoconfig-component`).
pub use autoconfig_component::{COMPONENT, COMPONENT_PATH, COMPONENT_SHA256};

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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_memory_bytes: 512 << 20,
            fuel_per_call: 1_000_000_000,
            fuel_per_byte: 4_000,
            fuel_per_entry: 10_000,
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

    /// Like [`Runtime::from_file`], but keeps the compiled machine code in `cache_dir` (created
    /// if needed) and reuses it when the same component is loaded again by the same wasmtime
    /// build and configuration: start-up drops from a compilation to a file read.
    ///
    /// Only point this at a directory no one else can write to: loading a cached file runs its
    /// machine code. A stale or corrupt entry is recompiled and replaced.
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

    /// Like [`Runtime::from_bytes`], with the cache of [`Runtime::from_file_cached`].
    pub fn from_bytes_cached(
        bytes: &[u8],
        limits: Limits,
        cache_dir: impl AsRef<Path>,
    ) -> Result<Self, Error> {
        let engine = Engine::new(&engine_config()).map_err(|e| Error::Compile(e.into()))?;
        let cache_dir = cache_dir.as_ref();
        let entry = cache_dir.join(cache_name(&engine, bytes));
        if entry.exists() {
            // SAFETY: the entry was written by `Component::serialize` below, for an engine whose
            // compatibility hash is part of its name; the cache directory is trusted (see above).
            match unsafe { Component::deserialize_file(&engine, &entry) } {
                Ok(component) => {
                    return Ok(Runtime {
                        inner: Arc::new(Inner {
                            engine,
                            component,
                            limits,
                        }),
                    });
                }
                Err(e) => tracing::warn!(
                    "ignoring the unusable cached component {}: {e:#}",
                    entry.display()
                ),
            }
        }
        let component = Component::new(&engine, bytes).map_err(|e| Error::Compile(e.into()))?;
        if let Err(e) = write_cache_entry(&component, cache_dir, &entry) {
            tracing::warn!(
                "cannot cache the compiled component in {}: {e}",
                cache_dir.display()
            );
        }
        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                component,
                limits,
            }),
        })
    }

    /// Compiles the component embedded in this crate ([`COMPONENT`]).
    pub fn embedded(limits: Limits) -> Result<Self, Error> {
        Self::from_bytes(COMPONENT, limits)
    }

    /// Compiles a component from its bytes.
    pub fn from_bytes(bytes: &[u8], limits: Limits) -> Result<Self, Error> {
        let engine = Engine::new(&engine_config()).map_err(|e| Error::Compile(e.into()))?;
        let component = Component::new(&engine, bytes).map_err(|e| Error::Compile(e.into()))?;
        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                component,
                limits,
            }),
        })
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

/// `relay-autoconfig-<sha256 of the component and the engine's compatibility hash>.cwasm`.
fn cache_name(engine: &Engine, bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    use std::hash::{Hash, Hasher};
    let mut compat = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut compat);
    let mut digest = Sha256::new();
    digest.update(compat.finish().to_le_bytes());
    digest.update(env!("CARGO_PKG_VERSION").as_bytes());
    digest.update(bytes);
    let hex: String = digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("relay-autoconfig-{hex}.cwasm")
}

/// Writes the compiled component next to `entry` and renames it into place, so a reader never
/// sees half a file.
fn write_cache_entry(component: &Component, dir: &Path, entry: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let code = component
        .serialize()
        .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
    let temp = entry.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temp, code)?;
    std::fs::rename(&temp, entry)
}

/// The engine configuration: fuel metering, so that no call can run forever.
fn engine_config() -> Config {
    let mut config = Config::new();
    config.consume_fuel(true);
    config
}
