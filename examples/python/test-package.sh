#!/usr/bin/env bash
# The Python package as an embedder gets it: builds the wheel (hatchling, pinned), checks what it
# holds, installs it in a fresh virtualenv outside the repository and, from an empty temporary
# directory with no PYTHONPATH and no AUTOCONFIG_COMPONENT, runs the root README's snippet
# (snippets/readme.py) and embed.py, checks that Runtime() loaded the packaged component, runs
# `python -m relay_autoconfig.host --help`, and runs mypy --strict on the snippets. Every step is
# bounded; everything lives in one temporary directory, removed at exit; the source tree is left
# as it is. About 30 s with warm pip caches.
#
#   examples/python/test-package.sh
#
# The component packaged is $AUTOCONFIG_COMPONENT, else dist/relay_autoconfig.wasm (`make
# component`). PYTHON (default python3, 3.11 or later) makes the virtualenvs. Pinned tools:
# examples/python/package-constraints.txt.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3}"
constraints="$here/package-constraints.txt"

component="${AUTOCONFIG_COMPONENT:-$root/dist/relay_autoconfig.wasm}"
if [[ ! -f "$component" ]]; then
  echo "error: component not found: $component" >&2
  echo "       run \`make component\` at the repository root, or set AUTOCONFIG_COMPONENT to the .wasm file" >&2
  exit 1
fi
component="$(cd "$(dirname "$component")" && pwd)/$(basename "$component")"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "error: $python is older than Python 3.11 (set PYTHON)" >&2; exit 1; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/relay-autoconfig-package.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/wheelhouse" "$tmp/run"
pip_quiet=(--quiet --disable-pip-version-check --no-input)

fail() { echo "error: $*" >&2; exit 1; }

echo "== build the wheel (component: $component)"
# As an embedder would: pip's isolated build with build-system.requires (hatchling writes
# nothing into the source tree). The hook (hatch_build.py) reads $AUTOCONFIG_COMPONENT;
# PIP_CONSTRAINT also pins hatchling's own dependencies in the isolated build environment.
"$python" -m venv "$tmp/tools"
AUTOCONFIG_COMPONENT="$component" PIP_CONSTRAINT="$constraints" timeout 300 \
  "$tmp/tools/bin/python" -m pip wheel "${pip_quiet[@]}" --no-deps -w "$tmp/wheelhouse" "$here"
