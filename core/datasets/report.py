"""The one dataset report: what the API stores, the CLI prints and the dashboard shows.

Error keys reuse OpenAI's cookbook names where they mean the same thing, so users who know the
notebook recognise them; our own keys cover what the notebook misses (blank lines, bad bytes,
mixed formats, tool calls, ...). Counts are *examples* (lines) with the problem, not messages.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# The cookbook's keys, judged by today's OpenAI format (tool calls without content are fine).
COOKBOOK_ERROR_CODES: tuple[str, ...] = (
    "data_type",
    "missing_messages_list",
    "message_missing_key",
    "message_unrecognized_key",
    "unrecognized_role",
    "missing_content",
    "example_missing_assistant_message",
)

# Ours, for what the cookbook crashes on or never looks at.
OWN_ERROR_CODES: tuple[str, ...] = (
    "invalid_json",
    "json_array",
    "blank_line",
    "invalid_utf8",
    "line_too_long",
    "empty_file",
    "mixed_formats",
    "too_few_examples",
    "invalid_weight",
    "invalid_tool_call",
    "invalid_tools",
    "invalid_value",
    "invalid_preference_output",
    "invalid_csv",
    "csv_columns",
)

ERROR_CODES: tuple[str, ...] = COOKBOOK_ERROR_CODES + OWN_ERROR_CODES

# Errors about the dataset as a whole rather than one line: they do not stop conversion.
DATASET_LEVEL_CODES = frozenset({"too_few_examples", "empty_file"})

WARNING_CODES: tuple[str, ...] = (
    "few_examples",
    "missing_system_message",
    "inconsistent_system_message",
    "duplicate_examples",
    "over_token_limit",
    "byte_order_mark",
    "trailing_blank_lines",
    "ignored_keys",
    "no_trained_messages",
)

MAX_REPORTED_ERRORS = 100
MAX_WARNING_LINES = 100


class DatasetError(BaseModel):
    """One problem; ``line`` is 1-based, or null for a problem of the whole file."""

    line: int | None
    code: str
    message: str


class DatasetWarning(BaseModel):
    """Something OpenAI accepts but that is probably not what the user meant."""

    code: str
    message: str
    count: int
    lines: list[int] = Field(default_factory=list, description=f"first {MAX_WARNING_LINES} lines concerned")


class Distribution(BaseModel):
    """The cookbook's distribution figures (numpy's median and linear quantiles)."""

    min: int
    max: int
    mean: float
    median: float
    p10: float
    p90: float


class DatasetStats(BaseModel):
    n_missing_system: int = 0
    n_missing_user: int = 0
    messages_per_example: Distribution | None = None
    total_tokens_per_example: Distribution | None = None
    assistant_tokens_per_example: Distribution | None = None


class DatasetReport(BaseModel):
    """Everything known about a dataset before a cent is spent. JSON-serialisable as is."""

    model_config = ConfigDict(protected_namespaces=())

    valid: bool
    format: str = Field(description="chat | prompt_completion | preference | csv | tsv | unknown")
    method: str = Field(description="supervised | dpo: what the canonical file trains")
    num_examples: int
    num_lines: int
    size_bytes: int
    charset: str = Field(description="utf-8, or utf-8-sig when the file starts with a byte-order mark")
    encoding: str = Field(description="the tokenizer encoding the counts use")
    token_count_method: Literal["exact", "estimated"] = Field(
        default="exact", description="estimated: the model's own tokenizer has no offline vocabulary here "
                                     "(Together's open models, unknown models), so `encoding` stands in")
    model: str | None = None
    columns: list[str] | None = Field(default=None, description="CSV/TSV: the (prompt, completion) columns used")
    error_counts: dict[str, int]
    errors: list[DatasetError]
    warnings: list[DatasetWarning]
    stats: DatasetStats
    token_limit: int
    n_over_token_limit: int
    total_tokens: int
    billed_tokens: int = Field(description="sum of tokens per example, each capped at token_limit")
    n_epochs: int
    charged_tokens: int = Field(description="n_epochs x billed_tokens")
    price_per_million_usd: float | None
    estimated_cost_usd: float | None

    def error_summary(self, limit: int = 5) -> str:
        """The first errors in one sentence, for refusing a job that names this dataset."""
        if self.valid:
            return "the dataset is valid"
        shown = "; ".join(
            f"line {e.line}: {e.code}: {e.message}" if e.line is not None else f"{e.code}: {e.message}"
            for e in self.errors[:limit]
        )
        total = sum(self.error_counts.values())
        more = f" (and {total - min(limit, len(self.errors))} more)" if total > limit else ""
        return f"the dataset is invalid: {shown}{more}"

    def warning(self, code: str) -> DatasetWarning | None:
        return next((w for w in self.warnings if w.code == code), None)
