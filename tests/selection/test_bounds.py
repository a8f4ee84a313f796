"""Precision counted from probes, with no T and no clean training label: the hypergeometric
bounds against their definition and against the exact law of the counts, the simultaneous
band against sampling without replacement, and the whole target search against 1,000 draws
per setting of the exchangeable model (training samples and probes drawn alike)."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import gammaln
from scipy.stats import hypergeom, nbinom

from simulations.cli import main
from simulations.selection import bounds
from simulations.selection.scores import mean_loss
from simulations.synthetic import exchangeable
from theory import noise, precision
from theory.errors import InputError

ARGV = [
    "train",
    "--dataset",
    "digits",
    "--noise",
    "pairwise",
    "--rate",
    "0.2",
    "--classes",
    "10",
    "--epochs",
    "3",
    "--stage2-epochs",
    "1",
    "--cv",
    "0",
    "--json",
]


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(1, 3_000),
    R=st.integers(1, 300),
    data=st.data(),
    alpha=st.floats(0.01, 0.6),
)
def test_the_upper_bound_is_the_largest_count_the_probes_allow(n, R, data, alpha):
    y = data.draw(st.integers(0, R))
    S = int(bounds.bad_upper(y, n, R, alpha)) + y
    assert y <= S <= n + y
    assert hypergeom.cdf(y, n + R, S, R) >= alpha
    if n + y > S:  # one more mislabelled sample kept would make seeing y or fewer too rare
        assert hypergeom.cdf(y, n + R, S + 1, R) < alpha


@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 3_000), R=st.integers(1, 300), data=st.data(), alpha=st.floats(0.01, 0.6))
def test_the_lower_bound_is_the_smallest_count_the_probes_allow(n, R, data, alpha):
    y = data.draw(st.integers(0, R))
    S = int(bounds.bad_lower(y, n, R, alpha)) + y
    assert y <= S <= n + y
    assert hypergeom.sf(y - 1, n + R, S, R) >= alpha
    if y < S:
        assert hypergeom.sf(y - 1, n + R, S - 1, R) < alpha


@settings(max_examples=40, deadline=None)
@given(n=st.integers(20, 2_000), R=st.integers(5, 200), data=st.data(), alpha=st.floats(0.02, 0.5))
def test_the_bounds_cover_the_kept_count_at_their_level(n, R, data, alpha):
    # exact: sum the law of y over every count whose bound holds, at a fixed threshold that
    # keeps S mislabelled items of the n + R, y of them probes
    S = data.draw(st.integers(0, n + R))
    y = np.arange(max(0, S - n), min(R, S) + 1)
    pmf = hypergeom.pmf(y, n + R, S, R)
    N = S - y  # the mislabelled training samples kept
    assert pmf[bounds.bad_upper(y, n, R, alpha) >= N].sum() >= 1 - alpha - 1e-9
    assert pmf[bounds.bad_lower(y, n, R, alpha) <= N].sum() >= 1 - alpha - 1e-9


def test_a_prediction_is_its_count_and_its_interval():
    n, R, kept, y = 2_000, 200, 1_000, 6
    got = bounds.predict(kept, y, n, R, 40, level=0.8, confidence=0.9)
    assert got.point == pytest.approx(1 - y * n / R / kept)
    assert got.low == pytest.approx(1 - bounds.bad_upper(y, n, R, 0.1) / kept)
    assert got.high == pytest.approx(1 - bounds.bad_lower(y, n, R, 0.1) / kept)
    # a one-sided bound at 0.9 is the low end of the two-sided interval at 0.8
    assert got.bound == got.low
    assert got.low < got.point < got.high
    assert (got.kept_bad_probes, got.bad_probes) == (6, 40)
    empty = bounds.predict(0, 0, n, R, 40)
    assert (empty.point, empty.low, empty.high, empty.bound) == (None, None, None, None)


def test_counting_needs_training_samples_and_probes():
    with pytest.raises(InputError, match="probes"):
        bounds.bad_upper(0, 100, 0, 0.1)


@pytest.mark.parametrize("p", [0.02, 0.1, 0.4])
def test_the_walk_crosses_as_its_steps_say(p):
    # one step: the failures before the first success exceed u with probability (1 - p)^(u + 1)
    assert bounds._crossing(np.array([7.0]), p) == pytest.approx((1 - p) ** 8, rel=1e-9)
    # two steps, by the law of W_0 and W_1 = W_0 + G
    u = np.array([3.0, 9.0])
    k = np.arange(4)
    stay = nbinom.pmf(k, 1, p)
    second = sum(stay[i] * nbinom.cdf(9 - i, 1, p) for i in k)
    assert bounds._crossing(u, p) == pytest.approx(1 - second, rel=1e-9)


def _band_fails(n, R, level, target, B, sims, seed):
    """How often some member of a nested family keeps more mislabelled training samples than
    the band allows: the B mislabelled items of n + R in the order the family keeps them, R of
    all n + R chosen at random as probes (without replacement)."""
    u = bounds.band(n, R, level, target)
    rng = np.random.default_rng(seed)
    fails = 0
    for _ in range(sims):
        is_probe = rng.permutation(n + R)[:B] < R
        ranks = np.flatnonzero(is_probe)
        W = np.full(u.size, B - ranks.size)  # after the last probe: every training one
        W[: min(u.size, ranks.size)] = (ranks - np.arange(ranks.size))[: u.size]
        fails += bool(np.any(u < W))
    return fails / sims


@pytest.mark.parametrize(
    ("n", "R", "level", "B"),
    [(3_000, 60, 0.9, 900), (3_000, 100, 0.5, 900), (1_257, 90, 0.9, 400), (3_000, 333, 0.9, 300)],
)
def test_the_band_holds_for_every_member_at_once(n, R, level, B):
    sims = 4_000
    fail = _band_fails(n, R, level, 0.9, B, sims, seed=B)
    assert fail <= (1 - level) + 3 * np.sqrt(level * (1 - level) / sims), fail


def _gap_pmf(s: int, m: int, gmax: int) -> np.ndarray:
    """P(g training items, then a probe), g = 0..gmax, from an urn of s probes and m others."""
    g = np.arange(gmax + 1)
    ok = g <= m
    gg = np.where(ok, g, 0)
    logp = (
        gammaln(m + 1)
        - gammaln(m - gg + 1)
        - gammaln(s + m + 1)
        + gammaln(s + m - gg + 1)
        + np.log(s)
        - np.log(s + m - gg)
    )
    return np.where(ok, np.exp(logp), 0.0)


def _exact_crossing_without_replacement(u: np.ndarray, n: int, R: int) -> float:
    """``P(W_j > u_j for some j)`` when all n + R items are mislabelled (the worst case: W_j
    only grows with more of them) and R of them are probes at random: exact, by the walk."""
    top = int(u[-1])
    alive = np.zeros(top + 1)
    alive[0] = 1.0  # the law of the training items passed so far, on the paths still inside
    for j, uj in enumerate(u.astype(int)):
        new = np.zeros(top + 1)
        for f in np.flatnonzero(alive > 0):
            new[f:] += alive[f] * _gap_pmf(R - j, n - f, top - f)
        new[uj + 1 :] = 0.0
        alive = new
    return float(1.0 - alive.sum())


@pytest.mark.parametrize(
    ("n", "R", "level", "target"),
    [
        (3_000, 60, 0.9, 0.9),
        (3_000, 100, 0.5, 0.9),
        (3_000, 333, 0.5, 0.9),
        (1_257, 90, 0.9, 0.95),
        (300, 300, 0.9, 0.5),
        (200, 50, 0.8, 0.7),
    ],
)
def test_the_band_holds_exactly_without_replacement(n, R, level, target):
    u = bounds.band(n, R, level, target)
    assert u.size > 0
    assert _exact_crossing_without_replacement(u, n, R) <= 1 - level + 1e-9
    # the bound valid at one threshold is crossed far more often: the check can fail
    pointwise = _pointwise(n, R, level, target)
    assert _exact_crossing_without_replacement(pointwise, n, R) > 1 - level + 0.02


def test_a_bound_valid_at_one_threshold_fails_over_all_of_them():
    # the known counterexample the band exists for: pointwise bounds at every step of the walk
    # are crossed somewhere far more often than their level allows
    p = 100 / 3_100
    js = np.arange(1, 11)
    pointwise = nbinom.ppf(0.9, js, p)
    assert bounds._crossing(pointwise, p) > 0.2
    assert bounds._crossing(bounds.band(3_000, 100, 0.9, 0.5)[:10], p) <= 0.1 + 1e-9


def test_nothing_can_be_certified_with_too_few_probes():
    # a kept set of at most n holds (1 - P) n mislabelled samples; the bound on y = 0 needs more
    assert bounds.band(3_000, 2, 0.9, 0.99).size == 0


draw = exchangeable.lognormal_losses


PAIRWISE, PRIOR = noise.pairwise(0.3, 4), np.array([0.4, 0.3, 0.2, 0.1])


def selections(seed, n, probes, T, prior, targets, level):
    """The three loss criteria's target selections on one draw; ``targets`` per criterion."""
    L, clean, noisy, PL, p_clean, p_noisy = draw(seed, n, probes, T, prior)
    last = bounds.Counts(L[:, -1], noisy, PL[:, -1], p_clean, p_noisy, len(T))
    mean = bounds.Counts(mean_loss(L), noisy, mean_loss(PL), p_clean, p_noisy, len(T))
    shares = precision.oracle_fractions(T, prior), precision.rsl_fractions(T, prior)
    out = {
        "global": last.largest_global(targets["global"], level),
        "classwise": last.largest_scaled(shares[0], targets["classwise"], level),
        "rsl": mean.largest_scaled(shares[1], targets["rsl"], level),
    }
    for row in out.values():
        m = row["mask"]
        row["observed"] = float((clean[m] == noisy[m]).mean()) if m.any() else None
    return out, noisy


