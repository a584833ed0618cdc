"""``/docs`` and ``/redoc`` render in a real Chromium with no network: their JavaScript and CSS come
from the installed package, not a CDN (FastAPI's default pages are blank white offline)."""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = pytest.mark.browser
WAIT_SECONDS = 20


def test_swagger_ui_lists_the_operations_offline(browser: WebDriver, live_api: str, screenshot: Path) -> None:
    browser.get(f"{live_api}/docs")
    WebDriverWait(browser, WAIT_SECONDS).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".opblock-summary-path")))
    paths = {e.get_attribute("data-path") or e.text
             for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/v1/datasets", "/v1/jobs", "/v1/jobs/{job_id}/cancel", "/v1/webhooks"} <= paths, paths
    title = browser.find_element(By.CSS_SELECTOR, ".info .title").text
    assert title.startswith("finetuner")
    scripts = [e.get_attribute("src") for e in browser.find_elements(By.TAG_NAME, "script")]
    assert all(src.startswith(live_api) for src in scripts if src), scripts


def test_redoc_lists_the_operations_offline(browser: WebDriver, live_api: str, screenshot: Path) -> None:
    browser.get(f"{live_api}/redoc")
    WebDriverWait(browser, WAIT_SECONDS).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[data-section-id^='operation/']")))
    operations = browser.find_elements(By.CSS_SELECTOR, "[data-section-id^='operation/']")
    assert len(operations) >= 10, len(operations)
    assert "Create a fine-tuning job" in browser.page_source
