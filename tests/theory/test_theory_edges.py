"""Edges of the theory modules that the property tests do not reach: each input check with
its message, the exact families, the bisection and root finding against direct scans."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import claims, conditions, losses, noise, precision, regions, ties, validation
from theory.errors import InputError

T2 = np.array([[0.9, 0.1], [0.2, 0.8]])


@pytest.mark.parametrize(
    "masses, true_class, predicted, message",
    [
        ([1.0, 1.0], [0], None, r"masses \(2\) and true_class \(1\) differ"),
        ([2.0, -1.0], [0, 1], None, "finite, non-negative"),
        ([np.nan, 1.0], [0, 1], None, "finite, non-negative"),
        ([0.0, 0.0], [0, 1], None, "not all zero"),
        ([1.0, 1.0], [0, 2], None, r"true_class holds a class outside 0..1"),
        ([1.0, 1.0], [-1, 0], None, r"true_class holds a class outside 0..1"),
        ([1.0, 1.0], [0, 1], [0], r"predicted \(1\) and true_class \(2\) differ"),
        ([1.0, 1.0], [0, 1], [0, 2], r"predicted holds a class outside 0..1"),
        ([1.0, 1.0], [0, 1], [-1, 0], r"predicted holds a class outside 0..1"),
    ],
)
def test_region_inputs_are_checked(masses, true_class, predicted, message):
    with pytest.raises(InputError, match=message):
        if predicted is None:
            claims.fstar_minimises_noisy_risk(T2, masses, true_class)
        else:
            claims.noisy_risk(T2, masses, true_class, predicted)


def test_fstar_attains_by_its_own_row_and_ignores_empty_regions():
    # class 1's row is dominant (0.8 is its own maximum) although 0.9 is larger elsewhere
    assert claims.fstar_minimises_noisy_risk(T2, [1.0], [1])
    assert claims.fstar_minimises_noisy_risk(T2, [1.0, 1.0], [0, 1])
    bad = np.array([[0.3, 0.7], [0.2, 0.8]])  # class 0 is not row dominant
    assert not claims.fstar_minimises_noisy_risk(bad, [1.0, 1.0], [0, 1])
    assert claims.fstar_minimises_noisy_risk(bad, [0.0, 1.0], [0, 1])  # no mass on class 0
    assert claims.fstar_minimises_noisy_risk(bad, [0.0, 1.0], [0.0, 1.0])  # float labels


def test_gstar_takes_whole_float_labels():
    np.testing.assert_array_equal(claims.gstar(T2, np.array([1.0, 0.0])), T2[[1, 0]])


@pytest.mark.parametrize("i, j", [(0, 0), (2, 0), (0, 2), (-1, 0)])
def test_witness_needs_two_classes_in_range(i, j):
    with pytest.raises(InputError, match=r"need two different classes in 0..1"):
        claims.tightness_witness(T2, i, j, 0.1)


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 5), st.floats(-0.5, 0.9), st.integers(0, 10**6), st.floats(0.0, 1.0))
def test_witness_outputs_are_eps_close_points_of_the_simplex(c, margin, seed, eps):
    T = noise.random_transition(c, margin, seed)
    for i in range(c):
        for j in range(c):
            if i == j:
                continue
            w = claims.tightness_witness(T, i, j, eps)
            if w is None:
                continue
            for g, ref in zip(w, (T[j], T[i]), strict=True):
                assert g.min() >= -1e-12 and g.max() <= 1 + 1e-12
                assert g.sum() == pytest.approx(1.0)
                assert np.abs(g - ref).max() <= eps + 1e-12
            assert w[1][j] >= w[0][j] - 1e-12


def test_theorem2_bound_where_the_clean_output_can_vanish_is_nan():
    assert np.isnan(claims.theorem2_bound(T2, 1, 0, 0.9))  # T_jj - eps = 0
    assert claims.theorem2_bound(T2, 1, 0, 0.1) == pytest.approx(np.log(0.8 / 0.3))
    assert claims.theorem2_bound(T2, 1, 0, 0.5) == pytest.approx(np.log(0.4 / 0.7))
    with pytest.raises(InputError, match="eps = -0.1 is negative"):
        claims.theorem2_bound(T2, 1, 0, -0.1)


def test_three_class_family_is_the_documented_matrix():
    np.testing.assert_allclose(
        regions.three_class(0.6, 0.45),
        [[0.4, 0.3, 0.3], [0.0, 0.55, 0.45], [0.05, 0.05, 0.9]],
    )
    np.testing.assert_allclose(regions.three_class(0.2, 0.1)[0], [0.8, 0.1, 0.1])


def test_break_epsilon_is_zero_at_a_tied_column():
    tied = np.array([[0.5, 0.5], [0.5, 0.5]])
    assert regions.perturbed_break_epsilon(tied) == 0.0
    assert regions.perturbed_break_epsilon(np.eye(2)) == 1.0
    assert regions.perturbed_break_epsilon(T2) == pytest.approx(0.7 / 1.7)


def _prec(T, p, eps, alpha, criterion):
    laws = losses.cell_laws(
        T, "perturbed" if eps > 0 else "bayes", epsilon=eps, alpha=alpha, prior=p
    )
    f = precision.oracle_fractions(T, p)
    if criterion == "classwise":
        return precision.per_class(laws, T, p, f).precision
    return precision.global_(laws, T, p, float((p @ T) @ f)).precision


@pytest.mark.parametrize("criterion", ["classwise", "global"])
def test_first_drop_matches_a_direct_scan(criterion):
    T = np.array([[0.7, 0.2, 0.1], [0.15, 0.8, 0.05], [0.1, 0.25, 0.65]])
    p = np.array([0.8, 0.15, 0.05])
    alpha = 2.0
    eps = regions.first_drop_epsilon(T, p, criterion, alpha=alpha, tol=1e-4)
    assert 0.0 < eps < 1.0
    assert _prec(T, p, eps - 2e-4, alpha, criterion) >= 1 - 1e-9
    assert _prec(T, p, eps, alpha, criterion) < 1 - 1e-9
    # the prior and alpha matter: other values give other answers
    if criterion == "global":  # per class, the prior only reweighs cells within a column
        uniform = regions.first_drop_epsilon(T, None, criterion, alpha=alpha, tol=1e-4)
        assert abs(uniform - eps) > 5e-4
    assert abs(regions.first_drop_epsilon(T, p, criterion, tol=1e-4) - eps) > 5e-4


def test_first_drop_ends():
    assert regions.first_drop_epsilon(np.array([[0.3, 0.7], [0.4, 0.6]])) == 0.0
    assert regions.first_drop_epsilon(np.eye(3)) == 1.0
    with pytest.raises(InputError, match="unknown criterion 'rsl'"):
        regions.first_drop_epsilon(T2, criterion="rsl")


def test_precision_vs_separation_is_predict_all_on_the_overlap_model():
    T = noise.named("pairwise", 0.3, 3)
    p = np.array([0.5, 0.3, 0.2])
    got = regions.precision_vs_separation(T, [1.0, 2.0], p, keep=0.6)
    for k, s in enumerate([1.0, 2.0]):
        want = precision.predict_all(
            T, p, "overlap", fractions=np.full(3, 0.6), n=100_000, separation=s
        )
        for name in ("global", "classwise", "rsl"):
            assert got[name][k] == pytest.approx(want[name].precision, abs=1e-12)
    oracle = regions.precision_vs_separation(T, [2.0], p)
    want = precision.predict_all(
        T, p, "overlap", fractions=precision.oracle_fractions(T, p), n=100_000, separation=2.0
    )
    assert oracle["classwise"][0] == pytest.approx(want["classwise"].precision, abs=1e-12)


def test_separation_for_precision_reaches_its_target():
    T = noise.named("pairwise", 0.3, 2)
    p = [0.7, 0.3]
    s = regions.separation_for_precision(T, 0.9, p)
    at = regions.precision_vs_separation(T, [s - 0.01, s + 0.01], p)["classwise"]
    assert at[0] < 0.9 < at[1]
    assert regions.separation_for_precision(T, 1.5) == float("inf")


def test_pairwise_and_named_families():
    T = noise.pairwise(0.3, 3)
    np.testing.assert_allclose(T, [[0.7, 0.3, 0], [0, 0.7, 0.3], [0.3, 0, 0.7]])
    np.testing.assert_allclose(noise.pairwise(0.0, 3), np.eye(3))
    with pytest.raises(InputError, match="unknown noise 'gauss'; choose from symmetric, "):
        noise.named("gauss", 0.2, 3)
    with pytest.raises(InputError, match="structured noise is defined for 10 classes"):
        noise.named("structured", 0.2, 11)
    assert noise.named("cifar10n-worse", None, 10).shape == (10, 10)
    with pytest.raises(InputError, match="unknown CIFAR-10N label set 'best'; choose from aggre, "):
        noise.cifar10n("best")


def test_estimate_from_pairs_messages_and_classes():
    with pytest.raises(InputError, match="clean labels contain a negative value"):
        noise.estimate([-1, 0], [0, 0])
    with pytest.raises(InputError, match="noisy labels must be integers"):
        noise.estimate([0, 1], [0.5, 1])
    T, prior = noise.estimate([0, 1, 1], [0, 1, 0], classes=2)
    np.testing.assert_allclose(T, [[1, 0], [0.5, 0.5]])
    assert T.dtype == np.float64 and T.flags.c_contiguous
    with pytest.raises(InputError, match="clean class 2 has no samples"):
        noise.estimate([0, 1], [0, 1], classes=3)
    with pytest.raises(InputError, match="a label is 2, outside 0..1"):
        noise.estimate([0, 2], [0, 1], classes=2)


def test_noise_rate_uses_the_prior():
    T = np.array([[0.9, 0.1], [0.4, 0.6]])
    assert noise.noise_rate(T, [0.75, 0.25]) == pytest.approx(0.75 * 0.1 + 0.25 * 0.4)


@pytest.mark.parametrize("kind", ["row", "column", "both"])
@pytest.mark.parametrize("margin", [-0.9, -0.2, 0.0, 0.5, 0.95])
def test_random_transition_hits_its_margin(kind, margin):
    T = noise.random_transition(4, margin, seed=3, kind=kind)
    got = {"row": noise.row_margin(T), "column": noise.column_margin(T)}
    got["both"] = min(got.values())
    assert got[kind] == pytest.approx(margin, abs=1e-12)
    np.testing.assert_allclose(T.sum(1), 1.0, atol=1e-15)
    assert not np.allclose(noise.random_transition(4, margin, 3, kind, concentration=5.0), T)


@pytest.mark.parametrize("margin", [-1.0, 1.0, 1.5, -2.0])
def test_random_transition_margin_range(margin):
    with pytest.raises(InputError, match=r"is outside \(-1, 1\)"):
        noise.random_transition(3, margin, 0)


def test_validation_messages_name_the_input():
    with pytest.raises(InputError, match="^labels are empty$"):
        validation.check_labels([])
    assert validation.check_labels([], nonempty=False).size == 0
    assert validation.check_labels([0]).tolist() == [0]
    with pytest.raises(InputError, match="^labels must be 1-D, got shape"):
        validation.check_labels([[0, 1]])
    with pytest.raises(InputError, match="^labels hold 3, outside 0..2$"):
        validation.check_labels([0, 3], classes=3)
    assert validation.check_labels([0, 2], classes=3).tolist() == [0, 2]
    assert validation.check_labels(np.array([1.0, 2.0])).dtype == np.int64
    with pytest.raises(InputError, match=r"^rate = 1.5 is outside \[0, 1\]"):
        validation.check_unit(1.5)
    with pytest.raises(InputError, match="^losses contain NaN$"):
        validation.check_scores([0.1, np.nan])
    assert validation.check_scores(np.array([1, 2])).dtype == np.float32
    with pytest.raises(InputError, match="^losses must be 1-D"):
        validation.check_scores([[0.1]])


def test_one_tie_tolerance_on_both_sides():
    assert not ties.exceeds(ties.TIE, 0.0)  # a difference of exactly TIE is a tie
    assert ties.ties(ties.TIE, 0.0)
    assert ties.exceeds(2 * ties.TIE, 0.0)
    assert not ties.ties(2 * ties.TIE, 0.0)


def test_report_carries_T_and_global_separability_by_columns():
    # every diagonal entry beats every off-diagonal entry of its column, but not of its row
    T = np.array([[0.6, 0.4], [0.05, 0.95]])
    rep = conditions.report(T)
    assert T.tolist() == rep.T
    assert rep.globally_separable == conditions.globally_separable(T)
    col_only = np.array([[0.5, 0.45, 0.05], [0.0, 0.6, 0.4], [0.3, 0.0, 0.7]])
    assert conditions.globally_separable(col_only) == bool(
        np.diag(col_only).min() > max(col_only[i, j] for i in range(3) for j in range(3) if i != j)
    )


def test_float_checks_at_their_bounds():
    assert validation.check_float(0.0, "x", 0.0, 1.0) == 0.0
    assert validation.check_float(1.0, "x", 0.0, 1.0) == 1.0
    with pytest.raises(InputError, match=r"^x = 0 is outside \(0, 1\]$"):
        validation.check_float(0.0, "x", 0.0, 1.0, low_open=True)
    with pytest.raises(InputError, match=r"^x = 1 is outside \[0, 1\)$"):
        validation.check_float(1.0, "x", 0.0, 1.0, high_open=True)
    with pytest.raises(InputError, match=r"^x = -0.5 is outside \[0, 1\]$"):
        validation.check_float(-0.5, "x", 0.0, 1.0)
    assert validation.check_int(5, "k", low=1, high=5) == 5
    with pytest.raises(InputError, match="k = 6 is above 5"):
        validation.check_int(6, "k", low=1, high=5)
    with pytest.raises(InputError, match="must be an integer"):
        validation.check_int(float("inf"), "k")
    with pytest.raises(InputError, match="^classes = 1 is below 2$"):
        validation.check_classes(1)


def test_matrix_and_prior_checks_at_their_bounds():
    with pytest.raises(InputError, match="^T needs at least 2 classes, got 1$"):
        validation.check_transition([[1.0]])
    with pytest.raises(InputError, match="^row 0 of T sums to 1.1, not 1"):
        validation.check_transition([[0.9, 0.2], [0.5, 0.5]])
    ok = validation.check_transition([[0.5 + 5e-10, 0.5], [0.5, 0.5]])  # within the tolerance
    assert ok.shape == (2, 2)
    assert validation.check_prior([0.0, 1.0], 2).tolist() == [0.0, 1.0]  # a zero share is fine
    with pytest.raises(InputError, match="^prior sums to 0$"):
        validation.check_prior([0.0, 0.0], 2)
    with pytest.raises(InputError, match=r"^prior\[1\] is negative$"):
        validation.check_prior([1.0, -0.5], 2)


def test_cleanlab_validity_depends_on_the_prior():
    # column 0 is (0.5, 0.6, 0.1): T[0, 0] beats its prior-weighted average only if class 1
    # is rare
    T = np.array([[0.5, 0.25, 0.25], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    assert conditions.cleanlab_valid(T, None) != conditions.cleanlab_valid(T, [0.05, 0.9, 0.05])


def test_clean_loss_of_a_perfect_class_is_plus_zero():
    import math

    rep = conditions.report(np.array([[1.0, 0.0], [0.2, 0.8]]))
    assert math.copysign(1.0, rep.per_class[0].clean_loss) == 1.0


def test_rsl_leaves_empty_and_priorless_classes_out():
    from theory import rsl

    n, eta, p = (
        np.array([100.0, 80.0, 60.0]),
        np.array([0.2, 0.3, 0.1]),
        np.array([0.4, 0.35, 0.25]),
    )
    full = rsl.num(n, eta, p)
    empty = rsl.num(np.array([100.0, 80.0, 0.0]), eta, p)
    np.testing.assert_allclose(empty[:2], rsl.num(n[:2], eta[:2], p[:2]))
    assert empty[2] == 0.0 and full[2] > 0
    priorless = rsl.num(n, eta, np.array([0.5, 0.5, 0.0]))
    np.testing.assert_allclose(priorless[:2], rsl.num(n[:2], eta[:2], np.array([0.5, 0.5])))
    assert priorless[2] == 0.0


def test_separation_for_a_low_target_is_found_below_one():
    T = noise.named("pairwise", 0.3, 2)
    s = regions.separation_for_precision(T, 0.72, [0.5, 0.5])
    at = regions.precision_vs_separation(T, [max(s - 0.01, 1e-3), s + 0.01], [0.5, 0.5])
    assert s < 1.0 and at["classwise"][0] < 0.72 < at["classwise"][1]


def test_random_transition_default_concentration_is_one():
    np.testing.assert_array_equal(
        noise.random_transition(4, 0.3, 5), noise.random_transition(4, 0.3, 5, concentration=1.0)
    )


def test_smoothing_skips_empty_cells_and_goes_on_along_the_row():
    a, b = losses.Atom(0.1), losses.Atom(2.0)
    laws = losses.smooth_laws([[None, a, b], [a, None, None]], 0.3)
    assert laws[0][0] is None and laws[1][1] is None and laws[1][2] is None
    assert all(isinstance(law, losses.Smoothed) for law in (laws[0][1], laws[0][2], laws[1][0]))
    assert laws[0][1] is laws[1][0]  # a shared law stays shared


def test_a_cell_without_a_law_is_left_out_of_the_prediction():
    # a validation split with no sample of class 1 leaves its cells without a law
    T = noise.named("symmetric", 0.3, 3)
    laws = losses.cell_laws(T, "perturbed", epsilon=0.2)
    laws[1] = [None, None, None]
    pred = precision.per_class(laws, T, None, [0.6, 0.6, 0.6])
    assert np.all(pred.kept[1] == 0) and pred.precision is not None
    glob = precision.global_(laws, T, None, 0.5)
    assert np.all(glob.kept[1] == 0)


def test_kept_below_budget_reuses_mixtures_only_for_the_same_laws_and_weights():
    precision._mixtures.clear()
    # new laws every round, old ones dropped: a reused id must never bring back an old law
    for k in range(3 * precision.MIXTURE_CACHE):
        low, high = sorted([float(k % 7), 7.5 - k % 7])
        laws = (
            [losses.Atom(high), losses.Atom(low)]
            if k % 2
            else [losses.Atom(low), losses.Atom(high)]
        )
        got = precision.kept_below_budget(laws, np.array([0.5, 0.5]), 0.5)
        assert got.tolist() == ([0.0, 0.5] if k % 2 else [0.5, 0.0]), k
        assert len(precision._mixtures) <= precision.MIXTURE_CACHE
    laws = [losses.Perturbed(0.8, 0.2, 10), losses.Empirical([0.1, 0.4, 2.0]), losses.Atom(0.3)]
    w = np.array([0.5, 0.3, 0.2])
    first = precision.kept_below_budget(laws, w, 0.4)
    assert np.array_equal(precision.kept_below_budget(laws, w, 0.4), first)
    # the same laws with other weights are another mixture
    other = precision.kept_below_budget(laws, w[::-1].copy(), 0.4)
    precision._mixtures.clear()
    assert np.array_equal(precision.kept_below_budget(laws, w[::-1].copy(), 0.4), other)
    assert not np.array_equal(other, first)
