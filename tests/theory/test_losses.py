"""Loss laws against Monte Carlo from the simulator, and the overlap law against direct
integration."""

import numpy as np
import pytest
from hypothesis import given
from scipy import integrate, optimize, stats
from strategies import transition_matrices

from simulations.synthetic import generate
from theory import conditions, losses, noise, regions
from theory.errors import InputError

N_MC = 40_000
# one-sample KS: sup |F_n - F| exceeds 1.95/sqrt(n) with probability ~0.001 under the law
KS_TOL = 1.95 / np.sqrt(N_MC)


def simulated_cell(model: generate.Model, i: int, j: int, seed: int = 0) -> np.ndarray:
    clean = np.full(N_MC, i, dtype=np.int32)
    probs = np.concatenate([p for _, p in model.chunks(clean, seed)])
    return -np.log(probs[:, j].astype(np.float64))


def ks_distance(sample: np.ndarray, law) -> float:
    """Kolmogorov-Smirnov distance that allows the sample's float32 rounding: the simulator's
    outputs are float32, so where the law is dense, many draws share one rounded value."""
    x = np.sort(sample)
    d = 1e-6 * (1 + np.abs(x))
    F = np.asarray(law.cdf(x + d), dtype=np.float64)
    Fl = np.asarray(law.cdf_left(x - d), dtype=np.float64)
    k = np.arange(1, x.size + 1) / x.size
    return float(max(np.max(k - F), np.max(Fl - (k - 1 / x.size))))


@pytest.mark.parametrize("eps, alpha", [(0.05, 1.0), (0.3, 1.0), (0.3, 0.3), (0.8, 2.0)])
def test_perturbed_law_matches_the_simulator(eps, alpha):
    T = noise.structured_cifar10(0.4)
    model = generate.Model("perturbed", T, epsilon=eps, alpha=alpha)
    laws = losses.cell_laws(T, "perturbed", epsilon=eps, alpha=alpha)
    for i, j in [(3, 3), (5, 3), (2, 0), (0, 0)]:
        assert ks_distance(simulated_cell(model, i, j), laws[i][j]) < KS_TOL, (i, j)


@pytest.mark.parametrize("sep, prior", [(0.5, None), (1.5, [0.8, 0.2]), (3.0, [0.3, 0.7])])
def test_overlap_two_classes_matches_the_simulator(sep, prior):
    T = np.array([[0.7, 0.3], [0.2, 0.8]])
    model = generate.Model("overlap", T, separation=sep, prior=prior)
    laws = losses.cell_laws(T, "overlap", separation=sep, prior=prior)
    for i in range(2):
        for j in range(2):
            assert ks_distance(simulated_cell(model, i, j), laws[i][j]) < KS_TOL, (i, j)


def test_overlap_many_classes_qmc_rule_matches_the_simulator():
    T = noise.pairwise(0.3, 5)
    model = generate.Model("overlap", T, separation=1.2)
    laws = losses.cell_laws(T, "overlap", separation=1.2)
    for i, j in [(0, 0), (0, 1), (4, 0), (2, 2)]:
        # the rule's own error (below) adds to the sampling tolerance
        assert ks_distance(simulated_cell(model, i, j), laws[i][j]) < KS_TOL + 0.01, (i, j)


def test_qmc_rule_error_is_within_the_stated_bound():
    T = noise.symmetric(0.3, 6)
    coarse = losses.cell_laws(T, "overlap", separation=1.0)
    fine = losses.cell_laws(T, "overlap", separation=1.0, qmc_points=1 << 17)
    for j in (0, 3):
        x = np.linspace(*fine[0][j].support(), 400)
        assert np.max(np.abs(coarse[0][j].cdf(x) - fine[0][j].cdf(x))) <= 0.01


def test_overlap_two_classes_against_direct_integration():
    """P(L <= x) by integrating over x0 the Gaussian mass of the x1 half-line where L <= x."""
    T = np.array([[0.65, 0.35], [0.25, 0.75]])
    sep, prior = 1.3, np.array([0.6, 0.4])
    i, j = 0, 1
    law = losses.Overlap2(T, i, j, sep, prior)
    mu = sep * np.eye(2)[i]

    def loss(x0, x1):
        a = sep * np.array([x0, x1]) + np.log(prior)
        q = np.exp(a - a.max())
        q /= q.sum()
        return -np.log(q @ T[:, j])

    def cdf(x):
        def inner(x0):
            # loss is monotone in x1 for fixed x0: find where it crosses x
            f = lambda x1: loss(x0, x1) - x  # noqa: E731
            lo, hi = -40.0, 40.0
            if np.sign(f(lo)) == np.sign(f(hi)):
                return float(f(lo) <= 0)
            root = optimize.brentq(f, lo, hi, xtol=1e-12)
            below_left = f(root - 1.0) <= 0
            return stats.norm.cdf(root, mu[1]) if below_left else stats.norm.sf(root, mu[1])

        return integrate.quad(lambda x0: stats.norm.pdf(x0, mu[0]) * inner(x0), -12, 12, limit=200)[
            0
        ]

    lo, hi = law.support()
    for x in np.linspace(lo, hi, 7)[1:-1]:
        assert law.cdf(x) == pytest.approx(cdf(x), abs=1e-6)


