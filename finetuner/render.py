"""A dataset report as terminal tables (rich); the JSON form is the report itself."""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from core.datasets.report import DatasetReport, Distribution

LINES_SHOWN = 10


def _number(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    return f"{int(value):,}"


def _lines(lines: list[int], count: int) -> str:
    if not lines:
        return "-"
    shown = ", ".join(map(str, lines[:LINES_SHOWN]))
    return shown + (", ..." if count > min(len(lines), LINES_SHOWN) else "")


def summary_table(report: DatasetReport) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    verdict = Text("valid", style="bold green") if report.valid else Text("invalid", style="bold red")
    cost = f"${report.estimated_cost_usd:,.2f}" if report.estimated_cost_usd is not None else "- (no model price)"
    rows: list[tuple[str, str | Text]] = [
        ("status", verdict),
        ("format", f"{report.format} ({report.method})"),
        ("examples", _number(report.num_examples)),
        ("lines / bytes", f"{_number(report.num_lines)} / {_number(report.size_bytes)} ({report.charset})"),
        ("model / encoding", f"{report.model or '-'} / {report.encoding}"),
        ("token limit", f"{_number(report.token_limit)} ({_number(report.n_over_token_limit)} over)"),
        ("total tokens", _number(report.total_tokens)),
        ("billed tokens", _number(report.billed_tokens)),
        ("epochs", _number(report.n_epochs)),
        ("charged tokens", _number(report.charged_tokens)),
        ("estimated cost", cost),
    ]
    if report.columns:
        rows.insert(2, ("columns", " → ".join(report.columns)))
    for name, value in rows:
        table.add_row(name, value)
    return table


def errors_table(report: DatasetReport, limit: int) -> Table:
    total = sum(report.error_counts.values())
    table = Table(title=f"errors ({total})", title_justify="left", title_style="bold red")
    table.add_column("line", justify="right")
    table.add_column("code", style="red")
    table.add_column("message", overflow="fold")
    for error in report.errors[:limit]:
        table.add_row("-" if error.line is None else str(error.line), error.code, error.message)
    if total > min(limit, len(report.errors)):
        table.caption = f"{total - min(limit, len(report.errors))} more; --json lists the first 100"
    return table


def error_counts_table(report: DatasetReport) -> Table:
    table = Table(title="errors by kind", title_justify="left")
    table.add_column("code", style="red")
    table.add_column("examples", justify="right")
    for code, count in report.error_counts.items():
        if count:
            table.add_row(code, _number(count))
    return table


def warnings_table(report: DatasetReport) -> Table:
    table = Table(title=f"warnings ({len(report.warnings)})", title_justify="left", title_style="bold yellow")
    table.add_column("code", style="yellow")
    table.add_column("count", justify="right")
    table.add_column("lines")
    table.add_column("message", overflow="fold")
    for warning in report.warnings:
        table.add_row(warning.code, _number(warning.count), _lines(warning.lines, warning.count), warning.message)
    return table


def distributions_table(report: DatasetReport) -> Table:
    stats = report.stats
    table = Table(title=f"per example (missing system: {stats.n_missing_system}, missing user: "
                        f"{stats.n_missing_user})", title_justify="left")
    table.add_column("")
    for name in ("min", "max", "mean", "median", "p10", "p90"):
        table.add_column(name, justify="right")
    rows: list[tuple[str, Distribution | None]] = [
        ("messages", stats.messages_per_example),
        ("total tokens", stats.total_tokens_per_example),
        ("assistant tokens", stats.assistant_tokens_per_example),
    ]
    for name, dist in rows:
        if dist is not None:
            table.add_row(name, *(_number(getattr(dist, f)) for f in ("min", "max", "mean", "median", "p10", "p90")))
    return table


def render_report(report: DatasetReport, path: str, *, max_errors: int = 20) -> RenderableType:
    parts: list[RenderableType] = [Text(path, style="bold", overflow="fold"), summary_table(report)]
    if report.stats.total_tokens_per_example is not None:
        parts.append(distributions_table(report))
    if not report.valid:
        parts.append(error_counts_table(report))
        parts.append(errors_table(report, max_errors))
    if report.warnings:
        parts.append(warnings_table(report))
    spaced: list[RenderableType] = []
    for index, part in enumerate(parts):
        spaced.extend([Text("")] if index > 1 else [])
        spaced.append(part)
    return Group(*spaced)


def print_report(console: Console, report: DatasetReport, path: str, *, max_errors: int = 20) -> None:
    console.print(render_report(report, path, max_errors=max_errors))
