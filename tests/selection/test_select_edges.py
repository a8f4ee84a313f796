"""Selection criteria at their edges: empty and tiny inputs, constant losses, classes seen once,
and DivideMix's GMM against its published settings."""

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from simulations.selection import rules
from theory.errors import InputError

# ten EM steps often stop short of convergence: that is DivideMix's recipe
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _losses(n=4000, seed=0):
    """Two overlapping loss groups, dense enough that any change of the fitted mixture moves
    the decision boundary past some sample."""
    rng = np.random.default_rng(seed)
    clean = rng.gamma(2.0, 0.15, size=int(0.7 * n))
    noisy = rng.normal(1.4, 0.5, size=n - clean.size)
    return rng.permutation(np.concatenate([clean, noisy])).astype(np.float32)


def _dividemix_reference(losses, seed, iters=10, fit_on=None):
    """DivideMix's fit written from its settings: min-max normalised losses, two components,
    10 EM steps, tolerance 1e-2, covariance floor 5e-4; keep P(low-mean component) > 0.5."""
    x = losses.astype(np.float64)
    x = (x - x.min()) / (x.max() - x.min())
    gmm = GaussianMixture(
        n_components=2, max_iter=iters, tol=1e-2, reg_covar=5e-4, random_state=seed
    )
    gmm.fit((x if fit_on is None else fit_on(x))[:, None])
    return gmm.predict_proba(x[:, None])[:, int(np.argmin(gmm.means_.ravel()))] > 0.5


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_gmm_is_dividemix_fit(seed):
    losses = _losses(seed=seed)
    got = rules.select_gmm(losses, seed=seed)
    assert got.dtype == bool
    np.testing.assert_array_equal(got, _dividemix_reference(losses, seed))


def test_gmm_stops_after_ten_em_steps():
    """Two close spikes on a uniform floor, where EM (seed 2) takes 11 steps to meet the
    tolerance with scikit-learn 1.x: the tenth step's fit, which DivideMix keeps, differs
    from the converged one by 6 samples, so a change of the step cap shows."""
    rng = np.random.default_rng(18)
    gap, sd, floor = rng.uniform(0.05, 0.2), 10 ** rng.uniform(-3.5, -2), int(rng.integers(50, 600))
    losses = np.concatenate(
        [
            rng.normal(0.5 - gap / 2, sd, 2000),
            rng.normal(0.5 + gap / 2, sd, 2000),
            rng.random(floor),
        ]
    ).astype(np.float32)
    np.testing.assert_array_equal(rules.select_gmm(losses, seed=2), _dividemix_reference(losses, 2))


def test_gmm_fits_a_seeded_subsample_without_replacement_above_fit_max():
    losses = _losses(n=3000, seed=9)
    got = rules.select_gmm(losses, seed=4, fit_max=1000)
    want = _dividemix_reference(
        losses, 4, fit_on=lambda x: np.random.default_rng(4).choice(x, 1000, replace=False)
    )
    np.testing.assert_array_equal(got, want)


def test_gmm_default_seed_is_zero():
    losses = _losses(seed=5)
    np.testing.assert_array_equal(rules.select_gmm(losses), _dividemix_reference(losses, 0))


@pytest.mark.parametrize("seed", range(6))
def test_gmm_keeps_a_lower_set_that_holds_the_smallest_loss(seed):
    losses = _losses(seed=seed)
    keep = rules.select_gmm(losses, seed=seed)
    assert keep[np.argmin(losses)] and not keep[np.argmax(losses)]
    assert losses[keep].max() < losses[~keep].min()


def test_gmm_ignores_the_scale_and_shift_of_the_losses():
    losses = _losses(seed=7)
    base = rules.select_gmm(losses)
    np.testing.assert_array_equal(rules.select_gmm(losses * 1000), base)
    np.testing.assert_array_equal(rules.select_gmm(losses + 5), base)


def test_gmm_on_two_samples_keeps_the_smaller():
    np.testing.assert_array_equal(rules.select_gmm([0.1, 5.0]), [True, False])
    np.testing.assert_array_equal(rules.select_gmm([5.0, 0.1]), [False, True])


def test_gmm_on_fewer_than_two_samples_keeps_them():
    assert rules.select_gmm([]).shape == (0,)
    one = rules.select_gmm([3.0])
    assert one.dtype == bool and one.tolist() == [True]


def test_gmm_on_constant_losses_decides_alike_for_all():
    keep = rules.select_gmm(np.full(50, 0.3))
    assert keep.dtype == bool and (keep.all() or not keep.any())


