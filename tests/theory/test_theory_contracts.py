"""What the theory API promises at its edges: defaults, open and closed bounds, zero cells,
signs of zero, reproducible draws, and laws checked against their own definitions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from theory import claims, conditions, instance, losses, noise, precision, regions, rsl
from theory.errors import InputError
from theory.losses import Atom, Empirical, Mixture, Overlap2, Perturbed, Smoothed
from theory.validation import (
    check_classes,
    check_float,
    check_int,
    check_labels,
    check_prior,
    check_transition,
)

# --- validation: where each bound lies ---------------------------------------------------


def test_check_float_open_and_closed_ends():
    assert check_float(0.0, "x", 0.0, 1.0) == 0.0
    assert check_float(1.0, "x", 0.0, 1.0) == 1.0
    with pytest.raises(InputError, match=r"x = 0 is outside \(0, 1\]"):
        check_float(0.0, "x", 0.0, 1.0, low_open=True)
    with pytest.raises(InputError, match=r"x = 1 is outside \[0, 1\)"):
        check_float(1.0, "x", 0.0, 1.0, high_open=True)
    assert check_float(0.5, "x", 0.0, 1.0, low_open=True, high_open=True) == 0.5


def test_check_int_refuses_non_finite_and_keeps_its_ends():
    for bad in (float("nan"), float("inf"), 2.5):
        with pytest.raises(InputError, match="n must be an integer"):
            check_int(bad, "n")
    assert check_int(5, "n", low=5, high=5) == 5
    with pytest.raises(InputError, match="n = 6 is above 5"):
        check_int(6, "n", high=5)
    assert check_classes(2) == 2
    with pytest.raises(InputError, match="classes = 1 is below 2"):
        check_classes(1)


def test_whole_float_labels_are_labels():
    out = check_labels(np.array([0.0, 2.0, 1.0]), classes=3)
    assert out.dtype == np.int64 and out.tolist() == [0, 2, 1]


def test_check_transition_names_the_matrix_and_counts_classes():
    with pytest.raises(InputError, match=r"^T\[0,1\] = -0.1 is negative$"):
        check_transition([[1.1, -0.1], [0.0, 1.0]])
    with pytest.raises(InputError, match="needs at least 2 classes, got 1"):
        check_transition([[1.0]])


def test_check_prior_takes_zero_entries_but_not_a_zero_sum():
    assert check_prior([0.5, 0.5, 0.0], 3).tolist() == [0.5, 0.5, 0.0]
    with pytest.raises(InputError, match="prior sums to 0"):
        check_prior([0.0, 0.0], 2)


# --- loss laws: defaults, zero cells, and each law against its definition ----------------


def test_cell_laws_defaults_are_the_documented_ones():
    T = noise.named("pairwise", 0.3, 3)
    p = np.array([0.5, 0.3, 0.2])
    x = np.linspace(0.0, 3.0, 13)
    pairs = [
        (losses.cell_laws(T, "perturbed", epsilon=0.4), {"alpha": 1.0}),
        (losses.cell_laws(T, "overlap", prior=p), {"separation": 1.0, "prior": p}),
    ]
    for laws, explicit in pairs:
        model = "perturbed" if "alpha" in explicit else "overlap"
        ref = losses.cell_laws(T, model, epsilon=0.4, **explicit)
        for i, j in zip(*np.nonzero(T)):
            np.testing.assert_array_equal(laws[i][j].cdf(x), ref[i][j].cdf(x))


def test_zero_cells_have_no_law_and_eps_zero_is_gstar():
    T = noise.named("pairwise", 0.3, 3)
    for model in ("bayes", "perturbed", "overlap"):
        laws = losses.cell_laws(T, model, epsilon=0.2)
        assert all((laws[i][j] is None) == (T[i, j] == 0) for i in range(3) for j in range(3))
    laws = losses.cell_laws(T, "perturbed", epsilon=0.0)
    assert isinstance(laws[0][0], Atom) and laws[0][0].value == pytest.approx(-np.log(0.7))


def test_overlap_cells_of_equal_entries_are_not_shared():
    # under overlap a cell's law depends on the geometry and the prior, not on T[i,j] alone
    T = noise.named("symmetric", 0.3, 3)
    laws = losses.cell_laws(T, "overlap", prior=[0.6, 0.3, 0.1])
    assert laws[0][1] is not laws[2][1]
    assert abs(laws[0][1].mean() - laws[2][1].mean()) > 0.05


def test_two_class_overlap_is_exact_and_no_separation_is_the_prior():
    T = regions.two_class(0.3, 0.2)
    p = np.array([0.7, 0.3])
    laws = losses.cell_laws(T, "overlap", separation=1.5, prior=p)
    assert isinstance(laws[0][1], Overlap2)
    T3, p3 = noise.named("pairwise", 0.3, 3), np.array([0.6, 0.3, 0.1])
    flat = losses.cell_laws(T3, "overlap", separation=0.0, prior=p3)
    q = p3 @ T3  # without separation the posterior is the prior everywhere
    for i, j in ((0, 0), (0, 1), (1, 2)):
        assert flat[i][j].support() == pytest.approx((-np.log(q[j]),) * 2)


def test_smoothing_applies_below_one_and_keeps_sharing():
    T = noise.named("symmetric", 0.3, 3)
    laws = losses.cell_laws(T, "bayes", sd=0.5)
    assert isinstance(laws[0][1], Smoothed) and laws[0][1].sd == 0.5
    assert laws[0][1] is laws[1][0]


def test_the_noiseless_atom_is_plus_zero():
    laws = losses.cell_laws(np.eye(2))
    assert math.copysign(1.0, laws[0][0].value) == 1.0
    rep = conditions.report(np.eye(3))
    assert "-0.0" not in json.dumps(rep.to_dict())


def test_qmc_rule_size_follows_its_docstring():
    # the largest power of two at most 2^22 / c^2, between 2^9 and 2^14
    expected = {2: 1 << 14, 16: 1 << 14, 17: 1 << 13, 32: 1 << 12, 45: 1 << 11, 64: 1 << 10}
    expected |= {90: 1 << 9, 100: 1 << 9}
    assert {c: losses.qmc_points_for(c) for c in expected} == expected


def test_rvs_is_reproducible_from_its_seed():
    law = Perturbed(0.6, 0.3, 3)
    a, b = law.rvs(50, random_state=3), law.rvs(50, random_state=3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, law.rvs(50, random_state=4))


def test_perturbed_default_is_the_flat_dirichlet():
    x = np.linspace(0.1, 2.0, 9)
    np.testing.assert_array_equal(Perturbed(0.6, 0.3, 3).cdf(x), Perturbed(0.6, 0.3, 3, 1.0).cdf(x))


def test_overlap2_without_separation_sits_at_the_prior():
    T = regions.two_class(0.3, 0.2)
    p = np.array([0.8, 0.2])
    law = Overlap2(T, 0, 1, 0.0, p)
    assert law.support()[0] == pytest.approx(-np.log(p @ T[:, 1]))


def test_overlap2_with_an_empty_column_entry_has_finite_quantiles():
    # T[0,1] = 0: g_1 = 0.7 q1 reaches 0, so the loss is unbounded but each quantile is finite
    law = Overlap2(np.array([[1.0, 0.0], [0.3, 0.7]]), 1, 1, 1.0, [0.5, 0.5])
    q = np.array([0.5, 0.99, 0.999])
    x = law.ppf(q)
    assert np.all(np.isfinite(x))
    np.testing.assert_allclose(law.cdf(x), q, atol=1e-9)


def test_empirical_weights_and_left_limits():
    law = Empirical([3.0, 1.0, 2.0, 2.0])
    assert law.cdf(2.0) == 0.75 and law.cdf_left(2.0) == 0.25
    assert law.ppf(0.5) == 2.0 and law.ppf(1.0) == 3.0 and law.ppf(0.0) == 1.0


def test_smoothed_density_is_the_derivative_of_its_cdf():
    law = Smoothed(Perturbed(0.6, 0.3, 3), 0.2)
    x = np.linspace(0.0, 2.0, 11)
    h = 1e-5
    np.testing.assert_allclose(law.pdf(x), (law.cdf(x + h) - law.cdf(x - h)) / (2 * h), atol=1e-8)
    base = Atom(1.0)
    np.testing.assert_allclose(Smoothed(base, 0.3).pdf(x), stats.norm.pdf(x, 1.0, 0.3), rtol=1e-12)


def test_mixture_drops_zero_weights_and_mixes_unlike_perturbed_laws():
    m = Mixture([Atom(1.0), Atom(5.0)], [1.0, 0.0])
    assert m.support() == (1.0, 1.0)
    a, b = Perturbed(0.6, 0.2, 3), Perturbed(0.2, 0.5, 3)
    m = Mixture([a, b], [0.25, 0.75])
    x = np.linspace(0.1, 3.0, 17)
    np.testing.assert_allclose(m.cdf(x), 0.25 * a.cdf(x) + 0.75 * b.cdf(x), atol=1e-12)
    np.testing.assert_allclose(m.pdf(x), 0.25 * a.pdf(x) + 0.75 * b.pdf(x), rtol=1e-9)
    points = Mixture([Atom(1.0), Empirical([2.0, 3.0])], [0.5, 0.5])
    assert points.pdf(x).shape == x.shape and not points.pdf(x).any()


# --- noise, conditions, claims, RSL ------------------------------------------------------


def test_random_transition_default_and_exact_margin():
    a = noise.random_transition(4, 0.2, seed=5)
    np.testing.assert_array_equal(a, noise.random_transition(4, 0.2, 5, "both", 1.0))
    for seed in range(6):
        for m in (-0.4, 0.05, 0.6):
            T = noise.random_transition(5, m, seed, kind="row")
            assert abs(noise.row_margin(T) - m) < 1e-14


def test_cleanlab_validity_depends_on_the_prior():
    T = np.array([[0.5, 0.3, 0.2], [0.55, 0.25, 0.2], [0.1, 0.1, 0.8]])
    # column 0's weighted mean (p @ T)_0 is 0.383 under the uniform prior, 0.525 under p
    assert conditions.cleanlab_valid(T)
    assert not conditions.cleanlab_valid(T, [0.05, 0.9, 0.05])


def test_fstar_attains_lemma_1_with_unequal_diagonals():
    T = np.array([[0.9, 0.1], [0.3, 0.7]])
    assert claims.fstar_minimises_noisy_risk(T, [0.5, 0.5], [0, 1])
    assert not claims.fstar_minimises_noisy_risk(np.array([[0.4, 0.6], [0.3, 0.7]]), [1, 1], [0, 1])


def test_rsl_empty_or_priorless_classes_keep_nothing_and_change_nothing():
    assert rsl.proportions([np.nan]).tolist() == [1.0]
    n, eta, p = np.array([100.0, 80.0, 50.0]), np.array([0.2, 0.3, 0.1]), np.array([0.5, 0.5, 0.0])
    got = rsl.num(n, eta, p)
    assert got[2] == 0.0 and np.all(np.isfinite(got))
    np.testing.assert_array_equal(got[:2], rsl.num(n[:2], eta[:2], p[:2]))


def test_first_drop_is_zero_where_nothing_is_clean():
    T = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert regions.first_drop_epsilon(T, criterion="classwise") == 0.0
    assert regions.first_drop_epsilon(T, criterion="global") == 0.0
    with pytest.raises(InputError, match="unknown criterion"):
        regions.first_drop_epsilon(T, criterion="median")


def test_separation_for_a_low_target_lies_below_one():
    T = regions.two_class(0.3, 0.2)
    s = regions.separation_for_precision(T, 0.8)
    assert 0.0 < s < 1.0
    got = regions.precision_vs_separation(T, [s])["classwise"][0]
    assert got == pytest.approx(0.8, abs=2e-3)
    assert regions.separation_for_precision(T, 1.01) == float("inf")


def test_random_transition_with_two_classes_reaches_negative_margins():
    T = noise.random_transition(2, -0.3, seed=1, kind="row")
    assert abs(noise.row_margin(T) + 0.3) < 1e-14


def test_pmd_factor_range_follows_the_largest_h():
    # E[s] = 0.2, E[(top - second) h] = 0.3, max h = 0.6: rates from 1 - 0.2 - 0.3 / 0.6 = 0.3
    # (h / f = h / max h) up to 0.8 (every label the second class)
    with pytest.raises(InputError, match=r"\[0\.300, 0\.800\]"):
        instance.factor_from_means(0.2, 0.3, 0.6, 0.2, kind=2)
    assert instance.factor_from_means(0.2, 0.3, 0.6, 0.3, kind=2) == pytest.approx(0.6)
    assert instance.factor_from_means(0.2, 0.3, 0.6, 0.8, kind=2) == float("inf")
    # no lift (the top class never is the clean one more than the second): no factor moves
    # the rate, even the one rate the empty range holds
    with pytest.raises(InputError, match=r"\[0\.800, 0\.800\]"):
        instance.factor_from_means(0.2, 0.0, 0.6, 0.8, kind=2)


def test_instance_laws_follow_the_prior_and_their_rule_size():
    W = np.random.default_rng(0).standard_normal((3, 3, 3))
    params = {"W": W, "rate": 0.3, "sd": 0.1}
    flat = instance.overlap_laws(3, "margin", {"threshold": 0.2}, separation=2.0, points=512)
    tilted = instance.overlap_laws(
        3, "margin", {"threshold": 0.2}, separation=2.0, prior=[0.6, 0.3, 0.1], points=512
    )
    assert np.abs(flat.T_bar - tilted.T_bar).max() > 0.01
    assert len(flat.points[0][0]) == 512
    laws = instance.overlap_laws(3, "part-dependent", params, separation=2.0, points=256)
    assert not any(isinstance(law, Smoothed) for row in laws.laws for law in row)
    # every cell that receives mass has a law, however little: at a flip rate of 1e-3 a
    # cell's flip probabilities sum to well under 1 over the 256 points
    rare = instance.overlap_laws(
        3, "part-dependent", params | {"rate": 1e-3, "sd": 1e-4}, separation=2.0, points=256
    )
    for one in (laws, rare):
        for i in range(3):
            for j in range(3):
                assert (one.laws[i][j] is None) == (one.T_bar[i, j] == 0)
    assert 0 < rare.T_bar[0, 1] * 256 < 1
    # each class's output points carry unit weight: the probability criteria read masses
    for w, own, g in flat.points:
        assert w.sum() == pytest.approx(1.0) and own.shape == g.shape == (512, 3)


def test_predictions_use_their_defaults_and_the_prior():
    T = noise.named("pairwise", 0.3, 3)
    p = np.array([0.6, 0.3, 0.1])
    f = precision.oracle_fractions(T, p)

    def prec(model, **kw):
        out = precision.predict_all(T, p, model, fractions=f, n=1000, **kw)
        return [out[k].precision for k in ("global", "classwise", "rsl")]

    assert prec("perturbed") == prec("bayes")
    assert prec("perturbed", epsilon=0.3) == prec("perturbed", epsilon=0.3, alpha=1.0)
    assert prec("overlap") == prec("overlap", separation=1.0)
    assert prec("bayes", sigma=0.3) == prec("bayes", sigma=0.3, rho=0.0, epochs=1)
    laws = losses.cell_laws(T, "overlap", prior=p)
    tilted = precision.global_(laws, T, p, 0.5).precision
    assert tilted != pytest.approx(precision.global_(laws, T, None, 0.5).precision, abs=1e-3)
    got = precision.predict_from_laws(laws, laws, T, p, fractions=f, n=1000)
    assert got["global"].precision == pytest.approx(
        precision.global_(laws, T, p, p @ T @ f).precision
    )


def test_bayes_laws_ignore_epsilon_and_perturbed_defaults_to_gstar():
    T = noise.named("pairwise", 0.3, 3)
    for laws in (losses.cell_laws(T, "bayes", epsilon=0.3), losses.cell_laws(T, "perturbed")):
        assert all(isinstance(laws[i][j], Atom) for i, j in zip(*np.nonzero(T)))
