"""The Numba generators: labels reproduce T, outputs stay where their models say, seeds repeat."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from strategies import transition_matrices

from simulations.synthetic import generate
from theory import noise
from theory.errors import InputError


def chi2_rows(clean, noisy, T):
    """p-value per clean class of the noisy labels' counts against that row of T."""
    out = []
    for i in range(len(T)):
        obs = np.bincount(noisy[clean == i], minlength=len(T))
        support = T[i] > 0
        assert obs[~support].sum() == 0  # never a label that T forbids
        if support.sum() > 1:
            out.append(stats.chisquare(obs[support], obs.sum() * T[i, support]).pvalue)
    return np.array(out)


@pytest.mark.parametrize(
    "T",
    [
        noise.symmetric(0.4, 10),
        noise.pairwise(0.3, 100),
        noise.uniform(0.6, 30),
        noise.structured_cifar10(0.4),
        noise.cifar10n("worse"),
    ],
    ids=["symmetric10", "pairwise100", "uniform30", "structured", "cifar10n-worse"],
)
def test_iid_labels_follow_T(T):
    c = len(T)
    clean = generate.clean_labels(400_000, np.full(c, 1 / c), seed=1)
    noisy = generate.noisy_labels(clean, T, seed=2)
    p = chi2_rows(clean, noisy, T)
    # fixed seeds: with c tests at 1e-4 a false alarm has probability <= 1e-2
    assert p.min() > 1e-4, p.min()


def test_clean_labels_follow_the_prior():
    prior = np.array([0.5, 0.3, 0.15, 0.05])
    y = generate.clean_labels(200_000, prior, seed=3)
    assert stats.chisquare(np.bincount(y), 200_000 * prior).pvalue > 1e-4


@given(transition_matrices(max_classes=8), st.integers(1, 400), st.integers(0, 2**32 - 1))
@settings(max_examples=40)
def test_exact_mode_realises_the_rounded_counts(T, per_class, seed):
    c = len(T)
    clean = np.repeat(np.arange(c), per_class + np.arange(c))
    clean = np.random.default_rng(seed).permutation(clean)
    noisy = generate.noisy_labels(clean, T, seed, exact=True)
    sizes = np.bincount(clean, minlength=c)
    got = np.bincount(clean * c + noisy, minlength=c * c).reshape(c, c)
    np.testing.assert_array_equal(got, generate.exact_counts(sizes, T))
    # every cell within one sample of its target, every row adding up, the noise within one per
    # class
    assert np.all(np.abs(got - T * sizes[:, None]) < 1 + 1e-9)
    assert np.all(np.abs(np.diag(got) - np.diag(T) * sizes) < 1 + 1e-9)


def test_exact_mode_delivers_the_noise_cleanlab_floors_away():
    c, per = 120, 50
    T = noise.symmetric(0.2, c)
    clean = np.repeat(np.arange(c), per)
    noisy = generate.noisy_labels(clean, T, 0, exact=True)
    assert abs((noisy != clean).mean() - 0.2) <= 1 / per
    nm = pytest.importorskip("cleanlab.benchmarking.noise_generation")
    np.random.seed(0)
    theirs = nm.generate_noisy_labels(clean, T.T)
    assert (theirs != clean).mean() < 0.1  # far below the 20% asked for


def test_exact_mode_order_is_random_within_a_class():
    clean = np.zeros(10_000, dtype=np.int64)
    clean[1::2] = 1
    noisy = generate.noisy_labels(clean, noise.symmetric(0.5, 2), 4, exact=True)
    flipped = noisy[clean == 0] != 0
    assert flipped.sum() == 2500
    assert 0.4 < flipped[:2500].mean() < 0.6  # not handed out in one block


