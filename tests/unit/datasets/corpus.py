"""The dataset test corpus: files users really send, each with the outcome it must get.

Shared by the validator, CLI and API tests: ``cases()`` returns ``CorpusCase(name, content,
expected_code, expected_line)``; ``expected_code`` None means the file is accepted (valid), and
``EXPECTED_WARNINGS`` names the warning an accepted file must carry. ``expected_line`` is the
1-based line of the first error (None for a problem of the whole file).
"""

from __future__ import annotations

import codecs
import json
from typing import Any, NamedTuple

MIN_VALID = 10  # OpenAI's minimum, so a clean base file is valid


class CorpusCase(NamedTuple):
    name: str
    content: bytes
    expected_code: str | None
    expected_line: int | None


def chat_example(index: int, **extra: Any) -> dict[str, Any]:
    return {"messages": [
        {"role": "system", "content": "You answer questions about the weather."},
        {"role": "user", "content": f"Will it rain in city number {index} tomorrow?"},
        {"role": "assistant", "content": f"Yes, expect light rain in city {index} after noon."},
    ], **extra}


def jsonl(examples: list[Any], *, newline: str = "\n") -> bytes:
    return "".join(json.dumps(e) + newline for e in examples).encode("utf-8")


def chat_file(n: int = MIN_VALID) -> list[dict[str, Any]]:
    return [chat_example(i) for i in range(n)]


def _lines(n: int = MIN_VALID) -> list[bytes]:
    return [json.dumps(e).encode() for e in chat_file(n)]


def _join(lines: list[bytes]) -> bytes:
    return b"\n".join(lines) + b"\n"


def _replace(line_no: int, content: bytes) -> bytes:
    lines = _lines()
    lines[line_no - 1] = content
    return _join(lines)


def _with_message(line_no: int, messages: list[dict[str, Any]]) -> bytes:
    return _replace(line_no, json.dumps({"messages": messages}).encode())


def _big_line(target_bytes: int = 5 * 1024 * 1024) -> bytes:
    words = ["weather", "forecast", "rain", "sunny", "cloudy", "wind", "storm", "temperature", "humidity",
             "pressure", "front", "coast", "mountain", "valley", "river", "morning", "evening", "tomorrow"]
    text = " ".join(f"{words[i % len(words)]}{i % 97}" for i in range(target_bytes // 9))
    example = {"messages": [{"role": "user", "content": "Summarise this report."},
                            {"role": "assistant", "content": text}]}
    return json.dumps(example).encode()


def _tool_call_example(arguments: str) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": "Take off to 100 metres."},
            {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function", "function": {
                "name": "takeoff", "arguments": arguments}}]},
        ],
        "tools": [{"type": "function", "function": {"name": "takeoff", "parameters": {
            "type": "object", "properties": {"altitude": {"type": "integer"}}}}}],
    }


def prompt_completion_file(n: int = MIN_VALID) -> bytes:
    return jsonl([{"prompt": f"Capital of country {i}?", "completion": f"City {i}."} for i in range(n)])


def preference_file(n: int = MIN_VALID) -> bytes:
    return jsonl([{
        "input": {"messages": [{"role": "user", "content": f"Say hello to person {i}."}]},
        "preferred_output": [{"role": "assistant", "content": f"Hello, person {i}!"}],
        "non_preferred_output": [{"role": "assistant", "content": "Go away."}],
    } for i in range(n)])


def csv_file(n: int = MIN_VALID, header: str = "question,answer", delimiter: str = ",") -> bytes:
    rows = [header.replace(",", delimiter)]
    rows += [f'"What is {i} plus {i}?"{delimiter}"It is {2 * i}, as in ""{i}+{i}""."' for i in range(n)]
    return ("\r\n".join(rows) + "\r\n").encode()


EXPECTED_WARNINGS: dict[str, str] = {
    "byte_order_mark": "byte_order_mark",
    "five_megabyte_line": "over_token_limit",
    "trailing_blank_lines": "trailing_blank_lines",
}


