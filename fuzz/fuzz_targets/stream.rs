//! Fuzz target: The stream client: start / on-response / on-body / on-closed / on-timeout (relay_autoconfig::fuzzing::stream).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| relay_autoconfig::fuzzing::stream(data));
