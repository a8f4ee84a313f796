"""Selection criteria against brute force and hand computations."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from simulations.selection import rules
from theory import noise, rsl
from theory.errors import InputError


def brute_per_class(losses, labels, counts):
    out = np.zeros(losses.size, dtype=bool)
    for k in range(len(counts)):
        idx = np.flatnonzero(labels == k)
        out[idx[np.argsort(losses[idx], kind="stable")][: counts[k]]] = True
    return out


loss_values = st.one_of(
    st.floats(width=32, allow_nan=False),
    st.sampled_from([0.0, -0.0, 0.5, 1.0, np.inf, 2.0]),  # ties, signed zeros, infinity
)


@given(st.data(), st.integers(1, 300), st.integers(1, 6))
def test_per_class_selection_equals_a_stable_sort(data, n, c):
    losses = data.draw(arrays(np.float32, n, elements=loss_values))
    labels = data.draw(arrays(np.int64, n, elements=st.integers(0, c - 1)))
    counts = data.draw(arrays(np.int64, c, elements=st.integers(0, n + 2)))
    got = rules.select_per_class(losses, labels, counts)
    # -0.0 and 0.0 are one value: compare against a sort of the canonical values
    np.testing.assert_array_equal(got, brute_per_class(losses + np.float32(0), labels, counts))


def test_large_selection_equals_a_stable_sort():
    rng = np.random.default_rng(0)
    n, c = 300_000, 10
    losses = np.round(rng.exponential(size=n), 3).astype(np.float32)  # many ties
    labels = rng.integers(0, c, n)
    counts = rng.integers(0, n // c, c)
    np.testing.assert_array_equal(
        rules.select_per_class(losses, labels, counts), brute_per_class(losses, labels, counts)
    )
    total = int(counts.sum())
    np.testing.assert_array_equal(
        rules.select_global(losses, total), brute_per_class(losses, np.zeros(n, int), [total])
    )


def test_rsl_budgets_structured_cifar10_by_hand():
    # 4,500 samples per clean class, structured noise r = 0.4, beta 0.2, gamma = (1+z)/2.
    T = noise.structured_cifar10(0.4)
    n_noisy = 4500 * T.sum(axis=0)  # [6300, 6300, 2700, 4500, 2700, 4500, 4500, 6300, 4500, 2700]
    np.testing.assert_allclose(
        n_noisy, [6300, 6300, 2700, 4500, 2700, 4500, 4500, 6300, 4500, 2700]
    )
    eta = noise.class_noise_rates(T)
    # prop: eta = 2/7 -> max(1 - 1.2*2/7, 0.8*5/7) = 23/35; eta = 0 -> 1; eta = 0.4 -> max(0.52,
    # 0.48) = 0.52
    prop = rsl.proportions(eta)
    np.testing.assert_allclose(prop[[0, 2, 3]], [23 / 35, 1.0, 0.52])
    # available = prop * n: 4140 (classes 0, 1, 7), 2700 (2, 4, 9), 2340 (3, 5), 4500 (6, 8)
    # z = available / 0.1: min 23400, max 45000, so gamma = (1 + 45000/23400)/2 and
    # gamma * m * p = (23400 + 45000)/2 * 0.1 = 3420
    want = [3420, 3420, 2700, 2340, 2700, 2340, 3420, 3420, 3420, 2700]
    np.testing.assert_array_equal(rules.rsl_budgets(n_noisy, eta, np.full(10, 0.1)), want)
    # gamma = 1 keeps 2340 of every class that has that many; gamma = z keeps all available
    np.testing.assert_array_equal(
        rules.rsl_budgets(n_noisy, eta, np.full(10, 0.1), gamma="one"), [2340] * 10
    )
    np.testing.assert_array_equal(
        rules.rsl_budgets(n_noisy, eta, np.full(10, 0.1), gamma="z"),
        [4140, 4140, 2700, 2340, 2700, 2340, 4500, 4140, 4500, 2700],
    )


def test_rsl_weights_by_hand():
    mean_loss = np.array([1.0, 2.0, 3.0, 10.0, 20.0])
    labels = np.array([0, 0, 0, 1, 1])
    w = rules.rsl_weights(mean_loss, labels, np.array([True, True, True, True, False]))
    np.testing.assert_allclose(w, [1.0, 0.7**0.5, 0.7, 1.0, 0.0])


def test_every_criterion_on_a_tiny_example():
    # observed class 0: clean losses 0.1, 0.2; noisy 0.9. class 1: clean 0.3; noisy 0.05 (low!)
    losses = np.array([0.1, 0.2, 0.9, 0.3, 0.05], dtype=np.float32)
    labels = np.array([0, 0, 0, 1, 1])
    np.testing.assert_array_equal(rules.select_per_class(losses, labels, [2, 1]), [1, 1, 0, 0, 1])
    np.testing.assert_array_equal(rules.select_global(losses, 3), [1, 1, 0, 0, 1])
    np.testing.assert_array_equal(rules.select_per_class(losses, labels, [1, 0]), [1, 0, 0, 0, 0])
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.3, 0.7], [0.7, 0.3]], dtype=np.float32)
    # thresholds: class 0 mean of (0.9, 0.8, 0.2) = 0.633; class 1 mean of (0.7, 0.3) = 0.5
    np.testing.assert_allclose(rules.confident_thresholds(probs, labels), [1.9 / 3, 0.5], rtol=1e-6)
    np.testing.assert_array_equal(rules.select_confident(probs, labels), [1, 1, 0, 1, 0])
    # no class above its threshold: off the confident joint, so kept
    assert rules.select_confident(np.array([[0.6, 0.4]]), np.array([1]), [0.7, 0.5])[0]


def test_gmm_separates_two_clear_clusters():
    rng = np.random.default_rng(0)
    losses = np.concatenate([rng.normal(0.2, 0.05, 800), rng.normal(3.0, 0.3, 200)]).astype(
        np.float32
    )
    keep = rules.select_gmm(np.abs(losses), seed=0)
    assert keep[:800].all() and not keep[800:].any()


def test_metrics():
    m = rules.metrics(
        np.array([1, 1, 0, 1], bool), np.array([0, 1, 1, 0]), np.array([0, 0, 1, 0]), 2
    )
    assert m["selected"] == 3 and m["observed_precision"] == pytest.approx(2 / 3)
    assert m["observed_recall"] == pytest.approx(2 / 3)
    assert m["per_class_precision"] == [pytest.approx(2 / 3), None]
    assert m["class_distribution"] == [1.0, 0.0]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: rules.select_per_class([np.nan, 1.0], [0, 0], [1]), "NaN"),
        (lambda: rules.select_per_class([1.0, 2.0], [0, 1, 1], [1, 1]), "expected 2"),
        (lambda: rules.select_per_class([1.0, 2.0], [0, 1], [1]), "one entry per class"),
        (lambda: rules.select_per_class([1.0, 2.0], [0, 1], [1, -1]), "non-negative"),
        (
            lambda: rules.rsl_budgets([10, 10], [0.1, 0.1], [0.5, 0.5], gamma="two"),
            "unknown gamma",
        ),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(InputError, match=message):
        call()