def test_gmm_subsamples_only_above_fit_max():
    losses = _losses(n=3000, seed=8)
    whole = rules.select_gmm(losses, fit_max=losses.size + 1)
    np.testing.assert_array_equal(rules.select_gmm(losses, fit_max=losses.size), whole)
    sub = rules.select_gmm(losses, fit_max=1000)
    assert sub.dtype == bool and 0.4 < sub.mean() < 0.95


def test_per_class_selection_of_nothing():
    got = rules.select_per_class(np.array([], np.float32), np.array([], int), [])
    assert got.shape == (0,) and got.dtype == bool
    assert rules.select_global(np.array([], np.float32), 0).shape == (0,)


def test_selections_return_booleans():
    losses = np.array([0.3, 0.1, 0.2], np.float32)
    assert rules.select_per_class(losses, [0, 1, 0], [1, 1]).dtype == bool
    assert rules.select_global(losses, 2).dtype == bool
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert rules.select_confident(probs, [0, 1, 1]).dtype == bool


def test_confident_selection_of_nothing():
    got = rules.select_confident(np.empty((0, 3)), np.array([], int))
    assert got.shape == (0,) and got.dtype == bool


def test_rsl_weights_normalise_within_each_class():
    mean_loss = np.array([1.0, 3.0, 2.0, 10.0, 20.0, 0.5, 0.7, 0.6])
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    kappa = 2.0
    t = np.array([0.0, 1.0, 0.5, 0.0, 1.0, 0.0, 1.0, 0.5])
    np.testing.assert_allclose(
        rules.rsl_weights(mean_loss, labels, np.ones(8, bool), kappa), np.exp(-kappa * t)
    )


def test_rsl_weights_of_a_class_with_equal_losses_are_one():
    w = rules.rsl_weights(
        [0.4, 0.4, 0.4, 1.0, 2.0], [0, 0, 0, 1, 1], [True, True, False, True, True]
    )
    np.testing.assert_allclose(w, [1.0, 1.0, 0.0, 1.0, np.exp(-rules.KAPPA)])


def test_confident_threshold_of_a_class_seen_once():
    probs = np.array([[0.7, 0.3, 0.0], [0.4, 0.6, 0.0], [0.1, 0.8, 0.1]])
    t = rules.confident_thresholds(probs, [0, 1, 1])
    np.testing.assert_allclose(t, [0.7, 0.7, np.inf])


def test_cleanlab_runs_with_two_observed_classes():
    pytest.importorskip("cleanlab")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    p1 = np.clip(labels * 0.8 + 0.1 + rng.normal(0, 0.05, 200), 0.01, 0.99)
    probs = np.column_stack([1 - p1, p1])
    kept = rules.cleanlab_keep(probs, labels)
    assert kept is not None and kept.shape == (200,) and kept.mean() > 0.9
    assert rules.cleanlab_keep(probs, np.zeros(200, int)) is None


def test_metrics_when_nothing_is_kept_or_nothing_is_clean():
    clean, noisy = np.array([0, 1, 1]), np.array([0, 1, 0])
    m = rules.metrics(np.zeros(3, bool), clean, noisy, 2)
    assert m["selected"] == 0 and m["observed_precision"] is None
    assert m["class_distribution"] == [0.0, 0.0]
    assert m["per_class_precision"] == [None, None]
    m = rules.metrics(np.ones(3, bool), np.array([1, 0, 1]), noisy, 2)
    assert m["observed_recall"] is None and m["observed_precision"] == 0.0
    assert m["class_distribution"] == pytest.approx([2 / 3, 1 / 3])


def test_bad_counts_and_lengths_are_refused():
    losses = np.array([0.3, 0.1, 0.2], np.float32)
    with pytest.raises(InputError, match="non-negative integers"):
        rules.select_per_class(losses, [0, 0, 1], [1.5, 1])
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    for call in (rules.confident_thresholds, rules.select_confident):
        with pytest.raises(InputError):
            call(probs, [0, 1])
    with pytest.raises(InputError):  # given thresholds skip confident_thresholds' own check
        rules.select_confident(probs, [0, 1], thresholds=[0.5, 0.5])


def test_confident_thresholds_for_classes_beyond_the_outputs():
    probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    t = rules.confident_thresholds(probs, [0, 1], classes=4)
    np.testing.assert_allclose(t, [0.9, 0.8, np.inf, np.inf])