def cases() -> list[CorpusCase]:
    base = _lines()
    return [
        # accepted
        CorpusCase("valid_chat", _join(base), None, None),
        CorpusCase("no_final_newline", b"\n".join(base), None, None),
        CorpusCase("crlf_endings", b"\r\n".join(base) + b"\r\n", None, None),
        CorpusCase("byte_order_mark", codecs.BOM_UTF8 + _join(base), None, None),
        CorpusCase("trailing_blank_lines", _join(base) + b"\n  \n", None, None),
        CorpusCase("five_megabyte_line", _join([_big_line(), *base[1:]]), None, None),
        CorpusCase("tool_calls_without_content", jsonl([_tool_call_example('{"altitude": 100}')] * 1
                                                       + chat_file(MIN_VALID - 1)), None, None),
        CorpusCase("prompt_completion", prompt_completion_file(), None, None),
        CorpusCase("preference_pairs", preference_file(), None, None),
        CorpusCase("csv_question_answer", csv_file(), None, None),
        CorpusCase("tsv_prompt_completion", csv_file(header="prompt,completion", delimiter="\t"), None, None),
        # refused, with the line
        CorpusCase("truncated_json", _replace(4, base[3][: len(base[3]) // 2]), "invalid_json", 4),
        CorpusCase("blank_line_in_middle", _join([*base[:4], b"", *base[4:]]), "blank_line", 5),
        CorpusCase("invalid_utf8", _replace(3, base[2].replace(b"rain", b"r\xffin", 1)), "invalid_utf8", 3),
        CorpusCase("json_array", ("[" + ", ".join(json.dumps(e) for e in chat_file()) + "]\n").encode(),
                   "json_array", 1),
        CorpusCase("pretty_json_array", json.dumps(chat_file(), indent=2).encode(), "json_array", 1),
        CorpusCase("wrong_role", _with_message(2, [{"role": "human", "content": "Hi"},
                                                   {"role": "assistant", "content": "Hello"}]),
                   "unrecognized_role", 2),
        CorpusCase("non_string_content", _with_message(6, [{"role": "user", "content": {"text": "Hi"}},
                                                           {"role": "assistant", "content": "Hello"}]),
                   "missing_content", 6),
        CorpusCase("no_assistant", _with_message(7, [{"role": "system", "content": "Be brief."},
                                                     {"role": "user", "content": "Hi"}]),
                   "example_missing_assistant_message", 7),
        CorpusCase("prompt_completion_mixed_into_chat",
                   _replace(4, json.dumps({"prompt": "Hi", "completion": "Hello"}).encode()), "mixed_formats", 4),
        CorpusCase("empty_file", b"", "empty_file", None),
        CorpusCase("only_newlines", b"\n\n\n", "empty_file", None),
        CorpusCase("too_few_examples", _join(base[:3]), "too_few_examples", None),
        CorpusCase("scalar_line", _replace(5, b"42"), "data_type", 5),
        CorpusCase("no_messages_key", _replace(8, b'{"conversation": []}'), "missing_messages_list", 8),
        CorpusCase("bad_weight", _with_message(9, [{"role": "user", "content": "Hi"},
                                                   {"role": "assistant", "content": "Hello", "weight": 0.5}]),
                   "invalid_weight", 9),
        CorpusCase("tool_call_arguments_not_json", jsonl([*chat_file(MIN_VALID - 1), _tool_call_example("{alt")]),
                   "invalid_tool_call", MIN_VALID),
        CorpusCase("unknown_message_key", _with_message(2, [{"role": "user", "content": "Hi", "mood": "happy"},
                                                            {"role": "assistant", "content": "Hello"}]),
                   "message_unrecognized_key", 2),
        CorpusCase("csv_unknown_header", csv_file(header="foo,bar"), "csv_columns", 1),
        CorpusCase("utf16_file", codecs.BOM_UTF16_LE + _join(base).decode().encode("utf-16-le"), "invalid_utf8", 1),
        CorpusCase("binary_file", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "invalid_utf8", 1),
    ]


def case(name: str) -> CorpusCase:
    return next(c for c in cases() if c.name == name)
