"""The shared duration cases (tests/durations.json), the same as autoconfig-host's and Node's."""
import argparse
import json
from pathlib import Path

import pytest

from relay_autoconfig.host import duration_ms

CASES = json.loads((Path(__file__).resolve().parents[3] / "tests" / "durations.json").read_text("utf-8"))["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["text"] or "<empty>" for c in CASES])
def test_durations_parse_as_in_go(case):
    if "ms" in case:
        assert duration_ms(case["text"]) == case["ms"]
    else:
        with pytest.raises(argparse.ArgumentTypeError, match=case["error"]):
            duration_ms(case["text"])
