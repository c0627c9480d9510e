#!/usr/bin/env bash
# Cross-runtime check: the Rust, Node.js and Python hosts run against the same scripted stream
# (`autoconfig-host serve --script examples/cross-check-script.json`, one server each: a put, a
# key rotation, malformed data, a server reconnect, a dropped connection, a 401 after success,
# expiries) and must print the same JSON lines, in the same order (expiry timestamps, which
# depend on when the server sent them, are normalised). The three hosts share no policy code:
# every decision comes from the one component. Takes ~8 s.
# Needs the Rust binary (cargo build -p autoconfig-host) and the setup of run-tests.sh.
#
#   examples/cross-check.sh [path/to/autoconfig-host]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$root/target/debug/autoconfig-host}"
script="$root/examples/cross-check-script.json"
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
  "$bin" serve --script "$script" --port "$port" 2>"$tmp/serve-$name.log" &
  pids+=($!)
  # Wait (bounded) until the server accepts connections.
  for _ in $(seq 50); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null && break
    sleep 0.1
  done
  (cd "$dir" && AUTO_CONFIG_KEY=cross-key-1234 exec "$@" --stream-uri "http://127.0.0.1:$port" \
     --initial-retry-delay 100ms >"$tmp/$name.out" 2>"$tmp/$name.log") &
  pids+=($!)
}

run rust "$root" "$bin"
run node "$root/examples/node" node host.mjs
run python "$root/examples/python" "$root/.venv/bin/python" -m relay_autoconfig.host
# The story's events take about 1.5 s; the expiries come at about 3 s (d) and 4.2 s (a), far
# enough apart from the events and each other that their order does not depend on timing. Wait until every host printed its last expected line,
# bounded.
expected_last='"op":"key-expired","envId":"a"'
for _ in $(seq 150); do
  done_count=0
  for name in rust node python; do
    grep -q "$expected_last" "$tmp/$name.out" 2>/dev/null && done_count=$((done_count + 1))
  done
  [[ $done_count == 3 ]] && break
  sleep 0.1
done
sleep 0.5   # anything printed after the last expected line would show up as a difference
for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()

status=0
for name in rust node python; do
  sed -E 's/"expiresAt":[0-9]+/"expiresAt":T/' "$tmp/$name.out" >"$tmp/$name.norm"
  echo "$name: $(wc -l <"$tmp/$name.out") lines"
done
if ! grep -q "$expected_last" "$tmp/rust.norm"; then
  echo "error: the Rust host did not finish the story" >&2
  cat "$tmp/rust.out" "$tmp/rust.log" >&2
  exit 1
fi
# What the story must produce, in order (ops and env ids): a regression in the component shows
# up here even if all three hosts agree.
ops="$(python3 -c '
import json,sys
for line in open(sys.argv[1]):
    o=json.loads(line); e=o.get("env") or {}
    print(o["op"], o.get("envId") or e.get("envId") or "", e.get("version",""))
' "$tmp/rust.out" | tr '\n' ';')"
want="add a 1;add b 1;add c 1;ready  ;update a 2;update b 2;add d 1;delete c ;ready  ;update d 2;delete b ;key-expired d ;key-expired a ;"
if [[ "$ops" != "$want" ]]; then
  echo "error: unexpected story from the Rust host" >&2
  echo "  got:  $ops" >&2
  echo "  want: $want" >&2
  status=1
fi
grep -q "retrying slowly" "$tmp/rust.log" || { echo "error: no 401-after-success line in the Rust log" >&2; status=1; }
for name in node python; do
  if ! diff -u "$tmp/rust.norm" "$tmp/$name.norm"; then
    echo "MISMATCH: $name differs from rust" >&2
    sed -n 1,40p "$tmp/$name.log" >&2
    status=1
  fi
done
[[ $status == 0 ]] && echo "== identical JSON lines from the Rust, Node.js and Python hosts"
exit $status
