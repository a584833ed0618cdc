"""The pricer walkthrough end to end: split train/validation/test in one call, fine-tune, evaluate
against the base model and the baseline — through the API, Redis, a real worker and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.evaluation import jsonl, pricer_rows
from tests.integration.worker.conftest import Stack
from tests.unit.worker.helpers import wait_for

pytestmark = pytest.mark.integration


def _get(stack: Stack, path: str, **params: Any) -> dict[str, Any]:
    response = stack.client.get(path, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _wait(stack: Stack, path: str, statuses: tuple[str, ...], timeout: float = 90.0) -> dict[str, Any]:
    try:
        body: dict[str, Any] = wait_for(lambda: (b := _get(stack, path))["status"] in statuses and b,
                                        timeout=timeout, interval=0.2, what=f"{path} to reach {statuses}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; {_get(stack, path)}\nworker log:\n{stack.worker_output()}") from None
    return body


def test_the_pricer_walkthrough_fine_tuned_beats_the_baseline_and_base_parses_no_price(stack: Stack) -> None:
    upload = stack.client.post("/v1/datasets", files={"file": ("pricer.jsonl", jsonl(pricer_rows(200, seed=21)),
                                                                "application/jsonl")})
    assert upload.status_code == 201 and upload.json()["status"] == "valid", upload.text
    split = stack.client.post(f"/v1/datasets/{upload.json()['id']}/split",
                              json={"validation_fraction": 0.1, "test_fraction": 0.2, "seed": 1})
    assert split.status_code == 201, split.text
    parts = split.json()
    assert [parts[p]["num_examples"] for p in ("train", "validation", "test")] == [140, 20, 40]
    job = stack.client.post("/v1/jobs", json={"training_dataset_id": parts["train"]["id"],
                                              "validation_dataset_id": parts["validation"]["id"],
                                              "model": "gpt-4o-mini", "suffix": "pricer",
                                              "hyperparameters": {"n_epochs": 1}})
    assert job.status_code == 202, job.text
    job_id = job.json()["id"]
    _wait(stack, f"/v1/jobs/{job_id}", ("succeeded", "failed", "cancelled"))

    created = stack.client.post(f"/v1/jobs/{job_id}/evaluations", json={
        "dataset_id": parts["test"]["id"], "task": "number", "compare_with": ["base", "baseline"],
        "concurrency": 4, "max_cost_usd": 1.0})
    assert created.status_code == 202, created.text
    evaluation = _wait(stack, f"/v1/evaluations/{created.json()['id']}", ("succeeded", "failed", "cancelled"))

    assert evaluation["status"] == "succeeded", evaluation
    results = evaluation["results"]
    fine_tuned, base, baseline = results["fine_tuned"], results["base"], results["baseline"]
    print(f"pricer (40 test examples): fine-tuned RMSE {fine_tuned['metrics']['rmse']:.2f}, baseline (training "
          f"mean {evaluation['baseline']['value']:.2f}) RMSE {baseline['metrics']['rmse']:.2f}, base parse rate "
          f"{base['parse_rate']:.0%}; estimated ${evaluation['estimated_cost_usd']:.6f}, "
          f"actual ${evaluation['actual_cost_usd']:.6f}")
    assert fine_tuned["metrics"]["rmse"] < baseline["metrics"]["rmse"]
    assert base["parse_rate"] == 0.0 and base["parsed"] == 0 and len(base["unparsed"]) == 40
    assert fine_tuned["parse_rate"] == 1.0
    assert evaluation["progress"] == {"completed": 120, "total": 120, "failed": 0}
    assert evaluation["actual_cost_usd"] > 0 and evaluation["estimated_cost_usd"] > 0
    items, after = [], None
    while True:
        page = _get(stack, f"/v1/evaluations/{evaluation['id']}/items", limit=15, **({"after": after} if after else {}))
        items.extend(page["data"])
        if not page["has_more"]:
            break
        after = page["data"][-1]["id"]
    assert len(items) == 40 and all(set(i["answers"]) == {"fine_tuned", "base", "baseline"} for i in items)
    assert all(a["status"] == "done" for i in items for a in i["answers"].values()), "every item stored"
    assert all(i["answers"]["base"]["parsed"] is None for i in items), "no number is never read as $0"
