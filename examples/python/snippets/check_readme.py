"""Checks that a README shows a snippet file verbatim: the file minus its first line (a comment
or a docstring that says what runs it), as a whole ```python block.

    python examples/python/snippets/check_readme.py README.md [SNIPPET.py]

SNIPPET defaults to snippets/readme.py, the root README's Python snippet. Exit 0 when shown, 1
(saying which) when not: paste the file's code into the README again.
"""

from __future__ import annotations

import sys
from pathlib import Path

DEFAULT_SNIPPET = Path(__file__).resolve().parent / "readme.py"


def block(snippet: Path) -> str:
    """The README block that shows ``snippet``."""
    code = snippet.read_text(encoding="utf-8").split("\n", 1)[1]
    return f"```python\n{code}```\n"


def shows(readme: Path, snippet: Path = DEFAULT_SNIPPET) -> bool:
    return block(snippet) in readme.read_text(encoding="utf-8")


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2:
        print(__doc__, file=sys.stderr)
        return 2
    readme = Path(argv[0])
    snippet = Path(argv[1]) if len(argv) == 2 else DEFAULT_SNIPPET
    if shows(readme, snippet):
        print(f"ok: {readme} shows {snippet.name} verbatim")
        return 0
    print(f"error: {readme} does not show {snippet} verbatim (its code below the first line, as a "
          "```python block)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
