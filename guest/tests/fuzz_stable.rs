//! A bounded randomized run of the fuzz bodies (`relay_autoconfig::fuzzing`) on the stable
//! toolchain, without coverage feedback: seeded random inputs biased toward the bytes and words
//! the parsers care about, and mutations of each target's valid seeds.
//!
//! Each target runs until `FUZZ_SECONDS` (default 15) of wall time or `FUZZ_ITERATIONS`
//! (default 500,000) inputs, whichever comes first, and prints how many it ran. The seed is
//! fixed (`FUZZ_SEED` overrides it), so a run is repeatable up to where the time budget cuts it.
//! A failing input is printed in hex before the panic is passed on; the coverage-guided runs
//! are `cargo fuzz run <target>` in `fuzz/`.
//!
//! `FUZZ_REPLAY=FILE-OR-HEX` runs only that input (name the test to pick the target):
//! `FUZZ_REPLAY=fuzz/artifacts/sse/crash-… cargo test -p relay-autoconfig --test fuzz_stable sse`.
//!
//! `FUZZ_WRITE_SEEDS=DIR` also writes each target's seeds to `DIR/<target>/` (a starting
//! corpus for `cargo fuzz`: `FUZZ_WRITE_SEEDS=fuzz/corpus`; relative to the repository root).
//!
//! ```sh
//! cargo test --release -p relay-autoconfig --test fuzz_stable -- --nocapture
//! FUZZ_SEED=7 FUZZ_SECONDS=60 cargo test --release -p relay-autoconfig --test fuzz_stable -- --nocapture
//! ```

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::{Duration, Instant};

use relay_autoconfig::fuzzing::Target;

/// The default seed of the random inputs.
const DEFAULT_SEED: u64 = 0x5EED_F022_2026_0001;
/// The default wall-time budget per target, in seconds.
const DEFAULT_SECONDS: f64 = 15.0;
/// The default most inputs per target.
const DEFAULT_ITERATIONS: u64 = 500_000;
/// The longest random input.
const MAX_LEN: usize = 4096;

/// Bytes the parsers branch on.
const BYTES: &[u8] = b"{}[]:,\"\\\n\r\t :0123456789-.+eE/\0\xff\xef\xbb\xbf\x80";
/// Words the parsers branch on.
const WORDS: &[&str] = &[
    "put",
    "patch",
    "delete",
    "reconnect",
    "data",
    "event",
    "id",
    "retry",
    "data: ",
    "event: ",
    "id: ",
    "retry: ",
    "\n\n",
    "\r\n",
    "path",
    "\"/\"",
    "\"/environments/a\"",
    "environments",
    "envId",
    "version",
    "sdkKey",
    "expiring",
    "timestamp",
    "value",
    "null",
    "true",
    "false",
    "RACSNAP\n",
    "text/event-stream",
];

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// A random length, small far more often than large.
fn length(rng: &mut Rng) -> usize {
    let bits = rng.below(13);
    rng.below((1usize << bits).min(MAX_LEN) + 1)
}

/// A random input of interesting bytes, words and plain random bytes.
fn random_input(rng: &mut Rng) -> Vec<u8> {
    let len = length(rng);
    let mut out = Vec::with_capacity(len + 32);
    while out.len() < len {
        match rng.below(10) {
            0..=3 => out.push(BYTES[rng.below(BYTES.len())]),
            4..=6 => out.extend_from_slice(WORDS[rng.below(WORDS.len())].as_bytes()),
            7 => out.push(rng.below(8) as u8),
            _ => out.push(rng.next() as u8),
        }
    }
    out
}

/// Applies 1 to 8 random mutations to a copy of `seed` (spliced with `other` sometimes).
fn mutated(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut buf = seed.to_vec();
    let count = 1 + rng.below(8);
    for _ in 0..count {
        let len = buf.len();
        let pos = rng.below(len + 1);
        match rng.below(9) {
            0 if pos < len => buf[pos] ^= 1 << rng.below(8),
            1 if pos < len => buf[pos] = BYTES[rng.below(BYTES.len())],
            2 if pos < len => buf[pos] = rng.next() as u8,
            3 => {
                let end = (pos + 1 + rng.below(16)).min(len);
                buf.drain(pos.min(end)..end);
            }
            4 => buf.insert(pos, BYTES[rng.below(BYTES.len())]),
            5 => {
                let word = WORDS[rng.below(WORDS.len())].as_bytes();
                buf.splice(pos..pos, word.iter().copied());
            }
            6 => {
                let end = (pos + 1 + rng.below(64)).min(len);
                let copy = buf[pos.min(end)..end].to_vec();
                let at = rng.below(len + 1);
                buf.splice(at..at, copy);
            }
            7 if !other.is_empty() => {
                let from = rng.below(other.len());
                let end = (from + 1 + rng.below(256)).min(other.len());
                buf.splice(pos..pos, other[from..end].iter().copied());
            }
            _ => {
                if pos < len && rng.chance(30) {
                    buf.truncate(pos);
                }
            }
        }
        if buf.len() > 4 * MAX_LEN {
            buf.truncate(4 * MAX_LEN);
        }
    }
    buf
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a valid value")),
        Err(_) => default,
    }
}

