"""The target search's envelopes: a knot's level exactly without replacement, the design's
choice blind to which items are probes, and the whole search (design included) valid on
draws from a generator written here, with no T: class-dependent noise, 10:1 imbalance,
uninformative scores, about 18 mislabelled probes, at 10 and 100 classes."""

import numpy as np
import pytest
from scipy.stats import nbinom
from selection.test_bounds import _exact_crossing_without_replacement

from simulations.selection import bounds, envelope


@pytest.mark.parametrize(("n", "R", "level", "j"), [(50, 1_000, 0.5, 512), (20, 800, 0.8, 8)])
def test_a_knot_holds_where_the_walk_with_replacement_does_not(n, R, level, j):
    # many probes, few training samples: the negative binomial quantile alone is crossed
    # more often than 1 - L without replacement; the knot raises it until it is not
    p = R / (n + R)
    plain = np.full(j + 1, nbinom.ppf(level, j + 1, p))
    assert _exact_crossing_without_replacement(plain, n, R) > 1 - level
    u = envelope.knot(n, R, level, j)
    assert _exact_crossing_without_replacement(u, n, R) <= 1 - level + 1e-12


@pytest.mark.parametrize(
    ("n", "R", "level", "j"), [(3_000, 60, 0.9, 0), (3_000, 100, 0.9, 2), (1_257, 90, 0.5, 4)]
)
def test_a_knot_holds_exactly_without_replacement(n, R, level, j):
    u = envelope.knot(n, R, level, j)
    assert _exact_crossing_without_replacement(u, n, R) <= 1 - level + 1e-9
    # its count is the negative binomial quantile: one lower and that law crosses it too often
    p = R / (n + R)
    assert nbinom.cdf(u[0] - 1, j + 1, p) < level <= nbinom.cdf(u[0], j + 1, p)


def _world(rng, n, R, c, shift, imbalance=10.0, rate=0.3):
    N = n + R
    prior = np.geomspace(imbalance, 1.0, c)
    prior /= prior.sum()
    clean = rng.choice(c, N, p=prior)
    rates = np.linspace(rate / 2, 3 * rate / 2, c)[rng.permutation(c)]
    flip = rng.random(N) < rates[clean]
    nxt = np.where(rng.random(N) < 0.7, 1, 1 + rng.integers(0, c - 1, N))
    noisy = np.where(flip, (clean + nxt) % c, clean)
    scores = np.exp(rng.normal(np.where(noisy != clean, shift, 0.0), 1.0))
    probe = np.zeros(N, bool)
    probe[rng.choice(N, R, replace=False)] = True
    t, p = ~probe, probe
    counts = bounds.Counts(scores[t], noisy[t], scores[p], clean[p], noisy[p], c)
    return counts, clean[t] != noisy[t]


def test_the_design_never_reads_which_items_are_probes():
    rng = np.random.default_rng(3)
    counts, _ = _world(rng, 3_000, 100, 10, 1.5)
    pooled = np.concatenate([counts.scores, counts.probe_scores])
    noisy = np.concatenate([counts.noisy, counts.probe_noisy])
    rows = []
    for seed in range(3):  # the same pool, other items as probes (their labels as drawn)
        probe = np.zeros(pooled.size, bool)
        probe[np.random.default_rng(seed).choice(pooled.size, 100, replace=False)] = True
        c = bounds.Counts(
            pooled[~probe], noisy[~probe], pooled[probe], noisy[probe], noisy[probe], 10
        )
        bt, bp = c._working()
        both = np.empty(pooled.size)
        both[~probe], both[probe] = bt, bp
        rows.append(both)
        for how in ("global", "scaled"):
            row = (
                c.largest_global(0.9, 0.9)
                if how == "global"
                else c.largest_scaled(np.ones(10), 0.9, 0.9)
            )
            rows.append(row["envelope"])
    assert all(np.allclose(rows[0], r) for r in rows[3::3])
    assert rows[1] == rows[4] == rows[7] and rows[2] == rows[5] == rows[8]


@pytest.mark.parametrize(("n", "R", "c"), [(4_000, 60, 10), (10_000, 60, 100)])
def test_the_search_is_valid_without_T_after_every_choice(n, R, c):
    # shares equal for every class: what analyse scales when T came from the probes
    rng = np.random.default_rng(c)
    draws, P, L = 300, 0.9, 0.9
    ok = {"global": 0, "classwise": 0}
    for _ in range(draws):
        counts, bad = _world(rng, n, R, c, shift=0.0)
        rows = {
            "global": counts.largest_global(P, L),
            "classwise": counts.largest_scaled(np.ones(c), P, L),
        }
        for name, row in rows.items():
            m = row["mask"]
            ok[name] += (not m.any()) or (1 - bad[m].mean()) >= P
    need = L - 2 * np.sqrt(L * (1 - L) / draws)
    assert min(ok.values()) / draws >= need, ok


def test_a_knot_keeps_more_than_the_band_where_probes_are_few():
    # informative scores, 30% noise, about 18 mislabelled probes: the band spends its error on
    # counts the search never stops at; the design picks a knot and keeps more, still valid
    rng = np.random.default_rng(11)
    kept = {"band": [], "design": []}
    fail = {"band": 0, "design": 0}
    n, R, draws = 4_000, 60, 100
    for _ in range(draws):
        bad = rng.random(n + R) < 0.3
        scores = np.exp(rng.normal(np.where(bad, 1.5, 0.0), 1.0))
        probe = np.zeros(n + R, bool)
        probe[rng.choice(n + R, R, replace=False)] = True
        zeros = np.zeros(n + R, np.int64)
        counts = bounds.Counts(
            scores[~probe], zeros[~probe], scores[probe], bad[probe].astype(int), zeros[probe], 1
        )
        for how in kept:
            m = counts.largest_global(0.9, 0.9, how)["mask"]
            kept[how].append(m.sum())
            fail[how] += m.any() and (1 - bad[~probe][m].mean()) < 0.9
    assert np.mean(kept["design"]) > 1.3 * np.mean(kept["band"]), kept
    assert fail["design"] <= 0.1 * draws + 2 * np.sqrt(0.09 * draws)


def test_the_working_posterior_is_the_mixtures_own():
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(4)
    x = np.exp(rng.normal(np.where(rng.random(20_000) < 0.3, 1.5, 0.0), 1.0))
    got = envelope.working_badness(x)
    logs = np.log(x)
    sub = np.sort(logs)[np.linspace(0, logs.size - 1, envelope.WORKING_SIZE).astype(int)]
    gm = GaussianMixture(
        2, covariance_type="tied", random_state=0, reg_covar=1e-6 * np.var(sub)
    ).fit(sub[:, None])
    want = gm.predict_proba(logs[:, None])[:, int(np.argmax(gm.means_.ravel()))]
    np.testing.assert_allclose(got, want, atol=1e-9)
    # the same values in another order give the same posteriors, item by item
    order = rng.permutation(x.size)
    np.testing.assert_allclose(envelope.working_badness(x[order]), got[order], atol=1e-12)
