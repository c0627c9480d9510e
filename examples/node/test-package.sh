#!/usr/bin/env bash
# Tests examples/node as the npm package `relay-autoconfig`, the way an embedder gets it:
#
#   1. `npm pack` (prepack: jco transpiles dist/relay_autoconfig.wasm, or $AUTOCONFIG_COMPONENT,
#      into out/ and LICENSE is copied in); the tarball must hold exactly the expected files;
#   2. a fresh project in a temporary directory outside the repository installs the tarball and
#      typescript (pinned), with no other package: nothing needed at run time (no preview2-shim);
#   3. test-package/consumer.ts (the public API: both clients, a handler with log and reset, the
#      errors, runStream, a timer re-armed after every onEvent and every tick) compiles with
#      `tsc --strict` and prints test-package/expected-consumer.txt when run with node; it also
#      type-checks with `moduleResolution: bundler`;
#   4. every file in test-package/negative/ must be REFUSED by `tsc --strict`, with exactly the
#      error its first line names;
#   5. the README snippets (embed.mjs, embed-stream.mjs, embed-batch.mjs, embed-state.mjs) run from the project against the
#      installed package, and the package's `relay-autoconfig-node` binary serves a local stream.
#
#   bash examples/node/test-package.sh
#
# Needs the component (`make component` in the repository root), `npm ci` in examples/node
# (done here if missing) and the npm registry or a warm npm cache (typescript). Every step is
# bounded; the temporary directory is removed and out/ restored as it was, whatever happens.
set -euo pipefail

TYPESCRIPT=7.0.2

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
fixtures="$here/test-package"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/relay-autoconfig-package.XXXXXX")"
if [[ -n "${AUTOCONFIG_COMPONENT:-}" ]]; then
  # npm runs prepack in examples/node: make a path relative to the caller's directory absolute.
  [[ -f "$AUTOCONFIG_COMPONENT" ]] || { echo "error: AUTOCONFIG_COMPONENT=$AUTOCONFIG_COMPONENT: no such file" >&2; exit 1; }
  AUTOCONFIG_COMPONENT="$(cd "$(dirname "$AUTOCONFIG_COMPONENT")" && pwd)/$(basename "$AUTOCONFIG_COMPONENT")"
  export AUTOCONFIG_COMPONENT
fi
had_license=0
[[ -e "$here/LICENSE" ]] && had_license=1

cleanup() {
  local status=$?
  # out/ as it was before the pack (a checkout's out/ may come from another .wasm).
  if [[ -d "$tmp/out.before" ]]; then
    rm -rf "$here/out" && mv "$tmp/out.before" "$here/out"
  elif [[ -f "$tmp/out.absent" ]]; then
    rm -rf "$here/out"
  fi
  if [[ "$had_license" == 0 && -f "$here/LICENSE" ]] && cmp -s "$here/LICENSE" "$root/LICENSE"; then
    rm -f "$here/LICENSE"
  fi
  rm -rf "$tmp"
  if [[ "$status" != 0 ]]; then echo "test-package.sh: FAILED" >&2; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "error: $*" >&2
  exit 1
}
step() { echo "== $*"; }
npm_quiet=(--no-audit --no-fund --loglevel=error)

if [[ ! -x "$here/node_modules/.bin/jco" ]]; then
  step "npm ci (examples/node: jco, to transpile at pack time)"
  (cd "$here" && timeout 300 npm ci "${npm_quiet[@]}")
fi

