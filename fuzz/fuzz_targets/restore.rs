//! Fuzz target: Client::restore of arbitrary and mutated snapshots (relay_autoconfig::fuzzing::restore).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| relay_autoconfig::fuzzing::restore(data));
