"""The dashboard in Debian's Chromium against a running service: the job list shows a finished job,
its page draws train and validation loss at the API's points, the events log grows while a job
runs, and an invalid dataset's page lists its error lines. Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from finetuner import FineTuner
from tests.e2e.test_client_against_the_service import examples
from tests.fixtures.browser import save_screenshot
from tests.fixtures.service import Service

pytestmark = pytest.mark.timeout(300)
WAIT = 30.0


@pytest.fixture(scope="module")
def ft(service: Service) -> Iterator[FineTuner]:
    with FineTuner(base_url=service.url, api_key=service.key) as client:
        yield client


@pytest.fixture(scope="module")
def finished_job(ft: FineTuner) -> str:
    train = ft.upload_dataset(examples(30), name="train.jsonl").id
    valid = ft.upload_dataset(examples(10, start=500), name="valid.jsonl").id
    job_id = ft.create_fine_tune_job(train, valid, n_epochs=2, suffix="charted")
    job = ft.wait(job_id, timeout=180, poll_interval=0.3)
    assert job.status == "succeeded", job
    return job_id


@pytest.fixture(scope="module")
def signed_in(service: Service, browser: Any) -> Iterator[Any]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(f"{service.url}/")
    field = _wait(browser, lambda: browser.find_element(By.ID, "api-key"))
    save_screenshot(browser, "dashboard-login")
    field.send_keys(service.key, Keys.ENTER)  # keyboard only: type the key, press Enter
    _wait(browser, lambda: browser.find_element(By.ID, "jobs"))
    yield browser
    browser.execute_script("sessionStorage.clear()")  # the browser is the session's: leave it signed out
    browser.get("about:blank")  # and holding no stream open while this module's service stops


def _wait(browser: Any, probe: Any, timeout: float = WAIT) -> Any:
    """Poll ``probe`` until it returns something truthy (exceptions count as not yet)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except Exception as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting in the dashboard ({last}); page: {browser.page_source[:3000]}")


def _go(browser: Any, service: Service, fragment: str) -> None:
    """A fresh page load (the key stays: session storage lives as long as the tab)."""
    browser.get(f"{service.url}/?load={time.monotonic_ns()}#/{fragment}")


def test_the_job_list_shows_a_finished_job(signed_in: Any, service: Service, finished_job: str) -> None:
    from selenium.webdriver.common.by import By

    _go(signed_in, service, "jobs")
    row = _wait(signed_in, lambda: signed_in.find_element(By.CSS_SELECTOR, f'tr[data-job-id="{finished_job}"]'))
    assert row.find_element(By.CSS_SELECTOR, "[data-status]").text == "succeeded"
    assert ":charted:" in row.text, "the fine-tuned model's name is not listed"
    search = signed_in.find_element(By.ID, "search")
    search.send_keys("charted")
    _wait(signed_in, lambda: "1 of" in signed_in.find_element(By.ID, "jobs-count").text)
    save_screenshot(signed_in, "dashboard-jobs")


def _vertices(polyline: Any) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (p.split(",") for p in polyline.get_attribute("points").split())]


def _assert_drawn_at(vertices: list[tuple[float, float]], steps: list[int], values: list[float], name: str) -> None:
    """Each vertex is its point under one linear map per axis (the chart's scale), in the API's order."""
    assert len(vertices) == len(steps), f"{name}: {len(vertices)} vertices drawn for {len(steps)} API points"
    (xa, ya), (xb, yb) = vertices[0], vertices[-1]
    for (x, y), step, value in zip(vertices, steps, values, strict=True):
        if steps[-1] != steps[0]:
            assert x == pytest.approx(xa + (step - steps[0]) / (steps[-1] - steps[0]) * (xb - xa), abs=0.02), name
        if values[-1] != values[0]:
            assert y == pytest.approx(ya + (value - values[0]) / (values[-1] - values[0]) * (yb - ya), abs=0.05), name


def test_the_job_page_draws_train_and_validation_loss_at_the_apis_points(
        signed_in: Any, service: Service, finished_job: str, ft: FineTuner) -> None:
    from selenium.webdriver.common.by import By

    _go(signed_in, service, f"jobs/{finished_job}")
    train = _wait(signed_in, lambda: signed_in.find_element(By.CSS_SELECTOR, 'polyline[data-series="train_loss"]'))
    valid = signed_in.find_element(By.CSS_SELECTOR, 'polyline[data-series="valid_loss"]')
    _wait(signed_in, lambda: "succeeded" in signed_in.find_element(By.ID, "job-head").text)
    time.sleep(0.5)  # let the stream's replay settle: it must not add points the chart already has
    train = signed_in.find_element(By.CSS_SELECTOR, 'polyline[data-series="train_loss"]')
    valid = signed_in.find_element(By.CSS_SELECTOR, 'polyline[data-series="valid_loss"]')
    api = ft.metrics(finished_job, max_points=500).series

    _assert_drawn_at(_vertices(train), api["train_loss"].steps, api["train_loss"].values, "train_loss")
    _assert_drawn_at(_vertices(valid), api["valid_loss"].steps, api["valid_loss"].values, "valid_loss")
    drawn = [li.get_attribute("data-to") for li in signed_in.find_elements(By.CSS_SELECTOR, "#timeline li")]
    assert drawn == [t.to_status for t in ft.transitions(finished_job)], "the timeline is not the job's transitions"
    assert drawn[0] == "pending" and drawn[-1] == "succeeded"
    assert signed_in.find_elements(By.CSS_SELECTOR, "#checkpoints tbody tr"), "checkpoints are not listed"
    assert '"n_epochs":2' in signed_in.find_element(By.ID, "job-facts").text.replace(" ", "")
    save_screenshot(signed_in, "dashboard-job")


