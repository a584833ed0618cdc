"""The streaming validator: one pass over a file, one :class:`DatasetReport`.

Used by the API (upload), the CLI (``finetuner validate``) and the dashboard, so all three say the
same thing about the same bytes. The file is read one line at a time; what is kept per example is
a few integers (see ``stats.py``), so memory stays flat in the file's size. The same pass can hand
each example's canonical JSONL line to a sink, which is how ``ingest`` converts while validating.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from core.catalog import ModelCatalog
from core.datasets.cost import Target, default_epochs, estimated_cost_usd, resolve_target
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
from core.datasets.report import (
    ERROR_CODES,
    MAX_REPORTED_ERRORS,
    MAX_WARNING_LINES,
    DatasetError,
    DatasetReport,
    DatasetStats,
    DatasetWarning,
)
from core.datasets.sources import (
    DEFAULT_MAX_LINE_BYTES,
    SNIFF_BYTES,
    CsvSource,
    JsonlSource,
    LineProblem,
    StopReading,
    sniff,
)
from core.datasets.stats import ExampleFigures, distribution

MIN_EXAMPLES = 10  # OpenAI refuses a training file with fewer
RECOMMENDED_EXAMPLES = 50  # OpenAI's guide: clear improvements usually start around 50
FORMAT_HINTS = ("auto", "jsonl", "chat", "prompt_completion", "preference", "csv", "tsv")
MAX_DISTINCT_SYSTEM_PROMPTS = 1000

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


def parse_columns(value: str | Sequence[str] | None) -> tuple[str, str] | None:
    """``"question,answer"`` or ``["question", "answer"]`` → ``("question", "answer")``."""
    if value is None:
        return None
    names = [part.strip() for part in (value.split(",") if isinstance(value, str) else value)]
    if len(names) != 2 or not all(names):
        raise ValueError(f"columns must name two columns, like 'prompt,completion'; got {value!r}")
    return names[0], names[1]


class _LineLog:
    """Counts per line and the first lines, for one warning kind."""

    def __init__(self) -> None:
        self.count = 0
        self.lines: list[int] = []

    def add(self, line: int) -> None:
        self.count += 1
        if len(self.lines) < MAX_WARNING_LINES:
            self.lines.append(line)


class _Validation:
    """The state of one pass: everything the report needs, nothing proportional to bytes."""

    def __init__(self, options: ValidationOptions, target: Target, sink: Sink | None) -> None:
        self.options = options
        self.target = target
        self.sink = sink
        self.counter = TokenCounter(target.encoding)
        self.error_counts: Counter[str] = Counter()
        self.errors: list[DatasetError] = []
        self.line_errors = 0
        self.num_examples = 0
        self.kind: str | None = None
        self.kind_line = 0
        hint = options.format_hint
        self.fixed_kind = hint if hint in KINDS else None
        self.judged_as_chat = False
        self.labels: tuple[str, str] | None = None  # CSV: the column names, for messages
        self.figures = ExampleFigures()
        self.n_missing_system = 0
        self.n_missing_user = 0
        self.missing_system = _LineLog()
        self.over_limit = _LineLog()
        self.ignored = _LineLog()
        self.ignored_names: set[str] = set()
        self.no_trained = _LineLog()
        self.system_prompts: dict[str, int] = {}
        self.too_many_system_prompts = False
        self.total_tokens = 0
        self.billed_tokens = 0

    # --- recording ---------------------------------------------------------------------------

    def error(self, line: int | None, code: str, message: str) -> None:
        self.error_counts[code] += 1
        if line is not None:
            self.line_errors += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(DatasetError(line=line, code=code, message=message))

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
            self.error(line, code, message + more)

    # --- one record --------------------------------------------------------------------------

    def record(self, line: int, record: Any) -> None:
        try:
            self._record(line, record)
        except (orjson.JSONEncodeError, RecursionError):
            # orjson reads 1024 levels of nesting but writes only 254; nothing sane nests that deep.
            self.error(line, "invalid_json", "the example nests too deeply to be re-encoded (over 254 levels)")

    def _record(self, line: int, record: Any) -> None:
        if isinstance(record, LineProblem):
            if record.code != "blank_line" and not isinstance(record, StopReading):
                self.num_examples += 1
            self.error(line, record.code, record.message)
            return
        self.num_examples += 1
        if not isinstance(record, dict):
            self.error(line, "data_type", f"each line must be a JSON object (an example), not {type_name(record)}")
            return
        kind = self._kind(line, record)
        if kind is None:
            return
        checked = Checked(canonical=None)
        checker = CHECKERS[kind]
        if kind == "prompt_completion" and self.options.columns and kind_of(record) is None:
            prompt_key, completion_key = self.options.columns
            record = {"prompt": record.get(prompt_key), "completion": record.get(completion_key)}
            canonical = check_prompt_completion(record, checked, self.options.system_prompt,
                                                labels=self.options.columns)
        elif kind == "prompt_completion" and self.labels is not None:
            canonical = check_prompt_completion(record, checked, self.options.system_prompt, labels=self.labels)
        else:
            canonical = checker(record, checked, self.options.system_prompt)
        if checked.problems:
            self.problems(line, checked.problems)
        if checked.ignored_keys:
            self.ignored.add(line)
            if len(self.ignored_names) < 20:
                self.ignored_names.update(checked.ignored_keys)
        if checked.no_trained_messages:
            self.no_trained.add(line)
        if canonical is not None:
            self._count(line, kind, canonical, clean=not checked.problems)

    def _kind(self, line: int, record: dict[str, Any]) -> str | None:
        """The shape to judge this line by; None (after an error) when it contradicts the file's."""
        found = kind_of(record)
        if found is None and self.options.columns and all(c in record for c in self.options.columns):
            found = "prompt_completion"
        expected = self.fixed_kind or self.kind
        if found is None:
            self.judged_as_chat |= expected is None
            return expected or "chat"
        if expected is None:
            self.kind, self.kind_line = found, line
            return found
        if found != expected:
            origin = "as asked" if self.fixed_kind else f"from line {self.kind_line}"
            self.error(line, "mixed_formats", f"this line is {found} but the file is {expected} ({origin}); "
                                              "one file holds one format")
            return None
        return found

    def _count(self, line: int, kind: str, canonical: dict[str, Any], *, clean: bool) -> None:
        counter = self.counter
        tokens = counter.preference(canonical) if kind == "preference" else counter.chat(canonical)
        self.figures.add(tokens.messages, tokens.total, tokens.assistant)
        self.total_tokens += tokens.total
        self.billed_tokens += min(tokens.total, self.target.token_limit)
        if tokens.total > self.target.token_limit:
            self.over_limit.add(line)
        self._roles(line, conversation_of(canonical, kind))
        if clean:
            data = orjson.dumps(canonical)
            self.figures.fingerprint(line, data)
            if self.sink is not None and not self.line_errors:
                self.sink(data + b"\n")

    def _roles(self, line: int, messages: list[dict[str, Any]]) -> None:
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
            self.n_missing_system += 1
            self.missing_system.add(line)
        elif system not in self.system_prompts:
            if len(self.system_prompts) < MAX_DISTINCT_SYSTEM_PROMPTS:
                self.system_prompts[system] = line
            else:
                self.too_many_system_prompts = True
        if not has_user:
            self.n_missing_user += 1

    # --- the report --------------------------------------------------------------------------

    def report(self, *, fmt: str, size: int, num_lines: int, has_bom: bool, trailing_blanks: list[int],
               columns: tuple[str, str] | None) -> DatasetReport:
        n = self.num_examples
        dataset_errors: list[DatasetError] = []
        if n == 0 and not self.error_counts:
            message = "the file has no examples" + (" (only a header row)" if columns else "")
            dataset_errors.append(DatasetError(line=None, code="empty_file", message=message))
        elif 0 < n < MIN_EXAMPLES:
            dataset_errors.append(DatasetError(
                line=None, code="too_few_examples",
                message=f"{n} example(s); OpenAI needs at least {MIN_EXAMPLES} to start a fine-tuning job"))
        for item in dataset_errors:
            self.error_counts[item.code] += 1
        errors = (dataset_errors + self.errors)[:MAX_REPORTED_ERRORS]
        n_epochs = default_epochs(n)
        charged = n_epochs * self.billed_tokens
        figures = self.figures
        return DatasetReport(
            valid=not self.error_counts,
            format=fmt,
            method="dpo" if fmt == "preference" else "supervised",
            num_examples=n,
            num_lines=num_lines,
            size_bytes=size,
            charset="utf-8-sig" if has_bom else "utf-8",
            encoding=self.target.encoding,
            model=self.target.model,
            columns=list(columns) if columns else None,
            error_counts={code: self.error_counts.get(code, 0) for code in ERROR_CODES}
            | {code: count for code, count in self.error_counts.items() if code not in ERROR_CODES},
            errors=errors,
            warnings=self._warnings(n, has_bom, trailing_blanks),
            stats=DatasetStats(
                n_missing_system=self.n_missing_system,
                n_missing_user=self.n_missing_user,
                messages_per_example=distribution(figures.messages),
                total_tokens_per_example=distribution(figures.total_tokens),
                assistant_tokens_per_example=distribution(figures.assistant_tokens),
            ),
            token_limit=self.target.token_limit,
            n_over_token_limit=self.over_limit.count,
            total_tokens=self.total_tokens,
            billed_tokens=self.billed_tokens,
            n_epochs=n_epochs,
            charged_tokens=charged,
            price_per_million_usd=self.target.price_per_million_usd,
            estimated_cost_usd=estimated_cost_usd(charged, self.target.price_per_million_usd),
        )

    def _warnings(self, n: int, has_bom: bool, trailing_blanks: list[int]) -> list[DatasetWarning]:
        out: list[DatasetWarning] = []

        def warn(code: str, message: str, count: int, lines: Iterable[int] = ()) -> None:
            out.append(DatasetWarning(code=code, message=message, count=count, lines=list(lines)[:MAX_WARNING_LINES]))

        if 0 < n < RECOMMENDED_EXAMPLES:
            warn("few_examples", f"{n} examples; OpenAI suggests starting with at least {RECOMMENDED_EXAMPLES} "
                                 "well-crafted ones", n)
        counted = len(self.figures.messages)
        if 0 < self.n_missing_system < counted:
            warn("missing_system_message", f"{self.n_missing_system} of {counted} examples have no system "
                                           "message while the others do", self.n_missing_system,
                 self.missing_system.lines)
        distinct = len(self.system_prompts)
        if distinct > 1:
            many = f"more than {MAX_DISTINCT_SYSTEM_PROMPTS}" if self.too_many_system_prompts else str(distinct)
            firsts = sorted(self.system_prompts.values())
            warn("inconsistent_system_message", f"{many} different system messages (first seen at lines "
                                                f"{', '.join(map(str, firsts[:10]))}); the model learns each",
                 distinct, firsts)
        n_dupes, dupe_lines, groups = self.figures.duplicates()
        if n_dupes:
            shown = "; ".join("lines " + ", ".join(map(str, g)) for g in groups)
            warn("duplicate_examples", f"{n_dupes} example(s) repeat an earlier one ({shown})", n_dupes, dupe_lines)
        if self.over_limit.count:
            warn("over_token_limit", f"{self.over_limit.count} example(s) exceed the {self.target.token_limit}-token "
                                     "limit and will be truncated in training", self.over_limit.count,
                 self.over_limit.lines)
        if has_bom:
            warn("byte_order_mark", "the file starts with a UTF-8 byte-order mark; it is ignored", 1, [1])
        if trailing_blanks:
            warn("trailing_blank_lines", "blank lines at the end of the file are ignored", len(trailing_blanks),
                 trailing_blanks)
        if self.ignored.count:
            names = ", ".join(sorted(self.ignored_names))
            warn("ignored_keys", f"key(s) {names} are not part of the format and are left out of the "
                                 "converted file", self.ignored.count, self.ignored.lines)
        if self.no_trained.count:
            warn("no_trained_messages", "every assistant message has weight 0, so nothing is learned from "
                                        "these examples", self.no_trained.count, self.no_trained.lines)
        return out


