"""The documented formulas: auto epochs and batch size, steps, the loss curve."""

from __future__ import annotations

import pytest

from emulator import formulas


@pytest.mark.parametrize(("n", "epochs"), [(1, 25), (5, 20), (10, 10), (20, 5), (33, 3), (34, 3), (100, 3),
                                           (8333, 3), (8334, 2), (25_000, 1), (100_000, 1)])
def test_auto_epochs_follow_the_cookbook_heuristic(n: int, epochs: int) -> None:
    assert formulas.auto_epochs(n) == epochs


@pytest.mark.parametrize(("n", "batch"), [(10, 1), (100, 1), (1000, 2), (10_000, 20), (1_000_000, 256)])
def test_auto_batch_size_grows_with_the_dataset_and_is_capped(n: int, batch: int) -> None:
    assert formulas.auto_batch_size(n) == batch


def test_steps_are_examples_over_batch_rounded_up() -> None:
    assert formulas.steps_per_epoch(101, 2) == 51
    assert formulas.steps_per_epoch(100, 1) == 100


def test_the_loss_curve_decreases_and_is_deterministic() -> None:
    curve = formulas.LossCurve(seed=5, total_steps=200, lr_multiplier=1.8)
    again = formulas.LossCurve(seed=5, total_steps=200, lr_multiplier=1.8)
    points = [curve.metrics(s, with_validation=True, epoch_end=s % 50 == 0) for s in range(1, 201)]
    assert points == [again.metrics(s, with_validation=True, epoch_end=s % 50 == 0) for s in range(1, 201)]
    clean = [curve.clean(s) for s in range(1, 201)]
    assert clean == sorted(clean, reverse=True)
    first, last = points[:20], points[-20:]
    assert sum(p.train_loss for p in first) > 2 * sum(p.train_loss for p in last)
    assert sum(p.train_accuracy for p in last) > sum(p.train_accuracy for p in first)
    assert all(0 <= p.train_accuracy <= 1 and p.train_loss > 0 for p in points)
    assert [p.step for p in points if p.full_valid_loss is not None] == [50, 100, 150, 200]
    other_seed = formulas.LossCurve(seed=6, total_steps=200, lr_multiplier=1.8)
    assert other_seed.metrics(10, with_validation=False, epoch_end=False) != points[9]


def test_a_larger_learning_rate_converges_faster() -> None:
    slow = formulas.LossCurve(seed=1, total_steps=100, lr_multiplier=0.5)
    fast = formulas.LossCurve(seed=1, total_steps=100, lr_multiplier=4.0)
    assert fast.clean(30) < slow.clean(30)
