//! The compiled-component cache: the machine code wasmtime produced for one component and one
//! engine configuration, kept in a private directory and checked before it is ever run.
//!
//! Each entry is `relay-autoconfig-<sha256>.cwasm` with its SHA-256 in `<entry>.sha256`. The
//! name covers the component's bytes, this crate's version and the engine's compatibility hash,
//! so builds and metering modes never share an entry. Writing a new entry also prunes the
//! directory: entries unused for [`UNUSED_FOR`], or beyond the [`KEEP_OTHERS`] most recently
//! used, go (a loaded entry counts as used: its modification time is refreshed), so upgrades do
//! not fill the disk a megabyte at a time.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::Error;

/// The compiled component for `engine` from `cache_dir`, or compiled now and stored there. Not
/// being able to use or write the cache is a warning, never an error: the component is
/// compiled.
pub(crate) fn component(
    engine: &Engine,
    bytes: &[u8],
    cache_dir: &Path,
) -> Result<Component, Error> {
    let compile = || Component::new(engine, bytes).map_err(|e| Error::Compile(e.into()));
    if let Err(reason) = prepare_cache_dir(cache_dir) {
        tracing::warn!(
            "not using the compiled-component cache {}: {}",
            cache_dir.display(),
            bounded(&reason)
        );
        return compile();
    }
    let entry = cache_dir.join(cache_name(engine, bytes));
    match load_cache_entry(engine, &entry) {
        Ok(component) => {
            mark_used(&entry, SystemTime::now());
            return Ok(component);
        }
        Err(Miss::Absent) => {}
        Err(Miss::Rejected(reason)) => tracing::warn!(
            "rejecting the cached component {}: {}; recompiling and replacing it",
            entry.display(),
            bounded(&reason)
        ),
    }
    let component = compile()?;
    match write_cache_entry(&component, cache_dir, &entry) {
        Ok(()) => {
            let removed = prune(cache_dir, &entry, SystemTime::now());
            if removed > 0 {
                tracing::info!(
                    "removed {removed} unused compiled component(s) from the cache {}",
                    cache_dir.display()
                );
            }
        }
        Err(e) => tracing::warn!(
            "cannot cache the compiled component as {}: {}",
            entry.display(),
            bounded(&e.to_string())
        ),
    }
    Ok(component)
}

/// Entries unused for this long are removed when another entry is written.
const UNUSED_FOR: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// At most this many entries besides the one just written are kept: the most recently used.
const KEEP_OTHERS: usize = 8;

/// A loaded entry's modification time is refreshed when it is older than this (so that a start
/// does not write to the disk every time).
const MARK_USED_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// A temporary file this old was left by a writer that died.
const STALE_TEMP: Duration = Duration::from_secs(60 * 60);

/// The most directory entries looked at when pruning (a directory stuffed with files must not
/// make a start slow).
const MAX_SCANNED: usize = 10_000;

/// Refreshes the modification time of `entry`, just loaded, unless it is recent: the time the
/// pruning goes by. A failure changes nothing but the pruning order.
fn mark_used(entry: &Path, now: SystemTime) {
    let recent = std::fs::metadata(entry)
        .and_then(|m| m.modified())
        .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age < MARK_USED_AFTER));
    if !recent && let Ok(file) = std::fs::OpenOptions::new().write(true).open(entry) {
        let _ = file.set_modified(now);
    }
}

