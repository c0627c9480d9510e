//! The `relay-autoconfig` component, built from `guest/` by this crate's build script (for
//! `wasm32-wasip2`, profile `guest`, in its own target dir `target/guest`) and embedded here, in
//! the way wasmtime's and spin's test-artifact crates do it. Depending on this crate is how a
//! host gets the component without a path on disk: a binary that embeds it runs from anywhere.
//!
//! The build needs the `wasm32-wasip2` target (`rustup target add wasm32-wasip2`, which
//! `make` does); without it the build stops and says so.

/// The component's bytes.
pub const COMPONENT: &[u8] = include_bytes!(env!("AUTOCONFIG_COMPONENT_PATH"));

/// Where the build put the component (in this workspace's `target/guest`), e.g. to hand it to
/// another runtime in tests. A relocated binary must not rely on it: use [`COMPONENT`].
pub const COMPONENT_PATH: &str = env!("AUTOCONFIG_COMPONENT_PATH");

/// The SHA-256 of [`COMPONENT`], lowercase hex: what `make component` writes to
/// `dist/relay_autoconfig.wasm.sha256`.
pub const COMPONENT_SHA256: &str = env!("AUTOCONFIG_COMPONENT_SHA256");

#[cfg(test)]
mod tests {
    #[test]
    fn the_embedded_bytes_are_a_component_and_match_the_file() {
        assert_eq!(&super::COMPONENT[..4], b"\0asm", "wasm magic");
        // Components have layer 1 in the version field; core modules have 0.
        assert_eq!(super::COMPONENT[6], 1, "a component, not a core module");
        let on_disk = std::fs::read(super::COMPONENT_PATH).expect("the built file exists");
        assert_eq!(on_disk, super::COMPONENT);
        assert_eq!(super::COMPONENT_SHA256.len(), 64);
    }
}
