"""The precision module's building blocks against straight references written in the tests:
the weighted 2-means split, DivideMix's EM, confident learning under g*, RSL's budgets."""

import numpy as np
import pytest
from hypothesis import given, settings
from strategies import weighted_points

from theory import losses, noise, precision, probability, rsl
from theory.errors import InputError
from theory.losses import cell_laws


def _sse(x, w, lower):
    total = 0.0
    for g in (lower, ~lower):
        m = (w[g] * x[g]).sum() / w[g].sum()
        total += (w[g] * (x[g] - m) ** 2).sum()
    return total


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
@given(weighted_points(2, 25, top=12, step=1 / 3, max_weight=9))
def test_two_means_is_the_best_split(points):
    x, w = points
    r = precision._two_means(x, w)
    assert r.shape == (x.size, 2)
    np.testing.assert_array_equal(r.sum(1), 1.0)
    want = brute_two_means(x, w)
    if want is None:  # a single distinct value: half and half by position
        assert r[:, 0].sum() == x.size // 2
    else:
        got = r[:, 0] == 1
        assert x[got].max() < x[~got].min()  # a cut of the sorted values
        # the least sum of squares; splits that tie up to rounding are equally right
        assert _sse(x, w, got) == pytest.approx(_sse(x, w, want), abs=1e-9)


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
            [
                pi[k] * np.exp(-0.5 * (x - mu[k]) ** 2 / var[k]) / np.sqrt(2 * np.pi * var[k])
                for k in range(2)
            ],
            1,
        )
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


def reference_gmm(laws, T, p, n):
    """DivideMix's selection on the population, cell by cell: losses min-max normalised by
    the expected extremes of n samples, the reference fit on every cell's quantile atoms,
    keep the points more likely under the low-mean component."""
    from theory.losses import Mixture

    c = len(T)
    cells = [(i, j) for j in range(c) for i in range(c) if laws[i][j] is not None and T[i, j] > 0]
    mass = {(i, j): p[i] * T[i, j] for i, j in cells}
    mix = Mixture([laws[i][j] for i, j in cells], [mass[k] for k in cells])
    lo, hi = mix.ppf(1.0 / (n + 1)), mix.ppf(n / (n + 1.0))
    xs, ws, owner = [], [], []
    for k in cells:
        v, w = laws[k[0]][k[1]].quantile_atoms()
        xs.append((v - lo) / (hi - lo))
        ws.append(w * mass[k])
        owner += [k] * v.size
    x, w = np.concatenate(xs), np.concatenate(ws)
    pi, mu, var = reference_em(x, w)
    dens = pi * np.exp(-0.5 * (x[:, None] - mu) ** 2 / var) / np.sqrt(var)
    keep = dens[:, np.argmin(mu)] > dens[:, 1 - np.argmin(mu)]
    kept = np.zeros((c, c))
    for k, wk, ok in zip(owner, w, keep, strict=True):
        kept[k] += wk * ok
    return kept


@pytest.mark.parametrize(
    "model, kw, prior",
    [
        ("perturbed", {"epsilon": 0.4}, [0.5, 0.3, 0.2]),
        ("perturbed", {"epsilon": 0.2, "alpha": 2.0}, None),
        ("overlap", {"separation": 1.5}, [0.2, 0.3, 0.5]),
        ("bayes", {"sd": 0.3}, [0.6, 0.2, 0.2]),
    ],
)
def test_gmm_prediction_matches_the_reference(model, kw, prior):
    T = noise.named("pairwise", 0.35, 3)
    p = np.full(3, 1 / 3) if prior is None else np.array(prior)
    laws = cell_laws(T, model, prior=p, qmc_points=512, **kw)
    got = precision.gmm(laws, T, p, 5000)
    np.testing.assert_allclose(got.kept, reference_gmm(laws, T, p, 5000), atol=1e-9)


