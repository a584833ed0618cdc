"""From a create-job request and its files to the :class:`~emulator.jobs.Plan` the job will follow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.catalog import ModelCatalog, ModelEntry
from emulator import formulas
from emulator.datafile import DataFileError, ParsedFile, parse_file
from emulator.errors import bad_request
from emulator.jobs import JobError, Plan


@dataclass(frozen=True)
class ModelChoice:
    shown: str  # what the job's ``model`` field says
    snapshot: str  # the catalog snapshot underneath (used in ft: names)
    entry: ModelEntry


def snapshot_entry(catalog: ModelCatalog, name: str, provider: str = "openai") -> ModelEntry | None:
    """The catalog entry for a snapshot name or one of its aliases (gpt-4o-mini → its snapshot)."""
    for entry in catalog.entries():
        if entry.provider == provider and (entry.model == name or name in entry.aliases):
            return entry
    return None


def resolve_model(catalog: ModelCatalog, name: str, fine_tuned_bases: dict[str, str], method: str,
                  provider: str = "openai") -> ModelChoice:
    """The model a job trains, or OpenAI's 400 when it cannot be fine-tuned (with this method)."""
    if name.startswith("ft:") and name in fine_tuned_bases:
        entry = snapshot_entry(catalog, fine_tuned_bases[name], provider)
        shown = name
    else:
        entry = snapshot_entry(catalog, name, provider)
        shown = entry.model if entry else name
    if entry is None:
        raise bad_request(f"Model {name} is not available for fine-tuning or does not exist.",
                          param="model", code="model_not_available")
    if method not in entry.methods:
        raise bad_request(f"Fine-tuning method '{method}' is not supported for model {name}.",
                          param="method", code="invalid_value")
    return ModelChoice(shown, entry.model, entry)


@dataclass(frozen=True)
class FailureDraw:
    """Two uniform draws taken at creation, in creation order, from the seeded generator."""

    fails: bool
    where: float


def _file_error(error: DataFileError, param: str) -> JobError:
    kind = "training" if param == "training_file" else "validation"
    if error.code_suffix == "n_examples":
        return JobError("invalid_n_examples", error.reason, param)
    detail = f"Invalid file format. Line {error.line}: {error.reason}." if error.line else f"{error.reason}."
    return JobError(f"invalid_{kind}_file", f"The job failed due to an invalid {kind} file. {detail}", param)


def parse_inputs(training: bytes, validation: bytes | None, *, method: str, entry: ModelEntry,
                 min_examples: int) -> tuple[ParsedFile | None, ParsedFile | None, JobError | None]:
    try:
        train = parse_file(training, method=method, encoding=entry.encoding, token_limit=entry.token_limit,
                           min_examples=min_examples)
    except DataFileError as exc:
        return None, None, _file_error(exc, "training_file")
    if validation is None:
        return train, None, None
    try:
        valid = parse_file(validation, method=method, encoding=entry.encoding, token_limit=entry.token_limit)
    except DataFileError as exc:
        return train, None, _file_error(exc, "validation_file")
    return train, valid, None


def build_plan(*, requested: dict[str, Any], method: str, train: ParsedFile | None, valid: ParsedFile | None,
               has_validation_file: bool, error: JobError | None, failure: FailureDraw, time_scale: float,
               token_limit: int, fault_code: str, fault_message: str) -> Plan:
    n = len(train.examples) if train else 0
    n_valid = len(valid.examples) if valid else 0
    epochs = requested["n_epochs"] if requested["n_epochs"] != "auto" else formulas.auto_epochs(n)
    batch = requested["batch_size"] if requested["batch_size"] != "auto" else formulas.auto_batch_size(n)
    lrm = requested["learning_rate_multiplier"]
    lrm = formulas.AUTO_LEARNING_RATE_MULTIPLIER if lrm == "auto" else float(lrm)
    beta = None
    if method == "dpo":
        beta = formulas.AUTO_DPO_BETA if requested.get("beta", "auto") == "auto" else float(requested["beta"])
    per_epoch = formulas.steps_per_epoch(max(n, 1), batch)
    total = per_epoch * epochs
    failure_step = None
    if failure.fails and error is None:
        low, high = max(1, total // 4), max(1, (3 * total) // 4)
        failure_step = min(high, low + int(failure.where * (high - low + 1)))
    warnings: tuple[str, ...] = ()
    if train and train.n_over_limit:
        warnings = (f"{train.n_over_limit} example(s) exceed the {token_limit}-token limit and will be truncated "
                    "during training.",)
    return Plan(
        n_examples=n, n_epochs=epochs, batch_size=batch, learning_rate_multiplier=lrm, beta=beta,
        steps_per_epoch=per_epoch,
        trained_tokens=(train.billed_tokens if train else 0) * epochs,
        with_validation=has_validation_file,
        validating_wall=formulas.validating_seconds(n + n_valid) * time_scale,
        queued_wall=formulas.QUEUED_SECONDS * time_scale,
        step_wall=formulas.step_seconds(train.mean_tokens if train else 0.0, batch) * time_scale,
        finalizing_wall=formulas.FINALIZING_SECONDS * time_scale,
        validation_error=error,
        failure_step=failure_step,
        failure=JobError(fault_code, fault_message, None) if failure_step else None,
        warnings=warnings,
    )
