"""Reading a job's loss curve in bulk: downsampled series for charts, every point as CSV.

Both read plain tuples (no ORM objects): a long job has 100,000 points, and building that many
``JobMetric`` objects costs more than the query. The tenant wall is the same ``core.scoping`` one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.downsample import downsample
from core.models import JobMetric
from core.scoping import owned_columns

SERIES = ("train_loss", "train_mean_token_accuracy", "valid_loss", "valid_mean_token_accuracy", "full_valid_loss",
          "full_valid_mean_token_accuracy")
CSV_COLUMNS = ("step", *SERIES, "created_at")
CSV_BATCH = 5000


@dataclass(frozen=True)
class Series:
    steps: list[int]
    values: list[float]
    total_points: int


def series(session: Session, tenant_id: str, job_id: str, *, max_points: int) -> tuple[int, dict[str, Series]]:
    """(number of points, each non-empty series downsampled to at most ``max_points``), in step order."""
    columns = [getattr(JobMetric, name) for name in SERIES]
    query = owned_columns(JobMetric, tenant_id, JobMetric.step, *columns).where(
        JobMetric.job_id == job_id).order_by(JobMetric.step)
    rows = session.execute(query).all()
    result: dict[str, Series] = {}
    for index, name in enumerate(SERIES, start=1):
        pairs = [(row[0], row[index]) for row in rows if row[index] is not None]
        if not pairs:
            continue
        steps, values = downsample([p[0] for p in pairs], [float(p[1]) for p in pairs], max_points)
        result[name] = Series(steps=steps, values=values, total_points=len(pairs))
    return len(rows), result


def _text(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "strftime"):
        return str(value.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return repr(value) if isinstance(value, float) else str(value)


def csv_chunks(sessions: sessionmaker[Session], tenant_id: str, job_id: str) -> Iterator[str]:
    """Every point as CSV, in batches read by id (keyset), each batch in its own short session.

    A streamed response may be read slowly; holding one transaction (and a pooled connection) open
    for the whole download would pin both, so each batch opens, reads and closes.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    last_id = 0
    columns = [getattr(JobMetric, name) for name in CSV_COLUMNS]
    while True:
        with sessions() as session:
            query = owned_columns(JobMetric, tenant_id, JobMetric.id, *columns).where(
                JobMetric.job_id == job_id, JobMetric.id > last_id).order_by(JobMetric.id).limit(CSV_BATCH)
            rows = session.execute(query).all()
        if not rows:
            return
        buffer.seek(0)
        buffer.truncate()
        for row in rows:
            writer.writerow([_text(value) for value in row[1:]])
        last_id = rows[-1][0]
        yield buffer.getvalue()
