"""From a finished tally to the report: file-level errors, warnings, distributions, epochs, cost."""

from __future__ import annotations

from collections.abc import Iterable

from core.datasets.cost import Target, default_epochs, estimated_cost_usd
from core.datasets.report import (
    ERROR_CODES,
    MAX_REPORTED_ERRORS,
    MAX_WARNING_LINES,
    DatasetError,
    DatasetReport,
    DatasetStats,
    DatasetWarning,
)
from core.datasets.stats import distribution
from core.datasets.tally import MAX_DISTINCT_SYSTEM_PROMPTS, Tally

MIN_EXAMPLES = 10  # OpenAI refuses a training file with fewer
RECOMMENDED_EXAMPLES = 50  # OpenAI's guide: clear improvements usually start around 50


def build_report(tally: Tally, target: Target, *, fmt: str, size: int, columns: tuple[str, str] | None
                 ) -> DatasetReport:
    n = tally.num_examples
    dataset_errors: list[DatasetError] = []
    if n == 0 and not tally.error_counts:
        message = "the file has no examples" + (" (only a header row)" if columns else "")
        dataset_errors.append(DatasetError(line=None, code="empty_file", message=message))
    elif 0 < n < MIN_EXAMPLES:
        dataset_errors.append(DatasetError(
            line=None, code="too_few_examples",
            message=f"{n} example(s); OpenAI needs at least {MIN_EXAMPLES} to start a fine-tuning job"))
    error_counts = tally.error_counts.copy()
    for item in dataset_errors:
        error_counts[item.code] += 1
    n_epochs = default_epochs(n)
    charged = n_epochs * tally.billed_tokens
    figures = tally.figures
    return DatasetReport(
        valid=not error_counts,
        format=fmt,
        method="dpo" if fmt == "preference" else "supervised",
        num_examples=n,
        num_lines=tally.num_lines,
        size_bytes=size,
        charset="utf-8-sig" if tally.has_bom else "utf-8",
        encoding=target.encoding,
        token_count_method="estimated" if target.token_count_method == "estimated" else "exact",
        model=target.model,
        columns=list(columns) if columns else None,
        error_counts={code: error_counts.get(code, 0) for code in ERROR_CODES}
        | {code: count for code, count in error_counts.items() if code not in ERROR_CODES},
        errors=(dataset_errors + tally.errors)[:MAX_REPORTED_ERRORS],
        warnings=_warnings(tally, target),
        stats=DatasetStats(
            n_missing_system=tally.n_missing_system,
            n_missing_user=tally.n_missing_user,
            messages_per_example=distribution(figures.messages),
            total_tokens_per_example=distribution(figures.total_tokens),
            assistant_tokens_per_example=distribution(figures.assistant_tokens),
        ),
        token_limit=target.token_limit,
        n_over_token_limit=tally.over_limit.count,
        total_tokens=tally.total_tokens,
        billed_tokens=tally.billed_tokens,
        n_epochs=n_epochs,
        charged_tokens=charged,
        price_per_million_usd=target.price_per_million_usd,
        estimated_cost_usd=estimated_cost_usd(charged, target.price_per_million_usd),
    )


def _warnings(tally: Tally, target: Target) -> list[DatasetWarning]:
    out: list[DatasetWarning] = []

    def warn(code: str, message: str, count: int, lines: Iterable[int] = ()) -> None:
        out.append(DatasetWarning(code=code, message=message, count=count, lines=list(lines)[:MAX_WARNING_LINES]))

    if target.model is not None and not target.known_model:
        warn("unknown_model", f"model {target.model!r} is not in the model catalog: counts assume {target.encoding}, "
                              f"a {target.token_limit:,}-token limit per example and no price (so no cost estimate)",
             1)
    n = tally.num_examples
    if 0 < n < RECOMMENDED_EXAMPLES:
        warn("few_examples", f"{n} examples; OpenAI suggests starting with at least {RECOMMENDED_EXAMPLES} "
                             "well-crafted ones", n)
    counted = len(tally.figures.messages)
    if 0 < tally.n_missing_system < counted:
        warn("missing_system_message", f"{tally.n_missing_system} of {counted} examples have no system "
                                       "message while the others do", tally.n_missing_system,
             tally.missing_system.lines)
    distinct = len(tally.system_prompts)
    if distinct > 1:
        many = f"more than {MAX_DISTINCT_SYSTEM_PROMPTS}" if tally.too_many_system_prompts else str(distinct)
        firsts = sorted(tally.system_prompts.values())
        warn("inconsistent_system_message", f"{many} different system messages (first seen at lines "
                                            f"{', '.join(map(str, firsts[:10]))}); the model learns each",
             distinct, firsts)
    n_dupes, dupe_lines, groups = tally.figures.duplicates()
    if n_dupes:
        shown = "; ".join("lines " + ", ".join(map(str, g)) for g in groups)
        warn("duplicate_examples", f"{n_dupes} example(s) repeat an earlier one ({shown})", n_dupes, dupe_lines)
    if tally.over_limit.count:
        warn("over_token_limit", f"{tally.over_limit.count} example(s) exceed the {target.token_limit}-token "
                                 "limit and will be truncated in training", tally.over_limit.count,
             tally.over_limit.lines)
    if tally.has_bom:
        warn("byte_order_mark", "the file starts with a UTF-8 byte-order mark; it is ignored", 1, [1])
    trailing = sum(run.count for run in tally.trailing_blanks)
    if trailing:
        lines = [line for run in tally.trailing_blanks for line in run.lines(MAX_WARNING_LINES)]
        warn("trailing_blank_lines", "blank lines at the end of the file are ignored", trailing, lines)
    if tally.ignored.count:
        names = ", ".join(sorted(tally.ignored_names))
        warn("ignored_keys", f"key(s) {names} are not part of the format and are left out of the "
                             "converted file", tally.ignored.count, tally.ignored.lines)
    if tally.no_trained.count:
        warn("no_trained_messages", "every assistant message has weight 0, so nothing is learned from "
                                    "these examples", tally.no_trained.count, tally.no_trained.lines)
    return out
