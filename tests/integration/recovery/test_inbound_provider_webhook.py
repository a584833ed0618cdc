"""A signed provider webhook moves the job at once: the poll is set to run once an hour here,
so only the webhook-triggered sync can bring the job to ``succeeded`` within the test."""

from __future__ import annotations

import base64
from pathlib import Path

from pydantic import SecretStr

from api.app import create_app
from emulator.webhooks import WebhookSender
from tests.fixtures.api import serve_asgi
from tests.integration.recovery.conftest import build_recovery, dataset_bytes

WHSEC = "whsec_" + base64.b64encode(b"inbound-provider-webhook-secret!").decode()


def test_a_valid_provider_webhook_syncs_the_job_without_waiting_for_the_poll(tmp_path: Path) -> None:
    with build_recovery(tmp_path, openai_webhook_secret=SecretStr(WHSEC), poll_interval_seconds=3600.0) as stack, \
            serve_asgi(create_app(stack.settings, send_tasks=False), "api") as api_url:
        state = stack.emulator.state
        state.webhooks = WebhookSender(f"{api_url}/v1/provider-webhooks/openai", WHSEC, (0.2, 0.5), 5.0)
        stack.start_worker()
        job_id = stack.submit(stack.upload(dataset_bytes(1)))
        assert stack.wait_all_terminal([job_id], timeout=60) == {job_id: "succeeded"}
        polls = [c for c in state.calls if c.method == "GET" and c.path == "/fine_tuning/jobs"
                  and not any(k.startswith("metadata") for k in c.query)]
        assert polls == [], "no poll ran: the webhook alone moved the job"
        delivered = [d for d in state.webhooks.deliveries if d.status_code == 200]
        assert delivered, "the emulator's signed webhook was accepted"
        job = stack.client.get(f"/v1/jobs/{job_id}").json()
        assert job["fine_tuned_model"], job
        state.webhooks.close()