def test_the_job_page_shows_each_models_evaluation_metric_and_parse_rate(
        signed_in: Any, service: Service, finished_job: str, ft: FineTuner) -> None:
    from selenium.webdriver.common.by import By

    held_out = ft.upload_dataset(examples(10, start=900), name="test.jsonl").id  # 10: the minimum
    evaluation = ft.evaluate(finished_job, held_out, task="number", compare_with=["base"])
    deadline = time.monotonic() + 120
    while not evaluation.done and time.monotonic() < deadline:
        time.sleep(0.3)
        evaluation = ft.get_evaluation(evaluation.id)
    assert evaluation.status == "succeeded" and evaluation.results, evaluation

    _go(signed_in, service, f"jobs/{finished_job}")
    card = _wait(signed_in, lambda: signed_in.find_element(By.CSS_SELECTOR,
                                                           f'[data-evaluation-id="{evaluation.id}"]'))
    rows = {row.get_attribute("data-target"): row for row in card.find_elements(By.CSS_SELECTOR, "tr[data-target]")}
    assert set(rows) == set(evaluation.results) == {"fine_tuned", "base", "baseline"}, rows
    for key, result in evaluation.results.items():
        value = rows[key].find_element(By.CSS_SELECTOR, '[data-metric="rmse"]').get_attribute("data-value")
        expected = result["metrics"].get("rmse")
        assert (float(value) if value else None) == pytest.approx(expected), (key, value, expected)
        rate = rows[key].find_element(By.CSS_SELECTOR, "[data-parse-rate]").get_attribute("data-parse-rate")
        assert (float(rate) if rate else None) == pytest.approx(result["parse_rate"]), (key, rate)
    assert evaluation.results["base"]["parse_rate"] == 0, "the emulator's base model answers with no number"
    assert "0.0 %" in rows["base"].text, "a parse rate of zero must be shown, not hidden"
    save_screenshot(signed_in, "dashboard-evaluation")


def test_the_events_log_gains_entries_while_a_job_runs(signed_in: Any, service: Service, ft: FineTuner) -> None:
    from selenium.webdriver.common.by import By

    long_run = ft.upload_dataset(examples(100, start=2000), name="long.jsonl").id  # 500 steps
    job_id = ft.create_fine_tune_job(long_run, n_epochs=5, suffix="live")
    _wait(signed_in, lambda: ft.get_job(job_id).status == "running")
    _go(signed_in, service, f"jobs/{job_id}")
    _wait(signed_in, lambda: signed_in.find_elements(By.CSS_SELECTOR, "#events li"))
    seen = len(signed_in.find_elements(By.CSS_SELECTOR, "#events li"))
    assert ft.get_job(job_id).status == "running", "the job ended before the test could watch it"

    _wait(signed_in, lambda: len(signed_in.find_elements(By.CSS_SELECTOR, "#events li")) > seen)

    save_screenshot(signed_in, "dashboard-live")
    ft.cancel(job_id)
    _wait(signed_in, lambda: "cancel" in signed_in.find_element(By.ID, "job-head").text)


def test_an_invalid_datasets_page_lists_its_error_lines(signed_in: Any, service: Service, ft: FineTuner) -> None:
    from selenium.webdriver.common.by import By

    bad = b"\n".join([examples(1).strip(), b'{"messages": "not a list"}', b"{not json", examples(1, start=7).strip()])
    dataset = ft.upload_dataset(bad + b"\n", name="broken.jsonl")
    assert dataset.status == "invalid"

    _go(signed_in, service, f"datasets/{dataset.id}")
    rows = _wait(signed_in, lambda: signed_in.find_elements(By.CSS_SELECTOR, "#dataset-errors tbody tr"))

    expected = [(str(e["line"]) if e["line"] is not None else "\u2013", e["code"]) for e in dataset.report["errors"]]
    drawn = [(r.find_elements(By.TAG_NAME, "td")[0].text, r.find_elements(By.TAG_NAME, "td")[1].text) for r in rows]
    assert drawn == expected, json.dumps(dataset.report["errors"], indent=1)
    assert ("2", "missing_messages_list") in drawn and ("3", "invalid_json") in drawn
    save_screenshot(signed_in, "dashboard-dataset")
