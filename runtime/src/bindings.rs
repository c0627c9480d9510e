//! The one `bindgen!` site: Rust types and traits for the `relay:autoconfig` world.

wasmtime::component::bindgen!({
    world: "autoconfig",
    path: "../wit",
});
