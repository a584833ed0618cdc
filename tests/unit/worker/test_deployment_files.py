"""docker-compose.yml cannot be run here (no Docker); parse it and check the shape it promises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_compose_runs_postgres_redis_api_worker_and_beat() -> None:
    services = _compose()["services"]
    assert {"postgres", "redis", "api", "worker", "beat"} <= set(services)


def test_the_api_migrates_before_serving_and_the_workers_wait_for_it() -> None:
    services = _compose()["services"]
    command = " ".join(services["api"]["command"])
    assert command.index("alembic upgrade head") < command.index("uvicorn")
    for role in ("worker", "beat"):
        assert services[role]["depends_on"]["api"]["condition"] == "service_healthy", role
    assert services["api"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_every_service_of_ours_uses_postgres_and_redis_and_the_one_celery_app() -> None:
    services = _compose()["services"]
    for role in ("api", "worker", "beat"):
        env = services[role]["environment"]
        assert env["FINETUNER_DATABASE_URL"].startswith("postgresql+psycopg://"), role
        assert env["FINETUNER_BROKER_URL"].startswith("redis://"), role
    assert services["worker"]["command"][:3] == ["celery", "-A", "worker.celery_app:celery_app"]
    assert services["beat"]["command"][3] == "beat"


def test_the_image_copies_what_the_commands_need() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for needed in ("alembic.ini", "migrations", "api", "core", "worker", "emulator"):
        assert f"COPY {needed}" in dockerfile, needed