# 60, 100 and 333 probes hold about 18, 30 and 100 mislabelled ones under 30% noise; RSL's own
# budgets already reach 0.966 here, so its target is 0.975 (it must shrink them)
TARGETS = {"global": 0.9, "classwise": 0.9, "rsl": 0.975}
DRAWS = 1_000


@pytest.mark.slow
@pytest.mark.parametrize("probes", [60, 100, 333])
def test_the_target_is_reached_as_often_as_the_level_says_after_the_search(probes):
    # the guarantee, over the draw of the probes: with probability at least L the kept set is
    # empty or reaches P. One-sided (conservative is allowed), 2 binomial sd below L
    runs = {
        L: [selections(s, 3_000, probes, PAIRWISE, PRIOR, TARGETS, L)[0] for s in range(DRAWS)]
        for L in (0.9, 0.5)
    }
    for L, draws in runs.items():
        floor = L - 2 * np.sqrt(L * (1 - L) / DRAWS)
        for name, P in TARGETS.items():
            rows = [d[name] for d in draws]
            fine = np.mean([r["observed"] is None or r["observed"] >= P for r in rows])
            assert fine >= floor, (name, L, fine)
            kept = [r for r in rows if r["observed"] is not None]
            assert all(r["precision_bound"] >= P - 1e-12 for r in kept)
            assert all(r["predicted_precision"] >= r["precision_bound"] for r in kept)
            # observed, not guaranteed (given keeping, only 1 - (1 - L) / P(keep) is): where
            # the probes nearly always allow a budget, the share among the runs that keep
            # something holds too
            if len(kept) >= 0.8 * DRAWS:
                share = np.mean([r["observed"] >= P for r in kept])
                assert share >= L - 2 * np.sqrt(L * (1 - L) / len(kept)), (name, L, share)


