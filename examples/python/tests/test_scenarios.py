"""Every scenario file of the shared corpus, through the component on wasmtime-py."""

import pytest

from relay_autoconfig import scenario

FILES = scenario.corpus_files()


def test_the_corpus_is_not_empty():
    assert FILES, f"no scenario files in {scenario.CORPUS_DIR}"


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_scenario(runtime, path):
    errors = scenario.run(runtime, scenario.load(path))
    assert errors == [], "\n".join(errors)
