"""Budgets whose precision holds with a stated confidence, from the probes' counts: the
Clopper-Pearson bound against scipy and against the binomial law itself, the mislabelled
counts against the joint law, and the whole search against sampling (the exchangeable model
the module assumes: training samples and probes drawn alike)."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom, binomtest

from simulations.cli import main
from simulations.selection import bounds
from simulations.selection.recorded import mean_loss
from simulations.synthetic import generate
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


@settings(max_examples=60, deadline=None)
@given(r=st.integers(1, 300), data=st.data(), level=st.floats(0.5, 0.995))
def test_share_upper_is_the_one_sided_clopper_pearson_bound(r, data, level):
    x = data.draw(st.integers(0, r))
    ci = binomtest(x, r, alternative="less").proportion_ci(confidence_level=level)
    assert bounds.share_upper(x, r, level) == pytest.approx(ci.high, abs=1e-9)
    assert bounds.share_upper(x, r, None) == x / r


@settings(max_examples=60, deadline=None)
# scipy's binomial pmf overflows at subnormal shares (boost's ibeta_derivative), hence 1e-9
@given(r=st.integers(1, 200), g=st.just(0.0) | st.floats(1e-9, 1.0), level=st.floats(0.5, 0.99))
def test_share_upper_covers_the_true_share_at_its_level(r, g, level):
    # exact: sum the binomial law over every count whose bound is at or above g
    x = np.arange(r + 1)
    covered = bounds.share_upper(x, r, level) >= g - 1e-12
    assert binom.pmf(x, r, g)[covered].sum() >= level - 1e-9


def test_no_trial_bounds_nothing():
    for level in (0.9, None):
        got = bounds.share_upper(np.arange(3), 0, level)
        assert got.shape == (3,) and np.all(got == 1.0)


def test_a_class_nobody_is_labelled_has_no_mislabelled_samples():
    # class 2 has no prior mass, so no sample is labelled 2 and its column is empty
    T, prior = noise.symmetric(0.3, 3), np.array([0.5, 0.5, 0.0])
    T[:, 2], T[:, :2] = 0.0, [[0.7, 0.3], [0.3, 0.7], [0.5, 0.5]]
    noisy = np.array([0, 1, 1, 0, 1])
    got = bounds.mislabelled_counts(noisy, T, prior)
    assert got.shape == (3,) and np.all(np.isfinite(got))
    assert got == pytest.approx([2 * 0.3, 3 * 0.3, 0.0])


def test_the_count_at_a_threshold_includes_the_probes_at_or_below_it():
    # training losses 1, 2, 3, 4 (class 0), one mislabelled probe at 2.5 and one at 4
    T, prior = noise.symmetric(0.5, 2), np.array([0.5, 0.5])
    noisy = np.zeros(4, np.int64)
    b = bounds.Bounds(
        np.array([1.0, 2.0, 3.0, 4.0]),
        noisy,
        np.array([2.5, 4.0]),
        np.array([1, 1]),
        np.array([0, 0]),
        T,
        prior,
    )
    m = bounds.mislabelled_counts(noisy, T, prior).sum()  # 2 of the 4
    for k, x in ((1, 0), (2, 0), (3, 1), (4, 2)):
        point, bound = b.union([k, 0], 0.9)
        assert point == pytest.approx(1 - m * x / 2 / k), k
        assert bound == pytest.approx(1 - m * bounds.share_upper(x, 2, 0.9) / k), k
    assert b.union([0, 0], 0.9) == (None, None)
    assert b.union([1, 0], None) == (pytest.approx(1.0), None)


def test_a_target_no_budget_reaches_keeps_nothing_and_says_so():
    T, prior = noise.pairwise(0.3, 4), np.array([0.4, 0.3, 0.2, 0.1])
    out, _ = selections(0, 2_000, 200, T, prior, 1.0, 0.9)
    for name in ("global", "classwise", "rsl"):
        r = out[name]
        assert not r["mask"].any() and r["observed"] is None, name
        assert r["predicted_precision"] is None and r["precision_bound"] is None, name
    assert out["global"]["budgets"] == 0 and out["classwise"]["budgets"] == [0, 0, 0, 0]


@pytest.mark.parametrize(
    ("target", "level", "needle"), [(1.5, 0.9, "target precision"), (0.9, 1.5, "--confidence")]
)
def test_bad_target_or_level_is_named(target, level, needle):
    T, prior = noise.symmetric(0.2, 2), np.full(2, 0.5)
    b = bounds.Bounds(
        np.arange(4.0),
        np.array([0, 1, 0, 1]),
        np.array([1.0]),
        np.array([0]),
        np.array([1]),
        T,
        prior,
    )
    with pytest.raises(InputError, match=needle):
        bounds.target_selections(b, b, T, prior, target, level)


@settings(max_examples=40, deadline=None)
@given(c=st.integers(2, 6), rate=st.floats(0.0, 0.6), seed=st.integers(0, 10**6))
def test_mislabelled_counts_follow_the_joint_law(c, rate, seed):
    rng = np.random.default_rng(seed)
    T = noise.pairwise(rate, c)
    prior = rng.dirichlet(np.ones(c))
    noisy = rng.integers(0, c, 500)
    joint = prior[:, None] * T
    want = np.bincount(noisy, minlength=c) * (1 - np.diag(joint) / joint.sum(axis=0))
    got = bounds.mislabelled_counts(noisy, T, prior)
    assert got == pytest.approx(want, abs=1e-9)


def test_no_noise_means_nothing_mislabelled_and_everything_kept():
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 3, 200)
    T, prior = np.eye(3), np.full(3, 1 / 3)
    assert np.all(bounds.mislabelled_counts(noisy, T, prior) == 0)
    b = bounds.Bounds(rng.random(200), noisy, rng.random(20), noisy[:20], noisy[:20], T, prior)
    out = bounds.target_selections(b, b, T, prior, 0.99, 0.9)
    for name in ("global", "classwise", "rsl"):
        assert out[name]["precision_bound"] == 1.0, name
    assert out["global"]["mask"].all() and out["classwise"]["mask"].all()


def draw(seed, n, probes, T, prior):
    """Training samples and probes drawn alike: a loss per epoch, lognormal per cell, larger
    where the label is wrong; the exchangeable model the bounds assume."""
    rng = np.random.default_rng(seed)
    c = len(T)
    clean = rng.choice(c, n + probes, p=prior)
    noisy = generate.noisy_labels(clean, T, seed + 1).astype(np.int64)
    scale = np.where(clean == noisy, 0.2, 0.7) * (1 + 0.1 * clean)
    L = rng.lognormal(np.log(scale)[:, None], 0.8, (n + probes, 3)).astype(np.float32)
    return L[:n], clean[:n], noisy[:n], L[n:], clean[n:], noisy[n:]


def selections(seed, n, probes, T, prior, target, level):
    L, clean, noisy, PL, p_clean, p_noisy = draw(seed, n, probes, T, prior)
    last = bounds.Bounds(L[:, -1], noisy, PL[:, -1], p_clean, p_noisy, T, prior)
    mean = bounds.Bounds(mean_loss(L), noisy, mean_loss(PL), p_clean, p_noisy, T, prior)
    out = bounds.target_selections(last, mean, T, prior, target, level)
    for row in out.values():
        m = row["mask"]
        row["observed"] = float((clean[m] == noisy[m]).mean()) if m.any() else None
    return out, noisy


@pytest.mark.parametrize("level", [0.5, 0.9])
@pytest.mark.parametrize(
    ("name", "target", "probes"),
    [("global", 0.9, 300), ("classwise", 0.9, 300), ("rsl", 0.975, 600)],
)
def test_the_target_is_reached_as_often_as_the_level_says(level, name, target, probes):
    # 150 draws of 3,000 samples and 300 probes (about 100 mislabelled ones) under 30% pairwise
    # noise (RSL's own budgets reach 0.966 here: its target is 0.975, with 600 probes): the
    # share of draws whose selection reaches P is the level, within three binomial standard
    # deviations either way: the bound holds, and it is not bought by keeping far less than
    # P allows
    T, prior = noise.pairwise(0.3, 4), np.array([0.4, 0.3, 0.2, 0.1])
    draws = 150
    runs = [selections(s, 3_000, probes, T, prior, target, level)[0][name] for s in range(draws)]
    kept = [r for r in runs if r["observed"] is not None]
    assert len(kept) >= 0.95 * draws
    reached = np.mean([r["observed"] >= target for r in kept])
    assert abs(reached - level) <= 3 * np.sqrt(level * (1 - level) / draws), reached
    assert all(r["precision_bound"] >= target - 1e-12 for r in kept)
    assert all(r["predicted_precision"] >= r["precision_bound"] for r in kept)


def test_many_probes_make_the_point_estimate_the_observed_precision():
    T, prior = noise.symmetric(0.4, 5), np.full(5, 0.2)
    out, noisy = selections(3, 20_000, 20_000, T, prior, 0.9, 0.9)
    for name in ("global", "classwise", "rsl"):
        r = out[name]
        assert r["predicted_precision"] == pytest.approx(r["observed"], abs=0.01), name
        assert r["observed"] >= 0.9 - 0.01, name


def test_per_class_and_rsl_scale_their_own_budgets():
    T, prior = noise.pairwise(0.3, 4), np.array([0.4, 0.3, 0.2, 0.1])
    out, noisy = selections(1, 4_000, 400, T, prior, 0.9, 0.9)
    sizes = np.bincount(noisy, minlength=4)
    for name, shares in (
        ("classwise", precision.oracle_fractions(T, prior)),
        ("rsl", precision.rsl_fractions(T, prior)),
    ):
        ks = np.array(out[name]["budgets"])
        assert out[name]["mask"].sum() == ks.sum() and np.all(ks <= sizes)
        # one factor for every class: the kept shares are proportional to the criterion's own
        scale = ks / (shares * sizes)
        assert np.ptp(scale) < 4 / sizes.min(), (name, scale)
        assert 0 < scale.max() <= 1


def test_global_bound_of_a_fixed_budget_is_the_curve_at_that_budget():
    T, prior = noise.symmetric(0.3, 4), np.full(4, 0.25)
    L, clean, noisy, PL, p_clean, p_noisy = draw(2, 2_000, 400, T, prior)
    b = bounds.Bounds(L[:, -1], noisy, PL[:, -1], p_clean, p_noisy, T, prior)
    point, bound = b.global_curves(0.9)
    got = bounds.global_bound(b, 1_400, 0.9)
    assert got == {"predicted_precision": point[1_399], "precision_bound": bound[1_399]}
    assert bounds.global_bound(b, 0, 0.9) == {"predicted_precision": None, "precision_bound": None}
    # the point estimate counts the mislabelled probes below the 1,400th loss
    wrong = PL[p_clean != p_noisy, -1]
    t = np.sort(L[:, -1])[1_399]
    m = bounds.mislabelled_counts(noisy, T, prior).sum()
    assert point[1_399] == pytest.approx(1 - m * np.mean(wrong <= t) / 1_400)


def test_a_selection_is_counted_as_its_budgets_are():
    T, prior = noise.pairwise(0.3, 4), np.array([0.4, 0.3, 0.2, 0.1])
    L, clean, noisy, PL, p_clean, p_noisy = draw(4, 3_000, 600, T, prior)
    b = bounds.Bounds(L[:, -1], noisy, PL[:, -1], p_clean, p_noisy, T, prior)
    # a global threshold: the pooled curve and the per-class counts give the same numbers
    order = np.argsort(L[:, -1], kind="stable")
    mask = np.zeros(noisy.size, bool)
    mask[order[:2_000]] = True
    point, bound = b.global_curves(0.9)
    assert b.of_selection(mask, 0.9) == pytest.approx((point[1_999], bound[1_999]))
    assert b.of_selection(mask) == (pytest.approx(point[1_999]), None)
    # per-class thresholds: x counts each mislabelled probe against its own class's threshold
    ks = np.array([300, 200, 100, 50])
    mask = np.zeros(noisy.size, bool)
    x = 0
    wrong = p_clean != p_noisy
    for j, k in enumerate(ks):
        idx = np.flatnonzero(noisy == j)
        kept = idx[np.argsort(L[idx, -1], kind="stable")[:k]]
        mask[kept] = True
        x += int((PL[wrong & (p_noisy == j), -1] <= L[kept, -1].max()).sum())
    m = bounds.mislabelled_counts(noisy, T, prior).sum()
    got = b.of_selection(mask, 0.9)
    assert got[0] == pytest.approx(1 - m * x / wrong.sum() / ks.sum())
    upper = bounds.share_upper(x, int(wrong.sum()), 0.9)
    assert got[1] == pytest.approx(1 - m * upper / ks.sum())


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
    # every loss criterion's own selection is counted too, and bounded at the level
    for name in ("global", "classwise", "rsl"):
        c = r["criteria"][name]
        for v in ("single_epoch", "mean_loss"):
            assert c[f"predicted_precision_counts_{v}"] >= c[f"precision_bound_{v}"], name
        assert (
            c["precision_bound"]
            == c["precision_bound_mean_loss" if name == "rsl" else "precision_bound_single_epoch"]
        )
    assert "predicted_precision_counts" not in r["criteria"]["gmm"]
    text = [a for a in argv if a != "--json"] + ["--no-progress"]
    assert main(text) == 0
    assert "with confidence 0.7, from the probes' counts" in capsys.readouterr().out


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
