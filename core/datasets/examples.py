"""Judging one record at a time: its format, its problems, its tokens, into a :class:`Tally`.

The file's format is the first recognised line's (or the one asked for); a later line of another
format is ``mixed_formats``. Clean examples are fingerprinted for duplicate detection and, when a
sink is given, handed on as canonical JSONL lines until the first error.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from core.datasets.cost import Target
from core.datasets.counting import TokenCounter
from core.datasets.formats import (
    CHECKERS,
    KINDS,
    Checked,
    check_prompt_completion,
    conversation_of,
    kind_of,
    type_name,
)
from core.datasets.sources import DEFAULT_MAX_LINE_BYTES, LineProblem, StopReading
from core.datasets.tally import MAX_IGNORED_KEY_NAMES, Tally

FORMAT_HINTS = ("auto", "jsonl", "chat", "prompt_completion", "preference", "csv", "tsv")

Sink = Callable[[bytes], object]


@dataclass(frozen=True)
class ValidationOptions:
    """What the user told us about the file besides its bytes."""

    format_hint: str | None = None
    system_prompt: str | None = None
    columns: tuple[str, str] | None = None
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES

    def __post_init__(self) -> None:
        if self.format_hint is not None and self.format_hint not in FORMAT_HINTS:
            raise ValueError(f"unknown format {self.format_hint!r}; expected one of {', '.join(FORMAT_HINTS)}")
        if self.columns is not None and len(self.columns) != 2:
            raise ValueError("columns names exactly two columns: the prompt's and the completion's")

    @property
    def fixed_kind(self) -> str | None:
        return self.format_hint if self.format_hint in KINDS else None


def parse_columns(value: str | Sequence[str] | None) -> tuple[str, str] | None:
    """``"question,answer"`` or ``["question", "answer"]`` → ``("question", "answer")``."""
    if value is None:
        return None
    names = [part.strip() for part in (value.split(",") if isinstance(value, str) else value)]
    if len(names) != 2 or not all(names):
        raise ValueError(f"columns must name two columns, like 'prompt,completion'; got {value!r}")
    return names[0], names[1]


class ExampleJudge:
    """Feeds records into a tally. One per pass (or per part of a file, in a worker)."""

    def __init__(self, options: ValidationOptions, target: Target, sink: Sink | None = None, *,
                 fixed_kind: str | None = None, known_kind: tuple[str, int] | None = None,
                 later_part: bool = False) -> None:
        self.options = options
        self.target = target
        self.sink = sink
        self.counter = TokenCounter(target.encoding)
        self.tally = Tally()
        self.fixed_kind = fixed_kind or options.fixed_kind
        # A part of a file that does not start at line 1 is told the file's format by the caller.
        # Its lines are numbered from 1 and shifted afterwards, so every one of them comes after
        # the (absolute) line that set the format: ``later_part`` says so.
        if known_kind is not None:
            self.tally.kind, self.tally.kind_line = known_kind
        self.later_part = later_part
        self.labels: tuple[str, str] | None = None  # CSV: the column names, for messages

    def problems(self, line: int, problems: list[tuple[str, str]]) -> None:
        """One entry per code per line, so a 50-message example with one bad role each is one error."""
        firsts: dict[str, str] = {}
        extra: Counter[str] = Counter()
        for code, message in problems:
            if code in firsts:
                extra[code] += 1
            else:
                firsts[code] = message
        for code, message in firsts.items():
            more = f" (and {extra[code]} more like it in this example)" if extra[code] else ""
            self.tally.error(line, code, message + more)

    def record(self, line: int, record: Any) -> None:
        try:
            self._record(line, record)
        except (orjson.JSONEncodeError, RecursionError):
            # orjson reads 1024 levels of nesting but writes only 254; nothing sane nests that deep.
            self.tally.error(line, "invalid_json", "the example nests too deeply to be re-encoded (over 254 levels)")

    def _record(self, line: int, record: Any) -> None:
        tally = self.tally
        if isinstance(record, LineProblem):
            if record.code != "blank_line" and not isinstance(record, StopReading):
                tally.num_examples += 1
            tally.error(line, record.code, record.message)
            return
        tally.num_examples += 1
        if not isinstance(record, dict):
            tally.error(line, "data_type", f"each line must be a JSON object (an example), not {type_name(record)}")
            return
        kind = self._kind(line, record)
        if kind is None:
            return
        checked = Checked(canonical=None)
        columns = self.options.columns
        if kind == "prompt_completion" and columns and kind_of(record) is None:
            record = {"prompt": record.get(columns[0]), "completion": record.get(columns[1])}
            canonical = check_prompt_completion(record, checked, self.options.system_prompt, labels=columns)
        elif kind == "prompt_completion" and self.labels is not None:
            canonical = check_prompt_completion(record, checked, self.options.system_prompt, labels=self.labels)
        else:
            canonical = CHECKERS[kind](record, checked, self.options.system_prompt)
        if checked.problems:
            self.problems(line, checked.problems)
        if checked.ignored_keys:
            tally.ignored.add(line)
            if len(tally.ignored_names) < MAX_IGNORED_KEY_NAMES:
                tally.ignored_names.update(checked.ignored_keys)
        if checked.no_trained_messages:
            tally.no_trained.add(line)
        if canonical is not None:
            self._count(line, kind, canonical, clean=not checked.problems)

    def _kind(self, line: int, record: dict[str, Any]) -> str | None:
        """The shape to judge this line by; None (after an error) when it contradicts the file's."""
        tally = self.tally
        found = kind_of(record)
        if found is None and self.options.columns and all(c in record for c in self.options.columns):
            found = "prompt_completion"
        # Lines before the first recognised one are judged as chat, as a single pass would.
        known = tally.kind if tally.kind is not None and (self.later_part or line >= tally.kind_line) else None
        expected = self.fixed_kind or known
        if found is None:
            tally.judged_as_chat |= expected is None
            return expected or "chat"
        if expected is None:
            tally.kind, tally.kind_line = found, line
            return found
        if found != expected:
            origin = "as asked" if self.fixed_kind else f"from line {tally.kind_line}"
            tally.error(line, "mixed_formats", f"this line is {found} but the file is {expected} ({origin}); "
                                               "one file holds one format")
            return None
        return found

    def _count(self, line: int, kind: str, canonical: dict[str, Any], *, clean: bool) -> None:
        tally = self.tally
        tokens = self.counter.preference(canonical) if kind == "preference" else self.counter.chat(canonical)
        tally.figures.add(tokens.messages, tokens.total, tokens.assistant)
        tally.total_tokens += tokens.total
        tally.billed_tokens += min(tokens.total, self.target.token_limit)
        if tokens.total > self.target.token_limit:
            tally.over_limit.add(line)
        self._roles(line, conversation_of(canonical, kind))
        if clean:
            data = orjson.dumps(canonical)
            tally.figures.fingerprint(line, data)
            if self.sink is not None and not tally.line_errors:
                self.sink(data + b"\n")

    def _roles(self, line: int, messages: list[dict[str, Any]]) -> None:
        tally = self.tally
        system: str | None = None
        has_user = False
        for message in messages:
            role = message.get("role")
            if role == "system" and system is None:
                content = message.get("content")
                system = content if isinstance(content, str) else ""
            elif role == "user":
                has_user = True
        if system is None:
            tally.n_missing_system += 1
            tally.missing_system.add(line)
        else:
            tally.system_prompt(system, line)
        if not has_user:
            tally.n_missing_user += 1
