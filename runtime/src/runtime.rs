//! Loading the component once: the engine, the compiled component, and the limits every
//! instance runs under.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

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
        let cache_dir = cache_dir.as_ref();
        if let Err(reason) = prepare_cache_dir(cache_dir) {
            tracing::warn!(
                "not using the compiled-component cache {}: {}",
                cache_dir.display(),
                bounded(&reason)
            );
            return Self::compile(engine, bytes, limits);
        }
        let entry = cache_dir.join(cache_name(&engine, bytes));
        match load_cache_entry(&engine, &entry) {
            Ok(component) => return Ok(Self::assemble(engine, component, limits)),
            Err(Miss::Absent) => {}
            Err(Miss::Rejected(reason)) => tracing::warn!(
                "rejecting the cached component {}: {}; recompiling and replacing it",
                entry.display(),
                bounded(&reason)
            ),
        }
        let component = Component::new(&engine, bytes).map_err(|e| Error::Compile(e.into()))?;
        if let Err(e) = write_cache_entry(&component, cache_dir, &entry) {
            tracing::warn!(
                "cannot cache the compiled component as {}: {}",
                entry.display(),
                bounded(&e.to_string())
            );
        }
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

/// The largest cache entry read back (the component compiles to a few MiB); a larger file is
/// treated as corrupt rather than read.
const MAX_CACHE_ENTRY_BYTES: u64 = 64 << 20;

/// The largest hash file read back (64 hex digits and a newline).
const MAX_HASH_FILE_BYTES: u64 = 256;

/// The longest reason put in a cache warning, in characters.
const MAX_REASON_CHARS: usize = 300;

/// `relay-autoconfig-<sha256 of the component and the engine's compatibility hash>.cwasm`.
fn cache_name(engine: &Engine, bytes: &[u8]) -> String {
    use std::hash::{Hash, Hasher};
    let mut compat = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut compat);
    let mut digest = Sha256::new();
    digest.update(compat.finish().to_le_bytes());
    digest.update(env!("CARGO_PKG_VERSION").as_bytes());
    digest.update(bytes);
    format!("relay-autoconfig-{}.cwasm", hex(&digest.finalize()))
}

/// The hash file of a cache entry: `<entry>.sha256`.
fn hash_path(entry: &Path) -> PathBuf {
    let mut name = entry.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// The SHA-256 of `bytes`, in lowercase hex.
fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `reason`, on one line and cut to [`MAX_REASON_CHARS`], for a log line.
fn bounded(reason: &str) -> String {
    let mut line: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_REASON_CHARS)
        .collect();
    if reason.chars().nth(MAX_REASON_CHARS).is_some() {
        line.push_str("...");
    }
    line
}

/// Creates the cache directory (mode 0700 on unix) if needed and checks that only this user
/// (or root) can write to it; `Err` says why it must not be used.
fn prepare_cache_dir(dir: &Path) -> Result<(), String> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| format!("cannot create it: {e}"))?;
    let meta = std::fs::metadata(dir).map_err(|e| format!("cannot inspect it: {e}"))?;
    if !meta.is_dir() {
        return Err("not a directory".into());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let mode = meta.mode();
        if mode & 0o022 != 0 {
            return Err(format!(
                "it is writable by its group or others (mode {:o}), who could run code in this \
                 process through it; make it private (chmod 700) to use it",
                mode & 0o7777
            ));
        }
        // SAFETY: `geteuid` has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me && meta.uid() != 0 {
            return Err(format!(
                "it belongs to uid {}, not to this user (uid {me}) or root",
                meta.uid()
            ));
        }
    }
    Ok(())
}

/// Why a cache entry was not loaded.
enum Miss {
    /// There is no entry yet: the usual first start, not worth a warning.
    Absent,
    /// The entry exists but must not (or cannot) be used.
    Rejected(String),
}

/// Loads a cache entry, if it is there, its hash file matches it, and wasmtime accepts it.
fn load_cache_entry(engine: &Engine, entry: &Path) -> Result<Component, Miss> {
    let code = match read_capped(entry, MAX_CACHE_ENTRY_BYTES) {
        Ok(code) => code,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Miss::Absent),
        Err(e) => return Err(Miss::Rejected(format!("cannot read it: {e}"))),
    };
    let hash_file = hash_path(entry);
    let stored = match read_capped(&hash_file, MAX_HASH_FILE_BYTES) {
        Ok(stored) => stored,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Miss::Rejected("its hash file is missing".into()));
        }
        Err(e) => return Err(Miss::Rejected(format!("cannot read its hash file: {e}"))),
    };
    if stored.trim_ascii() != sha256_hex(&code).as_bytes() {
        return Err(Miss::Rejected(
            "its SHA-256 does not match its hash file (corrupt, truncated or replaced)".into(),
        ));
    }
    // SAFETY: `Component::deserialize` runs the machine code in `code` later, so `code` must be
    // what `Component::serialize` produced for a compatible engine. It is:
    // - `code` is the exact byte buffer whose SHA-256 was just checked (read into memory once,
    //   not mapped from the file, so the file changing after the check changes nothing);
    // - the hash file holds the SHA-256 that `write_cache_entry` computed from the output of
    //   `Component::serialize` and wrote after it, so a match means these are those bytes,
    //   not a truncated, zeroed or otherwise damaged copy, nor some other file;
    // - only this user or root can write to the directory (`prepare_cache_dir`, checked before
    //   every load), so no one else could have written a matching pair of files: the hash
    //   guards against accidents, the directory check against others;
    // - the entry's name includes the engine's compatibility hash and this crate's version,
    //   and wasmtime itself checks the version and configuration recorded in the bytes (an
    //   error there is a rejected entry, below).
    unsafe { Component::deserialize(engine, &code) }
        .map_err(|e| Miss::Rejected(format!("wasmtime refused it: {e:#}")))
}

