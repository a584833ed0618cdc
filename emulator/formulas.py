"""Every number a simulated job shows: resolved hyperparameters, steps, timing, the loss curve.

Kept in one module (and written out in ``emulator/README.md``) so a user can see what a rehearsal
predicts — the billed tokens and the hyperparameters OpenAI would choose — and what it does not
(the real loss values and the real duration).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from core.datasets.cost import default_epochs  # the cookbook's heuristic, which OpenAI applies for "auto"

AUTO_BATCH_FRACTION = 0.002  # OpenAI's documented "~0.2% of the training examples"
MAX_BATCH_SIZE = 256
AUTO_LEARNING_RATE_MULTIPLIER = 1.8
AUTO_DPO_BETA = 0.1

# Simulated seconds (multiplied by the time scale to get wall seconds).
VALIDATING_BASE_SECONDS = 10.0
VALIDATING_SECONDS_PER_EXAMPLE = 0.002
QUEUED_SECONDS = 20.0
STEP_BASE_SECONDS = 0.5
STEP_TOKENS_PER_SECOND = 20_000.0
FINALIZING_SECONDS = 15.0


def auto_epochs(n_examples: int) -> int:
    return default_epochs(max(1, n_examples))


def auto_batch_size(n_examples: int) -> int:
    return max(1, min(MAX_BATCH_SIZE, round(n_examples * AUTO_BATCH_FRACTION)))


def steps_per_epoch(n_examples: int, batch_size: int) -> int:
    return max(1, math.ceil(n_examples / batch_size))


def step_seconds(mean_example_tokens: float, batch_size: int) -> float:
    """Simulated seconds per optimiser step: a fixed cost plus the tokens the batch carries."""
    return STEP_BASE_SECONDS + mean_example_tokens * batch_size / STEP_TOKENS_PER_SECOND


def validating_seconds(n_examples: int) -> float:
    return VALIDATING_BASE_SECONDS + VALIDATING_SECONDS_PER_EXAMPLE * n_examples


@dataclass(frozen=True)
class StepMetrics:
    step: int
    train_loss: float
    train_accuracy: float
    valid_loss: float | None = None
    valid_accuracy: float | None = None
    full_valid_loss: float | None = None
    full_valid_accuracy: float | None = None

    def as_event_data(self, total_steps: int) -> dict[str, float | int]:
        data: dict[str, float | int] = {
            "step": self.step,
            "train_loss": self.train_loss,
            "train_mean_token_accuracy": self.train_accuracy,
            "total_steps": total_steps,
        }
        if self.valid_loss is not None and self.valid_accuracy is not None:
            data["valid_loss"] = self.valid_loss
            data["valid_mean_token_accuracy"] = self.valid_accuracy
        if self.full_valid_loss is not None and self.full_valid_accuracy is not None:
            data["full_valid_loss"] = self.full_valid_loss
            data["full_valid_mean_token_accuracy"] = self.full_valid_accuracy
        return data

    def as_checkpoint_metrics(self) -> dict[str, float]:
        data = self.as_event_data(0)
        data.pop("total_steps")
        return {key: float(value) for key, value in data.items()}

    def message(self, total_steps: int) -> str:
        text = f"Step {self.step}/{total_steps}: training loss={self.train_loss:.2f}"
        if self.valid_loss is not None:
            text += f", validation loss={self.valid_loss:.2f}"
        if self.full_valid_loss is not None:
            text += f", full validation loss={self.full_valid_loss:.2f}"
        return text


class LossCurve:
    """A decreasing, noisy, seed-deterministic loss curve over ``total_steps`` steps.

    clean(s) = floor + (start - floor) · exp(-s / (τ · N)), τ = 0.35 · sqrt(1.8 / lr_multiplier);
    train_loss(s) = clean(s) · exp(0.12 · g) with g ~ N(0, 1) drawn from (seed, s); validation is
    8 % above training with its own noise; full validation (epoch ends) is the noiseless value.
    Token accuracy rises from ~0.45 to ~0.95 as the clean loss falls.
    """

    NOISE = 0.12
    VALID_GAP = 1.08
    OVERFIT_CLIMB = 1.5  # on an overfitting curve, validation gains this many start losses per unit of progress

    def __init__(self, seed: int, total_steps: int, lr_multiplier: float, overfit_after: float | None = None) -> None:
        rng = random.Random(f"curve:{seed}")
        self.start = 2.2 + 0.8 * rng.random()
        self.floor = 0.05 + 0.25 * rng.random()
        self.tau = 0.35 * math.sqrt(AUTO_LEARNING_RATE_MULTIPLIER / max(lr_multiplier, 1e-6))
        self.seed = seed
        self.total = max(1, total_steps)
        self.overfit_after = overfit_after

    def clean_valid(self, step: int) -> float:
        """Validation sits 8 % above training — and, on an overfitting curve, climbs away from it."""
        climb = 0.0
        if self.overfit_after is not None:
            climb = self.OVERFIT_CLIMB * self.start * max(0.0, step / self.total - self.overfit_after)
        return self.clean(step) * self.VALID_GAP + climb

    def clean(self, step: int) -> float:
        return self.floor + (self.start - self.floor) * math.exp(-step / (self.tau * self.total))

    def _accuracy(self, loss: float) -> float:
        progress = 1.0 - (loss - self.floor) / (self.start - self.floor)
        return min(1.0, max(0.0, 0.45 + 0.5 * progress))

    def metrics(self, step: int, *, with_validation: bool, epoch_end: bool) -> StepMetrics:
        rng = random.Random(f"step:{self.seed}:{step}")
        clean = self.clean(step)
        train = clean * math.exp(self.NOISE * rng.gauss(0.0, 1.0))
        train_acc = self._accuracy(train) + 0.01 * rng.gauss(0.0, 1.0)
        result = StepMetrics(step=step, train_loss=round(train, 5), train_accuracy=_unit(train_acc))
        if not with_validation:
            return result
        clean_valid = self.clean_valid(step)
        valid = clean_valid * math.exp(self.NOISE * rng.gauss(0.0, 1.0))
        valid_acc = self._accuracy(valid) + 0.01 * rng.gauss(0.0, 1.0)
        full = (round(clean_valid, 5), _unit(self._accuracy(clean_valid))) if epoch_end else None
        return StepMetrics(
            step=step, train_loss=result.train_loss, train_accuracy=result.train_accuracy,
            valid_loss=round(valid, 5), valid_accuracy=_unit(valid_acc),
            full_valid_loss=full[0] if full else None, full_valid_accuracy=full[1] if full else None,
        )


def _unit(value: float) -> float:
    return round(min(1.0, max(0.0, value)), 5)