wheels=("$tmp"/wheelhouse/*.whl)
[[ ${#wheels[@]} == 1 && -f "${wheels[0]}" ]] || fail "expected one wheel, got: ${wheels[*]}"
wheel="${wheels[0]}"
[[ "$(basename "$wheel")" == relay_autoconfig-0.2.0-py3-none-any.whl ]] || fail "unexpected wheel name: $(basename "$wheel")"

echo "== check the wheel: $(basename "$wheel") ($(wc -c <"$wheel") bytes)"
"$python" - "$wheel" "$component" <<'PY'
import hashlib, sys, zipfile

wheel, component = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = set(z.namelist())
    for name in sorted(names):
        print(f"   {z.getinfo(name).file_size:>8}  {name}")
    required = {
        "relay_autoconfig/__init__.py", "relay_autoconfig/component.py", "relay_autoconfig/host.py",
        "relay_autoconfig/py.typed", "relay_autoconfig/relay_autoconfig.wasm",
        "relay_autoconfig-0.2.0.dist-info/METADATA", "relay_autoconfig-0.2.0.dist-info/licenses/LICENSE",
    }
    missing = sorted(required - names)
    stray = sorted(n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/tests/" in n
                   or not n.startswith(("relay_autoconfig/", "relay_autoconfig-0.2.0.dist-info/")))
    packaged = z.read("relay_autoconfig/relay_autoconfig.wasm") if "relay_autoconfig/relay_autoconfig.wasm" in names else b""
    metadata = z.read("relay_autoconfig-0.2.0.dist-info/METADATA").decode() if not missing else ""
errors = [f"missing {m}" for m in missing] + [f"unexpected {s}" for s in stray]
with open(component, "rb") as f:
    source = f.read()
if packaged and hashlib.sha256(packaged).digest() != hashlib.sha256(source).digest():
    errors.append("relay_autoconfig/relay_autoconfig.wasm differs from the component")
for line in ("Name: relay-autoconfig", "Version: 0.2.0", "Requires-Python: >=3.11",
             "Requires-Dist: wasmtime==50.0.1", "License-Expression: Apache-2.0"):
    if metadata and line not in metadata.splitlines():
        errors.append(f"METADATA lacks {line!r}")
if errors:
    sys.exit("error: the wheel is wrong:\n  " + "\n  ".join(errors))
print(f"   the component inside: {len(packaged)} bytes, sha256 {hashlib.sha256(packaged).hexdigest()}")
PY

echo "== install it in a fresh virtualenv (outside the repository)"
"$python" -m venv "$tmp/venv"
timeout 300 "$tmp/venv/bin/python" -m pip install "${pip_quiet[@]}" "$wheel"
"$tmp/venv/bin/python" -m pip list --format=freeze --disable-pip-version-check | sed 's/^/   /'

# From an empty directory, with nothing pointing at the repository.
cp "$here/snippets/readme.py" "$here/embed.py" "$tmp/run/"
in_venv() { (cd "$tmp/run" && env -u PYTHONPATH -u AUTOCONFIG_COMPONENT -u PYTHONHOME timeout 60 "$tmp/venv/bin/python" "$@"); }

expect() {  # expect NAME EXPECTED ACTUAL
  if [[ "$2" != "$3" ]]; then
    echo "error: $1 printed:" >&2; echo "$3" >&2
    echo "expected:" >&2; echo "$2" >&2
    exit 1
  fi
}

echo "== the root README's snippet (snippets/readme.py)"
out="$(in_venv readme.py 2>"$tmp/readme.err")" || { cat "$tmp/readme.err" >&2; fail "readme.py failed"; }
expect readme.py $'add e1 sdk-1\nready\nNone None' "$out"
echo "$out" | sed 's/^/   /'

echo "== embed.py"
out="$(in_venv embed.py 2>"$tmp/embed.err")" || { cat "$tmp/embed.err" >&2; fail "embed.py failed"; }
expect embed.py $'add e1 sdk-1\nready\nNone None\nGET http://127.0.0.1:8030/relay_auto_config\nadd e1 sdk-1\nready\nFalse None None 1796000300020\nbatched add e1\nbatched ready -' "$out"
echo "$out" | sed 's/^/   /'

echo "== Runtime() loads the packaged component"
out="$(in_venv -c '
import relay_autoconfig
from relay_autoconfig import Runtime
print(relay_autoconfig.__file__)
print(Runtime().path)
print(relay_autoconfig.__version__)')"
site="$(in_venv -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
expect "Runtime().path" "$site/relay_autoconfig/__init__.py"$'\n'"$site/relay_autoconfig/relay_autoconfig.wasm"$'\n0.2.0' "$out"
echo "$out" | sed 's/^/   /'

echo "== python -m relay_autoconfig.host --help"
out="$(in_venv -m relay_autoconfig.host --help)" || fail "python -m relay_autoconfig.host --help failed"
grep -q -- "--component" <<<"$out" || { echo "$out" >&2; fail "the host's --help lacks --component"; }
echo "$out" | head -3 | sed 's/^/   /'

echo "== mypy --strict on the snippets, against the installed package"
timeout 300 "$tmp/tools/bin/python" -m pip install "${pip_quiet[@]}" -c "$constraints" mypy
out="$(cd "$tmp/run" && env -u PYTHONPATH -u MYPYPATH timeout 300 "$tmp/tools/bin/mypy" --strict \
  --cache-dir "$tmp/mypy-cache" --python-executable "$tmp/venv/bin/python" readme.py embed.py)" \
  || { echo "$out" >&2; fail "mypy --strict failed"; }
echo "$out" | sed 's/^/   /'

echo "== the package passed"
