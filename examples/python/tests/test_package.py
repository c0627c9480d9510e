"""The package: its metadata agrees with the code and the pins, the component is found where an
installed package has it (and never in the repository when installed), and the README snippets
run and are shown verbatim. test-package.sh checks the built wheel in a fresh virtualenv."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import relay_autoconfig
from relay_autoconfig import component

HERE = Path(__file__).resolve().parent.parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE / "snippets"))
import check_readme  # noqa: E402

PYPROJECT = tomllib.loads((HERE / "pyproject.toml").read_text("utf-8"))


def pins(lines: str) -> dict[str, str]:
    found = (re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line.split("#")[0].strip()) for line in lines.splitlines())
    return {m.group(1).lower().replace("_", "-"): m.group(2) for m in found if m}


def test_version_and_pins_agree() -> None:
    project = PYPROJECT["project"]
    assert project["version"] == relay_autoconfig.__version__
    assert project["requires-python"] == ">=3.11"
    assert project["license"] == "Apache-2.0"
    wasmtime_pin = pins((HERE / "requirements.txt").read_text("utf-8"))["wasmtime"]
    assert project["dependencies"] == [f"wasmtime=={wasmtime_pin}"]
    tools = pins((HERE / "package-constraints.txt").read_text("utf-8"))
    assert PYPROJECT["build-system"]["requires"] == [f"hatchling=={tools['hatchling']}"]
    assert tools["wasmtime"] == wasmtime_pin


def test_license_is_the_repository_one() -> None:
    assert (HERE / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes()


def test_the_package_is_typed() -> None:
    assert (HERE / "relay_autoconfig" / "py.typed").is_file()


def test_autoconfig_component_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AUTOCONFIG_COMPONENT", str(tmp_path / "x.wasm"))
    assert component.component_path() == tmp_path / "x.wasm"


def _installed_copy(tmp_path: Path, with_component: bool) -> Path:
    """The package laid out as pip installs it (no pyproject.toml beside it)."""
    site = tmp_path / "site-packages"
    shutil.copytree(HERE / "relay_autoconfig", site / "relay_autoconfig", ignore=shutil.ignore_patterns("__pycache__", "*.wasm"))
    if with_component:
        shutil.copyfile(component.component_path(), site / "relay_autoconfig" / "relay_autoconfig.wasm")
    return site


def _run_in(site: Path, cwd: Path, code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AUTOCONFIG_COMPONENT", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_an_installed_package_loads_its_own_component(tmp_path: Path) -> None:
    site = _installed_copy(tmp_path, with_component=True)
    r = _run_in(site, tmp_path, "from relay_autoconfig import Runtime; print(Runtime().path)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(site / "relay_autoconfig" / "relay_autoconfig.wasm")


def test_an_installed_package_never_looks_in_the_repository(tmp_path: Path) -> None:
    # Run from the repository root: still no fallback to its builds.
    site = _installed_copy(tmp_path, with_component=False)
    r = _run_in(site, ROOT, "import relay_autoconfig as r; print(r.__file__); r.Runtime()")
    assert r.stdout.strip() == str(site / "relay_autoconfig" / "__init__.py")
    assert r.returncode == 1
    assert f"component not found: {site / 'relay_autoconfig' / 'relay_autoconfig.wasm'}" in r.stderr
    assert "AUTOCONFIG_COMPONENT" in r.stderr


def test_a_checkout_finds_the_repository_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTOCONFIG_COMPONENT", raising=False)
    if component.packaged_component() is not None:
        pytest.skip("a component sits inside the source package")
    built = [ROOT / "target/guest/wasm32-wasip2/guest/relay_autoconfig.wasm", ROOT / "dist/relay_autoconfig.wasm"]
    assert component.component_path() == next(p for p in built if p.is_file())


SNIPPETS = {
    "snippets/readme.py": "add e1 sdk-1\nready\nNone None\n",
    "embed.py": "add e1 sdk-1\nready\nNone None\nGET http://127.0.0.1:8030/relay_auto_config\n"
    "add e1 sdk-1\nready\nFalse None None 1796000300020\nbatched add e1\nbatched ready -\n",
}


@pytest.mark.parametrize("snippet", sorted(SNIPPETS))
def test_snippet_runs_from_anywhere(snippet: str, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(HERE))
    env.setdefault("AUTOCONFIG_COMPONENT", str(component.component_path()))
    r = subprocess.run([sys.executable, str(HERE / snippet)], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == SNIPPETS[snippet]
    assert "info Added environment e1" in r.stderr  # the logs go to stderr


def test_the_python_readme_shows_embed_py() -> None:
    assert check_readme.shows(HERE / "README.md", HERE / "embed.py")


def test_check_readme_spots_a_stale_block(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n" + check_readme.block(HERE / "snippets/readme.py") + "\nmore\n", "utf-8")
    assert check_readme.main([str(readme)]) == 0
    readme.write_text(readme.read_text("utf-8").replace("Runtime()", "Runtime(path)"), "utf-8")
    assert check_readme.main([str(readme)]) == 1
