"""Lemma 1, Lemma 2, Theorem 1 and Theorem 2: where each holds, and counterexamples where not."""

import itertools

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from reference import gt
from strategies import transition_matrices

from theory import claims, conditions, noise
from theory.noise import random_transition
from theory.ties import exceeds


def every_classifier(regions, c):
    return itertools.product(range(c), repeat=regions)


@st.composite
def regions(draw, c):
    m = draw(st.integers(1, 4))
    masses = draw(st.lists(st.floats(0.05, 1.0), min_size=m, max_size=m))
    true = draw(st.lists(st.integers(0, c - 1), min_size=m, max_size=m))
    return np.array(masses), np.array(true)


# --- Lemma 1 ---------------------------------------------------------------------------


@given(st.data(), transition_matrices(max_classes=4))
def test_lemma1_fstar_is_the_unique_minimiser_under_row_dominance(data, T):
    assume(conditions.row_dominant(T))
    masses, true = data.draw(regions(len(T)))
    risk_star = claims.noisy_risk(T, masses, true, true)
    for f in every_classifier(len(true), len(T)):
        f = np.array(f)
        risk = claims.noisy_risk(T, masses, true, f)
        # the excess risk is each region's mass times the row's margin over f's choice ...
        excess = sum(m * (T[t, t] - T[t, g]) for m, t, g in zip(masses, true, f)) / sum(masses)
        assert risk - risk_star == pytest.approx(excess, abs=1e-12)
        # ... so f* is the unique minimiser: any f that differs on mass does strictly worse
        if np.any((f != true) & (np.asarray(masses) > 0)):
            assert risk > risk_star
    assert claims.min_noisy_risk(T, masses, true) == pytest.approx(risk_star)


@given(st.data(), transition_matrices(max_classes=4))
def test_lemma1_without_row_dominance_a_classifier_beats_fstar(data, T):
    failing = conditions.classes_failing_row(T)
    assume(failing)
    i = failing[0]
    assume(T[i].max() > T[i, i])  # a strict failure, not a tie
    masses, true = data.draw(regions(len(T)))
    true = np.append(true, i)  # the failing class has mass
    masses = np.append(masses, 0.5)
    better = np.where(true == i, int(np.argmax(T[i])), true)
    assert claims.noisy_risk(T, masses, true, better) < claims.noisy_risk(T, masses, true, true)
    assert not claims.fstar_minimises_noisy_risk(T, masses, true)


def test_theorem2_bound_value_by_hand():
    T = noise.pairwise(0.3, 5)  # T_11 = 0.7, T_01 = 0.3
    assert claims.theorem2_bound(T, 0, 1, 0.1) == pytest.approx(np.log(0.6 / 0.4), rel=1e-12)
    assert claims.theorem2_bound(T, 0, 1, 0.0) == pytest.approx(np.log(0.7 / 0.3), rel=1e-12)
    assert claims.theorem2_bound(T, 0, 1, 0.2) == pytest.approx(0.0, abs=1e-12)  # eps* = 0.2
    assert claims.theorem2_bound(T, 0, 1, 0.25) < 0
    assert np.isnan(claims.theorem2_bound(T, 0, 1, 0.7))  # T_jj <= eps: no bound


def test_lemma1_risk_is_expected_disagreement():
    T = np.array([[0.7, 0.3], [0.2, 0.8]])
    # half the mass in class 0 predicted 1, half in class 1 predicted 1
    assert claims.noisy_risk(T, [1, 1], [0, 1], [1, 1]) == pytest.approx(0.5 * 0.7 + 0.5 * 0.2)


# --- Lemma 2 ---------------------------------------------------------------------------


@given(transition_matrices())
def test_lemma2_argmax_of_gstar_is_fstar_iff_row_dominant(T):
    assert claims.lemma2_holds(T) == conditions.row_dominant(T)
    g = claims.gstar(T, np.arange(len(T)))
    if conditions.row_dominant(T):
        np.testing.assert_array_equal(g.argmax(axis=1), np.arange(len(T)))


def test_lemma2_tie_is_not_enough():
    T = np.array([[0.5, 0.5], [0.1, 0.9]])
    assert claims.gstar_classifier(T)[0] == {0, 1}
    assert not claims.lemma2_holds(T)


# --- Theorem 1 -------------------------------------------------------------------------


