"""Instance-dependent noise: generators against NumPy ports of the recipes, reproducibility,
the overlap-model theory against simulation, and the command-line contract."""

from __future__ import annotations

import json

import instance_reference as ref
import numpy as np
import pytest
from scipy import integrate, stats

from simulations.cli import main
from simulations.experiments import cells
from simulations.synthetic import generate, instance_draw, instance_noise
from simulations.synthetic.simulate import Setting, simulate
from theory import instance as theory_instance
from theory.errors import InputError
from theory.losses import overlap_posterior

N = 100_000


def _overlap(c, sep, n=N, seed=0):
    prior = np.full(c, 1.0 / c)
    clean = generate.clean_labels(n, prior, seed)
    X = instance_draw.overlap_features(clean, c, sep, seed + 1)
    return clean, X, overlap_posterior(X, sep, prior)


def _agree(clean, a, b, c):
    assert abs((a != clean).mean() - (b != clean).mean()) <= 0.005
    np.testing.assert_allclose(ref.realised(clean, a, c), ref.realised(clean, b, c), atol=0.01)


@pytest.mark.parametrize("rate", [0.2, 0.45])
def test_part_dependent_matches_the_recipe(rate):
    clean, X, _ = _overlap(4, 2.0)
    got = instance_noise.part_dependent(X, clean, rate, seed=3, classes=4)
    port = ref.part_dependent(X, clean, rate, got.params["W"], np.random.default_rng(9))
    _agree(clean, got.noisy, port, 4)
    assert abs(got.realised_noise_rate - theory_instance.truncated_mean(rate, 0.1)) <= 0.005
    np.testing.assert_array_equal(got.T_bar, ref.realised(clean, got.noisy, 4))


@pytest.mark.parametrize("kind", [1, 2, 3])
def test_pmd_matches_the_recipe_and_hits_its_rate(kind):
    clean, _, q = _overlap(3, 3.0)
    got = instance_noise.pmd(q, clean, kind, 0.3, seed=4)
    assert abs(got.realised_noise_rate - 0.3) <= 0.005
    port = ref.pmd(q, kind, got.params["factor"], np.random.default_rng(11))
    _agree(clean, got.noisy, port, 3)


def test_margin_is_the_recipe_exactly():
    clean, _, q = _overlap(5, 2.0, n=20_000)
    got = instance_noise.margin(q, clean, 0.3)
    np.testing.assert_array_equal(got.noisy, ref.margin(q, clean, 0.3))
    assert got.realised_noise_rate == pytest.approx(0.3, abs=1e-4)
    assert set(np.unique(got.flip)) == {0.0, 1.0}


def test_margin_breaks_ties_by_sample_order_as_a_stable_sort():
    clean, _, q = _overlap(4, 2.0, n=30_000, seed=2)
    q = np.round(q, 2)  # thousands of samples share the k-th score
    got = instance_noise.margin(q, clean, 0.37)
    np.testing.assert_array_equal(got.noisy, ref.margin(q, clean, 0.37))
    np.testing.assert_array_equal(got.T_bar, ref.realised(clean, got.noisy, 4))
    assert got.realised_noise_rate == np.mean(got.noisy != clean)


@pytest.mark.parametrize("kind", [1, 3])
def test_pmd_takes_the_first_of_tied_classes(kind):
    """The flip probability names which of the top two classes the clean one is; on tied
    posteriors the top two are the first two of a stable descending sort."""
    clean, _, q = _overlap(5, 2.0, n=2 * generate.CHUNK + 7, seed=6)
    q = np.round(q, 1)
    got = instance_noise.pmd(q, clean, kind, 0.5, seed=1)
    order = np.argsort(-q, axis=1, kind="stable")
    rows = np.arange(len(q))
    u, s = order[:, 0], order[:, 1]
    keep = theory_instance.pmd_h(q[rows, u] - q[rows, s], kind) / got.params["factor"]
    flip = 1 - np.where(clean == u, keep, np.where(clean == s, 1 - keep, 0.0))
    np.testing.assert_allclose(got.flip, flip, rtol=0, atol=1e-15)
    assert set(np.unique(got.noisy[got.noisy != u])) <= set(np.unique(s))
    assert np.all((got.noisy == u) | (got.noisy == s))
    np.testing.assert_array_equal(got.T_bar, ref.realised(clean, got.noisy, 5))
    assert got.realised_noise_rate == np.mean(got.noisy != clean)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_generators_refuse_entries_that_are_not_finite(bad):
    clean, X, q = _overlap(3, 2.0, n=generate.CHUNK + 50, seed=1)
    at = generate.CHUNK + 20  # in the second chunk: every chunk reports its own
    X, q = X.copy(), q.copy()
    X[at, 1] = q[at, 2] = bad
    with pytest.raises(InputError, match="features hold NaN or infinite entries"):
        instance_noise.part_dependent(X, clean, 0.3, seed=0, classes=3)
    with pytest.raises(InputError, match="posterior hold NaN or infinite entries"):
        instance_noise.pmd(q, clean, 1, 0.3, seed=0)
    with pytest.raises(InputError, match="scores hold NaN or infinite entries"):
        instance_noise.margin(q, clean, 0.3)


