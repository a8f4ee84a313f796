"""The loss-law classes at their edges, against definitions written out in the tests:
weighted point sets, atoms at their own value, quantiles at a jump, densities that integrate
to the CDF, the epoch-mean spread as the variance of a mean."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import weighted_points

from theory import losses, noise
from theory.errors import InputError
from theory.losses import Atom, Empirical, Mixture, Overlap2, Perturbed, PerturbedSet, Smoothed


@settings(max_examples=150, deadline=None)
@given(weighted_points(1, 12, top=6, step=0.5, max_weight=5))
def test_empirical_is_its_weighted_points(points):
    v, w = points
    law = Empirical(v, w)
    p = w / w.sum()
    for x in np.concatenate([v, v + 0.25, v - 0.25]):
        assert law.cdf(x) == pytest.approx(p[v <= x].sum(), abs=1e-12)
        assert law.cdf_left(x) == pytest.approx(p[v < x].sum(), abs=1e-12)
    for q in np.concatenate([np.cumsum(p[np.argsort(v, kind="stable")]), [1e-9, 0.5, 1.0]]):
        want = min(x for x in v if p[v <= x].sum() >= q - 1e-9)
        assert law.ppf(min(q, 1.0)) == want
    assert law.support() == (v.min(), v.max())
    assert law.mean() == pytest.approx(float(p @ v))
    unweighted = Empirical(v)
    assert unweighted.cdf(v.max()) == pytest.approx(1.0)
    assert unweighted.cdf(np.median(v)) == pytest.approx(np.mean(v <= np.median(v)))


def test_atom_at_its_value():
    a = Atom(1.5)
    assert a.cdf(1.5) == 1.0 and a.cdf_left(1.5) == 0.0
    assert a.cdf(1.4999) == 0.0 and a.cdf_left(1.5001) == 1.0
    assert a.ppf(0.3) == 1.5
    np.testing.assert_array_equal(a.ppf([0.1, 0.9]), [1.5, 1.5])


def test_quantile_at_a_jump_is_the_atom():
    # half the mass at 1, half spread near 3: the 0.5-quantile is the atom itself
    mix = Mixture([Atom(1.0), Smoothed(Atom(3.0), 0.1)], [0.5, 0.5])
    assert mix.ppf(0.5) == pytest.approx(1.0, abs=1e-9)
    assert mix.ppf(0.75) == pytest.approx(3.0, abs=1e-6)


def _integral(law, a, b, n=20_001):
    x = np.linspace(a, b, n)
    y = law.pdf(x)
    return float(((y[1:] + y[:-1]) / 2 * np.diff(x)).sum())


@pytest.mark.parametrize(
    "law",
    [
        Overlap2(np.array([[0.8, 0.2], [0.3, 0.7]]), 0, 1, 1.5, [0.6, 0.4]),
        Perturbed(0.7, 0.4, 3, 2.0),
        PerturbedSet([Perturbed(0.7, 0.4, 3), Perturbed(0.2, 0.4, 3)], [2.0, 6.0]),
        Smoothed(Atom(1.0), 0.2),
        Mixture([Perturbed(0.7, 0.4, 3), Smoothed(Atom(2.0), 0.3)], [1.0, 3.0]),
    ],
    ids=["overlap2", "perturbed", "perturbed_set", "smoothed", "mixture"],
)
def test_densities_integrate_to_their_cdf(law):
    a, b = law.ppf(0.1), law.ppf(0.9)  # where the mass is: the check cannot pass on empty tails
    assert law.cdf(b) - law.cdf(a) > 0.5
    assert _integral(law, a, b) == pytest.approx(law.cdf(b) - law.cdf(a), abs=2e-4)


def test_perturbed_set_normalises_its_weights():
    laws = [Perturbed(0.7, 0.4, 3), Perturbed(0.2, 0.4, 3)]
    s = PerturbedSet(laws, [2.0, 6.0])
    for x in (0.3, 0.6, 1.2):
        assert s.cdf(x) == pytest.approx(0.25 * laws[0].cdf(x) + 0.75 * laws[1].cdf(x))
    ends = np.array([law.support() for law in laws])
    assert s.support() == (ends[:, 0].min(), ends[:, 1].max())


def test_perturbed_range_and_support():
    law = Perturbed(0.6, 1.0, 4)  # eps = 1 is allowed: the output forgets T
    assert law.support() == pytest.approx((0.0, np.inf))
    law = Perturbed(0.6, 0.3, 4)
    lo, hi = law.support()
    assert lo == pytest.approx(-np.log(0.7 * 0.6 + 0.3)) and hi == pytest.approx(-np.log(0.42))
    assert law.cdf(lo - 1e-9) == 0.0 and law.cdf(hi) == pytest.approx(1.0)
    for eps in (0.0, 1.5):
        with pytest.raises(InputError, match=r"epsilon = .* must be in \(0, 1\]"):
            Perturbed(0.6, eps, 4)


def test_smoothed_atoms_keep_mean_and_add_the_variance():
    base = Empirical([0.2, 0.5, 1.4], [1.0, 2.0, 1.0])
    law = Smoothed(base, 0.3)
    x, w = law.quantile_atoms()
    assert w.sum() == pytest.approx(1.0)
    assert x @ w == pytest.approx(base.mean())
    bx, bw = base.quantile_atoms()
    base_var = bw @ (bx - base.mean()) ** 2
    assert w @ (x - x @ w) ** 2 == pytest.approx(base_var + 0.09)
    assert w @ (x - x @ w) ** 4 == pytest.approx(
        bw @ (bx - base.mean()) ** 4 + 6 * 0.09 * base_var + 3 * 0.3**4
    )
    with pytest.raises(InputError, match="sd = 0 must be > 0"):
        Smoothed(base, 0.0)


@pytest.mark.parametrize("sigma, rho, epochs", [(1.0, 0.0, 4), (0.5, 0.3, 7), (2.0, 1.0, 3)])
def test_epoch_sd_is_the_spread_of_a_mean(sigma, rho, epochs):
    cov = sigma**2 * (rho * np.ones((epochs, epochs)) + (1 - rho) * np.eye(epochs))
    ones = np.ones(epochs) / epochs
    assert losses.epoch_sd(sigma, rho, epochs) == pytest.approx(np.sqrt(ones @ cov @ ones))


def test_overlap_rule_is_fixed_and_follows_the_prior():
    T = noise.named("pairwise", 0.3, 3)
    prior = np.array([0.6, 0.3, 0.1])
    a = losses._overlap_qmc(T, 1.5, prior, 0, 1024)
    b = losses._overlap_qmc(T, 1.5, prior, 0, 1024)
    np.testing.assert_array_equal(a, b)
    assert np.isfinite(a).all()
    # the same law by plain Monte Carlo: x ~ N(s e_i, I), q = softmax(s x + log prior)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200_000, 3))
    x[:, 0] += 1.5
    z = 1.5 * x + np.log(prior)
    q = np.exp(z - z.max(1, keepdims=True))
    q /= q.sum(1, keepdims=True)
    mc = -np.log(q @ T)
    np.testing.assert_allclose(a.mean(0), mc.mean(0), atol=0.01)


def test_overlap2_without_slope_is_an_atom():
    T = np.array([[0.7, 0.3], [0.7, 0.3]])  # both rows equal: g_j does not move with x
    law = Overlap2(T, 0, 1, 2.0, [0.5, 0.5])
    assert law.support() == pytest.approx((-np.log(0.3), -np.log(0.3)))
    assert law.cdf(-np.log(0.3)) == 1.0 and law.cdf_left(-np.log(0.3)) == 0.0
    law = Overlap2(np.array([[0.8, 0.2], [0.3, 0.7]]), 1, 1, 0.0, [0.5, 0.5])  # no separation
    assert law.cdf_left(law.support()[0]) == 0.0


def test_cell_laws_defaults_are_gstar_atoms():
    T = noise.named("pairwise", 0.3, 4)
    laws = losses.cell_laws(T)
    for i in range(4):
        for j in range(4):
            if T[i, j] > 0:
                assert laws[i][j].value == pytest.approx(-np.log(T[i, j]))
    with pytest.raises(InputError, match="unknown model 'gauss'"):
        losses.cell_laws(T, "gauss")


def test_class_law_weights_by_prior_times_T():
    T = noise.named("pairwise", 0.3, 3)
    p = np.array([0.5, 0.3, 0.2])
    laws = losses.cell_laws(T, prior=p)
    law = losses.class_law(laws, T, p, 1)
    clean_w = p[1] * T[1, 1] / (p @ T[:, 1])
    assert law.cdf(-np.log(T[1, 1])) == pytest.approx(clean_w)
    noisy = losses.class_law(laws, T, p, 1, "noisy")
    assert noisy.cdf(-np.log(T[0, 1])) == pytest.approx(1.0)
    clean = losses.class_law(laws, T, p, 1, "clean")
    assert clean.support() == pytest.approx((-np.log(T[1, 1]),) * 2)


def test_rvs_is_reproducible_from_its_seed():
    law = Perturbed(0.6, 0.3, 4)
    np.testing.assert_array_equal(law.rvs(50, random_state=3), law.rvs(50, random_state=3))
    assert not np.array_equal(law.rvs(50, random_state=3), law.rvs(50, random_state=4))


def test_perturbed_default_alpha_is_a_uniform_dirichlet():
    from scipy import stats

    law = Perturbed(0.6, 0.3, 4)
    x = 0.8
    b = (np.exp(-x) - 0.7 * 0.6) / 0.3
    assert law.cdf(x) == pytest.approx(stats.beta(1.0, 3.0).sf(b))


def test_overlap2_without_separation_is_the_prior_average():
    T = np.array([[0.8, 0.2], [0.3, 0.7]])
    p = np.array([0.3, 0.7])
    law = Overlap2(T, 1, 1, 0.0, p)
    assert law.support()[0] == pytest.approx(-np.log(p @ T[:, 1]))
    # a column with a zero entry: the support stays finite, so quantiles can be bisected
    T0 = np.array([[1.0, 0.0], [0.3, 0.7]])
    law = Overlap2(T0, 1, 1, 1.0, [0.5, 0.5])
    assert np.isfinite(law.support()).all() and np.isfinite(law.ppf(0.5))


def test_mixture_merges_points_and_groups_by_eps():
    mix = Mixture([Atom(1.0), Atom(5.0)], [1.0, 0.0])  # a weightless component is left out
    assert mix.support() == (1.0, 1.0)
    np.testing.assert_array_equal(mix.pdf(np.array([0.5, 1.0])), [0.0, 0.0])
    a, b = Perturbed(0.6, 0.3, 4), Perturbed(0.5, 0.1, 4)
    mix = Mixture([a, b], [1.0, 3.0])
    for x in (0.4, 0.6, 0.9):
        assert mix.cdf(x) == pytest.approx(0.25 * a.cdf(x) + 0.75 * b.cdf(x))
    same = Mixture([a, a], [1.0, 1.0])  # one law given twice counts once, with both weights
    assert same.cdf(0.6) == pytest.approx(a.cdf(0.6))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_components_cdfs_are_each_laws_own_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    laws = []
    for _ in range(int(rng.integers(1, 60))):
        kind = rng.integers(5)
        if kind < 2:  # two (eps, classes) groups, so grouping must keep them apart
            laws.append(Perturbed(rng.random(), [0.1, 0.3][kind], [10, 100][kind]))
        elif kind == 2:
            laws.append(Atom(rng.exponential()))
        elif kind == 3:
            laws.append(Smoothed(Empirical(rng.exponential(size=20)), 0.1))
        else:  # point sets of their own sizes, with repeated values and weights
            size = int(rng.integers(1, 30))
            laws.append(Empirical(rng.integers(0, 8, size) / 4, rng.uniform(0.5, 2, size)))
    laws.append(laws[0])  # a law shared by two cells
    # cdf_left differs from cdf at atoms and at a point set's own values
    atoms = [law.value for law in laws if isinstance(law, Atom)][:3]
    atoms += [law.values[0] for law in laws if isinstance(law, Empirical)][:3]
    for x in [*rng.exponential(size=5), 0.0, laws[0].support()[0], 60.0, *atoms]:
        for left in (False, True):
            own = [law.cdf_left(x) if left else law.cdf(x) for law in laws]
            assert np.array_equal(losses.Components(laws)(x, left=left), own)
