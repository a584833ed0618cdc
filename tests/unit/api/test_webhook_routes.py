"""Client webhook routes and the inbound provider webhook route."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.orm import Session
from standardwebhooks import Webhook as Signer

from api.app import create_app
from core.config import Settings
from core.models import Job, WebhookDelivery
from core.tasknames import TaskName
from tests.fixtures.api import SentTasks, TenantKey, chat_jsonl, create_job, upload_dataset

PROVIDER_SECRET = "whsec_" + base64.b64encode(b"p" * 32).decode()


def test_secret_is_shown_once_and_never_again(auth_client: TestClient) -> None:
    created = auth_client.post("/v1/webhooks", json={"url": "https://93.184.215.14/h", "events": ["job.*"]})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["id"].startswith("wh_")
    fetched = auth_client.get(f"/v1/webhooks/{body['id']}")
    assert fetched.status_code == 200 and "secret" not in fetched.json()
    listed = auth_client.get("/v1/webhooks").json()
    assert [w["id"] for w in listed["data"]] == [body["id"]] and body["secret"] not in json.dumps(listed)


@pytest.mark.parametrize(("url", "why"), [("ftp://example.com/h", "http(s)"), ("http://10.1.2.3/h", "private"),
                                          ("http://169.254.169.254/latest", "non-routable")])
def test_unsafe_receivers_are_refused_with_422(auth_client: TestClient, url: str, why: str) -> None:
    response = auth_client.post("/v1/webhooks", json={"url": url, "events": ["*"]})
    assert response.status_code == 422, response.text
    assert why in response.json()["error"]["message"]


def test_unknown_event_type_is_422(auth_client: TestClient) -> None:
    response = auth_client.post("/v1/webhooks", json={"url": "https://93.184.215.14/h", "events": ["job.nope"]})
    assert response.status_code == 422 and "unknown event type" in response.json()["error"]["message"]


def test_only_the_event_types_something_sends_are_accepted_and_offered(auth_client: TestClient) -> None:
    response = auth_client.post("/v1/webhooks", json={"url": "https://93.184.215.14/h",
                                                      "events": ["evaluation.finished"]})
    assert response.status_code == 422 and "unknown event type" in response.json()["error"]["message"]
    sent = ["evaluation.*", "sweep.*", "evaluation.succeeded", "sweep.cancelled", "job.overfitting_suspected"]
    response = auth_client.post("/v1/webhooks", json={"url": "https://93.184.215.14/h", "events": sent})
    assert response.status_code == 201, response.text
    schema = json.dumps(auth_client.get("/openapi.json").json()["components"]["schemas"]["WebhookCreate"])
    assert "evaluation.finished" not in schema and "evaluation.*" in schema and "sweep.*" in schema


def test_deleted_webhook_is_gone_and_gets_no_deliveries(auth_client: TestClient, db_session: Session) -> None:
    hook = auth_client.post("/v1/webhooks", json={"url": "https://93.184.215.14/h", "events": ["*"]}).json()
    assert auth_client.delete(f"/v1/webhooks/{hook['id']}").status_code == 204
    assert auth_client.get(f"/v1/webhooks/{hook['id']}").status_code == 404
    job = create_job(auth_client, upload_dataset(auth_client, chat_jsonl())["id"])
    assert auth_client.post(f"/v1/jobs/{job['id']}/cancel").status_code == 202
    assert db_session.query(WebhookDelivery).count() == 0, "a deleted receiver must get no new deliveries"


def test_cancel_announces_to_subscribers(auth_client: TestClient, db_session: Session) -> None:
    hook = auth_client.post("/v1/webhooks", json={"url": "https://93.184.215.14/h", "events": ["job.cancelling"]})
    job = create_job(auth_client, upload_dataset(auth_client, chat_jsonl())["id"])
    assert auth_client.post(f"/v1/jobs/{job['id']}/cancel").status_code == 202
    deliveries = auth_client.get(f"/v1/webhooks/{hook.json()['id']}/deliveries").json()["data"]
    assert [(d["event_type"], d["status"]) for d in deliveries] == [("job.cancelling", "pending")]


@pytest.fixture
def signed_client(api_settings: Settings, sent_tasks: SentTasks) -> Iterator[TestClient]:
    settings = api_settings.model_copy(update={"openai_webhook_secret": SecretStr(PROVIDER_SECRET)})
    with TestClient(create_app(settings, send_tasks=False)) as client:
        yield client


def _signed(body: dict[str, object], *, at: dt.datetime | None = None, secret: str = PROVIDER_SECRET
            ) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body)
    msg_id = "msg_" + secrets.token_hex(6)
    at = at or dt.datetime.now(dt.UTC)
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())),
               "webhook-signature": Signer(secret).sign(msg_id, at, raw), "content-type": "application/json"}
    return raw.encode(), headers


def _event(provider_job_id: str) -> dict[str, object]:
    return {"id": "evt_1", "object": "event", "created_at": int(dt.datetime.now(dt.UTC).timestamp()),
            "type": "fine_tuning.job.succeeded", "data": {"id": provider_job_id}}


def test_valid_provider_webhook_triggers_a_sync_of_that_job(signed_client: TestClient, tenant: TenantKey,
                                                             sent_tasks: SentTasks) -> None:
    signed_client.headers.update(tenant.headers)
    job = create_job(signed_client, upload_dataset(signed_client, chat_jsonl())["id"])
    session: Session = signed_client.app.state.sessionmaker()  # type: ignore[attr-defined]
    with session:
        row = session.get(Job, job["id"])
        assert row is not None
        row.provider_job_id = "ftjob-abc"
        session.commit()
    sent_tasks.clear()
    body, headers = _signed(_event("ftjob-abc"))
    response = signed_client.post("/v1/provider-webhooks/openai", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["sync_enqueued"] is True
    assert sent_tasks == [(TaskName.SYNC_JOB, {"job_id": job["id"]})]


def test_a_replayed_provider_webhook_is_answered_200_and_acted_on_once(
        signed_client: TestClient, tenant: TenantKey, sent_tasks: SentTasks) -> None:
    signed_client.headers.update(tenant.headers)
    job = create_job(signed_client, upload_dataset(signed_client, chat_jsonl())["id"])
    session: Session = signed_client.app.state.sessionmaker()  # type: ignore[attr-defined]
    with session:
        row = session.get(Job, job["id"])
        assert row is not None
        row.provider_job_id = "ftjob-replayed"
        session.commit()
    sent_tasks.clear()
    body, headers = _signed(_event("ftjob-replayed"))
    answers = [signed_client.post("/v1/provider-webhooks/openai", content=body, headers=headers) for _ in range(50)]
    assert [a.status_code for a in answers] == [200] * 50
    assert [a.json()["sync_enqueued"] for a in answers] == [True] + [False] * 49
    assert sent_tasks == [(TaskName.SYNC_JOB, {"job_id": job["id"]})], \
        "one sync for one webhook, however often replayed"
    other_body, other_headers = _signed(_event("ftjob-replayed"))  # a new message (new webhook-id) still counts
    assert signed_client.post("/v1/provider-webhooks/openai", content=other_body,
                              headers=other_headers).json()["sync_enqueued"] is True


@pytest.mark.parametrize("case", ["forged", "stale", "future", "unsigned"])
def test_forged_or_stale_provider_webhooks_are_400(signed_client: TestClient, sent_tasks: SentTasks,
                                                    case: str) -> None:
    now = dt.datetime.now(dt.UTC)
    if case == "forged":
        body, headers = _signed(_event("ftjob-x"), secret="whsec_" + base64.b64encode(b"q" * 32).decode())
    elif case == "stale":
        body, headers = _signed(_event("ftjob-x"), at=now - dt.timedelta(seconds=360))
    elif case == "future":
        body, headers = _signed(_event("ftjob-x"), at=now + dt.timedelta(seconds=360))
    else:
        body, headers = json.dumps(_event("ftjob-x")).encode(), {"content-type": "application/json"}
    response = signed_client.post("/v1/provider-webhooks/openai", content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"].startswith("webhook refused")
    assert sent_tasks == []


def test_provider_webhook_without_configured_secret_is_refused(api_client: TestClient) -> None:
    body, headers = _signed(_event("ftjob-x"))
    response = api_client.post("/v1/provider-webhooks/openai", content=body, headers=headers)
    assert response.status_code == 400 and "OPENAI_WEBHOOK_SECRET" in response.json()["error"]["message"]
