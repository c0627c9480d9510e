"""Build hook (hatchling): puts the component into the wheel and the sdist as
``relay_autoconfig/relay_autoconfig.wasm``, where ``Runtime()`` finds it with
``importlib.resources``.

The component is, in this order: ``$AUTOCONFIG_COMPONENT``; ``../../dist/relay_autoconfig.wasm``
(``make component`` at the repository root; checked against its ``.sha256``); the copy inside
the package (a wheel built from the sdist). Anything that is not a WebAssembly component stops
the build.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

TARGET = "relay_autoconfig/relay_autoconfig.wasm"
# "\0asm", then version 0x0d and layer 1: a component, not a core module.
COMPONENT_HEADER = b"\0asm\x0d\x00\x01\x00"


class ComponentBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "relay-autoconfig-component"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name not in ("wheel", "sdist"):
            return
        if self.target_name == "wheel" and version == "editable":
            return  # an editable install runs from the checkout, which finds the repository's build
        source = self._component()
        build_data["force_include"][str(source)] = TARGET

    def _component(self) -> Path:
        root = Path(self.root)
        env = os.environ.get("AUTOCONFIG_COMPONENT")
        dist = (root / "../../dist/relay_autoconfig.wasm").resolve()
        if env:
            source = Path(env).resolve()
        elif dist.is_file():
            source = dist
        elif (root / TARGET).is_file():
            source = root / TARGET
        else:
            raise RuntimeError(
                f"relay-autoconfig: no component to package: {dist} does not exist "
                "(run `make component` at the repository root) and AUTOCONFIG_COMPONENT is not set"
            )
        if not source.is_file():
            raise RuntimeError(f"relay-autoconfig: component not found: {source}")
        data = source.read_bytes()
        if not data.startswith(COMPONENT_HEADER):
            raise RuntimeError(f"relay-autoconfig: {source} is not a WebAssembly component")
        checksum = source.with_name(source.name + ".sha256")
        if checksum.is_file():
            expected = checksum.read_text(encoding="utf-8").split()[0]
            actual = hashlib.sha256(data).hexdigest()
            if actual != expected:
                raise RuntimeError(
                    f"relay-autoconfig: {source} does not match {checksum.name} "
                    f"(sha256 {actual}, expected {expected}): rebuild it with `make component`"
                )
        self.app.display_info(f"relay-autoconfig: packaging {source} ({len(data):,} bytes)")
        return source
