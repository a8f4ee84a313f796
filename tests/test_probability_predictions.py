"""Confident learning predicted under every model, against its rule run on sampled outputs."""

from __future__ import annotations

import numpy as np
import pytest

from simulations.simulate import Setting, simulate
from theory import noise, precision, probability


@pytest.mark.parametrize(
    ("family", "model", "extra"),
    [("symmetric", "perturbed", {"epsilon": 0.3}), ("pairwise", "perturbed", {"epsilon": 0.1}),
     ("symmetric", "overlap", {"separation": 1.5}), ("pairwise", "overlap", {"separation": 3.0}),
     ("pairwise", "overlap", {"separation": 2.0, "prior": [0.4, 0.3, 0.1, 0.1, 0.1]})],
)  # fmt: skip
def test_confident_prediction_follows_its_rule_on_samples(family, model, extra):
    extra = dict(extra)
    c = len(extra.get("prior", [0] * 10))
    T = noise.named(family, 0.45, c)
    out = simulate(Setting(T=T, model=model, n=50_000, seed=5, cleanlab=False, **extra))
    row = out["criteria"]["confident"]
    assert row["predicted_precision"] is not None
    assert abs(row["difference"]) <= 0.02
    assert abs(row["predicted_recall"] - row["observed_recall"]) <= 0.02


def test_points_rule_reduces_to_the_bayes_rule():
    # one point per class at g = T[i] is g*: the general rule must give the g* prediction
    T = noise.named("pairwise", 0.3, 4)
    p = np.array([0.4, 0.3, 0.2, 0.1])
    pts = [(np.ones(1), T[i][None, :], T[i][None, :]) for i in range(4)]
    got = precision.confident_from_points(pts, p)
    want = precision._confident_bayes(T, p)
    np.testing.assert_allclose(got.kept, want.kept, atol=1e-15)


def test_perturbed_points_are_dirichlet_draws_on_the_simplex():
    T = noise.named("symmetric", 0.2, 3)
    pts = probability.perturbed_points(T, 0.5, 1.0, points=4096)
    G = pts[0][2]
    np.testing.assert_allclose(G.sum(axis=1), 1.0, atol=1e-12)
    # E[D] = 1/c: the mean output is (1 - eps) T[0] + eps / c
    np.testing.assert_allclose(G.mean(axis=0), 0.5 * T[0] + 0.5 / 3, atol=2e-3)