@given(transition_matrices())
def test_theorem1_clean_before_noisy_exactly_when_the_column_dominates(T):
    L = claims.loss_atoms(T)
    c = len(T)
    for j in range(c):
        flips = [i for i in range(c) if i != j and T[i, j] > 0]
        # the project's strict order of probabilities: ties within 1e-12 are ties
        clean_first = all(gt(T[j, j], T[i, j]) for i in flips)
        assert claims.theorem1_ordering(T, j) == clean_first
        if clean_first:  # and then the losses are strictly ordered too
            assert all(L[j, j] < L[i, j] for i in flips)
        dominant = j not in conditions.classes_failing_column(T)
        if dominant:  # the theorem: column dominance gives the order
            assert clean_first
        elif clean_first:  # the order without dominance: only entries that never flip beat T_jj
            assert all(T[i, j] == 0 for i in range(c) if i != j and not gt(T[j, j], T[i, j]))


def test_theorem1_column_condition_without_row_condition():
    # column dominant, not row dominant: losses still order clean first, but argmax g* is wrong
    T = np.array([[0.45, 0.55, 0.0], [0.0, 0.6, 0.4], [0.0, 0.0, 1.0]])
    assert conditions.column_dominant(T) and not conditions.row_dominant(T)
    assert all(claims.theorem1_ordering(T, j) for j in range(3))
    assert claims.gstar_classifier(T)[0] == {1}


def test_theorem1_breaks_on_a_non_dominant_column():
    # row dominant, but column 1 is not: class 0 mislabelled as 1 has the smaller loss
    T = np.array([[0.52, 0.46, 0.02], [0.3, 0.4, 0.3], [0.0, 0.1, 0.9]])
    assert conditions.row_dominant(T) and not conditions.column_dominant(T)
    assert not claims.theorem1_ordering(T, 1)
    L = claims.loss_atoms(T)
    assert L[0, 1] < L[1, 1]


# --- Theorem 2 -------------------------------------------------------------------------


def perturb(row, eps, rng):
    """A random point of the simplex within sup-distance eps of ``row``."""
    for _ in range(100):
        d = rng.uniform(-eps, eps, size=row.size)
        d -= d.mean()
        g = row + d
        if g.min() >= 0 and np.abs(g - row).max() <= eps:
            return g
    return row.copy()


@given(
    transition_matrices(min_classes=2, max_classes=5), st.floats(0.0, 1.0), st.integers(0, 2**31)
)
def test_theorem2_bound_holds_for_random_eps_close_outputs(T, frac, seed):
    rng = np.random.default_rng(seed)
    c = len(T)
    for j in range(c):
        for i in range(c):
            limit = claims.pair_epsilon_limit(T, i, j)
            if i == j or not exceeds(T[j, j], T[i, j]):  # a tie (within TIE) has no room
                continue
            eps = frac * limit * 0.999
            bound = claims.theorem2_bound(T, i, j, eps)
            assert bound > 0
            for _ in range(5):
                g1, g2 = perturb(T[j], eps, rng), perturb(T[i], eps, rng)
                with np.errstate(divide="ignore"):
                    gap = np.log(g1[j]) - np.log(g2[j])
                assert gap >= bound - 1e-9


@given(transition_matrices(min_classes=2, max_classes=6), st.floats(0.0, 1.0))
def test_theorem2_witness_reverses_exactly_beyond_the_limit(T, frac):
    c = len(T)
    for i, j in itertools.permutations(range(c), 2):
        limit = claims.pair_epsilon_limit(T, i, j)
        if limit <= 1e-9:
            continue
        below = claims.tightness_witness(T, i, j, limit * frac * 0.999)
        assert below is None
        eps = limit * (1 + frac) + 1e-9
        w = claims.tightness_witness(T, i, j, eps)
        assert w is not None
        g1, g2 = w
        for g, row in ((g1, T[j]), (g2, T[i])):
            assert g.min() >= -1e-12 and g.sum() == pytest.approx(1.0)
            assert np.abs(g - row).max() <= eps + 1e-12
        assert g2[j] > g1[j]  # the noisy sample now has the smaller loss


def test_global_epsilon_limit_is_the_smallest_pair_limit():
    for seed in range(20):
        T = random_transition(5, 0.1, seed=seed, kind="column")
        pairs = [claims.pair_epsilon_limit(T, i, j) for i, j in itertools.permutations(range(5), 2)]
        assert claims.global_epsilon_limit(T) == pytest.approx(min(pairs))
        assert claims.global_epsilon_limit(T) == pytest.approx(0.05)
