"""Budgets for a target precision: the search, and simulation keeping what it promises."""

from __future__ import annotations

import pytest

from simulations.simulate import Setting, parse_keep, simulate
from theory import noise
from theory.budgets import largest_share
from theory.errors import InputError


def test_largest_share_on_monotone_and_non_monotone_curves():
    assert largest_share(lambda f: 1.0 - f, 0.7) == pytest.approx(0.3, abs=1e-8)
    # precision that first rises (a noisy atom below the clean one), then falls
    bumpy = lambda f: 0.5 if f < 0.2 else 0.96 - 0.1 * f  # noqa: E731
    assert largest_share(bumpy, 0.9) == pytest.approx(0.6, abs=1e-8)
    assert largest_share(lambda f: 0.5, 0.9) == 0.0
    assert largest_share(lambda f: None, 0.9) == 0.0
    assert largest_share(lambda f: 1.0, 0.9) == 1.0


def test_keep_target_parses_and_refuses_bad_precisions():
    assert parse_keep("target:0.95") == "target:0.95"
    for bad in ("target:1.5", "target:x", "target:"):
        with pytest.raises(InputError, match="target"):
            parse_keep(bad)


@pytest.mark.parametrize(
    ("family", "model", "extra"),
    [("symmetric", "perturbed", {"epsilon": 0.3}), ("pairwise", "overlap", {"separation": 2.0}),
     ("pairwise", "bayes", {})],
)  # fmt: skip
def test_target_budgets_keep_their_promise(family, model, extra):
    T = noise.named(family, 0.45, 10)
    kept = {}
    for target in (0.9, 0.95):
        out = simulate(Setting(T=T, model=model, n=30_000, keep=f"target:{target}", seed=3,
                               cleanlab=False, **extra))  # fmt: skip
        for name in ("global", "classwise", "rsl"):
            row = out["criteria"][name]
            if row["selected"]:
                assert row["observed_precision"] >= target - 0.01, (name, target, row)
                assert row["predicted_precision"] >= target - 1e-9
            kept[(name, target)] = row["selected"]
        assert len(out["criteria"]["classwise"]["budgets"]) == 10
        assert out["criteria"]["global"]["budgets"] == out["criteria"]["global"]["selected"]
    for name in ("global", "classwise"):
        assert kept[(name, 0.9)] >= kept[(name, 0.95)]
