"""Small files are summarised without numpy (start-up), with exactly numpy's figures."""

from __future__ import annotations

import random
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.datasets import stats
from core.datasets.stats import ExampleFigures, distribution


def _with_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stats, "SMALL", 0)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 40), min_size=1, max_size=300))
def test_plain_python_distribution_equals_numpys(values: list[int]) -> None:
    data = array("I", values)
    plain = distribution(data)
    with pytest.MonkeyPatch.context() as patch:
        _with_numpy(patch)
        assert distribution(data) == plain


@settings(max_examples=200, deadline=None)
@given(keys=st.lists(st.integers(0, 12), min_size=2, max_size=200))
def test_plain_python_duplicates_equal_numpys(keys: list[int]) -> None:
    figures = ExampleFigures()
    figures.fingerprints.extend(keys)
    figures.fingerprint_lines.extend(sorted(random.Random(len(keys)).sample(range(1, 10 * len(keys)), len(keys))))
    plain = figures.duplicates()
    with pytest.MonkeyPatch.context() as patch:
        _with_numpy(patch)
        assert figures.duplicates() == plain


def test_a_small_file_is_summarised_without_importing_numpy() -> None:
    import subprocess
    import sys

    code = ("import sys; from array import array; from core.datasets.stats import distribution; "
            "distribution(array('I', [1, 2, 3])); print('numpy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
