//! Runs every file of the shared scenario corpus on the real compiled component.

use autoconfig_component_tests::scenario::{corpus_files, load, run};
use autoconfig_host::Runtime;
use autoconfig_test_support::{runtime, unmetered_runtime};

#[test]
fn every_scenario_passes() {
    every_scenario_passes_with(runtime(), false);
}

/// Without fuel metering ([`autoconfig_host::Metering::Off`]) the component does exactly the
/// same: the same corpus, the same expectations.
#[test]
fn every_scenario_passes_unmetered() {
    every_scenario_passes_with(unmetered_runtime(), false);
}

/// The batched form of the callbacks (the WIT `batch` interface) gives exactly the callbacks the
/// per-callback form gives: the same corpus, the same expectations.
#[test]
fn every_scenario_passes_batched() {
    every_scenario_passes_with(runtime(), true);
}

fn every_scenario_passes_with(runtime: &Runtime, batched: bool) {
    let files = corpus_files();
    assert!(
        files.len() >= 60,
        "the corpus lost files: only {} found",
        files.len()
    );
    let mut failures = Vec::new();
    for file in &files {
        let outcome = load(file).and_then(|s| run(runtime, &s, batched));
        if let Err(e) = outcome {
            failures.push(format!("{}:\n{e}", file.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} scenarios failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}
