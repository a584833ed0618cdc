"""Signed ``fine_tuning.job.*`` webhooks, delivered from a background thread with retries.

Signed the Standard Webhooks way (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``:
``v1,`` + base64 HMAC-SHA256 of ``"{id}.{timestamp}.{body}"`` keyed by the base64 after ``whsec_``),
so ``openai.OpenAI(webhook_secret=…).webhooks.unwrap`` accepts them. Each attempt is re-signed with
a fresh timestamp (a receiver refuses timestamps older than 5 minutes) and keeps the same id, which
lets a receiver de-duplicate retries.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks import Webhook

from emulator import ids

log = logging.getLogger("emulator.webhooks")

STATUS_TO_EVENT = {
    "succeeded": "fine_tuning.job.succeeded",
    "failed": "fine_tuning.job.failed",
    "cancelled": "fine_tuning.job.cancelled",
}


@dataclass(frozen=True)
class Delivery:
    """One attempt, kept so tests (and ``GET /_emulator/webhooks``) can see what happened."""

    event_id: str
    event_type: str
    job_id: str
    attempt: int
    status_code: int | None
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "type": self.event_type, "job_id": self.job_id,
                "attempt": self.attempt, "status_code": self.status_code, "error": self.error}


def sign_headers(secret: str | None, event_id: str, body: str) -> dict[str, str]:
    now = datetime.now(UTC)
    headers = {"webhook-id": event_id, "webhook-timestamp": str(int(now.timestamp())),
               "content-type": "application/json", "user-agent": "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"}
    if secret:
        headers["webhook-signature"] = Webhook(secret).sign(event_id, now, body)
    return headers


class WebhookSender:
    """Queues events and posts them to one URL; never blocks the caller."""

    def __init__(self, url: str, secret: str | None, retry_delays: tuple[float, ...], timeout: float) -> None:
        self.url = url
        self.secret = secret
        self.retry_delays = retry_delays
        self.timeout = timeout
        self.deliveries: list[Delivery] = []
        self._queue: queue.Queue[tuple[str, str, str] | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emulator-webhooks", daemon=True)
        self._thread.start()

    def send(self, job_id: str, status: str, created_at: float) -> None:
        event_type = STATUS_TO_EVENT[status]
        event_id = ids.webhook_event_id()
        payload = {"id": event_id, "object": "event", "created_at": int(created_at), "type": event_type,
                   "data": {"id": job_id}}
        self._queue.put((event_id, job_id, json.dumps(payload, separators=(",", ":"))))

    def close(self) -> None:
        self._stop.set()
        self._queue.put(None)
        self._thread.join(timeout=2)

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            while not self._stop.is_set():
                item = self._queue.get()
                if item is None:
                    return
                self._deliver(client, *item)

    def _deliver(self, client: httpx.Client, event_id: str, job_id: str, body: str) -> None:
        event_type = json.loads(body)["type"]
        delays = (0.0, *self.retry_delays)
        for attempt, delay in enumerate(delays, start=1):
            if delay and self._stop.wait(delay):
                return
            status_code: int | None = None
            error: str | None = None
            try:
                response = client.post(self.url, content=body.encode("utf-8"),
                                       headers=sign_headers(self.secret, event_id, body))
                status_code = response.status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            self.deliveries.append(Delivery(event_id, event_type, job_id, attempt, status_code, error))
            if status_code is not None and 200 <= status_code < 300:
                return
            log.warning("webhook %s attempt %d to %s failed: %s", event_id, attempt, self.url, error or status_code)
        log.error("webhook %s for %s given up after %d attempts", event_id, job_id, len(delays))