def test_generators_repeat_their_bytes_across_chunks():
    n = 2 * generate.CHUNK + 11
    clean, X, q = _overlap(3, 2.0, n=n, seed=5)
    a = instance_noise.part_dependent(X, clean, 0.3, seed=8, classes=3)
    b = instance_noise.part_dependent(X, clean, 0.3, seed=8, classes=3)
    assert a.noisy.tobytes() == b.noisy.tobytes() and a.flip.tobytes() == b.flip.tobytes()
    head = instance_noise.part_dependent(X[: generate.CHUNK], clean[: generate.CHUNK], 0.3, 8, 3)
    np.testing.assert_array_equal(head.noisy, a.noisy[: generate.CHUNK])
    p1, p2 = instance_noise.pmd(q, clean, 1, 0.3, 8), instance_noise.pmd(q, clean, 1, 0.3, 8)
    assert p1.noisy.tobytes() == p2.noisy.tobytes()
    assert not np.array_equal(p1.noisy, instance_noise.pmd(q, clean, 1, 0.3, 9).noisy)


def test_pmd_h_and_its_factor():
    d = np.array([0.0, 0.5, 1.0])
    np.testing.assert_allclose(theory_instance.pmd_h(d, 1), [0.5, 0.625, 1.0])
    np.testing.assert_allclose(theory_instance.pmd_h(d, 2), [0.0, 0.125, 1.0])
    np.testing.assert_allclose(theory_instance.pmd_h(d, 3), [0.0, 0.875 / 3, 1.0])
    rng = np.random.default_rng(0)
    h = rng.uniform(0.5, 1.0, 1000)
    top, second = rng.random(1000) < 0.7, np.zeros(1000, bool)
    second[~top] = rng.random((~top).sum()) < 0.5
    f = theory_instance.pmd_factor(h, top, second, 0.6)
    # the expected flip rate at f, summed sample by sample
    keep = np.where(top, h / f, np.where(second, 1 - h / f, 0.0))
    assert 1 - keep.mean() == pytest.approx(0.6, abs=1e-12)
    with pytest.raises(InputError, match=r"pmd-1 reaches noise rates in \["):
        theory_instance.pmd_factor(h, top, second, 0.01)
    with pytest.raises(InputError, match="unknown PMD type"):
        theory_instance.pmd_h(d, 4)


def test_truncated_mean_is_the_integral():
    for r in (0.0, 0.3, 0.95):
        dens = stats.norm(r, 0.1)
        num = integrate.quad(lambda x, d=dens: x * d.pdf(x), 0, 1)[0]
        den = integrate.quad(dens.pdf, 0, 1)[0]
        assert theory_instance.truncated_mean(r, 0.1) == pytest.approx(num / den, rel=1e-9)


def test_no_noise_limits_give_the_identity():
    laws = theory_instance.overlap_laws(
        3, "margin", {"threshold": np.inf}, separation=2.0, points=1024
    )
    np.testing.assert_array_equal(laws.T_bar, np.eye(3))
    assert laws.non_dominant_share == 0.0
    assert all(laws.laws[i][j] is None for i in range(3) for j in range(3) if i != j)
    # a flip rate cut from N(0, 1e-9^2) has mean 1e-9 sqrt(2 / pi)
    W = instance_noise.part_dependent_weights(3, 3, 0)
    params = {"W": W, "rate": 0.0, "sd": 1e-9}
    laws = theory_instance.overlap_laws(3, "part-dependent", params, separation=2.0, points=1024)
    np.testing.assert_allclose(laws.T_bar, np.eye(3), atol=1e-9)
    assert laws.non_dominant_share == 0.0


GRID = [
    (name, rate, sep, c)
    for name in ("part-dependent", "pmd-1", "margin")
    for rate in (0.25, 0.4)
    for sep in (3.0, 4.0)
    for c in (3, 10)
]


