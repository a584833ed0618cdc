"""Settings: the periodic provider poll is "poll" now, and its old variable still works, with a warning."""

from __future__ import annotations

import pytest

from core.config import Settings


def test_the_old_sweep_interval_variable_still_sets_the_poll_interval_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FINETUNER_POLL_INTERVAL_SECONDS", raising=False)
    monkeypatch.setenv("FINETUNER_SWEEP_INTERVAL_SECONDS", "7")
    with pytest.warns(DeprecationWarning, match="FINETUNER_POLL_INTERVAL_SECONDS"):
        settings = Settings()
    assert settings.poll_interval_seconds == 7.0


def test_the_new_poll_interval_variable_wins_over_the_deprecated_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNER_SWEEP_INTERVAL_SECONDS", "7")
    monkeypatch.setenv("FINETUNER_POLL_INTERVAL_SECONDS", "9")
    assert Settings().poll_interval_seconds == 9.0
    assert Settings(poll_interval_seconds=3).poll_interval_seconds == 3.0
