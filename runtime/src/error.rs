//! Errors of the runtime: loading the component, linking it, and running it.

use std::fmt;
use std::path::PathBuf;

/// Any error, boxed, kept as the `source()` of ours (wasmtime's errors among them).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What can go wrong loading or running the component. Each variant that wraps another error
/// returns it from `source()`; print the chain (e.g. with `anyhow`'s `{:#}`) for the detail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The component file could not be read.
    #[error("cannot read the component {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a valid component, or wasmtime could not be set up for them.
    #[error("cannot compile the component")]
    Compile(#[source] BoxError),
    /// The component's imports or exports do not match the `relay:autoconfig` world.
    #[error("the component does not fit the relay:autoconfig world")]
    Link(#[source] BoxError),
    /// A fresh instance could not be created or configured (not a trap in guest code).
    #[error("cannot start an instance of the component")]
    Instantiate(#[source] BoxError),
    /// The guest trapped. The next call runs on a fresh instance (see [`crate::Driver`]).
    #[error(transparent)]
    Trap(#[from] Trap),
    /// After a trap, the fresh instance refused the stream options the old one had accepted.
    #[error("the component refused to restart its stream client after a trap: {0}")]
    Restart(String),
}

/// A guest trap: what kind, and wasmtime's error (with the guest backtrace) as its source.
#[derive(Debug, thiserror::Error)]
#[error("the component trapped ({kind})")]
pub struct Trap {
    kind: TrapKind,
    #[source]
    source: BoxError,
}

impl Trap {
    /// Classifies wasmtime's error; `memory_refused`: a memory growth was refused during the
    /// call (the guest then aborts, which is the memory limit rather than a bug).
    pub(crate) fn new(error: wasmtime::Error, memory_refused: bool) -> Trap {
        let kind = match error.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::OutOfFuel) => TrapKind::OutOfFuel,
            _ if memory_refused => TrapKind::MemoryLimit,
            Some(wasmtime::Trap::UnreachableCodeReached) => TrapKind::Panic,
            _ => TrapKind::Other,
        };
        Trap {
            kind,
            source: error.into(),
        }
    }

    /// What kind of trap it was.
    pub fn kind(&self) -> TrapKind {
        self.kind
    }
}

/// Why the guest trapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TrapKind {
    /// The call used up its fuel budget ([`crate::Limits`]).
    OutOfFuel,
    /// The guest needed more linear memory than [`crate::Limits::max_memory_bytes`].
    MemoryLimit,
    /// The guest panicked (a bug in the component; it logs `critical` first).
    Panic,
    /// Any other trap (out-of-bounds access, stack overflow, ...).
    Other,
}

impl fmt::Display for TrapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrapKind::OutOfFuel => "out of fuel",
            TrapKind::MemoryLimit => "memory limit",
            TrapKind::Panic => "guest panic",
            TrapKind::Other => "trap",
        })
    }
}

/// An error and its sources on one line, `: `-separated (for log lines).
pub fn report(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = e.source();
    }
    line
}
