"""The ``finetuner`` commands that talk to a running service: upload, jobs, watch, metrics, serve, admin.

Kept apart from the offline data commands in ``cli.py``; the client (httpx, its models) is imported
inside each command so ``finetuner validate`` starts without it. ``--url`` / ``--api-key`` default to
``FINETUNER_URL`` / ``FINETUNER_API_KEY`` and then to ``make run``'s local default and key file.

Exit codes: 0 done (for ``watch``: the job succeeded), 1 the service refused (the error is printed)
or the watched job failed, 2 the command was wrong or the service could not be reached, 3 the
watched job was cancelled.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from finetuner.client import FineTuner, Job

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

UrlOpt = Annotated[str | None, typer.Option("--url", envvar="FINETUNER_URL", show_envvar=True,
                                            help="The service (default: http://127.0.0.1:8000).")]
KeyOpt = Annotated[str | None, typer.Option("--api-key", envvar="FINETUNER_API_KEY", show_envvar=True,
                                            help="An API key (default: make run's var/dev-api-key locally).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
JobArg = Annotated[str, typer.Argument(help="A job id (job_…).")]
EXIT_BY_STATUS = {"succeeded": 0, "failed": 1, "cancelled": 3}

jobs_app = typer.Typer(help="Create, list, show, cancel, pause and resume fine-tuning jobs.", no_args_is_help=True)


@contextmanager
def _client(url: str | None, api_key: str | None, wandb_project: str | None = None) -> Iterator[FineTuner]:
    """A client, with the service's errors turned into a printed message and an exit code."""
    import httpx

    from finetuner.client import APIError, FineTuner

    try:
        with FineTuner(base_url=url, api_key=api_key, wandb_project=wandb_project) as ft:
            yield ft
    except APIError as exc:
        err.print(f"[red]error {exc.status_code}[/red] ({exc.error_type}): {exc.message}")
        if isinstance(exc.details, dict) and exc.details.get("errors"):
            err.print(json.dumps(exc.details["errors"], indent=2)[:2000])
        raise typer.Exit(1) from None
    except httpx.TransportError as exc:
        err.print(f"[red]error:[/red] cannot reach the service: {exc}")
        raise typer.Exit(2) from None


def _print_json(value: Any) -> None:
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if hasattr(v, "model_dump") else v for v in value]
    sys.stdout.write(json.dumps(value, indent=2) + "\n")


