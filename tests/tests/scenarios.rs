//! Runs every file of the shared scenario corpus on the real compiled component.

use autoconfig_component_tests::scenario::{corpus_files, load, run};

#[test]
fn every_scenario_passes() {
    let files = corpus_files();
    assert!(
        files.len() >= 60,
        "the corpus lost files: only {} found",
        files.len()
    );
    let mut failures = Vec::new();
    for file in &files {
        let outcome = load(file).and_then(|s| run(&s));
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
