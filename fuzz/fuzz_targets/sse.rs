//! Fuzz target: The SSE parser under arbitrary chunking (relay_autoconfig::fuzzing::sse).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| relay_autoconfig::fuzzing::sse(data));