@pytest.mark.parametrize(("name", "rate", "sep", "c"), GRID)
def test_predictions_follow_simulation_under_instance_noise(name, rate, sep, c):
    out = simulate(
        Setting(
            T=np.eye(c),
            model="overlap",
            separation=sep,
            noise=name,
            rate=rate,
            n=N,
            seed=2,
            cleanlab=False,
        )
    )
    s = out["setting"]
    assert abs(s["realised_noise_rate"] - rate) <= (0.005 if name != "part-dependent" else 0.02)
    # each realised row is a multinomial share of about N / c samples: 4.5 standard errors
    want = np.array(s["T_bar_predicted"])
    np.testing.assert_array_less(
        np.abs(np.array(s["T_bar"]) - want), 4.5 * np.sqrt(want * (1 - want) * c / N) + 1e-3
    )
    assert abs(s["non_dominant_share"] - s["non_dominant_share_predicted"]) <= 0.01
    for crit in ("global", "classwise", "rsl"):
        assert abs(out["criteria"][crit]["difference"]) <= 0.02, crit


def test_cli_contract_and_bad_input(capsys):
    argv = [
        "simulate",
        "--noise",
        "margin",
        "--rate",
        "0.3",
        "--classes",
        "3",
        "--model",
        "overlap",
        "--n",
        "5000",
        "--json",
    ]
    assert main(argv) == 0
    s = json.loads(capsys.readouterr().out)["setting"]
    assert np.shape(s["T_bar"]) == (3, 3) and s["realised_noise_rate"] == pytest.approx(0.3)
    assert set(s["T_bar_conditions"]) >= {"row_dominant", "column_dominant", "cleanlab_valid"}
    bad = [
        ["simulate", "--noise", "pmd-1", "--classes", "3", "--model", "overlap"],
        ["simulate", "--noise", "pmd-1", "--rate", "0.01", "--classes", "3", "--model", "overlap"],
        ["simulate", "--noise", "margin", "--rate", "0.3", "--classes", "3"],
        ["simulate", "--noise", "pmd-4", "--rate", "0.3", "--classes", "3"],
        ["simulate", "--noise", "margin", "--rate", "1.3", "--classes", "3"],
    ]
    for argv in bad:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("smallloss: error:"), (argv, err)


def test_sweep_cells_take_instance_noise():
    row = cells.simulate_cell(
        {"noise": "margin", "rate": 0.3, "classes": 3, "model": "overlap", "n": 2000}, seed=0
    )
    assert row["noise_rate"] == pytest.approx(0.3, abs=1e-3)
    with pytest.raises(InputError, match="needs a rate"):
        cells.simulate_cell({"noise": "pmd-1", "classes": 3, "model": "overlap"}, seed=0)


def test_train_records_t_bar_and_flip_probabilities(tmp_path, capsys):
    argv = [
        "train",
        "--noise",
        "part-dependent",
        "--rate",
        "0.3",
        "--epochs",
        "2",
        "--cv",
        "2",
        "--no-progress",
        "--out",
        str(tmp_path),
        "--json",
    ]
    assert main(argv) == 0
    r = json.loads(capsys.readouterr().out)
    T_bar = np.array(r["T_bar"])
    assert T_bar.shape == (10, 10) and np.allclose(T_bar.sum(axis=1), 1.0)
    assert abs(r["realised_noise_rate"] - 0.3) < 0.05
    with np.load(tmp_path / "run.npz") as z:
        assert z["flip_probability"].shape == z["clean"].shape
        # T_bar is an observation of the training labels; the run holds no T to predict from
        assert "T" not in z.files and z["val_noisy"].shape == z["val_clean"].shape
        counts = np.zeros((10, 10))
        np.add.at(counts, (z["clean"], z["noisy"]), 1)
        np.testing.assert_allclose(counts / counts.sum(1, keepdims=True), T_bar)
        realised = (z["clean"] != z["noisy"]).mean()
    assert realised == pytest.approx(r["realised_noise_rate"])


def test_a_recipe_registered_alone_is_checked_and_drawn_by_name(monkeypatch):
    """A recipe is one ``Recipe`` in ``RECIPES``: ``generate`` dispatches by what it needs."""
    toy = instance_noise.Recipe(
        "toy-margin",
        "posterior",
        lambda x, clean, rate, seed, classes: instance_noise.margin(x.posterior, clean, rate),
    )
    monkeypatch.setitem(instance_noise.RECIPES, toy.name, toy)
    rng = np.random.default_rng(0)
    q = rng.dirichlet(np.ones(3), 500)
    clean = rng.integers(0, 3, 500)
    got = instance_noise.generate(toy.name, clean, 0.2, 0, posterior=q)
    want = instance_noise.generate("margin", clean, 0.2, 0, posterior=q)
    np.testing.assert_array_equal(got.noisy, want.noisy)
    with pytest.raises(InputError, match="needs a posterior"):
        instance_noise.generate(toy.name, clean, 0.2, 0, features=q)
    with pytest.raises(InputError, match="unknown instance noise"):
        instance_noise.check_noise("no-such-recipe")
