"""The Python client: ``FineTuner`` (blocking) and ``AsyncFineTuner`` (asyncio), sharing one set of models.

Everything a caller needs is importable from ``finetuner`` itself; this package keeps the pieces
apart (configuration, errors, models, transport, the two clients) so each stays small.
"""

from finetuner.client.async_client import AsyncFineTuner
from finetuner.client.errors import (
    APIError,
    BadRequest,
    Conflict,
    FineTunerError,
    Invalid,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    Unauthorized,
    WaitTimeout,
)
from finetuner.client.models import (
    Checkpoint,
    ComparedJob,
    Dataset,
    Evaluation,
    Event,
    Job,
    MetricPoint,
    MetricSeries,
    StreamMessage,
    Transition,
)
from finetuner.client.sync_client import FineTuner

__all__ = [
    "APIError", "AsyncFineTuner", "BadRequest", "Checkpoint", "ComparedJob", "Conflict", "Dataset", "Evaluation",
    "Event", "FineTuner", "FineTunerError", "Invalid", "Job", "MetricPoint", "MetricSeries", "NotFound",
    "PayloadTooLarge", "RateLimited", "ServerError", "StreamMessage", "Transition", "Unauthorized", "WaitTimeout",
]
