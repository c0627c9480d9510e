#!/usr/bin/env bash
# Runs the Node.js and Python embeddings of the relay-autoconfig component against the shared
# corpora (tests/scenarios/*.json, tests/streams/*.json) plus their hosts end to end, then the
# cross-check of the Rust, Node.js and Python hosts (examples/cross-check.sh). Sets up what is missing
# first (idempotent): npm ci in examples/node, a virtualenv at .venv with
# examples/python/requirements.txt, and the jco transpile of the component.
#
#   examples/run-tests.sh [--bench]
#
# The component is $AUTOCONFIG_COMPONENT, by default
# target/guest/wasm32-wasip2/guest/relay_autoconfig.wasm (build it with
# `cargo build -p autoconfig-host`). --bench also times a 1,000- and a 10,000-environment put.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bench=0
for arg in "$@"; do
  case "$arg" in
    --bench) bench=1 ;;
    *) echo "usage: examples/run-tests.sh [--bench]" >&2; exit 2 ;;
  esac
done

component="${AUTOCONFIG_COMPONENT:-target/guest/wasm32-wasip2/guest/relay_autoconfig.wasm}"
if [[ ! -f "$component" ]]; then
  echo "error: component not found: $component" >&2
  echo "       build it with \`cargo build -p autoconfig-host\` or set AUTOCONFIG_COMPONENT to the .wasm file" >&2
  exit 1
fi
AUTOCONFIG_COMPONENT="$(cd "$(dirname "$component")" && pwd)/$(basename "$component")"
export AUTOCONFIG_COMPONENT
echo "== component: $AUTOCONFIG_COMPONENT"

for tool in node npm python3; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed" >&2; exit 1; }
done

# ---- Node.js ----
node_dir="$root/examples/node"
if [[ ! -f "$node_dir/node_modules/.package-lock.json" \
   || "$node_dir/package-lock.json" -nt "$node_dir/node_modules/.package-lock.json" ]]; then
  echo "== npm ci (examples/node)"
  (cd "$node_dir" && npm ci --no-audit --no-fund)
fi
echo "== jco transpile"
(cd "$node_dir" && node scripts/transpile.mjs)

# ---- Python ----
venv="$root/.venv"
req="$root/examples/python/requirements.txt"
if [[ ! -x "$venv/bin/python" ]]; then
  echo "== python3 -m venv .venv"
  python3 -m venv "$venv"
fi
if ! cmp -s "$req" "$venv/.requirements.installed"; then
  echo "== pip install -r examples/python/requirements.txt"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$venv/.requirements.installed"
fi

scenarios=$(find "$root/tests/scenarios" -maxdepth 1 -name '*.json' | wc -l)
streams=$(find "$root/tests/streams" -maxdepth 1 -name '*.json' | wc -l)
echo "== $scenarios scenario files in tests/scenarios, $streams stream cases in tests/streams"

echo "== node --test (examples/node)"
(cd "$node_dir" && node --test --test-reporter=spec test/)

echo "== pytest (examples/python)"
(cd "$root/examples/python" && "$venv/bin/python" -m pytest -q -p no:cacheprovider)

echo "== README embedding snippets (examples/node/embed.mjs, examples/python/embed.py)"
node_out=$(cd "$node_dir" && node embed.mjs)
py_out=$(cd "$root" && PYTHONPATH=examples/python "$venv/bin/python" examples/python/embed.py 2>/dev/null)
for out in "$node_out" "$py_out"; do
  if ! grep -qx "ready" <<<"$out"; then
    echo "error: a README snippet did not print ready:" >&2
    echo "$out" >&2
    exit 1
  fi
done

echo "== the README's Rust snippet (runtime/examples/embed.rs, built by cargo test) from a temporary directory"
rust_tmp="$(mktemp -d)"
rust_out=$(cd "$rust_tmp" && "$root/target/debug/examples/embed")
rm -rf "$rust_tmp"
grep -qx "ready" <<<"$rust_out" || { echo "error: the Rust snippet did not print ready:" >&2; echo "$rust_out" >&2; exit 1; }

echo "== npm package relay-autoconfig (examples/node/test-package.sh): pack, fresh project, tsc --strict"
bash "$node_dir/test-package.sh"

echo "== Python package (examples/python/test-package.sh): wheel, fresh virtualenv, README snippet, mypy --strict"
bash "$root/examples/python/test-package.sh"
"$venv/bin/python" "$root/examples/python/snippets/check_readme.py" "$root/README.md"

echo "== go test (examples/go: the Go sidecar client)"
AUTOCONFIG_HOST_BIN="${AUTOCONFIG_HOST_BIN:-$root/target/debug/autoconfig-host}" bash "$root/examples/go/test.sh"

echo "== cross-check: Rust, Node.js and Python hosts on one script"
bash "$root/examples/cross-check.sh" "${AUTOCONFIG_HOST_BIN:-$root/target/debug/autoconfig-host}"

if [[ "$bench" == 1 ]]; then
  echo "== bench: Node.js"
  (cd "$node_dir" && node bench.mjs)
  echo "== bench: Python"
  (cd "$root/examples/python" && "$venv/bin/python" bench.py)
fi
echo "== all passed"