flat_draw = exchangeable.uninformative


def _flat_reached(band, probes, level, draws=DRAWS, rate=0.12, design=False):
    """The share of draws whose search with ``band`` is empty or reaches 0.9; ``design``: the
    shipped search, its envelope chosen from the pooled scores, instead."""
    fine = 0
    for s in range(draws):
        L, clean, noisy, PL, p_clean, p_noisy = flat_draw(s, 3_000, probes, rate)
        counts = bounds.Counts(L, noisy, PL, p_clean, p_noisy, 4)
        order = np.argsort(L, kind="stable")
        if design:
            mask = counts.largest_global(0.9, level)["mask"]
            k = int(mask.sum())
            m = np.flatnonzero(mask)
        else:
            u = band(3_000, probes, level, 0.9)
            y = np.searchsorted(np.sort(PL[p_clean != p_noisy]), L[order], side="right")
            k = bounds._largest(y, np.arange(1, L.size + 1), u, 0.9)
            if band is bounds.band:
                assert k == int(counts.largest_global(0.9, level, "band")["mask"].sum())
            m = order[:k]
        fine += k == 0 or (clean[m] == noisy[m]).mean() >= 0.9
    return fine / draws


def _pointwise(n, R, level, target):
    """Bounds valid one threshold at a time: the search's known counterexample."""
    p = R / (n + R)
    u = nbinom.ppf(level, np.arange(1, R + 2), p)
    return u[: int(np.searchsorted(u, (1 - target) * n, side="right"))]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("probes", "level", "rate"),
    [(100, 0.9, 0.12), (333, 0.9, 0.11), (100, 0.5, 0.12), (333, 0.5, 0.12)],
)
def test_scores_that_say_nothing_certify_nothing_more_often_than_the_level_allows(
    probes, level, rate
):
    floor = level - 2 * np.sqrt(level * (1 - level) / DRAWS)
    assert _flat_reached(bounds.band, probes, level, rate=rate) >= floor
    assert _flat_reached(None, probes, level, rate=rate, design=True) >= floor
    if (probes, rate) != (100, 0.12) or level == 0.5:  # where the pointwise search fails
        assert _flat_reached(_pointwise, probes, level, rate=rate) < floor