/// Reads a regular file of at most `cap` bytes.
fn read_capped(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Non-blocking: a FIFO planted in the cache must not hang the start.
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let too_big = || std::io::Error::other(format!("larger than {cap} bytes"));
    if meta.len() > cap {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(too_big());
    }
    Ok(bytes)
}

/// Serializes the component into `entry` and its SHA-256 into `<entry>.sha256`, each through
/// a uniquely named temporary file in `dir` renamed into place, the hash last: a reader sees
/// whole files only, and a hash that matches an entry was computed from that very entry.
fn write_cache_entry(component: &Component, dir: &Path, entry: &Path) -> std::io::Result<()> {
    let code = component
        .serialize()
        .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
    let hash = format!("{}\n", sha256_hex(&code));
    let hash_file = hash_path(entry);
    let code_temp = write_temp(dir, entry, &code)?;
    let hash_temp = match write_temp(dir, &hash_file, hash.as_bytes()) {
        Ok(temp) => temp,
        Err(e) => {
            let _ = std::fs::remove_file(&code_temp);
            return Err(e);
        }
    };
    let renamed =
        std::fs::rename(&code_temp, entry).and_then(|()| std::fs::rename(&hash_temp, &hash_file));
    if renamed.is_err() {
        let _ = std::fs::remove_file(&code_temp);
        let _ = std::fs::remove_file(&hash_temp);
    }
    renamed
}

