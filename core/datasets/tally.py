"""What one pass over (part of) a file has learnt: counts, first lines, per-example figures.

Nothing here grows with the file's bytes. A tally is plain data, so a worker process can send
its part back, and tallies of consecutive parts of a file merge into the tally of the whole.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from core.datasets.report import MAX_REPORTED_ERRORS, MAX_WARNING_LINES, DatasetError
from core.datasets.sources import BlankRun, CsvSource, JsonlSource
from core.datasets.stats import ExampleFigures

MAX_DISTINCT_SYSTEM_PROMPTS = 1000
MAX_IGNORED_KEY_NAMES = 20


@dataclass
class LineLog:
    """How many examples have a property, and the first lines that do."""

    count: int = 0
    lines: list[int] = field(default_factory=list)

    def add(self, line: int) -> None:
        self.count += 1
        if len(self.lines) < MAX_WARNING_LINES:
            self.lines.append(line)

    def shift(self, offset: int) -> None:
        self.lines = [line + offset for line in self.lines]

    def absorb(self, later: LineLog) -> None:
        self.count += later.count
        self.lines.extend(later.lines[: MAX_WARNING_LINES - len(self.lines)])


@dataclass
class Tally:
    error_counts: Counter[str] = field(default_factory=Counter)
    errors: list[DatasetError] = field(default_factory=list)
    line_errors: int = 0
    num_examples: int = 0
    num_lines: int = 0
    has_bom: bool = False
    trailing_blanks: list[BlankRun] = field(default_factory=list)
    kind: str | None = None
    kind_line: int = 0
    judged_as_chat: bool = False
    figures: ExampleFigures = field(default_factory=ExampleFigures)
    n_missing_system: int = 0
    n_missing_user: int = 0
    missing_system: LineLog = field(default_factory=LineLog)
    over_limit: LineLog = field(default_factory=LineLog)
    ignored: LineLog = field(default_factory=LineLog)
    ignored_names: set[str] = field(default_factory=set)
    no_trained: LineLog = field(default_factory=LineLog)
    system_prompts: dict[str, int] = field(default_factory=dict)
    too_many_system_prompts: bool = False
    total_tokens: int = 0
    billed_tokens: int = 0

    def error(self, line: int | None, code: str, message: str) -> None:
        self.error_counts[code] += 1
        if line is not None:
            self.line_errors += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(DatasetError(line=line, code=code, message=message))

    def system_prompt(self, text: str, line: int) -> None:
        if text in self.system_prompts:
            return
        if len(self.system_prompts) < MAX_DISTINCT_SYSTEM_PROMPTS:
            self.system_prompts[text] = line
        else:
            self.too_many_system_prompts = True

    def take_file_facts(self, source: JsonlSource | CsvSource) -> Tally:
        """Copy what the source learnt about the file as a whole (after reading it)."""
        self.num_lines = source.num_lines
        self.has_bom = source.has_bom
        if source.trailing_blanks.count:
            self.trailing_blanks.append(source.trailing_blanks)
        return self

    def blank_lines_are_errors(self) -> None:
        """Blank lines followed by an example after all: each one is an error, in line order."""
        for run in self.trailing_blanks:
            for line in run.lines():
                self.error(line, "blank_line", "blank line; every line must hold one example")
        self.trailing_blanks.clear()

    def shift(self, offset: int) -> None:
        """Renumber a later part's lines (read from 1) as the file's: ``offset`` lines come before it.

        ``kind_line`` is left alone: a later part is told the file's format, with its absolute line."""
        if not offset:
            return
        self.errors = [e if e.line is None else e.model_copy(update={"line": e.line + offset}) for e in self.errors]
        self.trailing_blanks = [BlankRun(run.start + offset, run.count) for run in self.trailing_blanks]
        self.figures.shift(offset)
        for log in (self.missing_system, self.over_limit, self.ignored, self.no_trained):
            log.shift(offset)
        self.system_prompts = {text: line + offset for text, line in self.system_prompts.items()}

    def absorb(self, later: Tally) -> None:
        """Add the tally of the part of the file that comes right after this one."""
        if later.num_examples:
            self.blank_lines_are_errors()
        self.error_counts.update(later.error_counts)
        self.errors.extend(later.errors[: MAX_REPORTED_ERRORS - len(self.errors)])
        self.line_errors += later.line_errors
        self.num_examples += later.num_examples
        self.num_lines += later.num_lines
        self.trailing_blanks.extend(later.trailing_blanks)
        if self.kind is None and later.kind is not None:
            self.kind, self.kind_line = later.kind, later.kind_line
        self.judged_as_chat |= later.judged_as_chat
        self.figures.absorb(later.figures)
        self.n_missing_system += later.n_missing_system
        self.n_missing_user += later.n_missing_user
        for mine, theirs in ((self.missing_system, later.missing_system), (self.over_limit, later.over_limit),
                             (self.ignored, later.ignored), (self.no_trained, later.no_trained)):
            mine.absorb(theirs)
        room = max(0, MAX_IGNORED_KEY_NAMES - len(self.ignored_names))
        self.ignored_names.update(sorted(later.ignored_names)[:room])
        for text, line in later.system_prompts.items():
            self.system_prompt(text, line)
        self.too_many_system_prompts |= later.too_many_system_prompts
        self.total_tokens += later.total_tokens
        self.billed_tokens += later.billed_tokens
