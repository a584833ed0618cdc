"""The emulator's Together dialect, driven with the official ``together`` SDK only.

Every response body the server sends is validated against the SDK's own Pydantic type for that
call, and — since those types are mostly ``Optional`` — against a contract table of the fields
Together's documentation shows in each response, which must be present and of the right type.
Errors included: an error body must carry ``error.message`` (the SDK's exception text comes from it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import together
from pydantic import BaseModel, TypeAdapter
from together.types import (
    Endpoint,
    EndpointDeleteResponse,
    EndpointDeployment,
    FileList,
    FileResponse,
    FinetuneResponse,
    FineTuningListResponse,
)
from together.types.chat.chat_completion import ChatCompletion
from together.types.fine_tuning_cancel_response import FineTuningCancelResponse
from together.types.fine_tuning_estimate_price_response import FineTuningEstimatePriceResponse
from together.types.fine_tuning_list_checkpoints_response import FineTuningListCheckpointsResponse
from together.types.fine_tuning_list_events_response import FineTuningListEventsResponse
from together.types.fine_tuning_list_metrics_response import FineTuningListMetricsResponse
from together.types.finetune_model_limits import FinetuneModelLimits

from emulator import EmulatorSettings, create_together_app
from tests.emulator.data import chat_file
from tests.emulator.server import Exchange, RunningEmulator, serve_emulator

LLAMA = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
NOT_SERVERLESS = "meta-llama/Meta-Llama-3.1-70B-Instruct-Reference"
STR, INT, NUM, LIST, DICT = str, int, (int, float), list, dict

#: (method, path pattern) → (SDK type, {field: type}) — the fields Together's docs show, required here.
JOB_FIELDS = {"id": STR, "status": STR, "created_at": STR, "updated_at": STR, "model": STR,
              "model_output_name": STR, "training_file": STR, "n_epochs": INT, "learning_rate": NUM,
              "user_id": STR, "training_type": DICT, "training_method": DICT}
EVENT_FIELDS = {"object": STR, "created_at": STR, "message": STR, "type": STR, "level": STR}
ENDPOINT_FIELDS = {"id": STR, "name": STR, "createdAt": STR, "endpointType": STR, "projectId": STR,
                   "deployments": LIST, "trafficSplit": LIST, "visibility": STR}
DEPLOYMENT_FIELDS = {"id": STR, "name": STR, "model": STR, "endpointId": STR, "status": DICT, "hardware": STR,
                     "autoscaling": DICT, "createdAt": STR}
PROJECT = "proj-emulator"


class _Page(BaseModel):
    """The SDK's cursor page (``SyncCursorPagination``) as a plain model to validate a list against."""

    data: list[Endpoint]
    next_cursor: str | None = None


class _DeploymentPage(BaseModel):
    data: list[EndpointDeployment]
    next_cursor: str | None = None


CONTRACT: list[tuple[str, str, Any, dict[str, Any]]] = [
    ("GET", "/v1/files", FileList, {"data": LIST}),
    ("POST", "/v1/files/*/preprocess", FileResponse, {"id": STR, "object": STR, "bytes": INT, "created_at": INT,
                                                      "filename": STR, "purpose": STR, "FileType": STR}),
    ("GET", "/v1/files/*", FileResponse, {"id": STR, "bytes": INT, "filename": STR, "purpose": STR}),
    ("GET", "/v1/fine-tunes/models/limits", FinetuneModelLimits,
     {"model_name": STR, "max_num_epochs": INT, "max_seq_length_sft": INT, "lora_training": DICT}),
    ("POST", "/v1/fine-tunes/estimate-price", TypeAdapter(FineTuningEstimatePriceResponse),
     {"estimation_available": bool}),
    ("POST", "/v1/fine-tunes", FinetuneResponse, JOB_FIELDS),
    ("GET", "/v1/fine-tunes", FineTuningListResponse, {"data": LIST}),
    ("POST", "/v1/fine-tunes/*/cancel", FineTuningCancelResponse, JOB_FIELDS),
    ("GET", "/v1/fine-tunes/*/events", FineTuningListEventsResponse, {"data": LIST}),
    ("GET", "/v1/fine-tunes/*/checkpoints", FineTuningListCheckpointsResponse, {"data": LIST}),
    ("GET", "/v1/fine-tunes/*/metrics", FineTuningListMetricsResponse, {"metrics": LIST}),
    ("GET", "/v1/fine-tunes/*", FinetuneResponse, {**JOB_FIELDS, "events": LIST}),
    ("POST", "/v2/projects/*/endpoints", Endpoint, ENDPOINT_FIELDS),
    ("GET", "/v2/projects/*/endpoints", _Page, {"data": LIST}),
    ("GET", "/v2/projects/*/endpoints/*", Endpoint, ENDPOINT_FIELDS),
    ("PATCH", "/v2/projects/*/endpoints/*", Endpoint, ENDPOINT_FIELDS),
    ("DELETE", "/v2/projects/*/endpoints/*", EndpointDeleteResponse, {}),
    ("POST", "/v2/projects/*/endpoints/*/deployments", EndpointDeployment, DEPLOYMENT_FIELDS),
    ("GET", "/v2/projects/*/endpoints/*/deployments", _DeploymentPage, {"data": LIST}),
    ("GET", "/v2/projects/*/endpoints/*/deployments/*", EndpointDeployment, DEPLOYMENT_FIELDS),
    ("POST", "/v1/chat/completions", ChatCompletion, {"id": STR, "object": STR, "created": INT, "model": STR,
                                                      "choices": LIST, "usage": DICT}),
]
ITEM_FIELDS: dict[str, dict[str, Any]] = {"/v1/fine-tunes": JOB_FIELDS, "/v1/files": {"id": STR, "filename": STR},
               "endpoints": ENDPOINT_FIELDS, "deployments": DEPLOYMENT_FIELDS,
               "events": EVENT_FIELDS, "checkpoints": {"checkpoint_type": STR, "created_at": STR, "path": STR,
                                                       "step": INT}}