/// Whether `name` is an entry's: `relay-autoconfig-` and 64 lowercase hex digits, `.cwasm`.
fn is_entry_name(name: &str) -> bool {
    name.strip_prefix("relay-autoconfig-")
        .and_then(|rest| rest.strip_suffix(".cwasm"))
        .is_some_and(|hash| {
            hash.len() == 64
                && hash
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// Whether `name` is a temporary file of [`write_temp`]: `.<entry name>[.sha256].<unique>.tmp`.
fn is_temp_name(name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|rest| rest.strip_suffix(".tmp"))
        .and_then(|rest| rest.split_once(".cwasm."))
        .is_some_and(|(stem, _)| is_entry_name(&format!("{stem}.cwasm")))
}

/// Removes `path` if it is a regular file (never a symbolic link or a directory) last modified
/// no later than `seen`: a file that another process wrote again since the listing is kept.
fn remove_if_unchanged(path: &Path, seen: Option<SystemTime>) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    let unchanged = match (meta.modified().ok(), seen) {
        (Some(now), Some(seen)) => now <= seen,
        _ => true,
    };
    meta.is_file() && unchanged && std::fs::remove_file(path).is_ok()
}

/// Removes what `dir` no longer needs, `keep` having just been written: other entries (and
/// their hash files) unused for [`UNUSED_FOR`] or beyond the [`KEEP_OTHERS`] most recently
/// used, hash files whose entry is gone, and temporary files of writers that died. Only regular
/// files with this cache's names are removed: never a symbolic link, a directory or anything
/// else someone put there, and never a file written again since the listing (another process
/// may be replacing an entry at the same time: its new files stay). A modification time in the
/// future counts as now. Returns how many entries were removed.
fn prune(dir: &Path, keep: &Path, now: SystemTime) -> usize {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return 0;
    };
    let age = |meta: &std::fs::Metadata| {
        meta.modified()
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .unwrap_or(Duration::ZERO)
    };
    let mut entries: Vec<(Duration, PathBuf, Option<SystemTime>)> = Vec::new();
    let mut hashes: Vec<(PathBuf, Option<SystemTime>)> = Vec::new();
    for item in listing.take(MAX_SCANNED).flatten() {
        let path = item.path();
        // Not following a symbolic link: a link is not a file here.
        let Ok(meta) = item.metadata() else {
            continue;
        };
        let name = item.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        if is_entry_name(name) {
            if path != keep {
                entries.push((age(&meta), path, meta.modified().ok()));
            }
        } else if name.strip_suffix(".sha256").is_some_and(is_entry_name) {
            hashes.push((path, meta.modified().ok()));
        } else if is_temp_name(name) && age(&meta) > STALE_TEMP {
            remove_if_unchanged(&path, meta.modified().ok());
        }
    }
    entries.sort();
    let mut removed = 0;
    for (rank, (age, entry, seen)) in entries.iter().enumerate() {
        if (rank >= KEEP_OTHERS || *age > UNUSED_FOR) && remove_if_unchanged(entry, *seen) {
            removed += 1;
        }
    }
    // Hash files last, and only those whose entry is gone now: a writer renames its entry into
    // place before its hash, so an entry being replaced is never left without its hash.
    for (hash, seen) in hashes {
        let entry = hash.with_extension("");
        if std::fs::symlink_metadata(&entry).is_err() {
            remove_if_unchanged(&hash, seen);
        }
    }
    removed
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::COMPONENT;
    use crate::runtime::{Limits, Metering, Runtime, engine_config};
    use wasmtime::Config;

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

    const DAY: Duration = Duration::from_secs(24 * 60 * 60);

    /// A file at `path` with `bytes`, last modified `age` before `now`.
    fn file_aged(path: &Path, bytes: &[u8], now: SystemTime, age: Duration) {
        std::fs::write(path, bytes).expect("write");
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .expect("open");
        file.set_modified(now - age)
            .expect("set the modification time");
    }

    /// An entry's name for the number `i`.
    fn entry_name(i: u32) -> String {
        format!("relay-autoconfig-{i:064x}.cwasm")
    }

    #[test]
    fn pruning_removes_unused_and_excess_entries_and_nothing_else() {
        let dir = TempDir::new("prune");
        prepare_cache_dir(&dir.0).expect("trusted");
        // Virtual time: a fixed `now`, with every file's age set from it.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let path = |name: &str| dir.0.join(name);
        // The entry just written: kept even when its time is odd (a clock set back).
        let keep = path(&entry_name(0));
        file_aged(&keep, b"new", now, 400 * DAY);
        file_aged(&hash_path(&keep), b"h", now, 400 * DAY);
        // Ten others used 1..=10 days ago, and one unused for 31 days (beyond the newest 8
        // anyway: the age rule alone is the next test's).
        for i in 1..=10 {
            let entry = path(&entry_name(i));
            file_aged(&entry, b"old", now, DAY * i);
            file_aged(&hash_path(&entry), b"h", now, DAY * i);
        }
        let unused = path(&entry_name(31));
        file_aged(&unused, b"old", now, 31 * DAY);
        file_aged(&hash_path(&unused), b"h", now, 31 * DAY);
        // Not ours, or not plain files: never removed, however old.
        let notes = path("notes.txt");
        file_aged(&notes, b"mine", now, 900 * DAY);
        let upper = path(&format!("relay-autoconfig-{}.cwasm", "AB".repeat(32)));
        file_aged(&upper, b"x", now, 900 * DAY);
        let not_a_temp = path(".relay-autoconfig-notes.tmp");
        file_aged(&not_a_temp, b"mine", now, 900 * DAY);
        let directory = path(&entry_name(12));
        std::fs::create_dir(&directory).expect("mkdir");
        #[cfg(unix)]
        let links = [
            path(&entry_name(13)),
            hash_path(&path(&entry_name(17))),
            path(&format!(".{}.7-8-9.tmp", entry_name(18))),
        ]
        .map(|link| {
            std::os::unix::fs::symlink(&notes, &link).expect("symlink");
            link
        });
        // A hash file whose entry is gone, and temporary files of writers, dead or alive.
        let orphan = hash_path(&path(&entry_name(14)));
        file_aged(&orphan, b"h", now, DAY);
        let dead = path(&format!(".{}.1-2-3.tmp", entry_name(15)));
        file_aged(&dead, b"t", now, 2 * STALE_TEMP);
        let writing = path(&format!(".{}.4-5-6.tmp", entry_name(16)));
        file_aged(&writing, b"t", now, Duration::from_secs(60));

        assert_eq!(
            prune(&dir.0, &keep, now),
            3,
            "two beyond the newest 8, one unused"
        );

        let exists = |p: &Path| std::fs::symlink_metadata(p).is_ok();
        assert!(exists(&keep) && exists(&hash_path(&keep)));
        for i in 1..=10 {
            let entry = path(&entry_name(i));
            let kept = i <= KEEP_OTHERS as u32;
            assert_eq!(exists(&entry), kept, "entry used {i} days ago");
            assert_eq!(exists(&hash_path(&entry)), kept, "its hash");
        }
        assert!(!exists(&unused) && !exists(&hash_path(&unused)));
        assert!(exists(&notes) && exists(&upper) && exists(&directory) && exists(&not_a_temp));
        #[cfg(unix)]
        for link in &links {
            assert!(exists(link), "a link is not removed: {link:?}");
        }
        assert!(!exists(&orphan), "a hash without its entry");
        assert!(!exists(&dead), "a dead writer's temporary file");
        assert!(exists(&writing), "a live writer's temporary file");
        // Nothing more to do the second time.
        assert_eq!(prune(&dir.0, &keep, now), 0);
    }

    #[test]
    fn an_entry_unused_for_a_month_goes_even_among_few() {
        let dir = TempDir::new("prune-age");
        prepare_cache_dir(&dir.0).expect("trusted");
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let keep = dir.0.join(entry_name(0));
        file_aged(&keep, b"new", now, Duration::ZERO);
        let aged = |i: u32, age: Duration| {
            let entry = dir.0.join(entry_name(i));
            file_aged(&entry, b"old", now, age);
            file_aged(&hash_path(&entry), b"h", now, age);
            entry
        };
        let recent = aged(1, DAY);
        let month = aged(2, UNUSED_FOR - Duration::from_secs(60));
        let unused = aged(3, UNUSED_FOR + Duration::from_secs(60));
        // A clock that was ahead: a time in the future counts as now (kept).
        let ahead = aged(4, Duration::ZERO);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&ahead)
            .and_then(|f| f.set_modified(now + 10 * DAY))
            .expect("a time in the future");
        assert_eq!(prune(&dir.0, &keep, now), 1);
        for entry in [&keep, &recent, &month, &ahead] {
            assert!(entry.exists(), "{entry:?}");
        }
        assert!(!unused.exists() && !hash_path(&unused).exists());
    }

    #[test]
    fn a_file_written_again_since_the_listing_is_not_removed() {
        let dir = TempDir::new("prune-race");
        prepare_cache_dir(&dir.0).expect("trusted");
        let entry = dir.0.join(entry_name(1));
        let now = SystemTime::now();
        file_aged(&entry, b"rewritten", now, Duration::ZERO);
        // Listed an hour ago, written again since: another process replaced it; it stays.
        assert!(!remove_if_unchanged(
            &entry,
            Some(now - Duration::from_secs(3600))
        ));
        assert!(entry.exists());
        // Unchanged since the listing: removed.
        assert!(remove_if_unchanged(&entry, Some(now)));
        assert!(!entry.exists());
        assert!(!remove_if_unchanged(&entry, Some(now)), "already gone");
    }

    #[test]
    fn temporary_names_are_recognised_exactly() {
        assert!(is_temp_name(&format!(".{}.1-2-3.tmp", entry_name(1))));
        assert!(is_temp_name(&format!(
            ".{}.sha256.1-2-3.tmp",
            entry_name(1)
        )));
        for name in [
            ".relay-autoconfig-notes.tmp",
            &format!("{}.1-2-3.tmp", entry_name(1)),
            &format!(".{}.1-2-3", entry_name(1)),
            ".tmp",
            "",
        ] {
            assert!(!is_temp_name(name), "{name}");
        }
    }

    /// Through the real loader: a load marks its entry as used, and writing a new entry prunes
    /// an entry nobody used for a month.
    #[test]
    fn loading_marks_entries_used_and_writing_one_prunes_the_unused() {
        let dir = TempDir::new("prune-load");
        prepare_cache_dir(&dir.0).expect("trusted");
        let now = SystemTime::now();
        let stale = dir.0.join(entry_name(7));
        file_aged(&stale, b"an older build", now, 40 * DAY);
        file_aged(&hash_path(&stale), b"h", now, 40 * DAY);
        let first = Runtime::from_bytes_cached(COMPONENT, Limits::default(), &dir.0).expect("load");
        assert!(!first.imports().is_empty());
        assert!(!stale.exists() && !hash_path(&stale).exists(), "pruned");
        let engine = Engine::new(&engine_config(Metering::Fuel)).expect("engine");
        let entry = dir.0.join(cache_name(&engine, COMPONENT));
        let modified = |p: &Path| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .expect("time")
        };
        // Used 20 days ago: loading it again makes it recent (a hit, not a rewrite: the bytes
        // stay the same file).
        let bytes = std::fs::read(&entry).expect("entry");
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&entry)
            .expect("open");
        file.set_modified(now - 20 * DAY).expect("age it");
        drop(file);
        Runtime::from_bytes_cached(COMPONENT, Limits::default(), &dir.0).expect("load");
        assert!(modified(&entry) > now - DAY, "marked as used");
        assert_eq!(std::fs::read(&entry).expect("entry"), bytes);
    }

    #[test]
    fn entry_names_are_recognised_exactly() {
        assert!(is_entry_name(&entry_name(1)));
        for name in [
            "relay-autoconfig-.cwasm",
            "relay-autoconfig-abc.cwasm",
            &format!("{}.sha256", entry_name(1)),
            &entry_name(1).replace("relay", "other"),
            &format!("relay-autoconfig-{}.cwasm", "g".repeat(64)),
            &format!("relay-autoconfig-{}.cwasm", "A".repeat(64)),
        ] {
            assert!(!is_entry_name(name), "{name}");
        }
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
