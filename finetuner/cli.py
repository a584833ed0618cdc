"""The ``finetuner`` command: check, convert and split datasets on your own machine, and (in
``cli_service``) upload, start, watch and control jobs on a running service.

Works offline with no server: the tokenizer data ships with the package, so counts are exact on
a machine that has never reached the internet. Exit codes: 0 done (dataset valid), 1 the dataset
has problems (they are printed), 2 the command itself was wrong (unknown option, missing file).
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from core.datasets.ingest import IngestResult, ingest
from core.datasets.report import DatasetReport
from core.datasets.split import split_file
from core.datasets.validate import FORMAT_HINTS, validate_file
from finetuner import cli_service
from finetuner.render import errors_table, print_report

app = typer.Typer(
    name="finetuner",
    help="Check, convert and split fine-tuning datasets (offline, exact token counts); upload, run and watch "
         "fine-tuning jobs on a finetuner service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

PathArg = Annotated[Path, typer.Argument(help="Dataset file: JSONL (chat, prompt/completion, preference) or CSV/TSV.",
                                         exists=True, dir_okay=False, readable=True)]
ModelOpt = Annotated[str | None, typer.Option("--model", "-m", help="Base model: sets encoding, token limit, price.")]
EncodingOpt = Annotated[str | None, typer.Option("--encoding", "-e", help="Tokenizer: o200k_base or cl100k_base.")]
FormatOpt = Annotated[str | None, typer.Option("--format", "-f", help=f"Force a format: {', '.join(FORMAT_HINTS)}.")]
SystemOpt = Annotated[str | None, typer.Option("--system", help="System prompt for converted prompt/completion rows.")]
ColumnsOpt = Annotated[str | None, typer.Option("--columns", help="CSV/TSV prompt and completion columns: A,B.")]
WorkersOpt = Annotated[int, typer.Option("--workers", min=1, help="Processes for a large JSONL file "
                                         "(default: one per CPU).")]
DEFAULT_WORKERS = min(os.cpu_count() or 1, 8)


def _fail_usage(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(2)


AllowUnknownOpt = Annotated[bool, typer.Option("--allow-unknown-model",
                                               help="Accept a --model missing from the catalog; counts then assume "
                                                    "o200k_base, the 16,385-token limit and no price.")]


def _check_model(model: str | None, allow_unknown: bool) -> None:
    """An unknown ``--model`` would silently get default limits and no price: refuse it unless asked.

    A typo (``gpt-4o-mnii``) would otherwise pass with the wrong limit and "no model price"."""
    if model is None or allow_unknown:
        return
    from core.datasets.cost import load_catalog

    catalog = load_catalog()
    if catalog.find(model) is None:
        known = sorted({e.model for e in catalog.entries() if e.provider == "openai"}
                       | {a for e in catalog.entries() if e.provider == "openai" for a in e.aliases})
        raise _fail_usage(f"unknown model {model!r}; known models: {', '.join(known)}. "
                          "Pass --allow-unknown-model to validate with default limits.")


def _check_encoding(encoding: str | None) -> None:
    from core.datasets.tokens import SUPPORTED_ENCODINGS

    if encoding is not None and encoding not in SUPPORTED_ENCODINGS:
        raise _fail_usage(f"unknown encoding {encoding!r}; use one of {', '.join(SUPPORTED_ENCODINGS)}")


@app.command()
def validate(
    path: PathArg,
    model: ModelOpt = None,
    encoding: EncodingOpt = None,
    format: FormatOpt = None,
    system: SystemOpt = None,
    columns: ColumnsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    max_errors: Annotated[int, typer.Option(help="Error lines shown in the tables.")] = 20,
    workers: WorkersOpt = DEFAULT_WORKERS,
    allow_unknown_model: AllowUnknownOpt = False,
) -> None:
    """Validate a dataset like OpenAI's cookbook does, with line numbers; exit 1 when it is not valid.

    An unknown ``--model`` exits 2 with the known models listed (``--allow-unknown-model`` to proceed)."""
    _check_encoding(encoding)
    _check_model(model, allow_unknown_model)
    try:
        report = validate_file(path, model=model, encoding=encoding, format_hint=format, system_prompt=system,
                               columns=columns, workers=workers)
    except ValueError as exc:
        raise _fail_usage(str(exc)) from exc
    if as_json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    else:
        print_report(out, report, str(path), max_errors=max_errors)
    raise typer.Exit(0 if report.valid else 1)


def _convert(path: Path, output: Path, *, model: str | None, encoding: str | None, format: str | None,
             system: str | None, columns: str | None, workers: int) -> IngestResult:
    _check_encoding(encoding)
    try:
        return ingest(path, output, model=model, encoding=encoding, format_hint=format, system_prompt=system,
                      columns=columns, workers=workers)
    except ValueError as exc:
        raise _fail_usage(str(exc)) from exc


def _refuse(report: DatasetReport, path: Path, what: str) -> typer.Exit:
    err.print(f"[red]{path}: not {what}[/red]: fix these lines first")
    err.print(errors_table(report, 20))
    return typer.Exit(1)


@app.command()
def convert(
    path: PathArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the canonical JSONL.",
                                         dir_okay=False)],
    model: ModelOpt = None,
    encoding: EncodingOpt = None,
    format: FormatOpt = None,
    system: SystemOpt = None,
    columns: ColumnsOpt = None,
    workers: WorkersOpt = DEFAULT_WORKERS,
) -> None:
    """Write the canonical JSONL (chat, or preference pairs for DPO) that gets uploaded."""
    result = _convert(path, output, model=model, encoding=encoding, format=format, system=system, columns=columns,
                      workers=workers)
    report = result.report
    if result.canonical_path is None:
        raise _refuse(report, path, "converted")
    note = "" if report.valid else f" [yellow](still not trainable: {report.error_summary(3)})[/yellow]"
    out.print(f"wrote {report.num_examples} {report.method} examples ({report.format} → canonical) "
              f"to {result.canonical_path}{note}")


@app.command()
def split(
    path: PathArg,
    validation: Annotated[float, typer.Option("--validation", help="Share of examples for validation, 0..1.")] = 0.1,
    test: Annotated[float, typer.Option("--test", help="Share held out as a test set, 0..1 (0: none).")] = 0.0,
    stratify: Annotated[bool, typer.Option(help="Keep each label's share in every part.")] = False,
    seed: Annotated[int, typer.Option(help="Same seed, same split.")] = 42,
    train_out: Annotated[Path | None, typer.Option(help="Default: PATH's name + .train.jsonl")] = None,
    validation_out: Annotated[Path | None, typer.Option(help="Default: PATH's name + .validation.jsonl")] = None,
    test_out: Annotated[Path | None, typer.Option(help="Default: PATH's name + .test.jsonl")] = None,
    format: FormatOpt = None,
    system: SystemOpt = None,
    columns: ColumnsOpt = None,
    workers: WorkersOpt = DEFAULT_WORKERS,
) -> None:
    """Split a dataset into train, validation (and test) files (canonical JSONL), deterministically."""
    stem = path.with_suffix("") if path.suffix else path
    train_path = train_out or stem.with_name(stem.name + ".train.jsonl")
    validation_path = validation_out or stem.with_name(stem.name + ".validation.jsonl")
    test_path = test_out or stem.with_name(stem.name + ".test.jsonl")
    with tempfile.TemporaryDirectory(prefix="finetuner-split-", dir=train_path.parent) as scratch:
        result = _convert(path, Path(scratch) / "canonical.jsonl", model=None, encoding=None, format=format,
                          system=system, columns=columns, workers=workers)
        if result.canonical_path is None:
            raise _refuse(result.report, path, "split")
        try:
            parts = split_file(result.canonical_path, train_path, validation_path,
                               validation_fraction=validation, seed=seed, test_path=test_path if test else None,
                               test_fraction=test, stratify=stratify)
        except ValueError as exc:
            raise _fail_usage(str(exc)) from exc
    out.print(f"train: {parts.train.num_examples} examples → {parts.train.path}")
    out.print(f"validation: {parts.validation.num_examples} examples → {parts.validation.path}")
    if parts.test is not None:
        out.print(f"test: {parts.test.num_examples} examples → {parts.test.path}")


cli_service.register(app)


def main() -> None:
    """The console script. Ends without the interpreter's teardown: freeing the tokenizer's tables takes
    ~0.13 s for o200k_base, a third of a small file's whole run. By then nothing is left to clean up
    (files are closed, worker pools joined, temporary folders removed), so output is flushed and the
    process exits with the command's code. An unexpected exception still ends the normal way."""
    try:
        app()
        code = 0
    except SystemExit as exc:
        if isinstance(exc.code, str):
            sys.stderr.write(exc.code + "\n")
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    main()