def _mapie_budget(scores, PL, p_clean, p_noisy, P, level, grid=10):
    """Learn-then-test as MAPIE runs it (its Bentkus p-values for a binary loss, Holm's
    correction): each budget's loss per probe is 'mislabelled and kept', its risk limit the
    share (1 - P) k / n at which the kept set's precision is P."""
    from mapie.risk_control.fwer_control import control_fwer
    from mapie.risk_control.methods import compute_hoeffding_bentkus_p_value

    n, R = scores.size, PL.size
    ks = np.unique(np.linspace(1, n, grid).astype(int))
    y = np.searchsorted(np.sort(PL[p_clean != p_noisy]), np.sort(scores)[ks - 1], side="right")
    limits = np.minimum((1 - P) * ks / n, 1 - 1e-12)
    p_values = np.array(
        [
            compute_hoeffding_bentkus_p_value(np.array([y[g] / R]), R, float(limits[g]), True)[0, 0]
            for g in range(ks.size)
        ]
    )
    valid = control_fwer(p_values, 1 - level, fwer_method="bonferroni_holm")
    return int(ks[np.max(valid)]) if len(valid) else 0


@pytest.mark.slow
def test_the_band_keeps_more_than_learn_then_test_at_the_same_level():
    # the same draws through both procedures: both reach the level, the band keeps more
    pytest.importorskip("mapie")
    for probes, level in ((100, 0.9), (333, 0.9), (333, 0.5)):
        kept = {"band": [], "mapie": []}
        for s in range(200):
            L, clean, noisy, PL, p_clean, p_noisy = draw(s, 3_000, probes, PAIRWISE, PRIOR)
            scores, probe_scores = L[:, -1], PL[:, -1]
            row = bounds.Counts(scores, noisy, probe_scores, p_clean, p_noisy, 4)
            order = np.argsort(scores, kind="stable")
            for name, k in (
                ("band", int(row.largest_global(0.9, level)["mask"].sum())),
                ("mapie", _mapie_budget(scores, probe_scores, p_clean, p_noisy, 0.9, level)),
            ):
                m = order[:k]
                kept[name].append((k, k == 0 or (clean[m] == noisy[m]).mean() >= 0.9))
        for rows in kept.values():
            assert np.mean([ok for _, ok in rows]) >= level - 2 * np.sqrt(level * (1 - level) / 200)
        assert np.mean([k for k, _ in kept["band"]]) > 1.5 * np.mean([k for k, _ in kept["mapie"]])


