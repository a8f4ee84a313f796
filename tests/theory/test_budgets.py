"""Budgets for a target precision: the search, and simulation keeping what it promises."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulations.selection import rules
from simulations.selection.keep import parse_keep
from simulations.synthetic.simulate import Setting, simulate
from theory import noise, precision
from theory.budgets import TargetBudgets, largest_share, target_budgets
from theory.errors import InputError
from theory.losses import cell_laws


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
    [
        ("symmetric", "perturbed", {"epsilon": 0.3}),
        ("pairwise", "overlap", {"separation": 2.0}),
        ("pairwise", "bayes", {}),
    ],
)
def test_target_budgets_keep_their_promise(family, model, extra):
    T = noise.named(family, 0.45, 10)
    kept = {}
    for target in (0.9, 0.95):
        out = simulate(
            Setting(
                T=T, model=model, n=30_000, keep=f"target:{target}", seed=3, cleanlab=False, **extra
            )
        )
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


def test_each_target_budget_is_the_largest_that_reaches_the_target():
    prior = np.array([0.4, 0.3, 0.2, 0.1])
    T = noise.named("pairwise", 0.4, 4)
    laws = cell_laws(T, "perturbed", epsilon=0.3, prior=prior)
    b = target_budgets(laws, laws, T, prior, 0.95)
    step = 0.02

    def column(j, f):
        fr = np.zeros(4)
        fr[j] = f
        kept = precision.per_class(laws, T, prior, fr).kept
        return kept[j, j] / kept[:, j].sum()

    assert np.all(b.classwise > 0.1)
    for j, f in enumerate(b.classwise):
        assert column(j, f) >= 0.95 - 1e-9
        assert f + step > 1 or column(j, f + step) < 0.95
    g = precision.global_(laws, T, prior, b.global_fraction).precision
    assert b.global_fraction > 0.1 and g >= 0.95 - 1e-9
    assert precision.global_(laws, T, prior, b.global_fraction + step).precision < 0.95
    base = precision.rsl_fractions(T, prior)
    assert 0 < b.rsl_scale < 1
    np.testing.assert_allclose(b.rsl, b.rsl_scale * base)
    assert precision.per_class(laws, T, prior, b.rsl).precision >= 0.95 - 1e-9
    assert precision.per_class(laws, T, prior, (b.rsl_scale + step) * base).precision < 0.95
    # the prior weighs the cells: another prior, other budgets
    flat = cell_laws(T, "perturbed", epsilon=0.3)
    uniform = target_budgets(flat, flat, T, None, 0.95)
    assert not np.allclose(uniform.classwise, b.classwise)
    with pytest.raises(InputError, match="target precision"):
        target_budgets(laws, laws, T, prior, 1.5)


def test_budget_counts_floor_each_class_share_without_losing_a_sample_to_rounding():
    b = TargetBudgets(0.9, 0.3, np.array([0.29, 0.5]), 0.5, np.array([0.57, 0.25]))
    per_class, total, rsl = b.counts([100, 200])
    # 0.29 * 100 and 0.57 * 100 are a hair below 29 and 57 in floating point
    assert per_class.tolist() == [29, 100] and per_class.dtype == np.int64
    assert total == 90 and isinstance(total, int)
    assert rsl.tolist() == [57, 50] and rsl.dtype == np.int64


def test_a_class_nobody_is_labelled_keeps_nothing():
    T = np.array([[1.0, 0.0, 0.0], [0.5, 0.0, 0.5], [0.0, 0.0, 1.0]])
    laws = cell_laws(T, "perturbed", epsilon=0.3)
    b = target_budgets(laws, laws, T, None, 0.9)
    assert b.target == 0.9
    assert b.classwise[1] == 0.0 and b.classwise[0] > 0 and b.classwise[2] > 0


@given(
    losses=st.lists(st.integers(0, 6), min_size=1, max_size=40),
    data=st.data(),
    precision_=st.floats(0.0, 1.0),
)
def test_kept_at_precision_is_the_longest_prefix_that_clean(losses, data, precision_):
    is_clean = np.array(
        data.draw(st.lists(st.booleans(), min_size=len(losses), max_size=len(losses)))
    )
    order = np.argsort(np.asarray(losses, dtype=float), kind="stable")
    best = 0
    for k in range(1, len(losses) + 1):  # the naive loop: every prefix of the ranking
        if is_clean[order[:k]].sum() / k >= precision_:
            best = k
    assert rules.kept_at_precision(losses, is_clean, precision_) == best


def test_a_target_sits_beside_coteaching_on_the_same_losses():
    T = noise.named("pairwise", 0.4, 10)
    s = Setting(
        T=T, model="overlap", separation=2.0, n=20_000, keep="target:0.95", seed=5, cleanlab=False
    )
    out = simulate(s)["criteria"]
    rule = out["coteaching_rule"]
    assert rule["budgets"] == rule["selected"] == 12_000  # keeps 1 - 0.4 of 20,000
    assert 0 < rule["observed_precision"] < 0.95 - 0.1  # pairwise 40%: the fixed rate is dirty
    assert abs(rule["predicted_precision"] - rule["observed_precision"]) < 0.02
    for name in ("global", "classwise", "rsl"):
        row = out[name]
        # a global ranking at its own precision keeps at least what it kept
        at_equal = row["coteaching_kept_at_equal_precision"]
        if name == "global":
            assert at_equal >= row["selected"]
        assert 0 < at_equal < rule["selected"]
