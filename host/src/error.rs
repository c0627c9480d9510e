//! Errors of the host library.

use std::path::PathBuf;

/// What can go wrong loading or running the component.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The component file could not be read.
    #[error("cannot read the component {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The bytes are not a valid component, or wasmtime could not be set up.
    #[error("cannot compile the component: {0}")]
    Compile(String),
    /// The component's imports or exports do not match the `relay:autoconfig` world.
    #[error("the component does not fit the relay:autoconfig world: {0}")]
    Link(String),
    /// The guest trapped (a bug, a memory limit, or running out of fuel). Its state is lost:
    /// the next call runs on a fresh instance, which must be resynchronised with a new `put`
    /// (restart the stream).
    #[error("the component trapped: {0}")]
    Trap(String),
}
