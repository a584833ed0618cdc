"""The Together dialect's dedicated endpoints: what a user deploys to call a non-serverless model.

The SDK (3.x) addresses them under ``/v2/projects/{project_id}``: an *endpoint* is a stable name
(``<project>/<endpoint>``) that routes to the *deployments* under it; a deployment binds one model
to hardware and provisions asynchronously (``DEPLOYMENT_STATE_PROVISIONING`` →
``DEPLOYMENT_STATE_READY`` after ``PROVISION_SECONDS`` simulated seconds). Chat completions whose
``model`` is an endpoint or deployment name are answered by the deployment's model once it is
ready. Real endpoints bill per minute; here they only cost time. Nothing in the service creates
one: tests do, through the SDK, as a user would. Kept in memory (not in the state file).
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from emulator.deps import StateDep
from emulator.errors import APIError, bad_request, not_found

PROVISION_SECONDS = 120.0  # simulated: a deployment is ready two minutes after it was created
READY = "DEPLOYMENT_STATE_READY"

router = APIRouter(prefix="/v2/projects/{project_id}")


@dataclass
class Deployment:
    id: str
    endpoint_id: str
    name: str
    model: str
    autoscaling: dict[str, Any]
    created_at: float
    ready_at: float


@dataclass
class Endpoint:
    id: str
    project_id: str
    name: str  # qualified: <project>/<endpoint>
    visibility: str
    created_at: float
    updated_at: float
    deployment_ids: list[str] = field(default_factory=list)
    traffic_split: list[dict[str, Any]] | None = None  # None: every ready deployment, equally (a guess)


class EndpointStore:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.endpoints: dict[str, Endpoint] = {}
        self.deployments: dict[str, Deployment] = {}


def store_of(request: Request) -> EndpointStore:
    store: EndpointStore = request.app.state.together_endpoints
    return store


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).isoformat().replace("+00:00", "Z")


def _state(deployment: Deployment, now: float) -> str:
    if deployment.autoscaling.get("maxReplicas") == 0:
        return "DEPLOYMENT_STATE_STOPPED"
    return READY if now >= deployment.ready_at else "DEPLOYMENT_STATE_PROVISIONING"


def _replicas(deployment: Deployment) -> int:
    return int(deployment.autoscaling.get("minReplicas") or 1)


def _deployment(deployment: Deployment, project_id: str, now: float) -> dict[str, Any]:
    state = _state(deployment, now)
    ready = _replicas(deployment) if state == READY else 0
    return {
        "id": deployment.id, "autoscaling": deployment.autoscaling,
        "config": f"projects/{project_id}/configs/emulator-1", "configId": "emulator-1",
        "createdAt": _iso(deployment.created_at), "endpointId": deployment.endpoint_id,
        "etag": f"{deployment.id}-1", "hardware": "1x_nvidia_h100_80gb_sxm", "model": deployment.model,
        "modelId": deployment.model, "modelRevisionId": "1", "name": deployment.name, "projectId": project_id,
        "status": {"message": "ready" if state == READY else state.removeprefix("DEPLOYMENT_STATE_").lower(),
                   "state": state, "readyReplicas": ready},
        "trafficMode": "TRAFFIC_MODE_LIVE", "updatedAt": _iso(deployment.created_at),
        "desiredReplicas": _replicas(deployment),
    }


def _summary(deployment: Deployment, now: float, share: float) -> dict[str, Any]:
    state = _state(deployment, now)
    return {
        "id": deployment.id, "autoscaling": deployment.autoscaling, "createdAt": _iso(deployment.created_at),
        "estimatedEffectiveTrafficShare": share, "model": deployment.model, "modelId": deployment.model,
        "name": deployment.name, "state": state, "trafficMode": "TRAFFIC_MODE_LIVE",
        "desiredReplicas": _replicas(deployment), "hardware": "1x_nvidia_h100_80gb_sxm",
    }


def _routed(store: EndpointStore, endpoint: Endpoint, now: float) -> list[Deployment]:
    """The ready deployments live traffic reaches."""
    ready = [store.deployments[i] for i in endpoint.deployment_ids if _state(store.deployments[i], now) == READY]
    if endpoint.traffic_split is None:
        return ready
    weighted = {entry["deploymentId"] for entry in endpoint.traffic_split if float(entry.get("weight", 0)) > 0}
    return [d for d in ready if d.id in weighted]


def _endpoint(store: EndpointStore, endpoint: Endpoint, now: float) -> dict[str, Any]:
    routed = {d.id for d in _routed(store, endpoint, now)}
    deployments = [store.deployments[i] for i in endpoint.deployment_ids]
    split = endpoint.traffic_split if endpoint.traffic_split is not None else [
        {"deploymentId": d.id, "weight": 1.0} for d in deployments]
    return {
        "id": endpoint.id, "createdAt": _iso(endpoint.created_at),
        "deployments": [_summary(d, now, (1 / len(routed)) if d.id in routed else 0.0) for d in deployments],
        "endpointType": "ENDPOINT_TYPE_DEDICATED", "etag": f"{endpoint.id}-{int(endpoint.updated_at * 1000)}",
        "name": endpoint.name, "projectId": endpoint.project_id, "trafficSplit": split,
        "updatedAt": _iso(endpoint.updated_at), "visibility": endpoint.visibility,
    }


def _find_endpoint(store: EndpointStore, project_id: str, endpoint_id: str) -> Endpoint:
    endpoint = store.endpoints.get(endpoint_id)
    if endpoint is None or endpoint.project_id != project_id:
        raise not_found(f"endpoint {endpoint_id} not found", param="id")
    return endpoint


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=100)
    visibility: str = "VISIBILITY_PRIVATE"


class EndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    traffic_split: list[dict[str, Any]] | None = Field(default=None, alias="trafficSplit")
    visibility: str | None = None


class DeploymentCreate(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    name: str = Field(min_length=1, max_length=100)
    autoscaling: dict[str, Any]
    model: str | None = None
    model_id: str | None = Field(default=None, alias="modelId")


@router.post("/endpoints")
def create_endpoint(project_id: str, body: EndpointCreate, request: Request) -> dict[str, Any]:
    store, state = store_of(request), request.app.state.emulator
    qualified = body.name if "/" in body.name else f"{project_id}/{body.name}"
    now = state.clock.now()
    with store.lock:
        if any(e.name == qualified for e in store.endpoints.values()):
            raise APIError(409, f"endpoint {qualified} already exists", code="already_exists")
        endpoint = Endpoint(f"endpoint-{secrets.token_hex(8)}", project_id, qualified, body.visibility, now, now)
        store.endpoints[endpoint.id] = endpoint
        return _endpoint(store, endpoint, now)


@router.get("/endpoints")
def list_endpoints(project_id: str, request: Request) -> dict[str, Any]:
    store, now = store_of(request), request.app.state.emulator.clock.now()
    with store.lock:
        return {"data": [_endpoint(store, e, now) for e in store.endpoints.values() if e.project_id == project_id],
                "next_cursor": None}


@router.get("/endpoints/{endpoint_id}")
def retrieve_endpoint(project_id: str, endpoint_id: str, request: Request) -> dict[str, Any]:
    store, now = store_of(request), request.app.state.emulator.clock.now()
    with store.lock:
        return _endpoint(store, _find_endpoint(store, project_id, endpoint_id), now)


@router.patch("/endpoints/{endpoint_id}")
def update_endpoint(project_id: str, endpoint_id: str, body: EndpointUpdate, request: Request) -> dict[str, Any]:
    store, now = store_of(request), request.app.state.emulator.clock.now()
    with store.lock:
        endpoint = _find_endpoint(store, project_id, endpoint_id)
        if body.traffic_split is not None:
            unknown = {str(e.get("deploymentId")) for e in body.traffic_split} - set(endpoint.deployment_ids)
            if unknown:
                raise bad_request(f"trafficSplit names deployments not under this endpoint: {sorted(unknown)}",
                                  param="trafficSplit")
            endpoint.traffic_split = body.traffic_split
        if body.visibility is not None:
            endpoint.visibility = body.visibility
        endpoint.updated_at = now
        return _endpoint(store, endpoint, now)


@router.delete("/endpoints/{endpoint_id}")
def delete_endpoint(project_id: str, endpoint_id: str, request: Request) -> dict[str, Any]:
    store = store_of(request)
    with store.lock:
        endpoint = _find_endpoint(store, project_id, endpoint_id)
        for deployment_id in endpoint.deployment_ids:
            store.deployments.pop(deployment_id, None)
        del store.endpoints[endpoint.id]
    return {}


@router.post("/endpoints/{endpoint_id}/deployments")
def create_deployment(project_id: str, endpoint_id: str, body: DeploymentCreate, request: Request,
                      state: StateDep) -> dict[str, Any]:
    store = store_of(request)
    model = body.model or body.model_id
    if not model:
        raise bad_request("a deployment needs model (or modelId)", param="model")
    state.chat_model(model)  # 404 unless a succeeded job's model or a catalog model
    now = state.clock.now()
    with store.lock:
        endpoint = _find_endpoint(store, project_id, endpoint_id)
        deployment = Deployment(f"deployment-{secrets.token_hex(8)}", endpoint.id, f"{endpoint.name}/{body.name}",
                                model, body.autoscaling, now, now + PROVISION_SECONDS * state.settings.time_scale)
        store.deployments[deployment.id] = deployment
        endpoint.deployment_ids.append(deployment.id)
        endpoint.updated_at = now
        return _deployment(deployment, project_id, now)


@router.get("/endpoints/{endpoint_id}/deployments")
def list_deployments(project_id: str, endpoint_id: str, request: Request) -> dict[str, Any]:
    store, now = store_of(request), request.app.state.emulator.clock.now()
    with store.lock:
        endpoint = _find_endpoint(store, project_id, endpoint_id)
        return {"data": [_deployment(store.deployments[i], project_id, now) for i in endpoint.deployment_ids],
                "next_cursor": None}


@router.get("/endpoints/{endpoint_id}/deployments/{deployment_id}")
def retrieve_deployment(project_id: str, endpoint_id: str, deployment_id: str, request: Request) -> dict[str, Any]:
    store, now = store_of(request), request.app.state.emulator.clock.now()
    with store.lock:
        endpoint = _find_endpoint(store, project_id, endpoint_id)
        if deployment_id not in endpoint.deployment_ids:
            raise not_found(f"deployment {deployment_id} not found", param="id")
        return _deployment(store.deployments[deployment_id], project_id, now)


@router.delete("/endpoints/{endpoint_id}/deployments/{deployment_id}")
def delete_deployment(project_id: str, endpoint_id: str, deployment_id: str, request: Request) -> dict[str, Any]:
    store = store_of(request)
    with store.lock:
        endpoint = _find_endpoint(store, project_id, endpoint_id)
        if deployment_id not in endpoint.deployment_ids:
            raise not_found(f"deployment {deployment_id} not found", param="id")
        endpoint.deployment_ids.remove(deployment_id)
        store.deployments.pop(deployment_id, None)
    return {}


def served_model(store: EndpointStore, name: str, now: float) -> str | None:
    """The model a chat request to endpoint or deployment ``name`` reaches; None if ``name`` is neither.

    A name that is an endpoint with no ready, routed deployment answers 503, as a cold endpoint does.
    """
    with store.lock:
        for deployment in store.deployments.values():
            if deployment.name == name:
                if _state(deployment, now) != READY:
                    raise APIError(503, f"deployment {name} is not ready", code="service_unavailable")
                return deployment.model
        for endpoint in store.endpoints.values():
            if endpoint.name == name:
                routed = _routed(store, endpoint, now)
                if not routed:
                    raise APIError(503, f"endpoint {name} has no ready deployment to route to",
                                   code="service_unavailable")
                return routed[0].model
    return None
