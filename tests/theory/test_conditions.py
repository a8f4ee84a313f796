"""The condition report against a brute-force reimplementation, and known cases."""

import numpy as np
import pytest
from hypothesis import given
from reference import assert_same, brute_report
from strategies import matrices_with_prior, transition_matrices

from theory import conditions, noise
from theory.ties import TIE

WORKED_EXAMPLE = np.array([[0.40, 0.30, 0.30], [0.00, 0.55, 0.45], [0.05, 0.05, 0.90]])


@given(matrices_with_prior())
def test_report_matches_brute_force(Tp):
    T, p = Tp
    assert_same(conditions.report(T, p).to_dict(), brute_report(T.tolist(), p.tolist()))


@pytest.mark.parametrize("name", noise.CIFAR10N_NAMES)
def test_report_matches_brute_force_on_real_noise(name):
    T = noise.cifar10n(name)
    assert_same(conditions.report(T).to_dict(), brute_report(T.tolist(), [0.1] * 10))


@given(matrices_with_prior(zeros=False))
def test_cleanlab_validity_agrees_with_cleanlab(Tp):
    nm = pytest.importorskip("cleanlab.benchmarking.noise_generation")
    T, p = Tp
    # cleanlab's noise_matrix is P(label | true label) with columns summing to 1: our T transposed.
    margins = p * np.diag(T) - (p @ T) * p
    if np.min(np.abs(margins)) < 1e-9:
        return  # a tie sits on the boundary where float rounding decides
    assert conditions.cleanlab_valid(T, p) == bool(nm.noise_matrix_is_valid(T.T, p))


def test_a_constant_matrix_is_not_cleanlab_valid_whatever_the_rounding():
    T = np.full((3, 3), 1 / 3)
    for p in ([0.42687353, 0.28656323, 0.28656324], None, [0.2, 0.3, 0.5]):
        assert not conditions.cleanlab_valid(T, p)


def test_the_worked_example_is_per_class_but_not_global():
    r = conditions.report(WORKED_EXAMPLE)
    assert r.row_dominant and r.column_dominant and r.diagonally_dominant
    assert not r.globally_separable
    # the clean class-0 loss exceeds the loss of class 1 mislabelled as 2
    assert r.per_class[0].clean_loss > -np.log(0.45)


@given(transition_matrices())
def test_global_separability_implies_column_dominance(T):
    if conditions.globally_separable(T):
        assert conditions.column_dominant(T)


@given(transition_matrices())
def test_epsilon_star_is_half_the_column_margin_and_sign_matches(T):
    r = conditions.report(T)
    assert r.epsilon_star == pytest.approx(r.column_margin / 2)
    # dominance is a margin above the tie tolerance, not merely a positive one
    assert (r.column_margin > TIE) == r.column_dominant
    assert (r.row_margin > TIE) == r.row_dominant


def test_column_dominant_but_not_row_dominant():
    T = np.array([[0.45, 0.55, 0.0], [0.0, 0.6, 0.4], [0.0, 0.0, 1.0]])
    r = conditions.report(T)
    assert r.column_dominant and not r.row_dominant
    assert r.classes_failing_row == [0] and r.classes_failing_column == []
