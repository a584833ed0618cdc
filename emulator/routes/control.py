"""``/_emulator/…``: the emulator's own control routes, for tests and rehearsals (not OpenAI's API).

They are authenticated like every other route, never faulted, and not written to the call log.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from emulator.deps import StateDep
from emulator.errors import bad_request
from emulator.settings import FaultProfile, FaultRule

router = APIRouter(prefix="/_emulator")


class ClockAdvance(BaseModel):
    seconds: float = Field(ge=0)


class SeedJob(BaseModel):
    model: str = "gpt-4o-mini-2024-07-18"
    status: str = "succeeded"
    created_at: float | None = None
    metadata: dict[str, str] | None = None
    suffix: str | None = None
    hold: bool = False
    n_examples: int = Field(default=20, ge=1)


@router.get("/calls")
def list_calls(state: StateDep) -> dict[str, Any]:
    return {"object": "list", "data": [c._asdict() for c in state.calls]}


@router.delete("/calls")
def reset_calls(state: StateDep) -> dict[str, Any]:
    state.reset_calls()
    return {"deleted": True}


@router.get("/faults")
def list_faults(state: StateDep) -> dict[str, Any]:
    profile = state.faults.profile.model_dump()
    profile["rules"] = [rule.model_dump() for rule in state.faults.pending_rules()]
    return profile


@router.post("/faults")
def add_fault(rule: FaultRule, state: StateDep) -> dict[str, Any]:
    state.inject(rule.path, rule.status, rule.count, rule.retry_after, rule.method, rule.delay)
    return {"added": rule.model_dump()}


@router.put("/faults")
def replace_fault_profile(profile: FaultProfile, state: StateDep) -> dict[str, Any]:
    state.set_fault_profile(profile)
    return profile.model_dump()


@router.delete("/faults")
def clear_faults(state: StateDep) -> dict[str, Any]:
    state.clear_faults()
    return {"deleted": True}


@router.post("/clock")
def advance_clock(body: ClockAdvance, state: StateDep) -> dict[str, Any]:
    return {"now": state.advance_clock(body.seconds)}


@router.post("/jobs")
def seed_job(body: SeedJob, state: StateDep) -> dict[str, Any]:
    try:
        job_id = state.seed_job(**body.model_dump())
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    return state.retrieve_job(job_id)


@router.post("/jobs/{job_id}/release")
def release_job(job_id: str, state: StateDep) -> dict[str, Any]:
    state.retrieve_job(job_id)  # 404 for an unknown id
    state.release_job(job_id)
    return state.retrieve_job(job_id)


@router.get("/webhooks")
def list_webhook_deliveries(state: StateDep) -> dict[str, Any]:
    deliveries = list(state.webhooks.deliveries) if state.webhooks else []
    return {"object": "list", "data": [d.to_dict() for d in deliveries]}
