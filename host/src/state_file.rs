//! `--state-file`: the component's snapshot on disk, so that a restarted sidecar serves the
//! last known environments before the stream answers.
//!
//! - At start a valid file is restored and announced (an `add` per environment, then `ready`).
//!   A missing file is a first start. An unreadable, corrupt, foreign or newer-version file is
//!   a warning and a clean start, and it is not overwritten until a valid state exists (the
//!   first `ready` from the stream).
//! - After changes (any callback, or a new last event id) the snapshot is written again, at
//!   most once a second, and once more at shutdown.
//! - Every write is atomic: a temporary file in the same directory, created with mode 0600 (it
//!   holds SDK keys), written and fsynced, renamed over the file, then the directory fsynced.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The shortest time between two writes.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

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

/// Reads the state file; `Ok(None)` when it does not exist.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>, StateFileError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StateFileError::Io {
            action: "cannot read",
            path: path.to_owned(),
            source,
        }),
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
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&temp)?;
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

/// When the runner writes: tracks changes since the last write and the one-second spacing.
#[derive(Debug)]
pub struct Saver {
    path: PathBuf,
    /// False while the file on disk is corrupt and no valid state replaced it yet.
    writable: bool,
    /// The driver's change count at the last write.
    saved: u64,
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
        if !self.writable || changes == self.saved {
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
        write_atomic(&self.path, snapshot)?;
        self.saved = changes;
        Ok(())
    }
}
