"""Dawid-Skene with easy items: annotators who err together, and the test of independence."""

import json

import numpy as np
import pytest
from annotators import annotate, pairs_T, random_T, write_npz
from scipy.optimize import approx_fprime

from simulations.cli import main
from simulations.estimation import dawid_skene
from simulations.estimation import transition as est

rng0 = np.random.default_rng


def _model(rng, c, A, easy):
    prior = rng.dirichlet(np.full(c, 5.0))
    conf = np.stack([random_T(rng, c, 0.5) for _ in range(A)])
    return prior, 1.0 - np.asarray(easy, float), conf


def _exact_counts(prior, hard, conf, n):
    """Every label pattern with n times its probability under the model: no sampling noise."""
    A, c, _ = conf.shape
    patterns = np.indices((c,) * A).reshape(A, -1).T
    p = np.zeros(len(patterns))
    for i in range(c):
        emit = np.prod([conf[a, i, patterns[:, a]] for a in range(A)], axis=0)
        p += prior[i] * (hard[i] * emit + (1 - hard[i]) * (patterns == i).all(1))
    return patterns, n * p


def _log_likelihood(fit, patterns, counts):
    """The multinomial log likelihood of the counts, pattern by pattern, from a fit's
    parameters: not from the optimiser's own objective."""
    _, p = _exact_counts(fit.prior, fit.hard, fit.confusions, 1.0)
    return float(counts @ np.log(p))


def _annotator_T(hard, conf, a):
    return (1 - hard)[:, None] * np.eye(len(hard)) + hard[:, None] * conf[a]


def _T_of(fit, patterns, counts, a, c):
    law = dawid_skene.target_law(patterns, patterns[:, a], c, "observed")
    return dawid_skene.transition_from_posterior(fit.posterior, counts, law)


def test_gradient_is_the_derivative_of_the_likelihood():
    rng = rng0(3)
    c, A = 3, 3
    patterns = rng.integers(-1, c, (40, A))
    patterns[(patterns < 0).all(1), 0] = 0
    weights = rng.integers(1, 50, 40).astype(float)
    args = (
        weights,
        patterns,
        dawid_skene._indicators(patterns, c),
        dawid_skene._unanimous(patterns, c),
    )
    x = np.concatenate([rng.normal(size=c), rng.uniform(0.2, 0.9, c), rng.normal(size=A * c * c)])
    value, grad, _ = dawid_skene._easy_objective(x, *args)
    numeric = approx_fprime(x, lambda v: dawid_skene._easy_objective(v, *args)[0])
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("c", [4, 6])
def test_recovers_its_own_model_where_dawid_skene_cannot(c):
    """Exact pattern counts of a model with easy items: the fit returns its parameters, and
    Dawid-Skene, which assumes independent errors, misses the annotators' T. (At c = 3 three
    annotators give 26 pattern frequencies for 23 parameters, and the likelihood is nearly
    flat along one direction: there the fit stops within 0.02 of the shares.)"""
    rng = rng0(c)
    prior, hard, conf = _model(rng, c, 3, rng.uniform(0.2, 0.6, c))
    patterns, counts = _exact_counts(prior, hard, conf, 1e6)
    fit = dawid_skene.easy_items(patterns, counts, c)
    np.testing.assert_allclose(fit.prior, prior, atol=2e-3)
    np.testing.assert_allclose(fit.hard, hard, atol=2e-2)
    np.testing.assert_allclose(fit.confusions, conf, atol=2e-2)
    assert fit.iterations >= 1
    ds = dawid_skene.dawid_skene(patterns, counts, c)
    null = dawid_skene.easy_items(patterns, counts, c, start=ds, independent=True)
    ll = {k: _log_likelihood(f, patterns, counts) for k, f in (("easy", fit), ("null", null))}
    assert ll["easy"] == pytest.approx(fit.log_likelihood, rel=1e-9)
    assert ll["null"] == pytest.approx(null.log_likelihood, rel=1e-9)
    test = dawid_skene.independence_test(null, fit)
    assert test["statistic"] == pytest.approx(2 * (ll["easy"] - ll["null"]), rel=1e-6)
    for a in range(3):
        truth = _annotator_T(hard, conf, a)
        ours = np.abs(_T_of(fit, patterns, counts, a, c) - truth).sum() / c * 100
        theirs = np.abs(_T_of(ds, patterns, counts, a, c) - truth).sum() / c * 100
        assert ours < 0.5, ours
        assert theirs > 5 * ours + 1.0, (ours, theirs)
    assert test["p_value"] < 1e-6 and test["df"] == c