# ---- 1. pack ----
if [[ -d "$here/out" ]]; then cp -a "$here/out" "$tmp/out.before"; else touch "$tmp/out.absent"; fi
step "npm pack (component: ${AUTOCONFIG_COMPONENT:-dist/relay_autoconfig.wasm})"
mkdir "$tmp/pack"
(cd "$here" && timeout 120 npm pack --pack-destination "$tmp/pack" "${npm_quiet[@]}" >/dev/null) || fail "npm pack failed"
tarballs=("$tmp"/pack/*.tgz)
[[ ${#tarballs[@]} == 1 && -f "${tarballs[0]}" ]] || fail "npm pack made no tarball"
tarball="${tarballs[0]}"
echo "   $(basename "$tarball"): $(wc -c <"$tarball") bytes"

expected_files="LICENSE
README.md
host.mjs
lib/autoconfig.d.mts
lib/autoconfig.mjs
lib/duration.mjs
lib/host-worker.mjs
lib/stream-runner.d.mts
lib/stream-runner.mjs
out/interfaces/relay-autoconfig-batch.d.ts
out/interfaces/relay-autoconfig-client.d.ts
out/interfaces/relay-autoconfig-handler.d.ts
out/interfaces/relay-autoconfig-state.d.ts
out/interfaces/relay-autoconfig-stream-client.d.ts
out/interfaces/relay-autoconfig-types.d.ts
out/interfaces/wasi-logging-logging.d.ts
out/relay_autoconfig.core.wasm
out/relay_autoconfig.core2.wasm
out/relay_autoconfig.core3.wasm
out/relay_autoconfig.d.ts
out/relay_autoconfig.js
out/source.json
package.json"
actual_files="$(tar -tzf "$tarball" | sed 's|^package/||' | LC_ALL=C sort)"
if [[ "$actual_files" != "$expected_files" ]]; then
  diff <(echo "$expected_files") <(echo "$actual_files") >&2 || true
  fail "the tarball does not hold exactly the expected files (< expected, > packed)"
fi
[[ ! -e "$here/LICENSE" || "$had_license" == 1 ]] || fail "postpack left LICENSE in examples/node"

# ---- 2. a fresh project outside the repository ----
project="$tmp/project"
mkdir "$project"
cp "$fixtures"/consumer.ts "$fixtures"/tsconfig*.json "$fixtures"/host-check.mjs "$project/"
cp -r "$fixtures/negative" "$project/negative"
cp "$here/embed.mjs" "$here/embed-stream.mjs" "$here/embed-batch.mjs" "$here/embed-state.mjs" "$project/"
cat >"$project/package.json" <<'EOF'
{ "name": "relay-autoconfig-consumer", "version": "1.0.0", "private": true, "type": "module" }
EOF
cd "$project"
step "npm install the tarball + typescript@$TYPESCRIPT in $project"
timeout 180 npm install --prefer-offline --save-exact "${npm_quiet[@]}" "$tarball" "typescript@$TYPESCRIPT" \
  || fail "npm install failed (is the npm registry or a warm npm cache available?)"

pkg="$project/node_modules/relay-autoconfig"
[[ -f "$pkg/out/relay_autoconfig.js" ]] || fail "the installed package has no out/relay_autoconfig.js"
# Nothing but the package and typescript (with its native compiler): no runtime dependency.
extra="$(cd node_modules && ls -d * @*/* 2>/dev/null | grep -v '^@' | grep -vx -e relay-autoconfig -e typescript -e '@typescript/.*' || true)"
[[ -z "$extra" ]] || fail "unexpected packages installed: $extra"
[[ ! -e node_modules/@bytecodealliance ]] || fail "@bytecodealliance/* was installed: the package must need no jco or preview2-shim at run time"
# The transpiled component is the .wasm that was packed.
want_sha="$(sha256sum "${AUTOCONFIG_COMPONENT:-$root/dist/relay_autoconfig.wasm}" | cut -d' ' -f1)"
got_sha="$(node -p "JSON.parse(require('fs').readFileSync('$pkg/out/source.json','utf8')).sha256")"
[[ "$got_sha" == "$want_sha" ]] || fail "out/source.json says sha256 $got_sha, the component is $want_sha"
echo "   installed: $(cd node_modules && ls -d relay-autoconfig typescript @typescript/* | tr '\n' ' ')"

tsc=(timeout 60 node_modules/.bin/tsc --pretty false)

