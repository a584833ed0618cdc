"""Secrets stay secret: a full run with every logger at DEBUG, planted secrets, and a provider 401.

The OpenAI key, a wrong OpenAI key (whose 401 message echoes part of it, as OpenAI's does), our
API key, a webhook signing secret and the encryption key must appear in no log line, no API
response (besides the one that creates them) and no database column other than the hashed or
encrypted ones.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import MetaData, select

from tests.fixtures.receiver import Receiver
from tests.integration.recovery.conftest import Recovery, build_recovery, dataset_bytes

OPENAI_KEY = "sk-planted-openai-Q7W3E9R1T5Y8U2I6O4P0"
WRONG_KEY = "sk-planted-wrong-A1S2D3F4G5H6J7K8L9Z0"
FERNET_KEY = Fernet.generate_key().decode()
LOGGERS = ("", "openai", "httpx", "httpx2", "httpcore", "httpcore2", "celery", "kombu", "sqlalchemy.engine",
           "uvicorn", "uvicorn.access", "api", "core", "worker", "emulator")
HASHED_OR_ENCRYPTED = {("api_keys", "key_hash"), ("api_keys", "key_prefix"), ("webhooks", "secret_encrypted")}


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def capture() -> Iterator[Capture]:
    handler = Capture()
    saved = {name: logging.getLogger(name).level for name in LOGGERS}
    logging.getLogger().addHandler(handler)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield handler
    logging.getLogger().removeHandler(handler)
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def _fragments(secret: str) -> list[str]:
    """The secret and pieces long enough to matter (a masked echo like 'sk-pla…L9Z0' keeps ends)."""
    return [secret, secret[:14], secret[-12:]]


def test_no_secret_in_logs_responses_or_plain_columns(tmp_path: Path, capture: Capture) -> None:
    receiver = Receiver()
    responses: list[str] = []
    with build_recovery(tmp_path, emulator_key=OPENAI_KEY, secret_key=SecretStr(FERNET_KEY),
                        webhook_allow_loopback=True, webhook_retry_base_seconds=0.2) as stack:
        stack.env["OPENAI_API_KEY"] = OPENAI_KEY
        created = stack.client.post("/v1/webhooks", json={"url": receiver.url, "events": ["job.*"]})
        assert created.status_code == 201
        webhook_secret = created.json()["secret"]
        hook_id = created.json()["id"]
        worker = stack.start_worker(loglevel="DEBUG")
        job_id = stack.submit(stack.upload(dataset_bytes(1)))
        assert stack.wait_all_terminal([job_id], timeout=60) == {job_id: "succeeded"}
        stack.wait_for(lambda: len(receiver.received) >= 3, timeout=30, what="webhook deliveries")
        # A provider 401: the same worker code with a wrong key, whose error message echoes part of it.
        Recovery.kill(worker)
        stack.env["OPENAI_API_KEY"] = WRONG_KEY
        stack.start_worker(loglevel="DEBUG", name="worker-wrong-key")
        failing = stack.submit(stack.upload(dataset_bytes(2)))
        assert stack.wait_all_terminal([failing], timeout=60) == {failing: "failed"}
        for path in ("/v1/jobs", f"/v1/jobs/{job_id}", f"/v1/jobs/{failing}", f"/v1/jobs/{failing}/transitions",
                     f"/v1/jobs/{job_id}/events?limit=100", "/v1/webhooks", f"/v1/webhooks/{hook_id}",
                     f"/v1/webhooks/{hook_id}/deliveries", "/v1/datasets"):
            response = stack.client.get(path)
            assert response.status_code == 200, (path, response.text)
            responses.append(response.text)
        failed_job = json.loads(responses[2])
        assert failed_job["error"]["message"], "the 401 is reported, redacted"
        rows: list[str] = []
        with stack.sessions() as session:
            metadata = MetaData()
            metadata.reflect(bind=session.get_bind())
            for table in metadata.sorted_tables:
                columns = [c for c in table.columns if (table.name, c.name) not in HASHED_OR_ENCRYPTED]
                for row in session.execute(select(*columns)):
                    rows.append(f"{table.name}: {row}")
        worker_logs = "".join(p.read_text(errors="replace") for p in stack.var_dir.glob("worker*.log"))
        api_key = stack.api_key
    receiver.close()

    logs = "\n".join(capture.lines) + "\n" + worker_logs
    assert len(capture.lines) > 100 and "DEBUG" in worker_logs, "the run must actually have logged at DEBUG"
    assert "401" in logs or "invalid_api_key" in logs or "Incorrect API key" in logs, "the 401 happened"
    secrets = {"openai key": OPENAI_KEY, "wrong openai key": WRONG_KEY, "api key": api_key,
               "webhook secret": webhook_secret, "encryption key": FERNET_KEY}
    places = {"logs": logs, "api responses": "\n".join(responses), "database": "\n".join(rows)}
    leaks = [f"{name} ({fragment!r}) in {place}" for name, secret in secrets.items()
             for fragment in _fragments(secret) for place, text in places.items() if fragment in text]
    assert leaks == [], leaks
