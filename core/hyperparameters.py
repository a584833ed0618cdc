"""Hyperparameter names per provider: each provider's own, checked before a job is accepted.

OpenAI (and Azure) take a ``learning_rate_multiplier``; Together takes an absolute
``learning_rate``, ``batch_size`` may be ``"max"``, and it adds checkpoints, evaluations, warm-up
and LoRA settings. A job names its provider, so a name that provider does not have is refused
with a 422 that lists the names it does have, rather than silently dropped or sent to fail later.
"""

from __future__ import annotations

from typing import Any

OPENAI_NAMES = ("n_epochs", "batch_size", "learning_rate_multiplier")
TOGETHER_NAMES = (
    "n_epochs", "batch_size", "learning_rate", "n_checkpoints", "n_evals", "warmup_ratio", "weight_decay",
    "max_grad_norm", "lr_scheduler_type", "training_type", "lora_r", "lora_alpha", "lora_dropout",
    "train_on_inputs",
)
_DPO_EXTRA = {"openai": ("beta",), "azure": ("beta",), "together": ("dpo_beta",)}
# Shown as "auto" until the provider resolves them (the rest are left out when not given).
_DEFAULTS = {"openai": OPENAI_NAMES, "azure": OPENAI_NAMES, "together": ("n_epochs", "batch_size", "learning_rate")}


def names_for(provider: str, method_type: str) -> tuple[str, ...]:
    base = TOGETHER_NAMES if provider == "together" else OPENAI_NAMES
    return base + (_DPO_EXTRA.get(provider, ("beta",)) if method_type == "dpo" else ())


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_together(name: str, value: Any) -> str | None:
    """Why a Together value is wrong, or ``None``; "auto" always means "let Together choose"."""
    if value == "auto":
        return None
    if name in ("n_epochs", "n_checkpoints", "n_evals", "lora_r"):
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= (0 if name == "n_evals" else 1)
        return None if ok else "a positive integer"
    if name == "batch_size":
        ok = value == "max" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1)
        return None if ok else 'a positive integer or "max"'
    if name in ("learning_rate", "lora_alpha", "dpo_beta"):
        return None if _number(value) and value > 0 else "a positive number"
    if name in ("warmup_ratio", "lora_dropout"):
        return None if _number(value) and 0 <= value < 1 else "a number in [0, 1)"
    if name in ("weight_decay", "max_grad_norm"):
        return None if _number(value) and value >= 0 else "a non-negative number"
    if name == "lr_scheduler_type":
        return None if value in ("linear", "cosine") else '"linear" or "cosine"'
    if name == "training_type":
        return None if value in ("lora", "full") else '"lora" or "full"'
    if name == "train_on_inputs":
        return None if isinstance(value, bool) else "true, false or \"auto\""
    return None


def normalise(provider: str, method_type: str, given: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(hyperparameters with unset defaults as "auto", problems). Unknown names are problems."""
    names = names_for(provider, method_type)
    problems = []
    unknown = sorted(set(given) - set(names))
    if unknown:
        problems.append(f"hyperparameter(s) {unknown} are not {provider}'s for method {method_type!r}; "
                        f"{provider} takes: {', '.join(names)}")
    if provider == "together":
        for name, value in given.items():
            if name in names and (why := _check_together(name, value)) is not None:
                problems.append(f"hyperparameters.{name} must be {why} for together, not {value!r}")
    if provider != "together" and given.get("batch_size") == "max":
        problems.append('hyperparameters.batch_size "max" is Together\'s; give a number or "auto"')
    values = dict.fromkeys(_DEFAULTS.get(provider, OPENAI_NAMES), "auto")
    if method_type == "dpo":
        values.update(dict.fromkeys(_DPO_EXTRA.get(provider, ()), "auto"))
    values.update({k: v for k, v in given.items() if k in names})
    return values, problems
