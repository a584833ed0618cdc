"""What each format accepts and refuses, judged by today's OpenAI format, with the line it concerns."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.datasets.report import MAX_REPORTED_ERRORS
from core.datasets.validate import validate_file
from tests.unit.datasets.corpus import chat_example, chat_file, jsonl

WriteFile = Callable[[bytes, str], Path]


def _chat(messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"messages": messages, **extra}


def _errors(path: Path, **kwargs: Any) -> list[tuple[int | None, str]]:
    return [(e.line, e.code) for e in validate_file(path, **kwargs).errors if e.line is not None]


def test_tool_role_and_legacy_function_calls_are_valid(write_file: WriteFile) -> None:
    tool_turn = _chat([
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "18C, sunny"},
        {"role": "assistant", "content": "It is 18C and sunny.", "weight": 1},
    ], tools=[{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
        parallel_tool_calls=False)
    legacy = _chat([
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "function_call": {"name": "weather", "arguments": "{\"city\": \"Oslo\"}"}},
        {"role": "function", "name": "weather", "content": "2C"},
        {"role": "assistant", "content": "Cold: 2C."},
    ], functions=[{"name": "weather", "parameters": {"type": "object"}}])
    report = validate_file(write_file(jsonl([tool_turn, legacy] * 5), "tools.jsonl"))
    assert report.valid, report.errors


def test_several_bad_messages_in_one_example_make_one_error_that_says_so(write_file: WriteFile) -> None:
    bad = _chat([{"role": "bot", "content": "a"}, {"role": "bot", "content": "b"}, {"role": "assistant",
                                                                                   "content": "c"}])
    report = validate_file(write_file(jsonl([*chat_file(9), bad]), "roles.jsonl"))
    assert report.error_counts["unrecognized_role"] == 1
    error = next(e for e in report.errors if e.code == "unrecognized_role")
    assert error.line == 10 and "1 more" in error.message


def test_errors_list_stops_at_100_but_counts_every_line(write_file: WriteFile) -> None:
    report = validate_file(write_file(b"not json\n" * 150, "garbage.jsonl"))
    assert report.error_counts["invalid_json"] == 150
    assert len(report.errors) == MAX_REPORTED_ERRORS
    assert [e.line for e in report.errors[:3]] == [1, 2, 3]


def test_every_blank_line_in_the_middle_is_reported(write_file: WriteFile) -> None:
    lines = [json.dumps(e).encode() for e in chat_file()]
    content = b"\n".join([*lines[:2], b"", b"   ", *lines[2:]]) + b"\n"
    assert _errors(write_file(content, "blanks.jsonl")) == [(3, "blank_line"), (4, "blank_line")]


def test_weights_are_0_or_1_on_assistant_messages_only(write_file: WriteFile) -> None:
    on_user = _chat([{"role": "user", "content": "Hi", "weight": 1}, {"role": "assistant", "content": "Hello"}])
    as_bool = _chat([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello", "weight": True}])
    path = write_file(jsonl([*chat_file(8), on_user, as_bool]), "weights.jsonl")
    assert _errors(path) == [(9, "invalid_weight"), (10, "invalid_weight")]


def test_all_assistant_weights_zero_is_a_warning(write_file: WriteFile) -> None:
    silent = _chat([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello", "weight": 0}])
    report = validate_file(write_file(jsonl([*chat_file(10), silent]), "w0.jsonl"))
    assert report.valid
    warning = report.warning("no_trained_messages")
    assert warning is not None and warning.lines == [11]


def test_tool_calls_need_function_name_and_string_arguments(write_file: WriteFile) -> None:
    def call(function: dict[str, Any]) -> dict[str, Any]:
        return _chat([{"role": "user", "content": "Go"},
                      {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": function}]}])
    path = write_file(jsonl([*chat_file(8), call({"name": "go", "arguments": {"x": 1}}), call({"arguments": "{}"})]),
                      "calls.jsonl")
    assert _errors(path) == [(9, "invalid_tool_call"), (10, "invalid_tool_call")]


def test_malformed_tools_list_is_refused(write_file: WriteFile) -> None:
    bad = chat_example(0, tools=[{"type": "function", "function": {"description": "no name"}}])
    assert _errors(write_file(jsonl([*chat_file(9), bad]), "tools.jsonl")) == [(10, "invalid_tools")]


def test_unknown_top_level_keys_are_a_warning_and_left_out(write_file: WriteFile) -> None:
    report = validate_file(write_file(jsonl([chat_example(i, id=i) for i in range(10)]), "ids.jsonl"))
    assert report.valid
    warning = report.warning("ignored_keys")
    assert warning is not None and warning.count == 10 and "id" in warning.message


def test_duplicates_are_warned_with_their_lines(write_file: WriteFile) -> None:
    examples = chat_file(10)
    report = validate_file(write_file(jsonl([*examples, examples[2], examples[5], examples[2]]), "dupes.jsonl"))
    warning = report.warning("duplicate_examples")
    assert warning is not None
    assert warning.count == 3 and warning.lines == [11, 12, 13]
    assert "lines 3, 11, 13" in warning.message


def test_differing_system_messages_are_warned(write_file: WriteFile) -> None:
    other = chat_example(99)
    other["messages"][0]["content"] = "You are a pirate."
    report = validate_file(write_file(jsonl([*chat_file(10), other]), "systems.jsonl"))
    warning = report.warning("inconsistent_system_message")
    assert warning is not None and warning.lines == [1, 11]


def test_prompt_completion_is_legacy_and_checked(write_file: WriteFile) -> None:
    rows = [{"prompt": f"Q{i}", "completion": f"A{i}"} for i in range(9)] + [{"prompt": "Q", "completion": 7}]
    report = validate_file(write_file(jsonl(rows), "legacy.jsonl"))
    assert report.format == "prompt_completion" and report.method == "supervised"
    assert [(e.line, e.code) for e in report.errors] == [(10, "missing_content")]


def test_preference_pairs_are_dpo_and_need_one_answer_each(write_file: WriteFile) -> None:
    def pair(preferred: list[dict[str, Any]]) -> dict[str, Any]:
        return {"input": {"messages": [{"role": "user", "content": "Hi"}]}, "preferred_output": preferred,
                "non_preferred_output": [{"role": "assistant", "content": "Meh"}]}
    good = [pair([{"role": "assistant", "content": f"Hello {i}"}]) for i in range(9)]
    two = pair([{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}])
    report = validate_file(write_file(jsonl([*good, two]), "dpo.jsonl"))
    assert report.format == "preference" and report.method == "dpo"
    assert [(e.line, e.code) for e in report.errors] == [(10, "invalid_preference_output")]


def test_a_format_asked_for_is_enforced(write_file: WriteFile) -> None:
    path = write_file(jsonl(chat_file()), "chat.jsonl")
    report = validate_file(path, format_hint="prompt_completion")
    assert report.error_counts["mixed_formats"] == 10
    assert "as asked" in report.errors[0].message


def test_csv_header_pairs_are_guessed(write_file: WriteFile) -> None:
    rows = "input,output\n" + "".join(f"in {i},out {i}\n" for i in range(10))
    report = validate_file(write_file(rows.encode(), "io.csv"))
    assert report.valid and report.format == "csv" and report.columns == ["input", "output"]


def test_csv_columns_can_be_chosen_among_more(write_file: WriteFile) -> None:
    rows = "id,Text,Label,notes\n" + "".join(f"{i},text {i},label {i},\n" for i in range(10))
    path = write_file(rows.encode(), "pick.csv")
    assert not validate_file(path).valid
    report = validate_file(path, columns="text,label")
    assert report.valid and report.columns == ["Text", "Label"]


def test_csv_line_numbers_count_physical_lines_of_quoted_fields(write_file: WriteFile) -> None:
    rows = ['prompt,completion', '"two\nlines",ok', *[f"p{i},c{i}" for i in range(8)], "only one field"]
    report = validate_file(write_file(("\n".join(rows) + "\n").encode(), "multi.csv"))
    assert [(e.line, e.code) for e in report.errors] == [(12, "invalid_csv")]


def test_csv_row_with_bad_bytes_is_reported_at_its_line(write_file: WriteFile) -> None:
    content = b"prompt,completion\n" + b"".join(b"p%d,c%d\n" % (i, i) for i in range(9)) + b"p,caf\xe9\n"
    assert _errors(write_file(content, "latin1.csv")) == [(11, "invalid_utf8")]


def test_jsonl_with_custom_keys_maps_through_columns(write_file: WriteFile) -> None:
    rows = [{"question": f"Q{i}", "answer": f"A{i}"} for i in range(10)]
    path = write_file(jsonl(rows), "qa.jsonl")
    assert not validate_file(path).valid
    report = validate_file(path, columns=("question", "answer"))
    assert report.valid and report.format == "prompt_completion"
