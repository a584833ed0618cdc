"""The repository stands alone: nothing a test reads lives beside the checkout.

Two proofs. The session's audit hook (``tests/fixtures/repo_guard.py``) fails any test that opens
a file in the checkout's parent directory outside the checkout; the first test shows it trips.
The second copies the repository (no ``.git``, ``.venv`` or ``var/``) into an empty temporary
directory and runs the dataset, CLI and emulator-schema tests there with this interpreter: with
no ``../shared`` or sibling worktree to fall back on, they must still pass.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures import repo_guard

ROOT = Path(__file__).resolve().parents[2]
SUITES = ["tests/unit/datasets", "tests/unit/cli", "tests/emulator/test_schema_conformance.py",
          "tests/emulator/test_chat.py"]
SKIP = shutil.ignore_patterns(".git", ".venv", "venv", "var", "test-artifacts", "__pycache__", ".pytest_cache",
                              ".mypy_cache", ".ruff_cache", "*.egg-info", "build", "dist")


def test_opening_a_file_beside_the_repository_fails_the_test() -> None:
    sibling = ROOT.parent / "a-sibling-checkout" / "toy_chat_fine_tuning.jsonl"  # any path beside the checkout
    try:
        with pytest.raises(repo_guard.OutsideRepositoryError, match="outside the repository"):
            sibling.open("rb")
        assert repo_guard.violations == [str(sibling)]
        assert not repo_guard.is_outside(str(ROOT / "tests" / "data" / "toy_chat_fine_tuning.jsonl"))
        assert not repo_guard.is_outside("/usr/lib/python3/dist-packages")
    finally:
        repo_guard.violations.clear()  # this test's own, deliberate violation


@pytest.mark.timeout(600)
def test_dataset_cli_and_emulator_schema_tests_pass_from_a_copy_with_nothing_beside_it(tmp_path: Path) -> None:
    empty = tmp_path / "nothing-else-here"
    copy = empty / "finetuner"
    shutil.copytree(ROOT, copy, ignore=SKIP)
    assert [p.name for p in empty.iterdir()] == ["finetuner"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINETUNER_", "OPENAI_", "PYTEST_"))}
    env["PYTHONPATH"] = str(copy)
    where = subprocess.run([sys.executable, "-c", "import core, emulator.spec, tests.paths as p; "
                            "print(core.__file__); print(emulator.spec.SPEC_PATH); print(p.TOY_DATASET)"],
                           cwd=copy, env=env, capture_output=True, text=True, timeout=60)
    assert where.returncode == 0, where.stderr
    assert all(line.startswith(str(copy)) for line in where.stdout.split()), where.stdout
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUITES],
                         cwd=copy, env=env, capture_output=True, text=True, timeout=580)
    tail = run.stdout[-3000:] + run.stderr[-2000:]
    assert run.returncode == 0, tail
    assert " passed" in run.stdout and "failed" not in run.stdout, tail
