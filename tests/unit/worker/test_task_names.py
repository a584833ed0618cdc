"""Every task name scheduled, dispatched or sent resolves to a task the worker registers.

Task names are wire format: a name spelt in one place and renamed in another silently drops a
beat entry or leaves a deferred message nobody consumes. So producers name tasks only through
``core.tasknames.TaskName``, and this test reads the source to hold them to it.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from core.config import Settings
from core.tasknames import TASK_MODULES, TaskName
from worker.celery_app import celery_app
from worker.schedule import beat_schedule

ROOT = Path(__file__).resolve().parents[3]
PRODUCER_PACKAGES = ("core", "worker", "api")
SENDERS = {"defer", "send_task", "task", "apply_async_by_name"}


def _registered() -> set[str]:
    celery_app.loader.import_default_modules()
    return set(celery_app.tasks)


def test_every_task_name_is_registered_by_the_workers_includes() -> None:
    missing = {str(name) for name in TaskName} - _registered()
    assert not missing, f"TaskName members no worker module registers: {sorted(missing)}"


def test_the_worker_includes_only_modules_that_exist() -> None:
    assert list(celery_app.conf.include) == list(TASK_MODULES)
    for module in TASK_MODULES:
        importlib.import_module(module)  # raises if an include names a module that does not exist


def test_every_beat_entry_names_a_registered_task() -> None:
    registered = _registered()
    schedule = beat_schedule(Settings())
    unknown = {entry: spec["task"] for entry, spec in schedule.items() if spec["task"] not in registered}
    assert not unknown, f"beat entries whose task is not registered (beat would drop them): {unknown}"


def _name_argument(call: ast.Call) -> ast.expr | None:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name not in SENDERS:
        return None
    if name == "defer":
        return call.args[1] if len(call.args) > 1 else None
    if name == "send_task" or name == "task":
        return call.args[0] if call.args else None
    return None


def test_producers_name_tasks_only_through_the_task_name_enum() -> None:
    """A ``dispatch.defer``/``send_task``/``@task`` whose name is a string literal (or any other
    constant) is one rename away from a message nobody consumes."""
    offenders: list[str] = []
    for package in PRODUCER_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                argument = _name_argument(node)
                if argument is None:
                    continue
                if isinstance(argument, ast.Name) and path.name in {"celery_app.py", "dispatch.py"}:
                    continue  # the generic senders themselves, forwarding a name they were given
                ok = (isinstance(argument, ast.Attribute) and isinstance(argument.value, ast.Name)
                      and argument.value.id == "TaskName" and argument.attr in TaskName.__members__)
                if not ok:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(argument)}")
    assert not offenders, "task names not taken from core.tasknames.TaskName:\n" + "\n".join(offenders)
