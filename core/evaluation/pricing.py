"""The money estimate an evaluation is checked against before it starts (examples x models x tokens).

Prompt tokens are exact (the cookbook formula, the model's encoding); the answer is assumed to be
as long as the truth, which is what a model fine-tuned on this data writes (``max_tokens`` caps it
when given). The actual cost, from the provider's usage, is recorded as items finish.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.datasets.counting import TOKENS_PER_EXAMPLE, TokenCounter
from core.evaluation.examples import HeldOut
from core.evaluation.targets import Target


def cost_usd(prompt_tokens: int, completion_tokens: int, target: Target | dict[str, Any]) -> float:
    prices = target if isinstance(target, dict) else target.as_dict()
    return (prompt_tokens * (prices.get("input_price") or 0.0)
            + completion_tokens * (prices.get("output_price") or 0.0)) / 1_000_000


def prompt_tokens(counter: TokenCounter, example: HeldOut) -> int:
    return TOKENS_PER_EXAMPLE + sum(counter.message(m) for m in example.messages)


def estimate(examples: Sequence[HeldOut], targets: Sequence[Target], counter: TokenCounter,
             *, max_tokens: int | None = None) -> dict[str, Any]:
    prompt = sum(prompt_tokens(counter, e) for e in examples)
    completion = sum(min(counter.text(e.truth), max_tokens or 1 << 30) for e in examples)
    per_target = {t.key: round(cost_usd(prompt, completion, t), 6) for t in targets if t.asks_model}
    unpriced = [t.key for t in targets if t.asks_model and (t.input_price is None or t.output_price is None)]
    return {"total_usd": round(sum(per_target.values()), 6), "per_target_usd": per_target,
            "prompt_tokens_per_model": prompt, "expected_completion_tokens_per_model": completion,
            "examples": len(examples), "models": len(per_target), "unpriced": unpriced}