def _job_table(jobs: list[Job]) -> Table:
    table = Table(box=None, header_style="bold")
    table.add_column("id", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for column in ("model", "suffix", "fine-tuned model", "created"):
        table.add_column(column)
    for job in jobs:
        table.add_row(job.id, job.status, job.model, job.suffix or "", job.fine_tuned_model or "",
                      f"{job.created_at:%Y-%m-%d %H:%M}")
    return table


def _show_job(job: Job) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", justify="right")
    grid.add_column()
    rows: list[tuple[str, Any]] = [
        ("id", job.id), ("status", job.status), ("model", job.model), ("provider", job.provider),
        ("provider job", job.provider_job_id), ("training", job.training_dataset_id),
        ("validation", job.validation_dataset_id), ("hyperparameters", json.dumps(job.hyperparameters)),
        ("resolved", json.dumps(job.resolved_hyperparameters) if job.resolved_hyperparameters else None),
        ("suffix", job.suffix), ("fine-tuned model", job.fine_tuned_model), ("trained tokens", job.trained_tokens),
        ("estimated cost", f"${job.estimated_cost_usd:.4f}" if job.estimated_cost_usd is not None else None),
        ("error", f"{job.error.code}: {job.error.message}" if job.error else None),
        ("created", f"{job.created_at:%Y-%m-%d %H:%M:%S}Z"),
    ]
    for name, value in rows:
        if value not in (None, ""):
            grid.add_row(name, str(value))
    out.print(grid)


# --- upload and jobs -------------------------------------------------------------------------------


def upload(
    path: Annotated[Path, typer.Argument(help="The dataset file.", exists=True, dir_okay=False, readable=True)],
    name: Annotated[str | None, typer.Option(help="A name (default: the file's).")] = None,
    format: Annotated[str | None, typer.Option("--format", "-f", help="Force a format.")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Base model the report is for.")] = None,
    url: UrlOpt = None, api_key: KeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """Upload a dataset; the service validates it (an invalid one is stored with its report, exit 1)."""
    with _client(url, api_key) as ft:
        dataset = ft.upload_dataset(path, name=name, format=format, model=model)
    if as_json:
        _print_json(dataset)
    else:
        out.print(f"{dataset.id}  {dataset.status}  {dataset.format}  {dataset.num_examples} examples")
        if dataset.status == "invalid":
            for error in (dataset.report.get("errors") or [])[:10]:
                where = f"line {error.get('line')}" if error.get("line") is not None else "file"
                err.print(f"  {where}: {error.get('code')}: {error.get('message')}", markup=False)
    raise typer.Exit(0 if dataset.status == "valid" else 1)


@jobs_app.command("create")
def jobs_create(
    training: Annotated[str, typer.Argument(help="Training dataset id (ds_…) or a file to upload first.")],
    validation: Annotated[str | None, typer.Option("--validation", "-v", help="Validation dataset id or file.")
                          ] = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Base model.")] = "gpt-4o-mini",
    n_epochs: Annotated[int | None, typer.Option("--epochs", min=1, help="Epochs (default: auto).")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help="Batch size (default: auto).")
                          ] = None,
    learning_rate_multiplier: Annotated[float | None, typer.Option("--lr", help="Learning-rate multiplier.")] = None,
    suffix: Annotated[str | None, typer.Option(help="Suffix of the fine-tuned model's name.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed, for a repeatable run.")] = None,
    wandb_project: Annotated[str | None, typer.Option("--wandb-project", help="Log to this W&B project.")] = None,
    watch_it: Annotated[bool, typer.Option("--watch", help="Then watch it until it ends.")] = False,
    url: UrlOpt = None, api_key: KeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """Start a fine-tuning job; prints its id."""
    with _client(url, api_key, wandb_project) as ft:
        job_id = ft.create_fine_tune_job(training, validation, base_model=model, n_epochs=n_epochs,
                                         batch_size=batch_size, learning_rate_multiplier=learning_rate_multiplier,
                                         suffix=suffix, seed=seed)
        if as_json:
            _print_json(ft.get_job(job_id))
        else:
            out.print(job_id)
        if watch_it:
            raise typer.Exit(_watch(ft, job_id, as_json=False))


@jobs_app.command("list")
def jobs_list(
    status: Annotated[str | None, typer.Option(help="Only jobs in this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many (newest first).")] = 20,
    url: UrlOpt = None, api_key: KeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """List jobs, newest first."""
    from itertools import islice

    with _client(url, api_key) as ft:
        jobs = list(islice(ft.list_jobs(status=status), limit))
    if as_json:
        _print_json(jobs)
    else:
        out.print(_job_table(jobs) if jobs else "no jobs")


@jobs_app.command("show")
def jobs_show(job_id: JobArg, url: UrlOpt = None, api_key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """Show one job."""
    with _client(url, api_key) as ft:
        job = ft.get_job(job_id)
    _print_json(job) if as_json else _show_job(job)


def _control(action: str) -> Callable[..., None]:
    def command(job_id: JobArg, url: UrlOpt = None, api_key: KeyOpt = None, as_json: JsonOpt = False) -> None:
        with _client(url, api_key) as ft:
            job = getattr(ft, action)(job_id)
        _print_json(job) if as_json else out.print(f"{job.id}  {job.status}")

    command.__doc__ = {"cancel": "Cancel a job.", "pause": "Pause a queued or running job.",
                       "resume": "Resume a paused job."}[action]
    return command


for _action in ("cancel", "pause", "resume"):
    jobs_app.command(_action)(_control(_action))


# --- watch and metrics -----------------------------------------------------------------------------


def _watch(ft: FineTuner, job_id: str, *, as_json: bool, console: Console | None = None) -> int:
    """Follow the job's stream, drawing the live view; returns the exit code for its final status."""
    from rich.live import Live

    from finetuner.client.models import Event, Job, MetricPoint, Transition
    from finetuner.client.progress import WatchState, render

    state = WatchState(job_id)
    state.apply_job(ft.get_job(job_id))
    appliers: dict[str, Callable[[dict[str, Any]], None]] = {
        "job": lambda data: state.apply_job(Job.model_validate(data)),
        "end": lambda data: state.apply_job(Job.model_validate(data)),
        "metric": lambda data: state.apply_metric(MetricPoint.model_validate(data)),
        "event": lambda data: state.apply_event(Event.model_validate(data)),
        "transition": lambda data: state.apply_transition(Transition.model_validate(data)),
    }

    def apply(event: str, data: dict[str, Any]) -> None:
        applier = appliers.get(event)
        if applier is not None:
            applier(data)

    if as_json:
        for message in ft.stream(job_id):
            apply(message.event, message.data)
            sys.stdout.write(json.dumps({"event": message.event, "id": message.id, "data": message.data}) + "\n")
            sys.stdout.flush()
    else:
        with Live(render(state), console=console or out, refresh_per_second=8) as live:
            for message in ft.stream(job_id):
                apply(message.event, message.data)
                live.update(render(state))
    return EXIT_BY_STATUS.get(state.status, 1)


def watch(job_id: JobArg, url: UrlOpt = None, api_key: KeyOpt = None,
          as_json: Annotated[bool, typer.Option("--json", help="Print each stream message as a JSON line.")] = False,
          ) -> None:
    """Follow a job live: status, progress over steps with ETA, losses, a sparkline, events.

    Exits 0 when the job succeeds, 1 when it fails, 3 when it is cancelled.
    """
    with _client(url, api_key) as ft:
        code = _watch(ft, job_id, as_json=as_json)
    raise typer.Exit(code)


def metrics(
    job_id: JobArg,
    csv: Annotated[bool, typer.Option("--csv", help="Every point as CSV on stdout (streamed).")] = False,
    max_points: Annotated[int | None, typer.Option("--max-points", min=4, help="Downsample each series.")] = None,
    url: UrlOpt = None, api_key: KeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """A job's loss curve: a summary, every point as JSON, or CSV."""
    from finetuner.client.progress import sparkline

    with _client(url, api_key) as ft:
        if csv:
            for chunk in ft.metrics_csv(job_id):
                sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            return
        if max_points is not None:
            sampled = ft.metrics(job_id, max_points=max_points)
            if as_json:
                _print_json(sampled)
                return
            series = {name: s.values for name, s in sampled.series.items()}
            total = sampled.total_points
        else:
            points = ft.metrics(job_id)
            if as_json:
                _print_json(points)
                return
            series = {}
            for point in points:
                for name in ("train_loss", "valid_loss", "train_mean_token_accuracy", "valid_mean_token_accuracy"):
                    value = getattr(point, name)
                    if value is not None:
                        series.setdefault(name, []).append(value)
            total = len(points)
    table = Table(box=None, header_style="bold")
    for column in ("series", "points", "first", "min", "max", "last", "curve"):
        table.add_column(column)
    for name, values in series.items():
        table.add_row(name, str(len(values)), f"{values[0]:.4f}", f"{min(values):.4f}", f"{max(values):.4f}",
                      f"{values[-1]:.4f}", sparkline(values, 30))
    out.print(f"{job_id}: {total} points")
    out.print(table)


# --- the service itself ------------------------------------------------------------------------------

PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def serve(ctx: typer.Context) -> None:
    """Run the embedded default (API + worker + beat + emulator); options as `python -m api.embedded`."""
    from api.embedded import main as embedded_main

    raise typer.Exit(embedded_main(list(ctx.args)))


def admin(ctx: typer.Context) -> None:
    """Tenants and API keys: create-tenant, create-key, revoke-key, list-keys (as `python -m api.admin`)."""
    from api.admin import cli as admin_cli

    admin_cli(args=list(ctx.args) or ["--help"], prog_name="finetuner admin")


def register(app: typer.Typer) -> None:
    app.command()(upload)
    app.add_typer(jobs_app, name="jobs")
    app.command()(watch)
    app.command()(metrics)
    app.command(context_settings=PASS_THROUGH)(serve)
    app.command(context_settings=PASS_THROUGH)(admin)
