"""The token rule: the cookbook's formula for strings, compact JSON for other values, weight free."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.datasets import counting
from core.datasets.counting import TokenCounter
from core.datasets.tokens import count_text_tokens

ENCODING = "cl100k_base"


def _tokens(text: str) -> int:
    return count_text_tokens(text, ENCODING)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def test_string_values_follow_the_cookbook_formula() -> None:
    example = {"messages": [{"role": "system", "content": "Be kind."},
                            {"role": "user", "name": "ann", "content": "Hi there"},
                            {"role": "assistant", "content": "Hello!"}]}
    expected = 3 + sum(3 + sum(_tokens(v) for v in m.values()) for m in example["messages"]) + 1
    counted = TokenCounter(ENCODING).chat(example)
    assert counted.total == expected
    assert counted.assistant == _tokens("Hello!")
    assert counted.messages == 3


def test_weight_is_not_counted() -> None:
    plain = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}
    weighted = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo", "weight": 0}]}
    counter = TokenCounter(ENCODING)
    assert counter.chat(weighted) == counter.chat(plain)


def test_tool_calls_and_tools_count_as_compact_json_and_null_content_as_nothing() -> None:
    calls = [{"id": "c1", "type": "function", "function": {"name": "fly", "arguments": "{\"to\": \"Zürich\"}"}}]
    tools = [{"type": "function", "function": {"name": "fly", "parameters": {"type": "object"}}}]
    example = {"messages": [{"role": "user", "content": "Go"},
                            {"role": "assistant", "content": None, "tool_calls": calls}],
               "tools": tools, "parallel_tool_calls": False}
    expected = (3 + _tokens(_compact(tools))
                + 3 + _tokens("user") + _tokens("Go")
                + 3 + _tokens("assistant") + _tokens(_compact(calls)))
    counted = TokenCounter(ENCODING).chat(example)
    assert counted.total == expected
    assert counted.assistant == _tokens(_compact(calls))


def test_special_token_text_in_data_is_counted_as_text() -> None:
    assert TokenCounter(ENCODING).text("<|endoftext|>") == _tokens("<|endoftext|>") > 1


def test_cached_counts_stay_exact_when_the_cache_is_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(counting, "CACHE_MAX_CHARS", 30)
    counter = TokenCounter(ENCODING)
    texts = [f"sentence number {i} about the weather" for i in range(20)] * 2
    assert [counter.text(t) for t in texts] == [_tokens(t) for t in texts]


def test_preference_pair_counts_input_once_and_both_answers() -> None:
    pair = {"input": {"messages": [{"role": "user", "content": "Hi"}]},
            "preferred_output": [{"role": "assistant", "content": "Hello there"}],
            "non_preferred_output": [{"role": "assistant", "content": "No"}]}
    counted = TokenCounter(ENCODING).preference(pair)
    user = 3 + _tokens("user") + _tokens("Hi")
    answers = 2 * (3 + _tokens("assistant")) + _tokens("Hello there") + _tokens("No")
    assert counted.total == 3 + user + answers
    assert counted.assistant == _tokens("Hello there") + _tokens("No")