def test_many_probes_make_the_point_estimate_the_observed_precision():
    T, prior = noise.symmetric(0.4, 5), np.full(5, 0.2)
    out, _ = selections(3, 20_000, 20_000, T, prior, dict.fromkeys(TARGETS, 0.9), 0.9)
    for name in ("global", "classwise", "rsl"):
        r = out[name]
        assert r["predicted_precision"] == pytest.approx(r["observed"], abs=0.01), name
        assert r["observed"] >= 0.9 - 0.01, name


def test_a_target_no_budget_reaches_keeps_nothing_and_says_so():
    out, _ = selections(0, 2_000, 200, PAIRWISE, PRIOR, dict.fromkeys(TARGETS, 1.0), 0.9)
    for name in ("global", "classwise", "rsl"):
        r = out[name]
        assert not r["mask"].any() and r["observed"] is None, name
        assert r["predicted_precision"] is None and r["precision_bound"] is None, name
    assert out["global"]["budgets"] == [0, 0, 0, 0]


def test_per_class_and_rsl_scale_their_own_budgets():
    out, noisy = selections(1, 4_000, 400, PAIRWISE, PRIOR, dict.fromkeys(TARGETS, 0.9), 0.9)
    sizes = np.bincount(noisy, minlength=4)
    for name, shares in (
        ("classwise", precision.oracle_fractions(PAIRWISE, PRIOR)),
        ("rsl", precision.rsl_fractions(PAIRWISE, PRIOR)),
    ):
        ks = np.array(out[name]["budgets"])
        assert out[name]["mask"].sum() == ks.sum() and np.all(ks <= sizes)
        # one factor for every class: the kept shares are proportional to the criterion's own
        # (the thresholds are quantiles of each class's pooled training and probe scores)
        scale = ks / (shares * sizes)
        assert np.ptp(scale) < 0.05, (name, scale)
        assert 0 < scale.max() <= 1.05


def test_the_global_search_keeps_the_smallest_scores():
    L, clean, noisy, PL, p_clean, p_noisy = draw(2, 2_000, 400, PAIRWISE, PRIOR)
    row = bounds.Counts(L[:, -1], noisy, PL[:, -1], p_clean, p_noisy, 4).largest_global(0.9, 0.9)
    k = int(row["mask"].sum())
    assert k > 0 and sum(row["budgets"]) == k
    order = np.argsort(L[:, -1], kind="stable")
    assert row["mask"][order[:k]].all() and not row["mask"][order[k:]].any()
    # its bound is the band's at the mislabelled probes it keeps
    t = L[order[k - 1], -1]
    y = int(((p_clean != p_noisy) & (PL[:, -1] <= t)).sum())
    u = bounds.band(2_000, 400, 0.9, 0.9)
    assert row["precision_bound"] == pytest.approx(1 - u[y] / k)
    assert row["predicted_precision"] == pytest.approx(1 - y * 2_000 / 400 / k)


