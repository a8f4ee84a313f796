import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import transition_matrices

from theory import noise, validation
from theory.errors import InputError

rates = st.floats(0.0, 1.0)
classes = st.integers(2, 12)


@given(rates, classes)
def test_families_are_row_stochastic_with_their_noise_rates(r, c):
    for T, expected in [
        (noise.symmetric(r, c), r),
        (noise.uniform(r, c), r * (c - 1) / c),
        (noise.pairwise(r, c), r),
    ]:
        assert np.allclose(T.sum(axis=1), 1.0) and T.min() >= 0
        assert noise.noise_rate(T) == pytest.approx(expected)
        # balanced families: every observed class has the overall noise rate
        np.testing.assert_allclose(noise.class_noise_rates(T), expected, atol=1e-12)


def test_family_entries():
    np.testing.assert_allclose(noise.symmetric(0.3, 4)[0], [0.7, 0.1, 0.1, 0.1])
    np.testing.assert_allclose(noise.uniform(0.4, 4)[1], [0.1, 0.7, 0.1, 0.1])
    np.testing.assert_allclose(
        noise.pairwise(0.2, 3), [[0.8, 0.2, 0], [0, 0.8, 0.2], [0.2, 0, 0.8]]
    )


def test_class_noise_rate_is_nan_where_nothing_is_observed():
    eta = noise.class_noise_rates(noise.structured_cifar10(1.0))
    assert np.isnan(eta[[2, 4, 9]]).all() and eta[3] == 1.0


@given(st.floats(0.0, 1.0, exclude_max=True))
def test_structured_class_noise_rates(r):
    T = noise.structured_cifar10(r)
    expected = [r / (1 + r), r / (1 + r), 0, r, 0, r, 0, r / (1 + r), 0, 0]
    np.testing.assert_allclose(noise.class_noise_rates(T), expected, atol=1e-12)
    assert noise.noise_rate(T) == pytest.approx(0.5 * r)


def test_structured_flips():
    T = noise.structured_cifar10(0.3)
    assert T[9, 1] == T[2, 0] == T[4, 7] == T[3, 5] == T[5, 3] == pytest.approx(0.3)
    assert T[0, 0] == T[1, 1] == T[6, 6] == T[7, 7] == T[8, 8] == 1.0


@given(transition_matrices(), st.integers(0, 2**31))
def test_estimate_recovers_T_from_exact_pairs(T, seed):
    # Build label pairs whose counts are exactly n_i * T[i, j] (T rounded to a grid).
    c = len(T)
    counts = np.round(T * 40).astype(int)
    counts[counts.sum(axis=1) == 0, 0] = 1
    clean = np.repeat(np.repeat(np.arange(c), c), counts.ravel())
    noisy = np.repeat(np.tile(np.arange(c), c), counts.ravel())
    perm = np.random.default_rng(seed).permutation(clean.size)
    T_hat, prior = noise.estimate(clean[perm], noisy[perm], classes=c)
    np.testing.assert_allclose(T_hat, counts / counts.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(prior, counts.sum(axis=1) / counts.sum())


@pytest.mark.parametrize("kind", ["row", "column", "both"])
@pytest.mark.parametrize("margin", [-0.5, -0.05, 0.0, 0.1, 0.6])
def test_random_transition_has_the_chosen_margin(kind, margin):
    for seed in range(5):
        T = noise.random_transition(6, margin, seed=seed, kind=kind)
        validation.check_transition(T)
        got = {
            "row": noise.row_margin(T),
            "column": noise.column_margin(T),
            "both": min(noise.row_margin(T), noise.column_margin(T)),
        }[kind]
        assert got == pytest.approx(margin, abs=1e-9)
    np.testing.assert_array_equal(
        noise.random_transition(5, 0.2, seed=3), noise.random_transition(5, 0.2, seed=3)
    )


def test_cifar10n_matrices_ship_and_match_their_counts():
    from importlib import resources

    for name in noise.CIFAR10N_NAMES:
        T = noise.cifar10n(name)
        path = resources.files("theory") / "data" / "cifar10n" / f"counts_{name}.csv"
        counts = np.loadtxt(str(path), delimiter=",")
        np.testing.assert_allclose(
            T, counts / counts.sum(axis=1, keepdims=True), rtol=0, atol=1e-15
        )


@pytest.mark.parametrize(
    "bad, message",
    [
        ([[0.5, 0.6], [0.5, 0.5]], "row 0"),
        ([[1.0, 0.0], [0.2, 0.7]], "row 1"),
        ([[np.nan, 1.0], [0.5, 0.5]], "finite"),
        ([[np.inf, 0.0], [0.5, 0.5]], "finite"),
        ([[1.2, -0.2], [0.5, 0.5]], "negative"),
        ([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]], "square"),
        ([[1.0]], "at least 2"),
        (np.zeros((0, 0)), "empty"),
        ([1.0, 0.0], "2-D"),
        ([["a", "b"], ["c", "d"]], "numeric"),
    ],
)
def test_validation_names_the_problem(bad, message):
    with pytest.raises(InputError, match=message):
        validation.check_transition(bad)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: noise.symmetric(1.5, 3), "outside"),
        (lambda: noise.uniform(-0.1, 3), "outside"),
        (lambda: noise.pairwise(float("nan"), 3), "finite"),
        (lambda: noise.symmetric(0.2, 1), "below 2"),
        (lambda: noise.named("gaussian", 0.2, 3), "unknown noise"),
        (lambda: noise.named("structured", 0.2, 5), "10 classes"),
        (lambda: noise.named("cifar10n-best"), "unknown CIFAR-10N"),
        (lambda: noise.estimate([0, 1, 1], [0, 1]), "differ in length"),
        (lambda: noise.estimate([0, -1], [0, 1]), "negative"),
        (lambda: noise.estimate([0, 2], [0, 2]), "clean class 1 has no samples"),
        (lambda: validation.check_prior([0.5, 0.5], 3), "expected 3"),
        (lambda: validation.check_prior([-0.5, 1.5], 2), "negative"),
    ],
)
def test_bad_arguments(call, message):
    with pytest.raises(InputError, match=message):
        call()