# ---- 3. the TypeScript program ----
step "tsc --strict consumer.ts (moduleResolution nodenext, then bundler)"
"${tsc[@]}" -p tsconfig.json --strict --noEmit false || fail "consumer.ts does not compile"
"${tsc[@]}" -p tsconfig.bundler.json --strict || fail "consumer.ts does not type-check with moduleResolution bundler"
step "node build/consumer.js"
timeout 30 node build/consumer.js >consumer.out 2>consumer.err || { cat consumer.err >&2; fail "consumer.js failed"; }
if ! diff -u "$fixtures/expected-consumer.txt" consumer.out; then
  cat consumer.err >&2
  fail "consumer.js did not print the expected callbacks (- expected, + printed)"
fi
echo "   $(wc -l <consumer.out) lines as expected"

# ---- 4. wrong programs must be refused ----
step "tsc --strict must refuse every file in negative/"
set +e
"${tsc[@]}" -p tsconfig.negative.json --strict >negative.out 2>&1
status=$?
set -e
[[ "$status" != 0 ]] || fail "tsc accepted the negative files: the declarations are too loose"
negatives=0
for f in negative/*.ts; do
  code="$(sed -n '1s|^// expect \(TS[0-9]*\):.*|\1|p' "$f")"
  [[ -n "$code" ]] || fail "$f: the first line must be '// expect TSnnnn: why'"
  errors="$(grep -c "^$f([0-9]*,[0-9]*): error " negative.out || true)"
  if [[ "$errors" != 1 ]] || ! grep -q "^$f([0-9]*,[0-9]*): error $code:" negative.out; then
    grep "^$f(" negative.out >&2 || true
    fail "$f: expected exactly one error, $code; tsc gave $errors (above)"
  fi
  negatives=$((negatives + 1))
done
if grep -v '^negative/[^(]*([0-9]*,[0-9]*): error ' negative.out | grep -q 'error TS'; then
  cat negative.out >&2
  fail "tsc reported errors outside negative/ (in the package's declarations?)"
fi
echo "   $negatives wrong programs refused, each with its error"

# ---- 5. the README snippets and the binary, against the installed package ----
step "README snippets (embed.mjs, embed-stream.mjs, embed-batch.mjs, embed-state.mjs) from the project"
out="$(timeout 30 node embed.mjs 2>/dev/null)" || fail "embed.mjs failed"
want=$'add e1 e1-new\nadd e2 e2-new\nready\nexpired e1 e1-old\nexpired e2 e2-old'
[[ "$out" == "$want" ]] || fail "embed.mjs printed:"$'\n'"$out"$'\n'"instead of:"$'\n'"$want"
out="$(timeout 30 node embed-stream.mjs 2>/dev/null)" || fail "embed-stream.mjs failed"
grep -q '^{"op":"ready"}$' <<<"$out" || fail "embed-stream.mjs printed no ready line:"$'\n'"$out"
out="$(timeout 30 node embed-batch.mjs 2>/dev/null)" || fail "embed-batch.mjs failed"
grep -q '^{"op":"ready"}$' <<<"$out" && grep -qx 'delete ready' <<<"$out" || fail "embed-batch.mjs printed:"$'\n'"$out"
# Twice on one state file: the second run restores what the first wrote.
out="$(timeout 30 node embed-state.mjs state.bin 2>/dev/null && timeout 30 node embed-state.mjs state.bin 2>/dev/null)" || fail "embed-state.mjs failed"
grep -qx 'first start' <<<"$out" && grep -qx 'restored 1' <<<"$out" || fail "embed-state.mjs printed:"$'\n'"$out"
step "relay-autoconfig-node (the package's bin) against a local stream"
out="$(timeout 30 node host-check.mjs)" || fail "host-check.mjs failed:"$'\n'"$out"
[[ "$out" == $'add\nready\nexit 0' ]] || fail "relay-autoconfig-node printed:"$'\n'"$out"

step "package test passed"