def test_same_seed_same_bytes_and_chunking_does_not_matter():
    T = noise.cifar10n("random1")
    clean = generate.clean_labels(3 * generate.CHUNK + 17, np.full(10, 0.1), seed=5)
    a = generate.noisy_labels(clean, T, seed=6)
    b = generate.noisy_labels(clean, T, seed=6)
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, generate.noisy_labels(clean, T, seed=7))
    # a prefix of the run equals the run on the prefix: chunks own their streams
    head = generate.noisy_labels(clean[: generate.CHUNK], T, seed=6)
    np.testing.assert_array_equal(head, a[: generate.CHUNK])
    m = generate.Model("perturbed", T, epsilon=0.3)
    l1 = generate.observed_losses(m, clean, a, 8)
    assert l1.tobytes() == generate.observed_losses(m, clean, a, 8).tobytes()


def test_alias_tables_reproduce_their_rows():
    P = np.random.default_rng(0).dirichlet(np.full(40, 0.3), size=5)
    prob, alias = generate.alias_tables(P)
    c = P.shape[1]
    rebuilt = np.zeros_like(P)
    for r in range(len(P)):
        for k in range(c):
            rebuilt[r, k] += prob[r, k] / c
            rebuilt[r, alias[r, k]] += (1 - prob[r, k]) / c
    np.testing.assert_allclose(rebuilt, P, atol=1e-12)


@pytest.mark.parametrize("eps", [0.0, 0.05, 0.3, 1.0])
def test_perturbed_outputs_are_eps_close_and_on_the_simplex(eps):
    T = noise.structured_cifar10(0.4)
    clean = generate.clean_labels(50_000, np.full(10, 0.1), 0)
    m = generate.Model("perturbed", T, epsilon=eps, alpha=0.5)
    P = np.concatenate([p for _, p in m.chunks(clean, 1)])
    assert P.min() >= 0
    np.testing.assert_allclose(P.sum(axis=1), 1, atol=1e-5)
    assert np.abs(P - T[clean]).max() <= eps + 1e-6


def test_bayes_and_overlap_outputs():
    T = noise.pairwise(0.3, 5)
    clean = generate.clean_labels(20_000, np.full(5, 0.2), 0)
    bayes = np.concatenate([p for _, p in generate.Model("bayes", T).chunks(clean, 1)])
    np.testing.assert_array_equal(bayes, T[clean].astype(np.float32))
    far = np.concatenate(
        [p for _, p in generate.Model("overlap", T, separation=12.0).chunks(clean, 1)]
    )
    np.testing.assert_allclose(far, T[clean], atol=1e-3)  # well separated: the posterior is one-hot
    flat = np.concatenate(
        [p for _, p in generate.Model("overlap", T, separation=0.0).chunks(clean, 1)]
    )
    np.testing.assert_allclose(flat, np.tile(np.full(5, 0.2) @ T, (clean.size, 1)), atol=1e-6)


def test_cross_entropy_matches_numpy():
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(7), size=10_000).astype(np.float32)
    y = rng.integers(0, 7, 10_000)
    np.testing.assert_allclose(
        generate.cross_entropy(P, y), -np.log(P[np.arange(10_000), y]), rtol=1e-6
    )
    with pytest.raises(InputError, match="outside"):
        generate.cross_entropy(P, np.full(10_000, 7))


def test_epoch_fluctuation_has_the_stated_spread():
    base = np.zeros(400_000, dtype=np.float32)
    last, mean = generate.epoch_losses(base, epochs=8, sigma=0.5, rho=0.3, seed=0)
    assert last.std() == pytest.approx(0.5, rel=0.01)
    assert mean.std() == pytest.approx(0.5 * np.sqrt(0.3 + 0.7 / 8), rel=0.01)
    assert np.corrcoef(last, mean)[0, 1] > 0


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: generate.clean_labels(0, [0.5, 0.5], 0), "below 1"),
        (lambda: generate.noisy_labels([0, 3], noise.symmetric(0.1, 3), 0), "outside"),
        (lambda: generate.noisy_labels([0, 1], [[0.5, 0.6], [0.5, 0.5]], 0), "row 0"),
        (lambda: generate.Model("gaussian", noise.symmetric(0.1, 3)), "unknown model"),
        (lambda: generate.Model("perturbed", noise.symmetric(0.1, 3), epsilon=-0.1), "epsilon"),
        (lambda: generate.epoch_losses(np.zeros(3), 0, 0.1, 0.0, 0), "epochs"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(InputError, match=message):
        call()
