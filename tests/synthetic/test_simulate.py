"""`smallloss simulate`: predicted against observed, budgets, imbalance, reproducibility, errors."""

import json

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from simulations.cli import main
from simulations.selection import rules
from simulations.synthetic import generate
from simulations.synthetic.simulate import Setting, budgets, simulate
from theory import conditions, noise

WORKED_EXAMPLE = np.array([[0.40, 0.30, 0.30], [0.00, 0.55, 0.45], [0.05, 0.05, 0.90]])


def tolerance(k):
    """Five standard errors of an observed precision on k kept samples.

    When the budget ends inside the clean atom of a class, the clean samples kept are what
    the budget leaves after the noisy ones below the threshold, so every cell's count
    fluctuation lands on the clean count: its standard deviation is bounded by sqrt(k),
    not by the binomial sqrt(k p (1-p)) <= sqrt(k) / 2. The bound covers both cases."""
    return 5 / np.sqrt(max(k, 1))


def test_column_dominant_bayes_is_exact_per_class_and_global_fails_as_predicted():
    out = simulate(Setting(T=WORKED_EXAMPLE, n=60_000, seed=1))
    cw, gl = out["criteria"]["classwise"], out["criteria"]["global"]
    assert cw["observed_precision"] == 1.0 and cw["predicted_precision"] == 1.0
    assert not conditions.globally_separable(WORKED_EXAMPLE)
    assert gl["predicted_precision"] < 1 and gl["observed_precision"] < 1
    assert abs(gl["observed_precision"] - gl["predicted_precision"]) < tolerance(gl["selected"])
    assert gl["selected"] == cw["selected"]  # equal budgets


@given(
    st.integers(0, 10_000),
    st.sampled_from(["oracle", "rsl", 0.3, 0.7]),
    st.floats(-0.3, 0.4),
    st.booleans(),
)
@settings(max_examples=12)
def test_bayes_predictions_hold_up_to_sampling_noise(seed, keep, margin, exact):
    # float32 losses resolve about 1e-7 relative: margins between 0 and 1e-5 sit in the band
    # where the simulator may or may not tell the two atoms apart
    # (theory.precision.FLOAT32_RESOLUTION)
    assume(margin == 0 or abs(margin) >= 1e-5)
    T = noise.random_transition(4, margin, seed=seed, kind="column")
    prior = np.random.default_rng(seed).dirichlet(np.full(4, 3.0))
    out = simulate(Setting(T=T, prior=prior, n=40_000, keep=keep, exact=exact, seed=seed))
    # Confident learning keeps or drops whole cells by comparing T[i,k] with a threshold
    # t_k that the sample only estimates: within sampling error of t_k the cell flips.
    mass = prior[:, None] * T
    t = (mass * T).sum(axis=0) / mass.sum(axis=0)
    knife_edge = np.min(np.abs(T - t)) < 0.01
    for name in ("global", "classwise", "rsl") + (() if knife_edge else ("confident",)):
        r = out["criteria"][name]
        if r["selected"] < 200:
            continue
        assert abs(r["difference"]) < tolerance(r["selected"]), (name, r)


@pytest.mark.parametrize(
    "model, kw", [("perturbed", {"epsilon": 0.25}), ("overlap", {"separation": 1.5})]
)
def test_other_models_predictions_hold(model, kw):
    out = simulate(Setting(T=noise.pairwise(0.35, 5), model=model, n=60_000, seed=3, **kw))
    for name in ("global", "classwise", "rsl"):
        r = out["criteria"][name]
        assert abs(r["difference"]) < 0.02, (name, r)


def test_epoch_averaging_raises_precision_as_predicted():
    kw = {
        "T": noise.symmetric(0.4, 10),
        "n": 60_000,
        "sigma": 1.2,
        "rho": 0.1,
        "epochs": 10,
        "keep": "rsl",
        "seed": 4,
    }
    out = simulate(Setting(**kw))
    single, mean = out["criteria"]["classwise"], out["criteria"]["rsl"]
    assert mean["observed_precision"] > single["observed_precision"]
    for r in (single, mean):
        assert abs(r["difference"]) < tolerance(r["selected"])


@pytest.mark.parametrize("ratio", [10, 50])
def test_imbalanced_priors_keep_every_class(ratio):
    prior = np.geomspace(ratio, 1, 6)
    T = noise.pairwise(0.3, 6)
    s = Setting(T=T, prior=prior, n=30_000, keep="rsl", seed=5)
    out = simulate(s)
    clean = generate.clean_labels(s.n, s.prior, np.random.default_rng(0).integers(1 << 30))
    noisy = generate.noisy_labels(clean, T, 1)
    sizes = np.bincount(noisy, minlength=6)
    for keep in ("oracle", "rsl", 0.5):
        k = budgets(keep, clean, noisy, T, s.prior)
        assert np.all(k <= sizes) and np.all(k > 0)
    for name in ("classwise", "rsl"):
        dist = np.array(out["criteria"][name]["class_distribution"])
        assert np.all(dist > 0), name
    assert budgets(0.0, clean, noisy, T, s.prior).sum() == 0  # asked for nothing: nothing


def test_same_seed_same_output(capsys):
    argv = [
        "simulate",
        "--noise",
        "structured",
        "--rate",
        "0.3",
        "--n",
        "20000",
        "--model",
        "perturbed",
        "--epsilon",
        "0.2",
        "--json",
        "--seed",
        "9",
    ]
    outs = []
    for _ in range(2):
        assert main(argv) == 0
        outs.append(json.loads(capsys.readouterr().out))
    assert outs[0] == outs[1]
    assert main(argv[:-1] + ["10"]) == 0
    assert json.loads(capsys.readouterr().out)["criteria"] != outs[0]["criteria"]


def test_json_contract(capsys):
    assert (
        main(
            [
                "simulate",
                "--noise",
                "uniform",
                "--rate",
                "0.5",
                "--classes",
                "4",
                "--n",
                "5000",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["setting"]["T"] == noise.uniform(0.5, 4).tolist()
    assert set(out["criteria"]) == {"global", "classwise", "rsl", "gmm", "confident", "cleanlab"}
    for r in out["criteria"].values():
        assert {"predicted_precision", "observed_precision", "observed_recall", "selected"} <= set(
            r
        )


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--model", "gaussian"], "unknown model"),
        (["--model", "perturbed", "--epsilon", "-0.1"], "epsilon"),
        (["--n", "0"], "below 1"),
        (["--keep", "1.5"], "outside [0, 1]"),
        (["--keep", "-0.2"], "outside [0, 1]"),
        (["--keep", "most"], "--keep must be"),
        (["--rho", "2"], "rho"),
        (["--prior", "/nonexistent.csv"], "not found"),
    ],
)
def test_bad_input(capsys, argv, needle):
    code = main(
        ["simulate", "--noise", "symmetric", "--rate", "0.2", "--classes", "3", "--n", "100", *argv]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and needle in err[0], err


def test_select_per_class_public_api_keeps_the_smallest():
    losses = np.array([3.0, 1.0, 2.0, 0.5, 0.1], dtype=np.float32)
    labels = np.array([0, 0, 0, 1, 1])
    np.testing.assert_array_equal(
        rules.select_per_class(losses, labels, np.array([2, 1])), [False, True, True, False, True]
    )
