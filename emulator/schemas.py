"""Request bodies, parsed and checked with OpenAI's limits.

FastAPI turns a violation into ``RequestValidationError``, which ``errors.py`` reshapes into
OpenAI's 400 body, naming the offending parameter.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Auto = Literal["auto"]
BatchSize = Auto | Annotated[int, Field(ge=1, le=256)]
LearningRate = Auto | Annotated[float, Field(gt=0)]
Epochs = Auto | Annotated[int, Field(ge=1, le=50)]
Beta = Auto | Annotated[float, Field(gt=0, le=2)]


class SupervisedHyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_size: BatchSize = "auto"
    learning_rate_multiplier: LearningRate = "auto"
    n_epochs: Epochs = "auto"


class DpoHyperparameters(SupervisedHyperparameters):
    beta: Beta = "auto"


class SupervisedMethod(BaseModel):
    hyperparameters: SupervisedHyperparameters | None = None


class DpoMethod(BaseModel):
    hyperparameters: DpoHyperparameters | None = None


class Method(BaseModel):
    type: Literal["supervised", "dpo", "reinforcement"]
    supervised: SupervisedMethod | None = None
    dpo: DpoMethod | None = None
    reinforcement: dict[str, Any] | None = None


class WandbSettings(BaseModel):
    project: str
    name: str | None = None
    entity: str | None = None
    tags: list[str] | None = None


class Integration(BaseModel):
    type: Literal["wandb"]
    wandb: WandbSettings

    def echo(self) -> dict[str, Any]:
        wandb: dict[str, Any] = {"project": self.wandb.project, "name": self.wandb.name,
                                 "entity": self.wandb.entity}
        if self.wandb.tags is not None:
            wandb["tags"] = list(self.wandb.tags)
        return {"type": self.type, "wandb": wandb}


class CreateJobRequest(BaseModel):
    model: str = Field(min_length=1)
    training_file: str = Field(min_length=1)
    hyperparameters: SupervisedHyperparameters | None = None
    suffix: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    validation_file: str | None = None
    integrations: Annotated[list[Integration], Field(max_length=5)] | None = None
    seed: Annotated[int, Field(ge=0, le=2147483647)] | None = None
    method: Method | None = None
    metadata: dict[str, str] | None = None

    @field_validator("metadata")
    @classmethod
    def _metadata_limits(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        if len(value) > 16:
            raise ValueError("at most 16 key-value pairs")
        for key, item in value.items():
            if len(key) > 64:
                raise ValueError(f"key {key[:20]!r}… is longer than 64 characters")
            if len(item) > 512:
                raise ValueError(f"value of {key!r} is longer than 512 characters")
        return value

    def method_type(self) -> str:
        return self.method.type if self.method else "supervised"

    def requested_hyperparameters(self) -> dict[str, Any]:
        """Hyperparameters as asked, from ``method`` first, then the deprecated top-level field."""
        chosen: SupervisedHyperparameters | None = None
        if self.method is not None and self.method.type == "dpo":
            chosen = (self.method.dpo.hyperparameters if self.method.dpo else None) or DpoHyperparameters()
        elif self.method is not None and self.method.supervised and self.method.supervised.hyperparameters:
            chosen = self.method.supervised.hyperparameters
        return (chosen or self.hyperparameters or SupervisedHyperparameters()).model_dump()


class ChatRequest(BaseModel):
    """The parts of a chat request the emulator reads; everything else is accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: Annotated[list[dict[str, Any]], Field(min_length=1)]
    n: Annotated[int, Field(ge=1, le=128)] | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None
    stream: bool | None = None
    stream_options: dict[str, Any] | None = None

    @field_validator("messages")
    @classmethod
    def _roles(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for message in value:
            if "role" not in message:
                raise ValueError("every message needs a 'role'")
        return value