def test_binned_points_keep_mass_and_mean_and_move_less_than_a_bin():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(0.2, 0.05, 30_000), rng.normal(0.7, 0.2, 20_000)])
    w = rng.random(x.size)
    bx, bw = precision._binned(x, w, bins=1000)
    assert bx.size <= 1000 and np.all(bw > 0)
    assert bw.sum() == pytest.approx(w.sum(), rel=1e-12)
    assert bx @ bw == pytest.approx(x @ w, rel=1e-12)
    # each merged point lies between the smallest and largest point of its own bin, which is
    # at most one bin wide (outputs come in bin order, one per non-empty bin)
    width = (x.max() - x.min()) / 1000
    k = np.minimum(((x - x.min()) // width).astype(int), 999)
    low, high = np.full(1000, np.inf), np.full(1000, -np.inf)
    np.minimum.at(low, k, x)
    np.maximum.at(high, k, x)
    full = np.isfinite(low)
    assert bx.size == full.sum()
    assert np.all(low[full] - 1e-12 <= bx) and np.all(bx <= high[full] + 1e-12)
    assert np.all(high[full] - low[full] <= width + 1e-12)
    small = rng.random(50)
    assert precision._binned(small, np.ones(50), bins=1000)[0] is small  # nothing to merge


@pytest.mark.parametrize(
    "model, kw", [("overlap", {"separation": 1.5}), ("perturbed", {"epsilon": 0.3})]
)
def test_gmm_prediction_on_binned_points_matches_the_reference(monkeypatch, model, kw):
    """With fewer bins than points the fit runs on merged points; the decision still agrees
    with the reference fit on every point to within a few points' mass at the boundary."""
    monkeypatch.setattr(precision, "GMM_BINS", 256)
    T = noise.named("pairwise", 0.35, 3)
    p = np.array([0.5, 0.3, 0.2])
    laws = cell_laws(T, model, prior=p, qmc_points=512, **kw)
    got = precision.gmm(laws, T, p, 5000)
    want = reference_gmm(laws, T, p, 5000)
    np.testing.assert_allclose(got.kept, want, atol=3 / 512)
    assert got.precision == pytest.approx(np.trace(want) / want.sum(), abs=2e-3)


def test_gmm_on_a_sample_agrees_with_sklearn():
    """Independent evidence: DivideMix's own recipe (sklearn's GaussianMixture) on 40,000
    sampled losses selects what the population prediction says, to sampling error."""
    from sklearn.mixture import GaussianMixture

    T = noise.named("pairwise", 0.35, 3)
    p = np.array([0.5, 0.3, 0.2])
    laws = cell_laws(T, "perturbed", epsilon=0.4, prior=p)
    rng = np.random.default_rng(0)
    n = 40_000
    clean = rng.choice(3, n, p=p)
    noisy = np.array([rng.choice(3, p=T[i]) for i in clean])
    loss = np.empty(n)
    for i in range(3):
        for j in range(3):
            m = (clean == i) & (noisy == j)
            if m.any():
                loss[m] = laws[i][j].rvs(m.sum(), random_state=rng)
    x = ((loss - loss.min()) / (loss.max() - loss.min()))[:, None]
    gm = GaussianMixture(2, max_iter=10, tol=1e-2, reg_covar=5e-4, random_state=0).fit(x)
    keep = gm.predict_proba(x)[:, gm.means_.argmin()] > 0.5
    predicted = precision.gmm(laws, T, p, n)
    assert (clean == noisy)[keep].mean() == pytest.approx(predicted.precision, abs=0.01)
    assert keep.mean() == pytest.approx(predicted.selected_fraction, abs=0.02)


def test_predict_all_defaults_and_the_epoch_mean():
    T = noise.named("pairwise", 0.3, 3)
    p = np.array([0.5, 0.3, 0.2])
    f = precision.oracle_fractions(T, p)
    plain = precision.predict_all(T, p, fractions=f, n=1000)
    defaults = {
        "epsilon": 0.0,
        "separation": 1.0,
        "alpha": 1.0,
        "sigma": 0.0,
        "rho": 0.0,
        "epochs": 1,
    }
    explicit = precision.predict_all(T, p, "bayes", fractions=f, n=1000, **defaults)
    assert set(plain) == {"global", "classwise", "rsl", "gmm", "confident", "cleanlab"}
    for k in plain:
        assert plain[k].precision == explicit[k].precision
    assert plain["confident"] is not None and plain["cleanlab"] is not None
    without = precision.predict_all(T, p, fractions=f, n=1000, cleanlab=False)
    assert without["cleanlab"] is None
    assert without["confident"].precision == plain["confident"].precision
    # with epoch noise the single-epoch laws carry sigma, RSL's mean-loss laws the epoch spread
    got = precision.predict_all(T, p, fractions=f, n=1000, sigma=0.4, rho=0.2, epochs=5)
    sd = losses.epoch_sd(0.4, 0.2, 5)
    # confident learning reads the outputs, which the epoch fluctuation of the losses leaves alone
    assert got["confident"].precision == plain["confident"].precision
    single = cell_laws(T, prior=p, sd=0.4)
    mean = cell_laws(T, prior=p, sd=sd)
    want = precision.per_class(single, T, p, f).precision
    assert got["classwise"].precision == pytest.approx(want)
    rsl_f = precision.rsl_fractions(T, p)
    assert got["rsl"].precision == pytest.approx(precision.per_class(mean, T, p, rsl_f).precision)
    other = precision.predict_all(T, p, "perturbed", fractions=f, n=10, epsilon=0.2)
    pts = probability.perturbed_points(T, 0.2, 1.0)
    assert other["confident"].precision == precision.confident_from_points(pts, p).precision


def test_confident_bayes_ties_and_empty_columns():
    # column 0 receives only class 0, so its threshold is T[0, 0] itself: a tie counts as above
    T = np.array([[0.8, 0.2], [0.0, 1.0]])
    pred = precision._confident_bayes(T, np.array([0.5, 0.5]))
    assert pred.kept[0, 1] == 0.0 and pred.kept[0, 0] == pytest.approx(0.4)
    # nobody is observed as class 1: its threshold is infinite, never reached
    T = np.array([[1.0, 0.0], [1.0, 0.0]])
    pred = precision._confident_bayes(T, np.array([0.5, 0.5]))
    assert pred.kept[1, 0] == pytest.approx(0.5) and pred.precision == pytest.approx(0.5)


def test_weighted_em_stays_finite_where_every_density_underflows():
    # a point midway between two tight clusters 40 apart has log-density near -4e5 under both
    # components: its responsibilities must come from the log-densities' differences
    x = np.concatenate([np.zeros(50), np.full(50, 40.0), [20.0]])
    w = np.ones(x.size)
    w[-1] = 1e-9  # too light to widen either component
    pi, mu, var = precision._weighted_em(x, w)
    assert np.all(np.isfinite(pi)) and np.all(np.isfinite(mu)) and np.all(np.isfinite(var))
    np.testing.assert_allclose(np.sort(mu), [0.0, 40.0], atol=1e-6)
    np.testing.assert_allclose(var, 5e-4, rtol=1e-3)