def _matches(pattern: str, path: str) -> bool:
    parts, want = path.split("/"), pattern.split("/")
    return len(parts) == len(want) and all(w in ("*", p) for w, p in zip(want, parts, strict=True))


def _require(body: dict[str, Any], fields: dict[str, Any], where: str) -> None:
    for name, kind in fields.items():
        assert name in body and body[name] is not None, f"{where}: required field {name!r} missing in {body}"
        assert isinstance(body[name], kind) and not (kind is INT and isinstance(body[name], bool)), \
            f"{where}: {name!r} should be {kind}, is {body[name]!r}"


def check_exchange(exchange: Exchange, prefix: str) -> None:
    path = exchange.path.removeprefix(prefix)
    if exchange.status >= 400:
        body = json.loads(exchange.body)
        _require(body, {"error": DICT}, path)
        _require(cast(dict[str, Any], body["error"]), {"message": STR}, path)
        return
    if exchange.status != 200 or path.startswith("/v1/files/upload-target/") or path.endswith("/content"):
        return
    body = json.loads(exchange.body)
    for method, pattern, sdk_type, fields in CONTRACT:
        if exchange.method == method and _matches(pattern, path):
            if isinstance(sdk_type, TypeAdapter):
                sdk_type.validate_python(body)
            else:
                assert issubclass(sdk_type, BaseModel)
                sdk_type.model_validate(body)
            _require(body, fields, f"{method} {path}")
            for key in ("/v1/fine-tunes", "/v1/files", "events", "checkpoints", "endpoints", "deployments"):
                if isinstance(body.get("data"), list) and (path == key or path.endswith("/" + key)):
                    for item in body["data"]:
                        _require(item, ITEM_FIELDS[key], f"{method} {path} item")
            if path.startswith("/v1/fine-tunes/") and isinstance(body.get("events"), list):
                for item in body["events"]:
                    _require(item, EVENT_FIELDS, f"{method} {path} event")
            return
    raise AssertionError(f"no contract for {exchange.method} {path}")


@pytest.fixture(scope="module")
def tg() -> Iterator[RunningEmulator]:
    # A slower clock than the default test scale: the create answer must still read "pending", however
    # fast the tokenizer makes the rest of the request.
    settings = EmulatorSettings(api_key="tg-key", time_scale=0.02)
    with serve_emulator(settings, prefix="/together", factory=create_together_app) as emu:
        yield emu


@pytest.fixture(autouse=True)
def _every_response_keeps_the_contract(tg: RunningEmulator) -> Iterator[None]:
    seen = len(tg.exchanges)
    yield
    checked = tg.exchanges[seen:]
    assert checked, "the test sent nothing"
    for exchange in checked:
        check_exchange(exchange, tg.prefix)


@pytest.fixture
def client(tg: RunningEmulator) -> together.Together:
    return tg.together_client()


def _upload(client: together.Together, tmp_path: Path, n: int = 20) -> str:
    path = tmp_path / "train.jsonl"
    path.write_bytes(chat_file(n))
    return client.files.upload(file=path, purpose="fine-tune", check=False).id


def _finish(client: together.Together, job_id: str) -> Any:
    deadline = time.monotonic() + 20
    while (job := client.fine_tuning.retrieve(job_id)).status not in ("completed", "error", "cancelled"):
        assert time.monotonic() < deadline, job.status
        time.sleep(0.05)
    return job


def test_the_sdk_uploads_lists_and_retrieves_files(client: together.Together, tmp_path: Path) -> None:
    file_id = _upload(client, tmp_path)

    assert file_id in [f.id for f in client.files.list().data]
    assert client.files.retrieve(file_id).filename == "train.jsonl"


