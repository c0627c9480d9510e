# The commands README.md documents. `make test` is the one that runs every test.
.PHONY: setup test test-rust test-embeddings lint demo component fuzz fuzz-stable

## What the build needs besides Rust: the wasm target the component is built for (the build
## itself never installs anything; without the target it stops and says to run this).
setup:
	rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

## The component alone (no wasmtime, no host): dist/relay_autoconfig.wasm and its sha256. The
## same command, target dir and profile as artifact/build.rs, so both produce the same bytes.
component: setup
	cargo build -p relay-autoconfig --target wasm32-wasip2 --profile guest --target-dir target/guest
	mkdir -p dist
	cp target/guest/wasm32-wasip2/guest/relay_autoconfig.wasm dist/relay_autoconfig.wasm
	cd dist && sha256sum relay_autoconfig.wasm > relay_autoconfig.wasm.sha256
	@cat dist/relay_autoconfig.wasm.sha256

## Run every test: Rust (core, component, host, runner) then the Node.js and Python embeddings.
test: test-rust test-embeddings

## The Rust workspace: native core tests, component tests under wasmtime, host and runner tests.
test-rust: setup
	cargo test --workspace

## The same component in Node.js (jco) and Python (wasmtime-py), on the shared scenario corpus.
test-embeddings: test-rust
	bash examples/run-tests.sh

## Formatting and lints, the guest's wasm target included.
lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p relay-autoconfig --target wasm32-wasip2 --target-dir target/guest -- -D warnings
	cargo fmt --manifest-path fuzz/Cargo.toml -- --check
	cargo clippy --manifest-path fuzz/Cargo.toml --locked -- -D warnings

## The fuzz bodies on stable (no coverage feedback), longer than in `make test`.
fuzz-stable:
	FUZZ_SECONDS=60 cargo test --release -p relay-autoconfig --test fuzz_stable -- --nocapture

## Coverage-guided fuzzing (cargo-fuzz + libFuzzer on stable), each target for FUZZ_TIME seconds.
FUZZ_TIME ?= 120
fuzz:
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	for t in events restore sse stream; do \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run -s none $$t -- -max_total_time=$(FUZZ_TIME) -dict=fuzz/fuzz.dict || exit 1; \
	done

## The built-in demo story.
demo: setup
	cargo run -p autoconfig-host -- --demo

## The benchmark report (docs/benchmarks.md and docs/benchmarks-put.svg): criterion for the component
## against the native core, then every host and the plain baselines end to end on loopback (the Node
## host's component is transpiled again first, so that every row runs the same guest).
.PHONY: bench-report
bench-report: setup
	cargo build --release -p autoconfig-host
	if [ -d examples/node/node_modules ]; then cd examples/node && node scripts/transpile.mjs; fi
	python3 bench/run.py
