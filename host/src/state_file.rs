//! `--state-file`: the component's snapshot on disk, so that a restarted sidecar serves the
//! last known environments before the stream answers.
//!
//! - At start a valid file is restored and announced (an `add` per environment, then `ready`).
//!   A missing file is a first start. An unreadable, corrupt, foreign or newer-version file is
//!   a warning and a clean start, and it is not overwritten until a valid state exists (the
//!   first `ready` from the stream).
//! - After changes (any callback, or a new last event id) the snapshot is written again, at
//!   most once a second, and once more at shutdown.
//! - Every write is atomic: a temporary file in the same directory, created exclusively with a
//!   random name and mode 0600 (it holds SDK keys; an existing file or link is never reused),
//!   written and fsynced, renamed over the file, then the directory fsynced. A file found with
//!   looser permissions is set to 0600 at start.
//! - One process per state file: `PATH.lock` is locked for the process's life; a second host on
//!   the same file refuses to start.
//! - A file over [`MAX_FILE_BYTES`] is not read (a warning and a clean start). A write that
//!   fails is logged and tried again after the next change, not every second.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The shortest time between two writes.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The largest state file read: the component's state limit (192 MiB by default) plus room.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Why the state file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateFileError {
    /// Reading or writing failed.
    #[error("{action} the state file {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// Checks at start that `path` can be a state file: its directory exists, it is not a directory
/// or another special file, and no other host holds its lock (which is released again: the
/// runner takes it for good).
pub fn check(path: &Path) -> Result<(), StateFileError> {
    let fail = |why: String| StateFileError::Io {
        action: "cannot use",
        path: path.to_owned(),
        source: io::Error::other(why),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return Err(fail(format!(
            "its directory {} does not exist",
            dir.display()
        )));
    }
    if let Ok(meta) = fs::metadata(path)
        && !meta.is_file()
    {
        return Err(fail("it is not a regular file".into()));
    }
    lock(path).map(drop)
}

/// Opens `path` for reading without blocking on a FIFO (or any special file that would wait for
/// a writer): callers then check that it is a regular file before reading.
pub fn open_for_reading(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

/// Reads the state file; `Ok(None)` when it does not exist. Refuses a file over
/// [`MAX_FILE_BYTES`] without reading it, and sets a file readable by others to 0600.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>, StateFileError> {
    let fail = |source: io::Error| StateFileError::Io {
        action: "cannot read",
        path: path.to_owned(),
        source,
    };
    let file = match open_for_reading(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fail(e)),
    };
    let meta = file.metadata().map_err(fail)?;
    if !meta.is_file() {
        return Err(fail(io::Error::other("it is not a regular file")));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(fail(io::Error::other(format!(
            "it holds {} bytes, more than the {MAX_FILE_BYTES} a state can take",
            meta.len()
        ))));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                "The state file {} was readable by others (it holds SDK keys); setting it to 0600",
                path.display()
            );
            let _ = file.set_permissions(fs::Permissions::from_mode(0o600));
        }
    }
    let mut bytes = Vec::new();
    io::Read::take(file, MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(fail)?;
    Ok(Some(bytes))
}

/// Holds `PATH.lock` for as long as it lives: one process per state file.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Locks the state file against a second process.
pub fn lock(path: &Path) -> Result<Lock, StateFileError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let fail = |source: io::Error| StateFileError::Io {
        action: "cannot lock",
        path: path.to_owned(),
        source,
    };
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Non-blocking: a FIFO planted at the lock's path must not hang the start.
        options.mode(0o600).custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(&lock_path).map_err(fail)?;
    if !file.metadata().map_err(fail)?.is_file() {
        return Err(fail(io::Error::other(format!(
            "{} is not a regular file",
            lock_path.display()
        ))));
    }
    match file.try_lock() {
        Ok(()) => Ok(Lock { _file: file }),
        Err(fs::TryLockError::WouldBlock) => Err(fail(io::Error::other(
            "another autoconfig-host is using it",
        ))),
        Err(fs::TryLockError::Error(e)) => Err(fail(e)),
    }
}

/// Replaces `path` with `bytes` atomically (see the module docs).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateFileError> {
    let fail = |action: &'static str| {
        move |source: io::Error| StateFileError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    // A fresh, unpredictable name, created exclusively and never through a link: nobody can
    // prepare the file the keys are written to.
    let mut opened = None;
    for _ in 0..8 {
        let temp = dir.join(format!(".{name}.{:016x}.tmp", fastrand::u64(..)));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600).custom_flags(libc_o_nofollow());
        }
        match options.open(&temp) {
            Ok(file) => {
                opened = Some((file, temp));
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(fail("cannot write")(e)),
        }
    }
    let Some((mut file, temp)) = opened else {
        return Err(fail("cannot write")(io::Error::other(
            "no free temporary file name",
        )));
    };
    let written = (|| {
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        // The rename itself must reach the disk too.
        File::open(&dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written.map_err(fail("cannot write"))
}

/// `O_NOFOLLOW` on Linux (the only value this crate needs from libc).
#[cfg(unix)]
fn libc_o_nofollow() -> i32 {
    if cfg!(any(target_os = "linux", target_os = "android")) {
        0o400_000
    } else {
        0x100
    }
}

/// When the runner writes: tracks changes since the last write and the one-second spacing.
#[derive(Debug)]
pub struct Saver {
    path: PathBuf,
    /// False while the file on disk is corrupt and no valid state replaced it yet.
    writable: bool,
    /// The driver's change count at the last write.
    saved: u64,
    /// The change count of the last write that failed: not tried again until it moves.
    failed: Option<u64>,
    /// When the last write happened.
    last_write: Option<Instant>,
}

impl Saver {
    /// A saver for `path`; `writable` false keeps a corrupt file until a valid state exists.
    pub fn new(path: PathBuf, writable: bool, changes: u64) -> Self {
        Saver {
            path,
            writable,
            saved: changes,
            failed: None,
            last_write: None,
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A valid state exists now: the file may be replaced.
    pub fn allow(&mut self) {
        self.writable = true;
    }

    /// Whether a write is due at `now` given the driver's change count; `Err(at)` when one is
    /// wanted but must wait until `at`.
    pub fn due(&self, changes: u64, now: Instant) -> Result<bool, Instant> {
        if !self.writable || changes == self.saved || self.failed == Some(changes) {
            return Ok(false);
        }
        match self.last_write {
            Some(at) if now < at + MIN_INTERVAL => Err(at + MIN_INTERVAL),
            _ => Ok(true),
        }
    }

    /// Writes `snapshot`, taken at change count `changes`.
    pub fn write(
        &mut self,
        snapshot: &[u8],
        changes: u64,
        now: Instant,
    ) -> Result<(), StateFileError> {
        self.last_write = Some(now);
        if let Err(e) = write_atomic(&self.path, snapshot) {
            self.failed = Some(changes);
            return Err(e);
        }
        self.saved = changes;
        self.failed = None;
        Ok(())
    }
}