def test_a_job_goes_pending_to_completed_with_events_checkpoints_metrics_and_a_model_that_answers(
        client: together.Together, tmp_path: Path) -> None:
    job = client.fine_tuning.create(training_file=_upload(client, tmp_path), model=LLAMA, suffix="fruit", n_epochs=2)
    assert job.status == "pending"

    done = _finish(client, job.id)

    assert done.status == "completed"
    assert done.x_model_output_name == f"emulator/Meta-Llama-3.1-8B-Instruct-Reference:fruit:{job.id}"
    types = [e.type for e in client.fine_tuning.list_events(job.id).data]
    assert types[0] == "job_pending" and types[-1] == "job_complete" and "checkpoint_save" in types
    losses = [p["train_loss"] for p in client.fine_tuning.list_metrics(job.id).metrics or []]
    assert len(losses) > 2 and losses[-1] < losses[0], "the loss curve decreases"
    assert client.fine_tuning.list_checkpoints(job.id).data[0].checkpoint_type == "Final"
    assert [j.id for j in client.fine_tuning.list().data if j.suffix == "fruit"] == [job.id]
    answer = client.chat.completions.create(model=str(done.x_model_output_name), messages=[
        {"role": "user", "content": "How much does one apple cost in aisle 0?"}])
    assert answer.choices[0].message is not None
    assert answer.choices[0].message.content == "One apple in aisle 0 costs 1 coins."


def test_a_model_without_serverless_lora_answers_only_through_an_endpoint(client: together.Together,
                                                                          tmp_path: Path) -> None:
    job = client.fine_tuning.create(training_file=_upload(client, tmp_path), model=NOT_SERVERLESS, n_epochs=1)
    done = _finish(client, job.id)

    model = str(done.x_model_output_name)
    with pytest.raises(together.BadRequestError, match="dedicated endpoint"):
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])

    endpoint = client.endpoints.create(project_id=PROJECT, name="fruit")
    assert endpoint.name == f"{PROJECT}/fruit" and endpoint.deployments == []
    deployment = client.endpoints.deployments.create(endpoint.id, project_id=PROJECT, name="v1", model=model,
                                                     autoscaling={"min_replicas": 1, "max_replicas": 1})
    assert deployment.status.state == "DEPLOYMENT_STATE_PROVISIONING"
    question = [{"role": "user", "content": "How much does one apple cost in aisle 0?"}]
    with pytest.raises(together.InternalServerError, match="no ready deployment"):
        client.chat.completions.create(model=endpoint.name, messages=question)  # type: ignore[arg-type]
    deadline = time.monotonic() + 20
    while client.endpoints.deployments.retrieve(deployment.id, endpoint_id=endpoint.id, project_id=PROJECT
                                                ).status.state != "DEPLOYMENT_STATE_READY":
        assert time.monotonic() < deadline, "the deployment never became ready"
        time.sleep(0.1)

    answer = client.chat.completions.create(model=endpoint.name, messages=question)  # type: ignore[arg-type]
    assert answer.choices[0].message is not None
    assert answer.choices[0].message.content == "One apple in aisle 0 costs 1 coins."
    assert endpoint.id in [e.id for e in client.endpoints.list(project_id=PROJECT)]
    assert [d.id for d in client.endpoints.deployments.list(endpoint.id, project_id=PROJECT)] == [deployment.id]
    assert client.endpoints.retrieve(endpoint.id, project_id=PROJECT).deployments[0].state == "DEPLOYMENT_STATE_READY"
    client.endpoints.delete(endpoint.id, project_id=PROJECT)
    with pytest.raises(together.NotFoundError):
        client.endpoints.retrieve(endpoint.id, project_id=PROJECT)
    with pytest.raises(together.BadRequestError, match="dedicated endpoint"):
        client.chat.completions.create(model=model, messages=question)  # type: ignore[arg-type]


def test_cancel_ends_the_job_and_a_second_cancel_is_refused(client: together.Together, tmp_path: Path) -> None:
    job = client.fine_tuning.create(training_file=_upload(client, tmp_path, n=200), model=LLAMA)

    assert client.fine_tuning.cancel(job.id).status == "cancelled"
    with pytest.raises(together.BadRequestError):
        client.fine_tuning.cancel(job.id)


def test_errors_have_together_shape_unknown_model_job_and_key(client: together.Together, tg: RunningEmulator,
                                                               tmp_path: Path) -> None:
    training = _upload(client, tmp_path)
    with pytest.raises(together.BadRequestError, match="not available for fine-tuning"):
        client.fine_tuning.create(training_file=training, model="gpt-4o-mini-2024-07-18",
                                  model_limits=client.fine_tuning.model_limits(model_name=LLAMA))
    with pytest.raises(together.NotFoundError):
        client.fine_tuning.retrieve("ft-00000000-0000-0000-0000-000000000000")
    with pytest.raises(together.AuthenticationError):
        tg.together_client(api_key="wrong").fine_tuning.list()
