"""Two beats at once (a second ``worker -B``, a rolling deploy): periodic work still happens once a period."""

from __future__ import annotations

import re
import time

from tests.integration.recovery.conftest import Recovery

WINDOW_SECONDS = 6.0


def _sweeps_received(recovery: Recovery) -> int:
    log = (recovery.var_dir / "worker.log").read_text(errors="replace")
    return len(re.findall(r"Task finetuner\.sweep\[[0-9a-f-]+\] received", log))


def test_two_beats_send_each_periodic_task_once_per_period(recovery: Recovery) -> None:
    recovery.start_worker(beat=False)
    recovery.start("beat", name="beat-1", ready=b"beat: Starting")
    recovery.start("beat", name="beat-2", ready=b"beat: Starting")
    time.sleep(2.0)  # let both settle on who leads
    start = _sweeps_received(recovery)
    time.sleep(WINDOW_SECONDS)
    sweeps = _sweeps_received(recovery) - start
    periods = WINDOW_SECONDS / recovery.settings.sweep_interval_seconds
    print(f"{sweeps} sweeps received in {WINDOW_SECONDS:g}s with two beats; {periods:.0f} periods")
    assert sweeps >= periods * 0.5, f"beat should still send sweeps: {sweeps} in {periods:.0f} periods"
    assert sweeps <= periods * 1.25 + 1, f"{sweeps} sweeps in {periods:.0f} periods: both beats are sending"
