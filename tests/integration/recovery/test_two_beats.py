"""Two beats at once (a second ``worker -B``, a rolling deploy): periodic work still happens once a
period; and when the leading beat dies, the other takes over once the leadership lapses."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.recovery.conftest import Recovery, build_recovery

WINDOW_SECONDS = 6.0
LEADER_TTL = 2.0


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Recovery]:
    with build_recovery(tmp_path, beat_leader_ttl_seconds=LEADER_TTL) as recovery:
        yield recovery


def _polls_received(recovery: Recovery) -> int:
    log = (recovery.var_dir / "worker.log").read_text(errors="replace")
    return len(re.findall(r"Task finetuner\.poll\[[0-9a-f-]+\] received", log))


def _polls_in_window(recovery: Recovery) -> int:
    start = _polls_received(recovery)
    time.sleep(WINDOW_SECONDS)
    return _polls_received(recovery) - start


def _leads(recovery: Recovery, name: str) -> bool:
    log = (recovery.var_dir / f"{name}.log").read_text(errors="replace")
    return log.rfind("this beat sends the periodic tasks") > log.rfind("another beat is active")


def test_two_beats_send_each_periodic_task_once_per_period_and_fail_over(stack: Recovery) -> None:
    stack.start_worker(beat=False)
    beats: dict[str, subprocess.Popen[bytes]] = {
        name: stack.start("beat", name=name, ready=b"beat: Starting") for name in ("beat-1", "beat-2")}
    time.sleep(2.0)  # let both settle on who leads
    periods = WINDOW_SECONDS / stack.settings.poll_interval_seconds
    polls = _polls_in_window(stack)
    print(f"{polls} polls received in {WINDOW_SECONDS:g}s with two beats; {periods:.0f} periods")
    assert polls >= periods * 0.5, f"beat should still send polls: {polls} in {periods:.0f} periods"
    assert polls <= periods * 1.25 + 1, f"{polls} polls in {periods:.0f} periods: both beats are sending"

    leaders = [name for name in beats if _leads(stack, name)]
    assert len(leaders) == 1, f"exactly one beat leads: {leaders}"
    Recovery.kill(beats[leaders[0]])  # SIGKILL: its lock is not released, it has to lapse
    time.sleep(LEADER_TTL + 1.0)
    after = _polls_in_window(stack)
    print(f"after killing {leaders[0]}: {after} polls in {WINDOW_SECONDS:g}s")
    survivor = next(name for name in beats if name != leaders[0])
    assert _leads(stack, survivor), "the surviving beat took over"
    assert periods * 0.5 <= after <= periods * 1.25 + 1, after
