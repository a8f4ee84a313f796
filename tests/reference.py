"""Independent implementations that the tests compare the library with: plain loops over
the definitions of theory/README.md, written without the library's helpers."""

import itertools
import math

import pytest

# The project's definition of a strict inequality between probabilities: ``a > b`` means
# ``a - b > 1e-12``, so that float ties (0.9249999999999999 vs 0.925) count as ties.
TIE = 1e-12


def gt(a, b):
    return a - b > TIE


def brute_report(T, p):
    """Every key of the report by plain loops over the definitions in theory/README.md."""
    c = len(T)
    fail_row = [i for i in range(c) if not all(gt(T[i][i], T[i][j]) for j in range(c) if j != i)]
    fail_col = [j for j in range(c) if not all(gt(T[j][j], T[i][j]) for i in range(c) if i != j)]
    row_m = min(T[i][i] - max(T[i][j] for j in range(c) if j != i) for i in range(c))
    col_m = min(T[j][j] - max(T[i][j] for i in range(c) if i != j) for j in range(c))
    mass = [sum(p[i] * T[i][j] for i in range(c)) for j in range(c)]
    eta = [1 - p[j] * T[j][j] / mass[j] if mass[j] > 0 else None for j in range(c)]
    per_class = []
    for j in range(c):
        flips = [T[i][j] for i in range(c) if i != j and T[i][j] > 0]
        per_class.append(
            {
                "class": j,
                "eta": eta[j],
                "clean_loss": -math.log(T[j][j]) if T[j][j] > 0 else None,
                "min_noisy_loss": min(-math.log(t) for t in flips) if flips else None,
            }
        )
    # every clean loss -log T_jj below every noisy loss -log T_ij, compared as probabilities
    clean_probs = [T[j][j] for j in range(c)]
    noisy_probs = [
        T[i][j] for i, j in itertools.product(range(c), range(c)) if i != j and T[i][j] > 0
    ]
    return {
        "classes": c,
        "noise_rate": 1 - sum(p[i] * T[i][i] for i in range(c)),
        "row_dominant": not fail_row,
        "column_dominant": not fail_col,
        "diagonally_dominant": not fail_row and not fail_col,
        "globally_separable": gt(min(clean_probs), max(noisy_probs, default=-math.inf)),
        "cleanlab_valid": all(
            gt(p[k] * T[k][k], mass[k] * p[k]) for k in range(c)
        ),  # strict, ties fail
        "row_margin": row_m,
        "column_margin": col_m,
        "epsilon_star": col_m / 2,
        "epsilon_star_flipping": min(
            ((T[j][j] - T[i][j]) / 2 for i in range(c) for j in range(c) if i != j and T[i][j] > 0),
            default=None,
        ),
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
