"""The precision module's building blocks against straight references written in the tests:
the weighted 2-means split, DivideMix's EM, confident learning under g*, RSL's budgets."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import noise, precision, rsl
from theory.errors import InputError
from theory.losses import cell_laws


def brute_two_means(x, w):
    """Every split of the distinct sorted values into a lower and an upper group; the one
    with the least weighted within-group sum of squares (the first, on ties)."""
    values = np.unique(x)
    best, best_cut = np.inf, None
    for cut in values[:-1]:
        lower = x <= cut
        if w[lower].sum() <= 0 or w[~lower].sum() <= 0:
            continue
        sse = 0.0
        for g in (lower, ~lower):
            m = (w[g] * x[g]).sum() / w[g].sum()
            sse += (w[g] * (x[g] - m) ** 2).sum()
        if sse < best - 1e-9:
            best, best_cut = sse, cut
    return None if best_cut is None else x <= best_cut


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 12), min_size=2, max_size=25),
    st.lists(st.integers(1, 9), min_size=25, max_size=25),
)
def test_two_means_is_the_best_split(xs, ws):
    x = np.array(xs, dtype=float) / 3.0
    w = np.array(ws[: len(xs)], dtype=float)
    r = precision._two_means(x, w)
    assert r.shape == (x.size, 2)
    np.testing.assert_array_equal(r.sum(1), 1.0)
    want = brute_two_means(x, w)
    if want is None:  # a single distinct value: half and half by position
        assert r[:, 0].sum() == x.size // 2
    else:
        np.testing.assert_array_equal(r[:, 0] == 1, want)


def test_two_means_ignores_zero_weight_groups():
    x = np.array([0.0, 1.0, 5.0, 6.0, 100.0])
    w = np.array([1.0, 1.0, 1.0, 1.0, 0.0])
    np.testing.assert_array_equal(precision._two_means(x, w)[:, 0], [1, 1, 0, 0, 0])


def reference_em(x, w, iters=10, tol=1e-2, reg=5e-4):
    """DivideMix's fit (sklearn GaussianMixture: 10 iterations, tol 1e-2, reg 5e-4) written
    out on weighted points, starting from the brute-force 2-means split."""
    w = w / w.sum()
    lower = brute_two_means(x, w)
    resp = np.stack([lower, ~lower], 1).astype(float)
    prev = -np.inf
    for step in range(iters + 1):
        pi = np.array([(resp[:, k] * w).sum() for k in range(2)])
        mu = np.array([(resp[:, k] * w * x).sum() / pi[k] for k in range(2)])
        var = np.array([(resp[:, k] * w * (x - mu[k]) ** 2).sum() / pi[k] + reg for k in range(2)])
        if step == iters:
            break
        dens = np.stack(
            [pi[k] * np.exp(-0.5 * (x - mu[k]) ** 2 / var[k]) / np.sqrt(2 * np.pi * var[k])
             for k in range(2)], 1)  # fmt: skip
        ll = float(w @ np.log(dens.sum(1)))
        resp = dens / dens.sum(1, keepdims=True)
        if abs(ll - prev) < tol:
            break
        prev = ll
    return pi, mu, var


@pytest.mark.parametrize("seed", range(6))
def test_weighted_em_matches_the_reference(seed):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(0.2, 0.05, 40), rng.normal(0.6, 0.15, 25)])
    w = rng.uniform(0.5, 2.0, x.size)
    want = reference_em(x, w)
    for a, b in zip(precision._weighted_em(x, w), want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    for kw in ({"iters": 0}, {"iters": 2, "tol": 0.0}, {"iters": 5, "tol": 0.0}, {"reg": 1e-2}):
        for a, b in zip(precision._weighted_em(x, w, **kw), reference_em(x, w, **kw), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    # the defaults are DivideMix's: a larger floor gives another fit
    assert not np.allclose(precision._weighted_em(x, w, reg=1e-2)[2], want[2], atol=1e-6)


def confident_reference(T, p, n_per_cell=1000):
    """Confident learning run item by item on a population where each item's predicted
    probabilities are its row of T (g*): thresholds are the mean self-confidence per label,
    an item is flagged when the most likely of the classes over their threshold is another
    label."""
    c = len(T)
    items = [(i, j) for i in range(c) for j in range(c) if p[i] * T[i, j] > 0]
    weight = {(i, j): p[i] * T[i, j] for i, j in items}
    t = np.full(c, np.inf)
    for j in range(c):
        cell = [(i, jj) for i, jj in items if jj == j]
        if cell:
            t[j] = sum(weight[k] * T[k[0], j] for k in cell) / sum(weight[k] for k in cell)
    kept = np.zeros((c, c))
    for i, j in items:
        above = [k for k in range(c) if T[i, k] >= t[k]]
        if not above or max(above, key=lambda k: T[i, k]) == j:
            kept[i, j] = weight[(i, j)]
    clean = np.trace(kept)
    return clean / kept.sum(), clean / np.trace(p[:, None] * T)


@pytest.mark.parametrize("seed", range(8))
def test_confident_bayes_matches_item_by_item(seed):
    rng = np.random.default_rng(seed)
    c = int(rng.integers(2, 6))
    T = noise.random_transition(c, rng.uniform(0.0, 0.4), seed=seed)
    p = rng.dirichlet(np.ones(c))
    got = precision._confident_bayes(T, p)
    prec, rec = confident_reference(T, p)
    assert got.precision == pytest.approx(prec, abs=1e-12)
    assert got.recall == pytest.approx(rec, abs=1e-12)


def test_confident_bayes_flags_a_flip_into_a_weaker_column():
    # class 1's items labelled 0 have p_1 = 0.9 above class 1's threshold: flagged
    T = np.array([[0.8, 0.2], [0.1, 0.9]])
    pred = precision._confident_bayes(T, np.array([0.5, 0.5]))
    assert pred.kept[1, 0] == 0 and pred.kept[0, 0] == pytest.approx(0.4)
    assert pred.precision == pytest.approx(1.0)


def test_rsl_fractions_are_num_over_the_observed_class():
    T = noise.named("pairwise", 0.3, 4)
    p = np.array([0.4, 0.3, 0.2, 0.1])
    n = p @ T
    eta = precision._class_noise_rates(T, p)
    want = rsl.num(n, eta, p, rsl.BETA, "mid") / n
    np.testing.assert_allclose(precision.rsl_fractions(T, p), want, rtol=1e-12)
    assert not np.allclose(precision.rsl_fractions(T, p, beta=0.5), want)
    # an observed class nobody is labelled as keeps nothing, and no NaN
    T0 = np.array([[1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_array_equal(precision.rsl_fractions(T0, [0.5, 0.5])[1], 0.0)


def test_per_class_and_global_use_the_given_prior():
    T = noise.named("pairwise", 0.3, 3)
    p = np.array([0.6, 0.3, 0.1])
    laws = cell_laws(T, "perturbed", epsilon=0.3, prior=p)
    f = precision.oracle_fractions(T, p)
    a = precision.per_class(laws, T, p, f)
    b = precision.per_class(laws, T, None, f)
    assert a.precision != pytest.approx(b.precision)
    g = precision.global_(laws, T, p, float((p @ T) @ f))
    assert g.selected_fraction == pytest.approx(float((p @ T) @ f), rel=1e-6)
    with pytest.raises(InputError):
        precision.per_class(laws, T, [0.5, 0.5], f)