/// Writes `bytes` to a new file in `dir` with a name no other writer uses (mode 0600 on unix),
/// flushed to disk, and returns its path.
fn write_temp(dir: &Path, target: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(
        ".{name}.{}-{nanos}-{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temp)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = written {
        drop(file);
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    Ok(temp)
}

/// The engine configuration: fuel metering unless `metering` is [`Metering::Off`] (with it, no
/// call can run forever). With the
/// environment variable `AUTOCONFIG_PERFMAP` set, wasmtime also writes `/tmp/perf-PID.map`, so
/// that `perf report` names the component's functions (a profiling aid; see docs/benchmarks.md).
fn engine_config(metering: Metering) -> Config {
    let mut config = Config::new();
    config.consume_fuel(metering == Metering::Fuel);
    if std::env::var_os("AUTOCONFIG_PERFMAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unique directory for one test, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(test: &str) -> TempDir {
            let dir = std::env::temp_dir()
                .join(format!("autoconfig-runtime-{}-{test}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn rejected(result: Result<Component, Miss>) -> String {
        match result {
            Ok(_) => panic!("loaded"),
            Err(Miss::Absent) => panic!("absent"),
            Err(Miss::Rejected(reason)) => reason,
        }
    }

    /// wasmtime's own check, behind the hash: an entry with a matching hash, compiled for
    /// another engine configuration (no fuel metering), is refused, then replaced.
    #[test]
    fn a_matching_hash_on_an_incompatible_entry_is_refused_and_replaced() {
        let dir = TempDir::new("incompatible");
        prepare_cache_dir(&dir.0).expect("trusted");
        let engine = Engine::new(&engine_config(Metering::Fuel)).expect("engine");
        let entry = dir.0.join(cache_name(&engine, COMPONENT));
        let other = Engine::new(&Config::new()).expect("engine");
        let foreign = other.precompile_component(COMPONENT).expect("compile");
        std::fs::write(&entry, &foreign).expect("write");
        std::fs::write(hash_path(&entry), sha256_hex(&foreign)).expect("write");
        let reason = rejected(load_cache_entry(&engine, &entry));
        assert!(reason.starts_with("wasmtime refused it"), "{reason}");

        let rt = Runtime::from_bytes_cached(COMPONENT, Limits::default(), &dir.0).expect("load");
        assert!(!rt.imports().is_empty());
        let code = std::fs::read(&entry).expect("entry");
        assert_ne!(code, foreign, "replaced");
        assert!(load_cache_entry(&engine, &entry).is_ok(), "valid again");
    }

    /// A metered and an unmetered runtime compile different code: they share a cache
    /// directory without ever loading (or replacing) each other's entry.
    #[test]
    fn metered_and_unmetered_runtimes_keep_separate_entries() {
        let dir = TempDir::new("metering");
        let off = Limits {
            metering: Metering::Off,
            ..Limits::default()
        };
        for limits in [off, Limits::default(), off, Limits::default()] {
            let rt = Runtime::from_bytes_cached(COMPONENT, limits, &dir.0).expect("load");
            let metered = wasmtime::Store::new(rt.engine(), ()).get_fuel().is_ok();
            assert_eq!(metered, limits.metering == Metering::Fuel);
        }
        let mut entries: Vec<_> = std::fs::read_dir(&dir.0)
            .expect("dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
            .collect();
        entries.sort();
        assert_eq!(entries.len(), 2, "{entries:?}");
        for (metering, entry) in [Metering::Fuel, Metering::Off].into_iter().zip(&entries) {
            let engine = Engine::new(&engine_config(metering)).expect("engine");
            let ok = entries
                .iter()
                .filter(|e| load_cache_entry(&engine, e).is_ok())
                .count();
            assert_eq!(ok, 1, "exactly one entry fits each engine ({entry:?})");
        }
    }

    #[test]
    fn entries_and_hashes_are_checked_before_loading() {
        let dir = TempDir::new("checks");
        prepare_cache_dir(&dir.0).expect("trusted");
        let engine = Engine::new(&engine_config(Metering::Fuel)).expect("engine");
        let entry = dir.0.join("relay-autoconfig-test.cwasm");
        assert!(matches!(
            load_cache_entry(&engine, &entry),
            Err(Miss::Absent)
        ));
        std::fs::write(&entry, b"code").expect("write");
        let reason = rejected(load_cache_entry(&engine, &entry));
        assert!(reason.contains("hash file is missing"), "{reason}");
        std::fs::write(hash_path(&entry), "00".repeat(32)).expect("write");
        let reason = rejected(load_cache_entry(&engine, &entry));
        assert!(reason.contains("does not match"), "{reason}");
        // A matching hash on bytes that are no compiled component: wasmtime refuses them.
        std::fs::write(hash_path(&entry), sha256_hex(b"code") + "\n").expect("write");
        let reason = rejected(load_cache_entry(&engine, &entry));
        assert!(reason.starts_with("wasmtime refused it"), "{reason}");
        // Too big to be ours: not even read.
        let big = std::fs::File::create(&entry).expect("create");
        big.set_len(MAX_CACHE_ENTRY_BYTES + 1).expect("grow");
        let reason = rejected(load_cache_entry(&engine, &entry));
        assert!(reason.contains("larger than"), "{reason}");
        // A directory in the entry's place.
        std::fs::remove_file(&entry).expect("remove");
        std::fs::create_dir(&entry).expect("mkdir");
        let reason = rejected(load_cache_entry(&engine, &entry));
        assert!(reason.contains("cannot read it"), "{reason}");
    }

    #[test]
    fn written_entries_carry_their_hash_and_leave_no_temporary_file() {
        let dir = TempDir::new("write");
        prepare_cache_dir(&dir.0).expect("trusted");
        let engine = Engine::new(&engine_config(Metering::Fuel)).expect("engine");
        let component = Component::new(&engine, COMPONENT).expect("compile");
        let entry = dir.0.join("relay-autoconfig-x.cwasm");
        write_cache_entry(&component, &dir.0, &entry).expect("write");
        let code = std::fs::read(&entry).expect("entry");
        let hash = std::fs::read_to_string(hash_path(&entry)).expect("hash");
        assert_eq!(hash, format!("{}\n", sha256_hex(&code)));
        assert_eq!(std::fs::read_dir(&dir.0).expect("dir").count(), 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&entry)
                .expect("entry")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn only_a_private_directory_is_trusted() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new("trust");
        let nested = dir.0.join("a").join("b");
        prepare_cache_dir(&nested).expect("created");
        let mode = std::fs::metadata(&nested)
            .expect("dir")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
        for bad in [0o770, 0o707, 0o1777] {
            std::fs::set_permissions(&nested, std::fs::Permissions::from_mode(bad)).expect("chmod");
            let reason = prepare_cache_dir(&nested).expect_err("untrusted");
            assert!(
                reason.contains("writable by its group or others"),
                "{reason}"
            );
        }
        std::fs::set_permissions(&nested, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        prepare_cache_dir(&nested).expect("only the owner writes");
        let file = dir.0.join("file");
        std::fs::write(&file, b"").expect("write");
        assert!(prepare_cache_dir(&file).is_err());
    }

    #[test]
    fn warnings_stay_on_one_bounded_line() {
        assert_eq!(bounded("a\nb"), "a b");
        let long = "x".repeat(10_000);
        assert_eq!(bounded(&long).chars().count(), MAX_REASON_CHARS + 3);
        assert_eq!(
            bounded(&"y".repeat(MAX_REASON_CHARS)),
            "y".repeat(MAX_REASON_CHARS)
        );
    }
}