def test_nests_dawid_skene_when_errors_are_independent():
    rng = rng0(11)
    c = 4
    prior, hard, conf = _model(rng, c, 3, np.zeros(c))
    patterns, counts = _exact_counts(prior, hard, conf, 1e6)
    ds = dawid_skene.dawid_skene(patterns, counts, c)
    fit = dawid_skene.easy_items(patterns, counts, c, start=ds)
    null = dawid_skene.easy_items(patterns, counts, c, start=ds, independent=True)
    np.testing.assert_array_equal(null.hard, 1.0)
    assert abs(null.log_likelihood - ds.log_likelihood) < 1.0  # the same model, two optimisers
    assert fit.hard.min() > 0.98
    assert dawid_skene.independence_test(null, fit)["statistic"] < 1e-3
    for a in range(3):
        np.testing.assert_allclose(
            _T_of(fit, patterns, counts, a, c), _T_of(ds, patterns, counts, a, c), atol=2e-3
        )


def test_independence_test_is_conservative_under_the_null_and_rejects_shared_errors():
    rng = rng0(17)
    c, n, runs = 3, 1500, 60
    null, shared = [], []
    for _ in range(runs):
        truth = rng.integers(0, c, n)
        labels = annotate(rng, truth, [random_T(rng, c, 0.6) for _ in range(3)])
        null.append(
            est.from_annotators(labels, list("abc"), c, independence=True).details["independence"]
        )
        easy = rng.random(n) < 0.4
        labels = np.where(easy[:, None], truth[:, None], labels)
        shared.append(
            est.from_annotators(labels, list("abc"), c, independence=True).details["independence"]
        )
    p_null = np.array([t["p_value"] for t in null])
    level, sd = 0.05, np.sqrt(0.05 * 0.95 / runs)
    assert (p_null < level).mean() <= level + 3 * sd
    assert np.mean([t["p_value"] < level for t in shared]) > 0.9


def test_bootstrap_intervals_cover_when_errors_are_shared():
    """Labels with easy items: the model's bootstrap covers the annotator's T near its level
    (figure 10's `coverage` rows, 40 draws of 100 resamples: 84-93% at c = 3, 4 and n =
    3,000, 10,000), where Dawid-Skene's interval, centred on a biased fit, covers far less
    (26-62%). Eight draws here: a check that can fail, not the measurement."""
    rng = rng0(13)
    hits = {"ds-easy": [], "ds": []}
    for _ in range(8):
        c, n = 4, 3000
        truth = rng.integers(0, c, n)
        labels = annotate(rng, truth, [random_T(rng, c, 0.5) for _ in range(3)])
        labels = np.where((rng.random(n) < 0.4)[:, None], truth[:, None], labels)
        T = pairs_T(truth, labels[:, 0], c)
        for model, h in hits.items():
            e = est.from_annotators(labels, list("abc"), c, model=model)
            _, _, ann = est.draws(e, 50, int(rng.integers(1 << 30)))
            lo, hi = np.quantile(ann["a"], [0.05, 0.95], axis=0)
            h.append(((lo <= T) & (hi >= T)).ravel())
    rate = {k: np.concatenate(v).mean() for k, v in hits.items()}
    assert 0.78 <= rate["ds-easy"] <= 0.97, rate
    assert rate["ds"] < rate["ds-easy"] - 0.1, rate


