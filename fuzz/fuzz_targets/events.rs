//! Fuzz target: on-event / tick / configure sequences on a Client (relay_autoconfig::fuzzing::events).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| relay_autoconfig::fuzzing::events(data));
