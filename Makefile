# The commands README.md documents. `make test` is the one that runs every test.
.PHONY: test test-rust test-embeddings lint demo

## Run every test: Rust (core, component, host, runner) then the Node.js and Python embeddings.
test: test-rust test-embeddings

## The Rust workspace: native core tests, component tests under wasmtime, host and runner tests.
test-rust:
	cargo test --workspace

## The same component in Node.js (jco) and Python (wasmtime-py), on the shared scenario corpus.
test-embeddings: test-rust
	bash examples/run-tests.sh

## Formatting and lints, the guest's wasm target included.
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p relay-autoconfig --target wasm32-wasip2 --target-dir target/guest -- -D warnings

## The built-in demo story.
demo:
	cargo run -p autoconfig-host -- --demo
