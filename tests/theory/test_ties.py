"""Float ties decided like exact ties; Theorem 2's limit over the pairs that flip; RSL when a
class is entirely mislabelled."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulations.cli import main
from theory import claims, conditions, noise, regions, rsl
from theory.ties import TIE


def test_a_float_tie_is_a_tie():
    float_tie = regions.two_class(0.9249999999999999, 0.075)  # identical rows, up to a bit
    exact_tie = regions.two_class(0.925, 0.075)
    assert 0 < float_tie[1, 1] - float_tie[0, 1] < TIE
    for check in (
        conditions.column_dominant,
        conditions.row_dominant,
        conditions.globally_separable,
        claims.lemma2_holds,
    ):
        assert check(float_tie) == check(exact_tie) is False, check.__name__
    assert not claims.theorem1_ordering(float_tie, 1)


VERDICTS = (
    "row_dominant",
    "column_dominant",
    "diagonally_dominant",
    "globally_separable",
    "cleanlab_valid",
)


@given(st.floats(0.05, 0.95), st.integers(0, 4))
def test_verdicts_do_not_depend_on_the_last_bits(a, bits):
    # T(a, 1 - a) has two equal rows; nudging an entry by a few ulps must not change a verdict
    T = regions.two_class(a, 1.0 - a)
    nudged = T.copy()
    nudged[1, 1] = np.nextafter(nudged[1, 1], 2.0) if bits else nudged[1, 1]
    nudged[1, 0] = 1.0 - nudged[1, 1]
    want = conditions.report(T).to_dict()
    got = conditions.report(nudged).to_dict()
    for key in VERDICTS:
        assert got[key] == want[key] is False, key


def test_check_json_is_the_same_for_a_float_tie_and_an_exact_tie(capsys, tmp_path):
    out = {}
    for name, T in (
        ("float", regions.two_class(0.9249999999999999, 0.075)),
        ("exact", regions.two_class(0.925, 0.075)),
    ):
        path = tmp_path / f"{name}.npy"
        np.save(path, T)
        assert main(["check", "--matrix", str(path), "--json"]) == 0
        out[name] = json.loads(capsys.readouterr().out)
    for key in (*VERDICTS, "classes_failing_row", "classes_failing_column"):
        assert out["float"][key] == out["exact"][key], key
    assert "epsilon_star_flipping" in out["exact"]


def test_epsilon_star_over_the_pairs_that_flip():
    T = np.array([[0.1, 0.45, 0.45], [0.0, 0.9, 0.1], [0.0, 0.1, 0.9]])
    assert conditions.epsilon_star(T) == pytest.approx(0.05)  # column 0: 0.1 - 0, nothing flips in
    assert conditions.epsilon_star_flipping(T) == pytest.approx(0.225)  # (0.9 - 0.45) / 2
    # below it no pair with noisy samples reverses; at it the worst pair can
    assert claims.tightness_witness(T, 0, 1, 0.224) is None
    assert claims.tightness_witness(T, 0, 1, 0.226) is not None
    assert conditions.epsilon_star_flipping(np.eye(3)) is None
    rep = conditions.report(noise.pairwise(0.3, 4))
    assert rep.epsilon_star_flipping == pytest.approx(rep.epsilon_star)  # every column has a flip


def test_rsl_keeps_the_other_classes_when_one_is_all_noise():
    eta = np.array([1.0, 0.2, 0.2])
    budgets = rsl.num([100, 100, 100], eta, np.full(3, 1 / 3))
    assert budgets[0] == 0
    assert np.all(budgets[1:] == pytest.approx(rsl.proportions(0.2) * 100))
