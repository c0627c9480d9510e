//! Runs every case of the shared stream corpus (`tests/streams/*.json`) on the real compiled
//! component, through the `stream-client` interface.
//!
//! `STREAMS_ACTUAL=DIR cargo test -p autoconfig-component-tests --test streams` also writes each
//! case's actual outputs to `DIR/<case>.json` (one entry per step), to help write new cases:
//! every output written into a case is then checked by hand against the policy.

use autoconfig_component_tests::streams::{corpus_files, load, run};
use autoconfig_host::Runtime;
use autoconfig_test_support::{runtime, unmetered_runtime};

#[test]
fn every_stream_case_passes() {
    every_stream_case_passes_with(runtime(), false);
}

/// Without fuel metering ([`autoconfig_host::Metering::Off`]): the same expectations, the
/// restarts after a trap included.
#[test]
fn every_stream_case_passes_unmetered() {
    every_stream_case_passes_with(unmetered_runtime(), false);
}

/// The same cases with the callbacks batched (the WIT `batch` interface): the same expectations.
#[test]
fn every_stream_case_passes_batched() {
    every_stream_case_passes_with(runtime(), true);
}

fn every_stream_case_passes_with(runtime: &Runtime, batched: bool) {
    let files = corpus_files();
    assert!(
        files.len() >= 20,
        "the stream corpus lost files: only {} found",
        files.len()
    );
    let metered = std::ptr::eq(runtime, autoconfig_test_support::runtime());
    let actual_dir = std::env::var_os("STREAMS_ACTUAL")
        .filter(|_| !batched && metered)
        .map(std::path::PathBuf::from);
    let mut failures = Vec::new();
    for file in &files {
        let case = match load(file) {
            Ok(case) => case,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        let (outcome, actual) = run(runtime, &case, batched);
        if let (Some(dir), Some(name)) = (&actual_dir, file.file_name()) {
            let text = serde_json::to_string_pretty(&actual).unwrap_or_default();
            if let Err(e) = std::fs::write(dir.join(name), text) {
                failures.push(format!("cannot write the actual outputs: {e}"));
            }
        }
        if let Err(e) = outcome {
            failures.push(format!("{}:\n{e}", file.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} stream cases failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}
