"""`smallloss bench`'s estimate rows: the baselines are the same work, timed beside ours."""

import numpy as np

from simulations.cli import bench as bench_cli
from simulations.estimation import transition
from simulations.experiments import bench
from theory import noise


def test_the_baseline_loops_draw_what_the_stacks_draw():
    z = noise.cifar10n_labels()
    keys = ["random1", "random2", "random3"]
    ann = np.column_stack([z[k] for k in keys])[:3000]
    e = transition.from_annotators(ann, keys, 10)
    Ts, priors, _ = transition.draws(e, 6, 3)
    Tb, pb = bench.draws_before(e, 6, 3)
    np.testing.assert_allclose(Ts, Tb, atol=1e-10)
    np.testing.assert_allclose(priors, pb, atol=1e-10)
    # the mixture's old loop: plain EM from the predicted class on each resample's rows, what
    # the stack gives with those steps and that start
    noisy, probs = bench.mixture_input(3.0, n=400, seed=1)
    e = transition.from_probs(noisy, probs, 10, "mixture")
    rng = np.random.default_rng(3)
    W = np.array([np.bincount(rng.integers(0, 400, 400), minlength=400) for _ in range(4)])
    Ts, priors, _ = transition.mixture_fits(e.details["mixture"], W, accelerate=False)
    Tb, pb = bench.draws_before(e, 4, 3)
    np.testing.assert_allclose(Ts, Tb, atol=1e-8)
    np.testing.assert_allclose(priors, pb, atol=1e-8)


def test_estimate_rows_and_their_table(monkeypatch):
    calls = {}
    real = bench.bench_estimate

    def fake_estimate(draws, baseline_draws, seed, peer=True, mixture_items=5000):
        calls["args"] = (draws, baseline_draws, peer)
        return real(draws, baseline_draws, seed, peer=False, mixture_items=300)

    monkeypatch.setattr(bench, "bench_estimate", fake_estimate)
    out = bench.run_bench(
        10,
        1,
        cleanlab=False,
        trainer=False,
        draws=10,
        baseline_draws=2,
        kernels=False,
        certificate=False,
    )
    assert calls["args"] == (10, 2, False)
    names = [r["kernel"] for r in out["rows"]]
    assert names[0] == "estimate ds, CIFAR-10N, 10 draws" and len(names) == 10
    plain = [r for r in out["rows"] if r["baseline"].startswith("stacked plain EM")]
    assert [r["kernel"] for r in plain] == [n for n in names if n.startswith("estimate mixture")][
        1::2
    ]
    assert names[8:] == [
        "ds-easy fit + independence, CIFAR-10N",
        "ds-easy fit + independence, 10000 items x 4 classes",
    ]
    for r in out["rows"]:
        assert r["ours_s"] > 0 and r["baseline_s"] > 0
        assert r["ratio"] == r["baseline_s"] / r["ours_s"]
    assert "x5" in out["rows"][2]["baseline"]  # 2 of 10 resamples timed, scaled
    text = bench_cli.render(out)
    assert "estimate mixture 300x10 sep 1, 10 draws" in text and "load" in text
