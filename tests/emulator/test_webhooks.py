"""Signed webhooks reach a loopback receiver, pass the SDK's ``webhooks.unwrap``, and are retried."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest

from emulator import EmulatorSettings
from tests.emulator.helpers import eventually, start_job, wait_for_status
from tests.emulator.schema import schema_errors
from tests.emulator.server import EmulatorFactory, RunningEmulator

SECRET = "whsec_" + base64.b64encode(b"emulator-webhook-test-secret-32b").decode()
SCHEMAS = {"fine_tuning.job.succeeded": "WebhookFineTuningJobSucceeded",
           "fine_tuning.job.failed": "WebhookFineTuningJobFailed",
           "fine_tuning.job.cancelled": "WebhookFineTuningJobCancelled"}


class Receiver:
    """A loopback HTTP server that answers 500 to the first ``failures`` posts, then 200."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[tuple[bytes, dict[str, str], int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                status = 500 if len(receiver.received) < receiver.failures else 200
                receiver.received.append((body, {k.lower(): v for k, v in self.headers.items()}, status))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def accepted(self) -> list[tuple[bytes, dict[str, str]]]:
        return [(body, headers) for body, headers, status in self.received if status == 200]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    hooks = Receiver(failures=1)
    yield hooks
    hooks.close()


@pytest.fixture(scope="module")
def hooked(tracked_server: EmulatorFactory, receiver: Receiver) -> RunningEmulator:
    return tracked_server(EmulatorSettings(api_key="sk-hooks", webhook_url=receiver.url, webhook_secret=SECRET,
                                           webhook_retry_delays=(0.05, 0.1, 0.2)))


def _events_for(receiver: Receiver, job_id: str) -> list[tuple[bytes, dict[str, str]]]:
    return [(b, h) for b, h in receiver.accepted() if json.loads(b)["data"]["id"] == job_id]


def test_a_succeeded_job_sends_a_webhook_that_unwrap_accepts_after_a_retry(hooked: RunningEmulator,
                                                                           receiver: Receiver) -> None:
    client = hooked.client()
    job = wait_for_status(client, start_job(client).id)
    body, headers = eventually(lambda: next(iter(_events_for(receiver, job.id)), None), what="the webhook")
    event = openai.OpenAI(api_key="unused", webhook_secret=SECRET).webhooks.unwrap(body, headers)
    assert event.type == "fine_tuning.job.succeeded"
    assert event.data.id == job.id
    assert event.created_at == job.finished_at
    assert not schema_errors(json.loads(body), f"#/components/schemas/{SCHEMAS[event.type]}")
    attempts = [h["webhook-id"] for _, h, _ in receiver.received]
    assert attempts.count(headers["webhook-id"]) == 2, "the first attempt got a 500 and was retried, same id"
    deliveries = hooked.control("GET", "/_emulator/webhooks").json()["data"]
    assert [d["status_code"] for d in deliveries if d["job_id"] == job.id] == [500, 200]


def test_a_cancelled_job_sends_a_cancelled_webhook(hooked: RunningEmulator, receiver: Receiver) -> None:
    client = hooked.client()
    job = client.fine_tuning.jobs.cancel(start_job(client).id)
    body, headers = eventually(lambda: next(iter(_events_for(receiver, job.id)), None), what="the webhook")
    event = openai.OpenAI(api_key="unused", webhook_secret=SECRET).webhooks.unwrap(body, headers)
    assert event.type == "fine_tuning.job.cancelled"
    assert not schema_errors(json.loads(body), f"#/components/schemas/{SCHEMAS[event.type]}")


def test_a_failed_job_sends_a_failed_webhook(hooked: RunningEmulator, receiver: Receiver) -> None:
    client = hooked.client()
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini",
                                         training_file=client.files.create(file=("bad.jsonl", b"nope\n"),
                                                                           purpose="fine-tune").id)
    body, headers = eventually(lambda: next(iter(_events_for(receiver, job.id)), None), what="the webhook")
    event = openai.OpenAI(api_key="unused", webhook_secret=SECRET).webhooks.unwrap(body, headers)
    assert event.type == "fine_tuning.job.failed"


def test_a_webhook_signed_with_another_secret_is_rejected(hooked: RunningEmulator, receiver: Receiver) -> None:
    client = hooked.client()
    job = client.fine_tuning.jobs.cancel(start_job(client).id)
    body, headers = eventually(lambda: next(iter(_events_for(receiver, job.id)), None), what="the webhook")
    other = "whsec_" + base64.b64encode(b"some-other-secret-of-32-bytes!!!").decode()
    with pytest.raises(openai.InvalidWebhookSignatureError):
        openai.OpenAI(api_key="unused", webhook_secret=other).webhooks.unwrap(body, headers)
