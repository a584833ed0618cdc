"""How a fine-tuned model can be called once its job has succeeded — told truthfully.

OpenAI serves a fine-tuned model at once, billed per token. Together serves a LoRA result of some
base models serverless and everything else (the other LoRA results, every full fine-tune) only
through a dedicated endpoint that someone deploys and that is billed per minute while it runs.
Azure OpenAI serves a fine-tuned model only through a deployment, billed per hour of hosting.
The service never starts an endpoint or a deployment on its own — that would spend money nobody
asked for — so it says what is needed, and an evaluation calls the endpoint the user names.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from core.catalog import ModelCatalog
from core.errors import Unprocessable
from core.models import Job

ServingMode = Literal["serverless", "dedicated_endpoint", "deployment"]
ENDPOINT_REQUIRED = "endpoint_required"


@dataclass(frozen=True)
class Serving:
    mode: ServingMode
    model: str  # the fine-tuned model's name at the provider
    endpoint_required: bool
    how: str  # one sentence: what to call, or the step to take first

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _together_training_type(hyperparameters: dict[str, Any] | None, resolved: dict[str, Any] | None) -> str:
    """Together trains LoRA unless told ``full`` (the SDK's ``lora`` defaults to true)."""
    for source in (resolved or {}, hyperparameters or {}):
        value = source.get("training_type")
        if value in ("lora", "full"):
            return str(value)
    return "lora"


def serving_for(*, provider: str, base_model: str, fine_tuned_model: str, catalog: ModelCatalog,
                hyperparameters: dict[str, Any] | None = None,
                resolved_hyperparameters: dict[str, Any] | None = None) -> Serving:
    """How ``fine_tuned_model`` (trained from ``base_model`` on ``provider``) can be called."""
    if provider == "azure":
        return Serving("deployment", fine_tuned_model, True,
                       f"Azure OpenAI serves {fine_tuned_model} only through a deployment (hosting is billed per "
                       f"hour): deploy it in Azure AI Foundry, then call chat completions with the deployment name "
                       f"as model (and pass it as 'endpoint' to evaluate)")
    if provider != "together":
        return Serving("serverless", fine_tuned_model, False,
                       f"callable now: chat completions with model={fine_tuned_model} (billed per token)")
    entry = catalog.find(base_model, "together")
    training_type = _together_training_type(hyperparameters, resolved_hyperparameters)
    if training_type == "lora" and entry is not None and entry.serverless_lora:
        return Serving("serverless", fine_tuned_model, False,
                       f"callable now: chat completions with model={fine_tuned_model} (serverless LoRA, billed "
                       f"per token)")
    why = ("a full fine-tune" if training_type == "full"
           else "a LoRA result the catalog does not list as serverless" if entry is None or entry.serverless_lora
           is None else f"a LoRA result of {base_model}, which Together does not serve serverless")
    return Serving("dedicated_endpoint", fine_tuned_model, True,
                   f"{why}: deploy a dedicated endpoint for {fine_tuned_model} (Together's endpoints API or "
                   f"dashboard; billed per minute while it runs, so stop it when done), then call chat "
                   f"completions with the endpoint's name as model (and pass it as 'endpoint' to evaluate)")


def require_endpoint(serving: Serving, endpoint: str | None, *, job_id: str, param: str = "endpoint") -> str:
    """The model name an evaluation calls: the fine-tuned model, or the endpoint the user names.

    Without a named endpoint for a model that needs one, refuse (422) naming the missing step —
    never start one: it bills per minute.
    """
    if not serving.endpoint_required:
        return endpoint or serving.model
    if endpoint:
        return endpoint
    step = "deploy it on a dedicated endpoint" if serving.mode == "dedicated_endpoint" else "deploy it"
    raise Unprocessable(
        f"job {job_id}'s model {serving.model} cannot be called until you {step}; the service never starts a "
        f"billed endpoint on its own. {serving.how}",
        details={"param": param, "code": ENDPOINT_REQUIRED, "job_id": job_id, "model": serving.model,
                 "serving": serving.mode})


def serving_of_job(job: Job, catalog: ModelCatalog, model: str | None = None) -> Serving | None:
    """How the job's result (or ``model``, one of its checkpoints) is served; None while there is none."""
    model = model or job.fine_tuned_model
    if model is None:
        return None
    return serving_for(provider=job.provider, base_model=job.model, fine_tuned_model=model, catalog=catalog,
                       hyperparameters=job.hyperparameters, resolved_hyperparameters=job.resolved_hyperparameters)
