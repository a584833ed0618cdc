"""Whatever bytes arrive, the validator answers with a report, never an exception."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.datasets.ingest import ingest
from core.datasets.validate import validate_file

_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False,
                                                                                     allow_infinity=False) | st.text()
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                             max_size=4), max_leaves=20)
_roles = st.sampled_from(["system", "user", "assistant", "tool", "function", "bot"]) | _json
_message = st.fixed_dictionaries({"role": _roles}, optional={
    "content": st.text() | _json, "name": _json, "weight": _json, "tool_calls": _json, "function_call": _json,
    "tool_call_id": _json})
_example = (st.fixed_dictionaries({"messages": st.lists(_message, max_size=4) | _json},
                                  optional={"tools": _json, "parallel_tool_calls": _json, "functions": _json})
            | st.fixed_dictionaries({"prompt": _json, "completion": _json})
            | st.fixed_dictionaries({"input": _json, "preferred_output": _json, "non_preferred_output": _json})
            | _json)


def _check(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "fuzz.jsonl"
        path.write_bytes(content)
        report = validate_file(path, encoding="cl100k_base")
        assert report.valid == (sum(report.error_counts.values()) == 0)
        result = ingest(path, Path(scratch) / "out.jsonl", encoding="cl100k_base")
        if result.canonical_path is not None:
            again = validate_file(result.canonical_path, encoding="cl100k_base")
            assert again.total_tokens == report.total_tokens, "converting never changes the counts"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_example, min_size=1, max_size=6))
def test_any_json_lines_get_a_report(examples: list[Any]) -> None:
    _check(b"\n".join(json.dumps(e).encode() for e in examples) + b"\n")


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_get_a_report(content: bytes) -> None:
    _check(content)


def test_absurd_nesting_is_an_error_not_a_crash(tmp_path: Path) -> None:
    deep = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {
                "nested": json.loads("[" * 300 + "]" * 300)}}}]}
    path = tmp_path / "deep.jsonl"
    path.write_text(json.dumps(deep) + "\n")
    report = validate_file(path)
    assert [(e.line, e.code) for e in report.errors if e.line] == [(1, "invalid_json")]
