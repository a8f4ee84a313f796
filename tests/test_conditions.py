"""The condition report against a brute-force reimplementation, and known cases."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given

from strategies import matrices_with_prior, transition_matrices
from theory import conditions, noise

SCIENCE_EXAMPLE = np.array([[0.40, 0.30, 0.30], [0.00, 0.55, 0.45], [0.05, 0.05, 0.90]])


def brute_report(T, p):
    """Every key of the report by plain loops over the definitions in SCIENCE.md."""
    c = len(T)
    fail_row = [i for i in range(c) if not all(T[i][i] > T[i][j] for j in range(c) if j != i)]
    fail_col = [j for j in range(c) if not all(T[j][j] > T[i][j] for i in range(c) if i != j)]
    row_m = min(T[i][i] - max(T[i][j] for j in range(c) if j != i) for i in range(c))
    col_m = min(T[j][j] - max(T[i][j] for i in range(c) if i != j) for j in range(c))
    mass = [sum(p[i] * T[i][j] for i in range(c)) for j in range(c)]
    eta = [1 - p[j] * T[j][j] / mass[j] if mass[j] > 0 else None for j in range(c)]
    per_class = []
    for j in range(c):
        flips = [T[i][j] for i in range(c) if i != j and T[i][j] > 0]
        per_class.append({
            "class": j, "eta": eta[j],
            "clean_loss": -math.log(T[j][j]) if T[j][j] > 0 else None,
            "min_noisy_loss": min(-math.log(t) for t in flips) if flips else None,
        })
    clean_losses = [-math.log(T[j][j]) if T[j][j] > 0 else math.inf for j in range(c)]
    noisy_losses = [-math.log(T[i][j]) for i, j in itertools.product(range(c), range(c)) if i != j and T[i][j] > 0]
    return {
        "classes": c,
        "noise_rate": 1 - sum(p[i] * T[i][i] for i in range(c)),
        "row_dominant": not fail_row,
        "column_dominant": not fail_col,
        "diagonally_dominant": not fail_row and not fail_col,
        "globally_separable": max(clean_losses) < min(noisy_losses, default=math.inf),
        "cleanlab_valid": all(p[k] * T[k][k] - mass[k] * p[k] > 1e-12 for k in range(c)),  # strict, ties fail
        "row_margin": row_m,
        "column_margin": col_m,
        "epsilon_star": col_m / 2,
        "classes_failing_row": fail_row,
        "classes_failing_column": fail_col,
        "per_class": per_class,
    }


def assert_same(got: dict, want: dict):
    for key, value in want.items():
        if key == "per_class":
            for g, w in zip(got[key], value, strict=True):
                for k in w:
                    assert (g[k] is None) == (w[k] is None), (k, g, w)
                    if w[k] is not None:
                        assert g[k] == pytest.approx(w[k], rel=1e-12, abs=1e-12)
        elif isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
        else:
            assert got[key] == value, key


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


def test_science_example_per_class_but_not_global():
    r = conditions.report(SCIENCE_EXAMPLE)
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
    assert (r.column_margin > 0) == r.column_dominant
    assert (r.row_margin > 0) == r.row_dominant


def test_column_dominant_but_not_row_dominant():
    T = np.array([[0.45, 0.55, 0.0], [0.0, 0.6, 0.4], [0.0, 0.0, 1.0]])
    r = conditions.report(T)
    assert r.column_dominant and not r.row_dominant
    assert r.classes_failing_row == [0] and r.classes_failing_column == []