/// The seed: `FUZZ_SEED` in decimal or `0x` hex, or the default.
fn seed() -> u64 {
    match std::env::var("FUZZ_SEED") {
        Ok(text) => {
            let text = text.trim();
            let parsed = match text.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => text.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("FUZZ_SEED={text:?} is not a number"))
        }
        Err(_) => DEFAULT_SEED,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The input `FUZZ_REPLAY` names: a file (a `cargo fuzz` artifact, say; relative to the
/// repository root) or the hex this test prints for a failing input.
fn replay_input() -> Option<Vec<u8>> {
    let text = std::env::var("FUZZ_REPLAY").ok()?;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if let Ok(bytes) = std::fs::read(root.join(&text)) {
        return Some(bytes);
    }
    let text = text.trim();
    let digits = text.as_bytes();
    assert!(
        digits.len().is_multiple_of(2) && digits.iter().all(u8::is_ascii_hexdigit),
        "FUZZ_REPLAY={text:?} is neither a file nor hex"
    );
    let bytes = digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).expect("ASCII hex");
            u8::from_str_radix(pair, 16).expect("hex digits")
        })
        .collect();
    Some(bytes)
}

/// Runs `target` on its seeds, then on random and mutated inputs within the budget (or only on
/// the input `FUZZ_REPLAY` names).
fn run(target: Target) {
    if let Some(input) = replay_input() {
        println!(
            "fuzz_stable: {} on the FUZZ_REPLAY input ({} bytes)",
            target.name(),
            input.len()
        );
        target.run(&input);
        return;
    }
    let seconds: f64 = env_or("FUZZ_SECONDS", DEFAULT_SECONDS);
    let max_iterations: u64 = env_or("FUZZ_ITERATIONS", DEFAULT_ITERATIONS);
    let seed = seed();
    let seeds = target.seeds();
    if let Ok(dir) = std::env::var("FUZZ_WRITE_SEEDS") {
        // A relative directory is taken from the repository root (tests run in `guest/`).
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = root.join(dir).join(target.name());
        std::fs::create_dir_all(&dir).expect("create the seed directory");
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), s).expect("write a seed");
        }
    }
    // Each target gets its own stream of inputs from the one seed.
    let salt = target
        .name()
        .bytes()
        .fold(0u64, |h, b| h.rotate_left(8) ^ u64::from(b));
    let mut rng = Rng(seed ^ salt);
    let budget = Duration::from_secs_f64(seconds.max(0.0));
    let started = Instant::now();
    let mut iterations = 0u64;
    let mut bytes = 0u64;
    let empty: Vec<u8> = Vec::new();
    while iterations < max_iterations {
        let input = if (iterations as usize) < seeds.len() {
            seeds[iterations as usize].clone()
        } else if rng.chance(35) || seeds.is_empty() {
            random_input(&mut rng)
        } else {
            let a = &seeds[rng.below(seeds.len())];
            let b = if rng.chance(30) {
                &seeds[rng.below(seeds.len())]
            } else {
                &empty
            };
            mutated(&mut rng, a, b)
        };
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| target.run(&input))) {
            eprintln!(
                "fuzz_stable: target {} failed at iteration {iterations} (FUZZ_SEED={seed:#x}) on input ({} bytes):\n{}",
                target.name(),
                input.len(),
                hex(&input)
            );
            eprintln!("as text: {:?}", String::from_utf8_lossy(&input));
            resume_unwind(panic);
        }
        iterations += 1;
        bytes += input.len() as u64;
        // The clock is read every few inputs only.
        if iterations.is_multiple_of(16) && started.elapsed() >= budget {
            break;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "fuzz_stable: {:<8} {iterations} iterations in {elapsed:.1} s ({:.0}/s, {:.0} bytes on average), FUZZ_SEED={seed:#x}",
        target.name(),
        iterations as f64 / elapsed.max(1e-9),
        bytes as f64 / (iterations.max(1)) as f64,
    );
}

#[test]
fn events() {
    run(Target::Events);
}

#[test]
fn restore() {
    run(Target::Restore);
}

#[test]
fn sse() {
    run(Target::Sse);
}

#[test]
fn stream() {
    run(Target::Stream);
}
