//! The shared corpora below `tests/`: `scenarios/` (events and ticks through `client`) and
//! `streams/` (statuses, chunks, closes and timeouts through `stream-client`).

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// The `tests/` folder of the workspace.
pub fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("tests"), |root| root.join("tests"))
}

/// The `*.json` files of the corpus folder `name` (below `tests/`), sorted by name.
pub fn files(name: &str) -> Vec<PathBuf> {
    let dir = tests_dir().join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Loads one corpus file.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}
