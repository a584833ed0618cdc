"""What a person watching a job sees: status, a bar over steps with ETA, the latest losses, a
sparkline of the train loss and the last events. Shared by ``wait(progress=True)`` (both clients)
and ``finetuner watch``; the state is plain data so it is tested without a terminal.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from finetuner.client.models import Event, Job, MetricPoint, Transition

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 40
EVENTS_SHOWN = 6


def sparkline(values: list[float], width: int = SPARK_WIDTH) -> str:
    """The last ``width`` values as block characters, lowest ▁ to highest █."""
    tail = values[-width:]
    if not tail:
        return ""
    low, high = min(tail), max(tail)
    span = high - low or 1.0
    return "".join(SPARK_BLOCKS[min(len(SPARK_BLOCKS) - 1, int((v - low) / span * len(SPARK_BLOCKS)))] for v in tail)


@dataclass
class WatchState:
    """Everything known about a watched job, updated from polls or stream messages."""

    job_id: str
    job: Job | None = None
    step: int = 0
    total_steps: int | None = None
    train_loss: float | None = None
    valid_loss: float | None = None
    train_losses: list[float] = field(default_factory=list)
    events: deque[str] = field(default_factory=lambda: deque(maxlen=EVENTS_SHOWN))
    started: float = field(default_factory=time.monotonic)
    first_step_at: float | None = None
    last_metric_id: str | None = None
    last_event_id: str | None = None

    @property
    def status(self) -> str:
        return self.job.status if self.job else "unknown"

    @property
    def done(self) -> bool:
        return self.job is not None and self.job.done

    def apply_job(self, job: Job) -> None:
        self.job = job

    def apply_metric(self, point: MetricPoint) -> None:
        if point.step <= self.step and self.train_losses:
            return
        if self.first_step_at is None:
            self.first_step_at = time.monotonic()
        self.step = point.step
        self.total_steps = point.total_steps or self.total_steps
        if point.train_loss is not None:
            self.train_loss = point.train_loss
            self.train_losses.append(point.train_loss)
        if point.valid_loss is not None:
            self.valid_loss = point.valid_loss
        if point.id:
            self.last_metric_id = point.id

    def apply_event(self, event: Event) -> None:
        self.last_event_id = event.id
        if event.type != "metrics":  # metrics already show as the bar and the losses
            self.events.append(f"{event.created_at:%H:%M:%S} {event.message}")

    def apply_transition(self, transition: Transition) -> None:
        self.events.append(f"{transition.at:%H:%M:%S} status → {transition.to_status} ({transition.reason})")

    def eta_seconds(self) -> float | None:
        if not self.total_steps or self.first_step_at is None or self.step <= 0:
            return None
        elapsed = time.monotonic() - self.first_step_at
        return max(0.0, elapsed / self.step * (self.total_steps - self.step))

    def summary(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "status": self.status, "step": self.step, "total_steps": self.total_steps,
                "train_loss": self.train_loss, "valid_loss": self.valid_loss}


def _status_style(status: str) -> str:
    return {"succeeded": "bold green", "failed": "bold red", "cancelled": "bold yellow",
            "cancelling": "yellow", "paused": "yellow"}.get(status, "bold cyan")


def render(state: WatchState, *, show_events: bool = True) -> Any:
    """A Rich renderable of ``state`` (imported here: only people watching need Rich)."""
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    head = Text.assemble(("job ", "dim"), (state.job_id, "bold"), "  ", (state.status, _status_style(state.status)))
    if state.job is not None and state.job.fine_tuned_model:
        head.append(f"  → {state.job.fine_tuned_model}", style="green")
    grid = Table.grid(padding=(0, 1))
    grid.add_column(justify="right", style="dim")
    grid.add_column()
    total = state.total_steps or 0
    bar = ProgressBar(total=float(total or 1), completed=float(state.step if total else 0), width=40)
    eta = state.eta_seconds()
    steps = Text(f" step {state.step}/{total or '?'}" + (f"  ETA {eta:.0f}s" if eta is not None else ""))
    grid.add_row("progress", _row(bar, steps))
    losses = f"train {state.train_loss:.4f}" if state.train_loss is not None else "train -"
    losses += f"   valid {state.valid_loss:.4f}" if state.valid_loss is not None else "   valid -"
    grid.add_row("loss", losses)
    if state.train_losses:
        grid.add_row("curve", Text(sparkline(state.train_losses), style="magenta"))
    if state.job is not None and state.job.error is not None:
        grid.add_row("error", Text(f"{state.job.error.code or ''} {state.job.error.message}".strip(), style="red"))
    parts: list[Any] = [head, grid]
    if show_events and state.events:
        parts.append(Text("\n".join(state.events), style="dim"))
    return Group(*parts)


def _row(bar: Any, steps: Any) -> Any:
    from rich.table import Table

    row = Table.grid()
    row.add_column()
    row.add_column()
    row.add_row(bar, steps)
    return row