def test_cli_reports_the_model_and_the_test(tmp_path, capsys):
    rng = rng0(19)
    truth = rng.integers(0, 3, 3000)
    labels = annotate(rng, truth, [random_T(rng, 3, 0.5) for _ in range(3)])
    labels = np.where((rng.random(3000) < 0.4)[:, None], truth[:, None], labels)
    f = write_npz(tmp_path, a=labels[:, 0], b=labels[:, 1], c=labels[:, 2])
    base = ["estimate", "--labels", f, "--noisy", "a", "b", "c", "--bootstrap", "10"]
    assert main([*base, "--method", "ds-easy", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["method"] == "ds-easy"
    assert len(d["easy_share"]) == 3 and all(0 <= s <= 1 for s in d["easy_share"])
    assert d["independence"]["df"] == 3 and d["independence"]["p_value"] < 0.01
    assert main(base) == 0
    assert "rejected: annotators err together" in capsys.readouterr().out
    assert main([*base, "--no-independence", "--json"]) == 0
    assert "independence" not in json.loads(capsys.readouterr().out)


def test_compiled_objective_is_the_objective():
    """The bootstrap's refits run the objective compiled: the same value, gradient and
    posterior as ``_easy_objective``, missing labels and shares at 1 included."""
    rng = rng0(5)
    c, A = 4, 3
    patterns = rng.integers(-1, c, (60, A))
    patterns[(patterns < 0).all(1), 0] = 1
    patterns[:c] = np.arange(c)[:, None]  # unanimous patterns for every class
    weights = rng.integers(1, 40, 60).astype(float)
    hard = rng.uniform(0.2, 0.9, c)
    hard[1] = 1.0
    x = np.concatenate([rng.normal(size=c), hard, rng.normal(size=A * c * c)])
    ours = dawid_skene._easy_objective(
        x,
        weights,
        patterns,
        dawid_skene._indicators(patterns, c),
        dawid_skene._unanimous(patterns, c),
    )
    compiled = dawid_skene._compiled_objective(
        x, weights, patterns.astype(np.int64), dawid_skene._unanimous(patterns, c)
    )
    assert compiled[0] == pytest.approx(ours[0], rel=1e-12)
    np.testing.assert_allclose(compiled[1], ours[1], rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(compiled[2], ours[2], atol=1e-12)


def _easy_world(rng, c: int, n: int):
    """Label patterns and counts of three annotators with random confusions (diagonal 0.5),
    every one of them right on a share 0.3 of the items."""
    truth = rng.integers(0, c, n)
    labels = annotate(rng, truth, [random_T(rng, c, 0.5) for _ in range(3)])
    labels = np.where((rng.random(n) < 0.3)[:, None], truth[:, None], labels)
    pat, _, cnt = dawid_skene.label_patterns(labels)
    return pat, cnt


def test_a_refit_is_easy_items_from_the_same_start():
    rng = rng0(7)
    pat, cnt = _easy_world(rng, 3, 2000)
    fit = dawid_skene.easy_items(pat, cnt, 3)
    w = rng.multinomial(cnt.sum(), cnt / cnt.sum()).astype(float)
    ref = dawid_skene.easy_items(pat, w, 3, params=fit.params, ftol=1e-8)
    new, again = dawid_skene.refit_easy_items(pat, np.stack([w, w]), 3, fit.params, 1e-8)
    assert again.log_likelihood == new.log_likelihood  # two threads, the same fits
    assert new.log_likelihood == pytest.approx(ref.log_likelihood, abs=1e-3)
    np.testing.assert_allclose(new.posterior, ref.posterior, atol=1e-3)


@pytest.mark.parametrize("independent", [False, True])
def test_the_compiled_fit_reaches_the_numpy_objectives_maximum(independent):
    """``easy_items`` optimises the compiled objective: from Dawid-Skene's start it stops at
    the maximum L-BFGS-B finds on the NumPy objective, to the optimiser's tolerance."""
    pat, cnt = _easy_world(rng0(11), 4, 5000)
    start = dawid_skene.dawid_skene(pat, cnt, 4)
    fit = dawid_skene.easy_items(pat, cnt, 4, start=start, independent=independent)
    params = dawid_skene.start_params(start, 4, independent)
    args = (cnt.astype(float), pat, dawid_skene._indicators(pat, 4), dawid_skene._unanimous(pat, 4))
    _, posterior, nll = dawid_skene._lbfgsb(
        dawid_skene._easy_objective, args, params, 4, independent, 1e-12
    )
    # the two paths round differently, so they stop a few steps apart on a flat ridge:
    # never below the NumPy fit by more than its stopping rule's relative 1e-12 allows
    assert fit.log_likelihood >= -nll - 1e-9 * abs(nll)
    assert fit.log_likelihood == pytest.approx(-nll, rel=1e-7)
    # along that ridge the likelihood moves by 1e-4 while a posterior moves by 3e-3
    np.testing.assert_allclose(fit.posterior, posterior, atol=1e-2)