def validate_file(
    path: str | os.PathLike[str],
    *,
    format_hint: str | None = None,
    system_prompt: str | None = None,
    columns: str | Sequence[str] | None = None,
    model: str | None = None,
    encoding: str | None = None,
    catalog: ModelCatalog | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> DatasetReport:
    """Validate a dataset file on disk. Counts use ``encoding``, else the model's, else o200k_base."""
    options = ValidationOptions(format_hint=format_hint, system_prompt=system_prompt,
                                columns=parse_columns(columns), max_line_bytes=max_line_bytes)
    return scan(Path(path), options, resolve_target(model, encoding, catalog=catalog))


def scan(path: Path, options: ValidationOptions, target: Target, sink: Sink | None = None) -> DatasetReport:
    """One pass over ``path``; each clean example's canonical line goes to ``sink`` until an error."""
    state = _Validation(options, target, sink)
    size = path.stat().st_size
    with path.open("rb", buffering=1024 * 1024) as stream:
        hint = options.format_hint
        if hint in (None, "auto") and path.suffix.lower() in (".csv", ".tsv"):
            hint = path.suffix.lower()[1:]
        container = _container(stream.read(SNIFF_BYTES), hint)
        stream.seek(0)
        if container in ("utf16", "binary"):
            state.error(1, "invalid_utf8", "the file is UTF-16 (it starts with a UTF-16 byte-order mark); save it "
                        "as UTF-8" if container == "utf16" else "the file is not text (it has NUL bytes); a dataset "
                        "is UTF-8 JSONL, CSV or TSV")
            return state.report(fmt="unknown", size=size, num_lines=0, has_bom=False, trailing_blanks=[],
                                columns=None)
        source: JsonlSource | CsvSource
        if container in ("csv", "tsv"):
            state.fixed_kind = "prompt_completion"
            source = CsvSource(stream, "\t" if container == "tsv" else ",", options.columns, options.max_line_bytes)
        else:
            source = JsonlSource(stream, options.max_line_bytes)
        for line, record in source:
            if isinstance(source, CsvSource) and state.labels is None and source.chosen is not None:
                state.labels = source.chosen
            state.record(line, record)
            if isinstance(record, StopReading):
                break
    if isinstance(source, CsvSource):
        fmt = container
    else:
        fmt = state.fixed_kind or state.kind or ("chat" if state.judged_as_chat else "unknown")
    return state.report(fmt=fmt, size=size, num_lines=source.num_lines, has_bom=source.has_bom,
                        trailing_blanks=source.trailing_blank_lines,
                        columns=source.chosen if isinstance(source, CsvSource) else None)


def _container(head: bytes, format_hint: str | None) -> str:
    found = sniff(head)
    if found in ("utf16", "binary") or format_hint in (None, "auto"):
        return found
    return format_hint if format_hint in ("csv", "tsv") else "jsonl"
