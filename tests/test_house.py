"""The structure's promises: validation once at the boundary, one rule for labels everywhere,
loss laws that answer scalars with scalars."""

import sys

import numpy as np
import pytest

from simulations.selection import rules
from simulations.synthetic import generate
from theory import conditions, losses, noise, precision, validation
from theory.errors import InputError


def count_transition_checks(monkeypatch) -> list:
    """Wrap check_transition wherever a theory module holds it; return the call log."""
    calls = []
    original = validation.check_transition

    def counting(T, *args, **kwargs):
        calls.append(1)
        return original(T, *args, **kwargs)

    for name, module in list(sys.modules.items()):
        if name.startswith("theory") and hasattr(module, "check_transition"):
            monkeypatch.setattr(module, "check_transition", counting)
    return calls


def test_report_validates_T_once(monkeypatch):
    T = noise.cifar10n("worse")
    calls = count_transition_checks(monkeypatch)
    conditions.report(T)
    assert len(calls) == 1


def test_predict_all_validates_T_once(monkeypatch):
    T = noise.pairwise(0.3, 4)
    calls = count_transition_checks(monkeypatch)
    precision.predict_all(
        T, model="perturbed", epsilon=0.2, n=1000, fractions=precision.oracle_fractions(T, None)
    )
    # oracle_fractions is its own public call; predict_all itself checks once
    assert len(calls) == 2


LABEL_CASES = [
    ([0, 1, 1, 0], True),
    (np.array([0.0, 1.0, 1.0, 0.0]), True),  # whole floats, as pandas writes them
    (np.array([0.0, 1.5, 1.0, 0.0]), False),
    (np.array([0.0, np.nan, 1.0, 0.0]), False),
    (np.array([True, False, True, False]), False),
    ([0, -1, 1, 0], False),
    (np.array(["0", "1", "1", "0"]), False),
    (np.zeros((2, 2), dtype=int), False),
]


@pytest.mark.parametrize("labels, ok", LABEL_CASES)
def test_one_rule_for_labels_everywhere(labels, ok):
    T = noise.symmetric(0.2, 2)
    uses = [
        lambda y: noise.estimate(y, y),
        lambda y: generate.noisy_labels(y, T, 0),
        lambda y: rules.select_per_class(np.arange(4, dtype=np.float32), y, [1, 1]),
        lambda y: validation.check_labels(y),
    ]
    for use in uses:
        if ok:
            use(labels)
        else:
            with pytest.raises(InputError):
                use(labels)


def every_law():
    T = noise.pairwise(0.3, 3)
    yield losses.Atom(0.5)
    yield losses.Perturbed(0.7, 0.2, 3)
    yield losses.Overlap2(noise.symmetric(0.2, 2), 0, 1, 1.5)
    yield losses.Empirical([0.1, 0.4, 0.4, 2.0])
    yield losses.Smoothed(losses.Atom(0.5), 0.1)
    yield losses.class_law(losses.cell_laws(T, "perturbed", epsilon=0.2), T, None, 1)


@pytest.mark.parametrize("law", list(every_law()), ids=lambda law: type(law).__name__)
def test_loss_laws_answer_scalars_with_floats_and_arrays_with_arrays(law):
    for method, x in (("cdf", 0.6), ("cdf_left", 0.6), ("sf", 0.6), ("pdf", 0.6), ("ppf", 0.3)):
        scalar = getattr(law, method)(x)
        assert type(scalar) is float, method
        grid = getattr(law, method)(np.full((2, 3), x))
        assert isinstance(grid, np.ndarray) and grid.shape == (2, 3), method
        np.testing.assert_allclose(grid, scalar)
    assert law.sf(0.6) == pytest.approx(1 - law.cdf(0.6))
    draws = law.rvs(size=5, random_state=0)
    assert draws.shape == (5,)