def test_a_selection_is_counted_against_its_own_thresholds():
    L, clean, noisy, PL, p_clean, p_noisy = draw(4, 3_000, 600, PAIRWISE, PRIOR)
    counts = bounds.Counts(L[:, -1], noisy, PL[:, -1], p_clean, p_noisy, 4)
    ks = np.array([300, 200, 100, 50])
    mask = np.zeros(noisy.size, bool)
    y = 0
    wrong = p_clean != p_noisy
    for j, k in enumerate(ks):
        idx = np.flatnonzero(noisy == j)
        kept = idx[np.argsort(L[idx, -1], kind="stable")[:k]]
        mask[kept] = True
        y += int((PL[wrong & (p_noisy == j), -1] <= L[kept, -1].max()).sum())
    got = counts.of_selection(mask, 0.9, 0.9)
    assert got.kept_bad_probes == y and got.bad_probes == int(wrong.sum())
    assert got.point == pytest.approx(1 - y * 3_000 / 600 / ks.sum())
    assert got.bound == pytest.approx(1 - bounds.bad_upper(y, 3_000, 600, 0.1) / ks.sum())
    assert counts.of_budgets(ks, 0.9) == counts.of_selection(mask, 0.9)


def test_no_mislabelled_probe_certifies_all_the_probes_allow():
    # every probe clean: nothing in the count, and the band still asks for enough probes
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 3, 2_000)
    probe_labels = rng.integers(0, 3, 400)
    counts = bounds.Counts(rng.random(2_000), noisy, rng.random(400), probe_labels, probe_labels, 3)
    u0 = bounds.band(2_000, 400, 0.9, 0.95)[0]
    row = counts.largest_global(0.95, 0.9)
    assert row["mask"].all() and row["predicted_precision"] == 1.0
    assert row["precision_bound"] == pytest.approx(1 - u0 / 2_000)


@pytest.mark.parametrize(
    ("keep", "level", "needle"), [("target:1.5", 0.9, "target"), ("target:0.9", 1.5, "confidence")]
)
def test_bad_target_or_level_is_named_before_the_search(keep, level, needle):
    from run_arrays import synthetic_run

    from simulations.selection import analyse, runfile

    arrays, _ = synthetic_run(seed=0, n=200, probes=40, epochs=2, val=0)
    with pytest.raises(InputError, match=needle):
        analyse.analyse(runfile.from_arrays(arrays), keep=keep, confidence=level, bootstrap=0)


def test_train_confidence(capsys, tmp_path):
    argv = [
        *ARGV,
        "--out",
        str(tmp_path),
        "--probes",
        "0.5",
        "--keep",
        "target:0.8",
        "--confidence",
        "0.7",
    ]
    assert main(argv) == 0
    r = json.loads(capsys.readouterr().out)
    t = r["target"]
    assert t["confidence"] == 0.7 and t["laws"] == "probe counts"
    for name in ("global", "classwise", "rsl", "coteaching_rule"):
        c = t["criteria"][name]
        assert {
            "predicted_precision",
            "precision_bound",
            "observed_precision",
            "observed_recall",
            "selected",
            "budgets",
        } <= set(c), name
        if c["selected"] and name != "coteaching_rule":
            assert c["precision_bound"] >= 0.8 - 1e-12
            assert c["predicted_precision"] >= c["precision_bound"]
    # every criterion's own selection is counted too, and bounded at the level
    for name in ("global", "classwise", "rsl", "gmm"):
        c = r["criteria"][name]
        for v in ("single_epoch", "mean_loss"):
            assert c[f"predicted_precision_counts_{v}"] >= c[f"precision_bound_{v}"], name
        headline = "precision_bound_mean_loss" if name == "rsl" else "precision_bound_single_epoch"
        assert c["precision_bound"] == c[headline]
    text = [a for a in argv if a != "--json"] + ["--no-progress"]
    assert main(text) == 0
    assert (
        "with probability 0.7 over the probes' draw, from their counts" in capsys.readouterr().out
    )


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--keep", "target:0.9", "--confidence", "0.9"], "it needs --probes"),
        (["--confidence", "0.9"], "it needs --probes"),
        (["--probes", "0.5", "--keep", "target:0.9", "--confidence", "1.5"], "--confidence"),
        (["--probes", "0.5", "--keep", "target:0.9", "--confidence", "nan"], "--confidence"),
    ],
)
def test_bad_confidence(capsys, tmp_path, extra, needle):
    code = main([*ARGV, "--out", str(tmp_path), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and needle in err[0], err