@pytest.mark.parametrize("base", [losses.Atom(1.2), losses.Perturbed(0.6, 0.3, 10)])
def test_epoch_mean_law_matches_sampling(base):
    sd = losses.epoch_sd(0.8, 0.2, 10)
    law = losses.Smoothed(base, sd)
    rng = np.random.default_rng(0)
    sample = np.sort(base.rvs(N_MC, random_state=rng) + rng.normal(0, sd, N_MC))
    # the law is smooth: its CDF on a fine grid, interpolated, stands in for 40,000 evaluations
    grid = np.linspace(sample[0], sample[-1], 3000)
    F = np.interp(sample, grid, law.cdf(grid))
    k = np.arange(1, N_MC + 1) / N_MC
    assert (
        max(np.max(k - F), np.max(F - k + 1 / N_MC)) < KS_TOL + 2e-3
    )  # + the base's discretisation
    assert law.mean() == pytest.approx(base.mean(), abs=1e-3)


def test_distribution_methods_agree_with_each_other():
    law = losses.Perturbed(0.4, 0.25, 5, alpha=0.7)
    q = np.linspace(0.01, 0.99, 9)
    np.testing.assert_allclose(law.cdf(law.ppf(q)), q, atol=1e-9)
    x = law.ppf(q)
    np.testing.assert_allclose(integrate.quad(law.pdf, *law.support())[0], 1.0, atol=1e-6)
    np.testing.assert_allclose(law.sf(x), 1 - q, atol=1e-9)
    mix = losses.Mixture([losses.Atom(0.5), law], [0.3, 0.7])
    assert mix.cdf(0.5) - mix.cdf_left(0.5) == pytest.approx(0.3)
    assert mix.ppf(0.1) == pytest.approx(
        min(0.5, float(law.ppf(0.1 / 0.7))) if law.support()[0] > 0.5 else mix.ppf(0.1)
    )


def test_class_law_weights_cells_by_prior_and_T():
    T = noise.structured_cifar10(0.4)
    laws = losses.cell_laws(T, "bayes")
    clean3 = losses.class_law(laws, T, None, 3, "clean")
    noisy3 = losses.class_law(laws, T, None, 3, "noisy")
    all3 = losses.class_law(laws, T, None, 3)
    assert clean3.mean() == pytest.approx(-np.log(0.6))
    assert noisy3.mean() == pytest.approx(-np.log(0.4))
    assert all3.mean() == pytest.approx(0.6 * -np.log(0.6) + 0.4 * -np.log(0.4))


@given(transition_matrices(min_classes=2, max_classes=6))
def test_perturbed_break_is_never_before_epsilon_star(T):
    brk = regions.perturbed_break_epsilon(T)
    star = 0.5 * noise.column_margin(T)
    flipping = conditions.epsilon_star_flipping(T)
    if flipping is None:  # nothing ever flips: no eps mixes clean and noisy losses
        assert brk == 1.0
        return
    d = 2 * flipping  # the smallest T_jj - T_ij over the pairs that flip
    assert brk == pytest.approx(d / (1 + d) if d > 0 else 0.0)
    if star > 0:  # the typical model breaks no earlier than the worst case Theorem 2 allows
        assert brk >= star - 1e-12 and brk >= flipping - 1e-12


@pytest.mark.parametrize(
    "T", [noise.symmetric(0.4, 4), noise.pairwise(0.3, 5), regions.three_class(0.6, 0.45)]
)
def test_first_drop_of_predicted_precision_is_the_support_overlap(T):
    brk = regions.perturbed_break_epsilon(T)
    found = regions.first_drop_epsilon(T)
    # the tails meet with zero density: the drop is seen a little after the exact point
    assert brk <= found + 1e-3 and found - brk < 0.03


def test_bad_arguments():
    with pytest.raises(InputError):
        losses.Perturbed(0.5, 0.0, 3)
    with pytest.raises(InputError):
        losses.Smoothed(losses.Atom(1.0), 0.0)
    with pytest.raises(InputError):
        losses.cell_laws(noise.symmetric(0.2, 3), "student")


def test_precision_rises_with_class_separation():
    T = noise.pairwise(0.3, 2)
    seps = [0.25, 0.5, 1.0, 2.0, 4.0]
    prec = regions.precision_vs_separation(T, seps)
    for name, p in prec.items():
        assert np.all(np.diff(p) > 0), name
        assert p[-1] > 0.99 and p[0] < 0.8
    s = regions.separation_for_precision(T, 0.9)
    assert regions.precision_vs_separation(T, [s])["classwise"][0] == pytest.approx(0.9, abs=1e-3)
