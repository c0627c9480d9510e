#!/usr/bin/env bash
# Tests the Go sidecar client (examples/go): gofmt, go vet, then go test ./... with a bounded
# timeout, offline (no module or toolchain is ever fetched: the module has no dependencies).
# Installs Debian's golang-go first when `go` is missing (needs root).
#
#   examples/go/test.sh
#
# The end-to-end tests run the real autoconfig-host: $AUTOCONFIG_HOST_BIN, by default
# target/debug/autoconfig-host at the repository root (`cargo build -p autoconfig-host`). They
# skip, with a message, only when the variable is unset and that file is missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"

if ! command -v go >/dev/null; then
  if [[ "$(id -u)" != 0 ]]; then
    echo "error: go is not installed; install Debian's golang-go (apt-get install golang-go) or run this as root" >&2
    exit 1
  fi
  echo "== apt-get install golang-go"
  export DEBIAN_FRONTEND=noninteractive
  log="$(mktemp)"
  if ! { apt-get update -qq && apt-get install -y -qq golang-go; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "error: could not install golang-go" >&2
    exit 1
  fi
  rm -f "$log"
fi
go version

export GOPROXY=off GOTOOLCHAIN=local GOFLAGS=-mod=mod
if [[ -z "${HOME:-}" && -z "${GOCACHE:-}" ]]; then
  export GOCACHE="${TMPDIR:-/tmp}/relayautoconfig-go-cache"
fi

bin="${AUTOCONFIG_HOST_BIN:-$root/target/debug/autoconfig-host}"
if [[ -z "${AUTOCONFIG_HOST_BIN:-}" && ! -x "$bin" ]]; then
  echo "warning: $bin is missing: the end-to-end tests will be skipped (cargo build -p autoconfig-host)" >&2
fi

echo "== gofmt -l"
unformatted=$(gofmt -l .)
if [[ -n "$unformatted" ]]; then
  echo "error: not gofmt-formatted:" >&2
  echo "$unformatted" >&2
  exit 1
fi

echo "== go vet ./..."
timeout 300 go vet ./...

echo "== go test ./... (examples/go)"
start=$(date +%s)
timeout 600 go test -count=1 -timeout 300s ./...
echo "== go tests passed in $(( $(date +%s) - start )) s"
