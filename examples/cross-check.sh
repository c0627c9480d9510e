#!/usr/bin/env bash
# Cross-runtime check: the Rust, Node.js and Python hosts run against the same built-in demo
# story (`autoconfig-host serve`, one server each) and must print the same JSON lines (expiry
# timestamps, which depend on when the server sent them, are normalised). Takes ~10 s.
# Needs the Rust binary (cargo build -p autoconfig-host) and the setup of run-tests.sh.
#
#   examples/cross-check.sh [path/to/autoconfig-host]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$root/target/debug/autoconfig-host}"
[[ -x "$bin" ]] || { echo "error: $bin not found; build it with \`cargo build -p autoconfig-host\`" >&2; exit 1; }
tmp="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run() { # name dir command...
  local name=$1 dir=$2; shift 2
  local port; port="$(free_port)"
  "$bin" serve --port "$port" 2>"$tmp/serve-$name.log" &
  pids+=($!)
  sleep 0.5
  (cd "$dir" && AUTO_CONFIG_KEY=demo-key-1234 exec "$@" --stream-uri "http://127.0.0.1:$port" \
     --initial-retry-delay 100ms >"$tmp/$name.out" 2>"$tmp/$name.log") &
  pids+=($!)
}

run rust "$root" "$bin"
run node "$root/examples/node" node host.mjs
run python "$root/examples/python" "$root/.venv/bin/python" -m relay_autoconfig.host
sleep 9   # the demo story: a put, patches, a key expiring 3 s later, a delete, a reconnect, a put
for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()

status=0
for name in rust node python; do
  sed -E 's/"expiresAt":[0-9]+/"expiresAt":T/' "$tmp/$name.out" >"$tmp/$name.norm"
  echo "$name: $(wc -l <"$tmp/$name.out") lines"
done
[[ -s "$tmp/rust.norm" ]] || { echo "error: the Rust host printed nothing" >&2; cat "$tmp/rust.log" >&2; exit 1; }
for name in node python; do
  if ! diff -u "$tmp/rust.norm" "$tmp/$name.norm"; then
    echo "MISMATCH: $name differs from rust" >&2
    status=1
  fi
done
[[ $status == 0 ]] && echo "== identical JSON lines from the Rust, Node.js and Python hosts"
exit $status
