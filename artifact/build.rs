//! Builds the guest component for `wasm32-wasip2` with its own target dir (a nested cargo on
//! the same target dir would deadlock on its lock), and tells the crate where it is and its
//! SHA-256. It never installs anything: a missing target is an error that says what to run.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("artifact/ sits in the workspace root")
        .to_path_buf();
    for watched in [
        "guest/src",
        "guest/Cargo.toml",
        "types/src",
        "types/Cargo.toml",
        "wit",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let target_dir = root.join("target").join("guest");
    let component = target_dir
        .join(TARGET)
        .join("guest")
        .join("relay_autoconfig.wasm");
    println!(
        "cargo:rustc-env=AUTOCONFIG_COMPONENT_PATH={}",
        component.display()
    );
    check_target();

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--package",
            "relay-autoconfig",
            "--target",
            TARGET,
            "--profile",
            "guest",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        // Flags meant for the host build must not leak into the wasm build.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_PROFILE_RELEASE_PANIC");
    if env::var_os("CARGO_NET_OFFLINE").is_some() {
        cmd.arg("--offline");
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the guest: {e}"));
    if !status.success() {
        panic!("building the guest component failed ({status}); see the cargo output above");
    }
    if !Path::new(&component).exists() {
        panic!(
            "the guest build succeeded but {} is missing",
            component.display()
        );
    }
    println!(
        "cargo:rustc-env=AUTOCONFIG_COMPONENT_SHA256={}",
        sha256_hex(&component)
    );
}

/// Stops the build, saying what to run, if the wasm target is not installed.
fn check_target() {
    let sysroot = Command::new(env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if sysroot.is_some_and(|root| root.join("lib/rustlib").join(TARGET).exists()) {
        return;
    }
    panic!(
        "the Rust target {TARGET} is not installed: run `rustup target add {TARGET}` (or use `make`, which does) and build again"
    );
}

/// Lowercase hex SHA-256 of a file.
fn sha256_hex(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path)
        .unwrap_or_else(|e| panic!("cannot read the built component {}: {e}", path.display()));
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
