"""Confident learning and cleanlab's default rule predicted under every model, against the
rules run on sampled outputs (cleanlab itself for the default rule)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from simulations.synthetic.simulate import Setting, simulate
from theory import noise, precision, probability


@pytest.mark.parametrize(
    ("family", "model", "extra"),
    [
        ("symmetric", "perturbed", {"epsilon": 0.3}),
        ("pairwise", "perturbed", {"epsilon": 0.1}),
        ("symmetric", "overlap", {"separation": 1.5}),
        ("pairwise", "overlap", {"separation": 3.0}),
        ("pairwise", "overlap", {"separation": 2.0, "prior": [0.4, 0.3, 0.1, 0.1, 0.1]}),
    ],
)
def test_confident_prediction_follows_its_rule_on_samples(family, model, extra):
    extra = dict(extra)
    c = len(extra.get("prior", [0] * 10))
    T = noise.named(family, 0.45, c)
    out = simulate(Setting(T=T, model=model, n=50_000, seed=5, cleanlab=False, **extra))
    row = out["criteria"]["confident"]
    assert row["predicted_precision"] is not None
    assert abs(row["difference"]) <= 0.02
    assert abs(row["predicted_recall"] - row["observed_recall"]) <= 0.02


@pytest.mark.parametrize(
    ("T", "p"),
    [
        (noise.named("pairwise", 0.3, 4), [0.4, 0.3, 0.2, 0.1]),
        # row 2 reaches none of the thresholds: it keeps every cell
        ([[0.7, 0.0, 0.3], [0.0, 0.7, 0.3], [0.45, 0.45, 0.1]], [1 / 3] * 3),
        # nothing is labelled 1: its threshold is infinite
        ([[1.0, 0.0, 0.0], [0.5, 0.0, 0.5], [0.0, 0.0, 1.0]], [0.5, 0.2, 0.3]),
    ],
)
def test_points_rule_reduces_to_the_bayes_rule(T, p):
    # one point per class at g = T[i] is g*: the general rule must give the g* prediction
    T, p = np.asarray(T, dtype=float), np.asarray(p)
    pts = [(np.ones(1), T[i][None, :], T[i][None, :]) for i in range(len(T))]
    got = precision.confident_from_points(pts, p)
    want = precision._confident_bayes(T, p)
    np.testing.assert_allclose(got.kept, want.kept, atol=1e-15)
    assert np.all(want.kept.sum(axis=1) <= p + 1e-15)


def test_bayes_rule_keeps_a_row_that_reaches_no_threshold():
    T = np.array([[0.7, 0.0, 0.3], [0.0, 0.7, 0.3], [0.45, 0.45, 0.1]])
    got = precision._confident_bayes(T, np.full(3, 1 / 3))
    np.testing.assert_allclose(got.kept[2], T[2] / 3)


def test_perturbed_points_are_dirichlet_draws_on_the_simplex():
    T = noise.named("symmetric", 0.2, 3)
    w, L, G = probability.perturbed_points(T, 0.5, 1.0, points=4096)[0]
    assert len(w) == 4096 and w.sum() == pytest.approx(1.0)
    np.testing.assert_array_equal(L, np.broadcast_to(T[0], (4096, 3)))
    np.testing.assert_allclose(G.sum(axis=1), 1.0, atol=1e-12)
    # E[D] = 1/c: the mean output is (1 - eps) T[0] + eps / c
    np.testing.assert_allclose(G.mean(axis=0), 0.5 * T[0] + 0.5 / 3, atol=2e-3)
    # each coordinate of D = (G - (1 - eps) T[0]) / eps is Beta(alpha, (c - 1) alpha)
    D = (G - 0.5 * T[0]) / 0.5
    for x in (0.05, 0.2, 0.5, 0.8):
        assert np.mean(D[:, 1] <= x) == pytest.approx(stats.beta.cdf(x, 1.0, 2.0), abs=5e-3)


def _samples_as_points(probs, clean, noisy, c):
    """Each sample one point of its true class, labelled with its own noisy label."""
    p = np.bincount(clean, minlength=c) / clean.size
    pts = []
    for i in range(c):
        mine = clean == i
        w = np.full(mine.sum(), 1.0 / max(mine.sum(), 1))
        pts.append((w, np.eye(c)[noisy[mine]], probs[mine]))
    return pts, p


@pytest.mark.parametrize(
    ("family", "prior", "concentration", "seed"),
    [
        ("pairwise", [0.25] * 4, 1.0, 0),
        ("symmetric", [0.2] * 5, 1.0, 1),
        ("structured", [0.1] * 10, 1.0, 2),
        ("pairwise", [0.7, 0.2, 0.1], 0.3, 3),
    ],
)
def test_cleanlab_rule_on_points_is_cleanlab_on_the_same_samples(
    family, prior, concentration, seed
):
    """On points that are the samples themselves, the population rule is cleanlab's own
    ``find_label_issues`` up to its rounding of the prune counts to whole samples. In the
    last case (unequal thresholds, spiky outputs) some prune counts reach past the samples
    whose argmax is another class, so the rule that never flags a sample predicted as its
    own label binds."""
    find_label_issues = pytest.importorskip("cleanlab.filter").find_label_issues
    rng = np.random.default_rng(seed)
    n, c = 20_000, len(prior)
    T = noise.named(family, 0.4, c)
    clean = rng.choice(c, n, p=prior)
    noisy = np.array([rng.choice(c, p=T[i]) for i in clean])
    probs = 0.5 * rng.dirichlet(np.full(c, concentration), n) + 0.5 * T[clean]
    issues = find_label_issues(noisy, probs, n_jobs=1)
    pts, p = _samples_as_points(probs, clean, noisy, c)
    kept, mass = probability.cleanlab_kept(pts, p)
    cells = np.zeros((c, c))
    np.add.at(cells, (clean[~issues], noisy[~issues]), 1.0 / n)
    # each of the c (c - 1) prune counts is rounded to a whole sample
    assert np.abs(kept - cells).sum() <= c * (c - 1) / n
    np.testing.assert_allclose(mass.sum(), 1.0)


@pytest.mark.parametrize(
    ("family", "model", "extra"),
    [
        ("pairwise", "bayes", {}),
        ("symmetric", "perturbed", {"epsilon": 0.3}),
        ("pairwise", "perturbed", {"epsilon": 0.1}),
        ("pairwise", "overlap", {"separation": 2.0}),
        ("symmetric", "overlap", {"separation": 1.5, "prior": [0.4, 0.3, 0.1, 0.1, 0.1]}),
    ],
)
def test_cleanlab_prediction_follows_cleanlab_on_samples(family, model, extra):
    pytest.importorskip("cleanlab")
    extra = dict(extra)
    c = len(extra.get("prior", [0] * 10))
    T = noise.named(family, 0.4, c)
    out = simulate(Setting(T=T, model=model, n=50_000, seed=6, cleanlab=True, **extra))
    row = out["criteria"]["cleanlab"]
    assert row["predicted_precision"] is not None and row["observed_precision"] is not None
    assert abs(row["difference"]) <= 0.02
    assert abs(row["predicted_recall"] - row["observed_recall"]) <= 0.02


def test_top_mass_takes_whole_points_first_and_splits_the_last():
    score = np.array([0.1, 0.9, 0.5, 0.9, 0.3])
    w = np.full(5, 0.2)
    # stable order, largest first: 1, 3, 2, 4, 0; 0.5 of mass is 2.5 points
    got = probability._top_mass(score, w, 0.5, unit=0.2)
    np.testing.assert_allclose(got, [0.0, 1.0, 0.5, 1.0, 0.0])
    # the partial path (few leading candidates) agrees with a full sort on many points
    rng = np.random.default_rng(3)
    score, w = rng.random(5000), rng.uniform(0.5, 1.5, 5000) / 5000
    full = probability._top_mass(score, w, 0.3, unit=1e-9)  # r beyond the points: full sort
    part = probability._top_mass(score, w, 0.3, unit=1.0)  # r starts at 18 and doubles
    np.testing.assert_allclose(part, full)
    assert (full * w).sum() == pytest.approx(0.3)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.floats(0.01, 0.99))
def test_top_mass_with_ties_is_the_full_stable_sort(seed, values, need):
    # margins repeat across classes that share one Sobol rule: ties at the cut are the rule
    rng = np.random.default_rng(seed)
    score = rng.integers(0, values, 3000) / values
    w = rng.uniform(0.5, 1.5, 3000)
    w /= w.sum()
    order = np.argsort(-score, kind="stable")
    before = np.cumsum(w[order]) - w[order]
    expected = np.zeros(3000)
    expected[order] = np.clip((need - before) / w[order], 0.0, 1.0)
    for unit in (1.0, 1e-3, 1e-9):  # r from 18 upwards, and a full sort at once
        np.testing.assert_array_equal(probability._top_mass(score, w, need, unit), expected)


@pytest.mark.parametrize("recipe", ["part-dependent", "pmd-1", "margin"])
def test_cleanlab_prediction_follows_cleanlab_under_instance_noise(recipe):
    pytest.importorskip("cleanlab")
    out = simulate(
        Setting(
            T=np.eye(5),
            model="overlap",
            separation=3.0,
            noise=recipe,
            rate=0.3,
            n=50_000,
            seed=2,
            cleanlab=True,
        )
    )
    for name in ("confident", "cleanlab"):
        row = out["criteria"][name]
        assert row["predicted_precision"] is not None
        assert abs(row["difference"]) <= 0.02, (name, row)


def test_overlap_points_carry_unit_weight_and_the_asked_size():
    T = noise.named("pairwise", 0.3, 3)
    for w, _, G in probability.overlap_class_points(T, 2.0, np.full(3, 1 / 3), points=512):
        assert len(w) == 512 and w.sum() == pytest.approx(1.0)
        np.testing.assert_allclose(G.sum(axis=1), 1.0)


def test_cleanlab_prediction_reads_the_model():
    # perturbed outputs move samples across cleanlab's thresholds; g* (epsilon 0) does not
    T, p = noise.named("symmetric", 0.4, 4), np.full(4, 0.25)

    def predict(model, eps):
        pts = precision._output_points(T, p, model, eps, 1.0, 1.0)
        return precision.cleanlab_from_points(pts, p)

    star = predict("bayes", 0.0)
    assert predict("perturbed", 0.0).kept.tolist() == star.kept.tolist()
    noisy = predict("perturbed", 0.6)
    assert star.precision == pytest.approx(1.0) and noisy.precision < 0.9


def test_g_star_confident_rule_keeps_a_row_that_reaches_no_threshold():
    # class 0's outputs (uniform) sit below every column's threshold, each column being
    # dominated by another class: no class is confident, so class 0's samples are all kept
    c = 6
    T = np.zeros((c, c))
    T[0] = 1 / c
    for k in range(1, c):
        T[k, k - 1], T[k, c - 1] = 0.8, 0.2
    p = np.full(c, 1 / c)
    got = precision.predict_all(T, p, "bayes", fractions=np.ones(c), n=10_000, cleanlab=False)
    points = [(np.ones(1), T[i][None], T[i][None]) for i in range(c)]
    kept, mass = probability.confident_kept(points, p)
    np.testing.assert_allclose(got["confident"].kept, kept, atol=1e-15)
    np.testing.assert_allclose(kept[0], mass[0])  # the whole of row 0
