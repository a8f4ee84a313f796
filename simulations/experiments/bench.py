"""`smallloss bench`: each kernel against its baseline, timed in the same run, as ratios.

Timings are the best of ``--repeat`` runs after a warm-up call (so compilation is not
timed); the first call in a fresh process is timed separately to show the on-disk cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from simulations.estimation import dawid_skene
from simulations.io import versions
from simulations.selection import rules
from simulations.synthetic import generate, instance_draw, instance_noise
from theory import noise
from theory.losses import overlap_posterior


def best_of(fn, repeat: int) -> float:
    fn()  # warm-up: compilation and page faults are not what is measured
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def numpy_noisy_labels(clean, T, rng):
    """The numpy way: per clean class, uniforms through ``searchsorted`` on the row's CDF."""
    out = np.empty(clean.size, dtype=np.int64)
    cdf = np.cumsum(T, axis=1)
    for k in range(len(T)):
        idx = np.flatnonzero(clean == k)
        out[idx] = np.minimum(
            np.searchsorted(cdf[k], rng.random(idx.size), side="right"), len(T) - 1
        )
    return out


def numpy_per_class_select(losses, labels, counts):
    out = np.zeros(losses.size, dtype=bool)
    for k, m in enumerate(counts):
        idx = np.flatnonzero(labels == k)
        if 0 < m < idx.size:
            out[idx[np.argpartition(losses[idx], m - 1)[:m]]] = True
        elif m >= idx.size:
            out[idx] = True
    return out


FIRST_CALL = """
import time, numpy as np
t = time.perf_counter()
from simulations.selection import rules
from simulations.synthetic import generate
y = generate.clean_labels(1000, np.full(10, 0.1), 0)
z = generate.noisy_labels(y, np.full((10, 10), 0.1), 1)
rules.select_per_class(np.random.default_rng(0).random(1000), z, np.full(10, 50))
print(time.perf_counter() - t)
"""


def first_call_seconds() -> dict:
    """Import plus first calls in two fresh interpreters sharing a new, empty Numba cache:
    the first compiles and writes the cache, the second only loads it."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        times = []
        for _ in range(2):
            out = subprocess.run(
                [sys.executable, "-c", FIRST_CALL],
                capture_output=True,
                text=True,
                check=True,
                env=env,
            )
            times.append(float(out.stdout.strip().splitlines()[-1]))
    return {"compile_s": times[0], "cached_s": times[1]}


def bench_dawid_skene(repeat: int, n: int = 50_000, c: int = 10, seed: int = 0):
    """Dawid-Skene on CIFAR-10N-sized data (n items, 3 annotators) against crowd-kit's."""
    try:
        import pandas as pd
        from crowdkit.aggregation import DawidSkene
    except ImportError:
        return None
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, c, n)
    T = noise.symmetric(0.2, c)
    labels = np.column_stack([generate.noisy_labels(truth, T, seed + a) for a in range(3)])
    frame = pd.concat(
        [pd.DataFrame({"task": np.arange(n), "worker": a, "label": labels[:, a]}) for a in range(3)]
    )

    def ours():
        pat, _, cnt = dawid_skene.label_patterns(labels)
        dawid_skene.dawid_skene(pat, cnt, c)

    base = best_of(lambda: DawidSkene(n_iter=100).fit(frame), max(1, repeat - 1))
    return "Dawid-Skene n=50000 A=3 c=10", best_of(ours, repeat), base, "crowd-kit DawidSkene", 2.0


def bench_instance(repeat: int, n: int = 1_000_000, c: int = 10, seed: int = 0) -> list:
    """The instance-noise generators against the NumPy ports of their recipes that the tests
    keep (``tests/instance_reference.py``; skipped outside a source checkout)."""
    tests = Path(__file__).resolve().parents[2] / "tests"
    if not (tests / "instance_reference.py").exists():
        return []
    sys.path.insert(0, str(tests))
    import instance_reference as ref

    prior = np.full(c, 1.0 / c)
    clean = generate.clean_labels(n, prior, seed)
    X = instance_draw.overlap_features(clean, c, 3.0, seed + 1)
    q = overlap_posterior(X, 3.0, prior)
    W = instance_noise.part_dependent_weights(c, c, seed)
    factor = instance_noise.pmd(q, clean, 1, 0.3, seed).params["factor"]
    rng = np.random.default_rng(seed)
    cases = [
        (
            "part-dependent",
            lambda: instance_noise.part_dependent(X, clean, 0.3, seed, c),
            lambda: ref.part_dependent(X, clean, 0.3, W, rng),
        ),
        (
            "pmd-1",
            lambda: instance_noise.pmd(q, clean, 1, 0.3, seed),
            lambda: ref.pmd(q, 1, factor, rng),
        ),
        ("margin", lambda: instance_noise.margin(q, clean, 0.3), lambda: ref.margin(q, clean, 0.3)),
    ]
    return [
        (
            f"{name} noise n={n} c={c}",
            best_of(ours, repeat),
            best_of(port, max(1, repeat - 1)),
            "NumPy port of the recipe",
            10.0,
        )
        for name, ours, port in cases
    ]


def run_bench(
    n: int, repeat: int = 3, cleanlab: bool = True, seed: int = 0, trainer: bool = True
) -> dict:
    rng = np.random.default_rng(seed)
    rows = []

    def row(name, ours, base, baseline, target):
        rows.append(
            {
                "kernel": name,
                "ours_s": ours,
                "baseline": baseline,
                "baseline_s": base,
                "ratio": base / ours,
                "target": target,
                "met": base / ours >= target,
            }
        )

    for c, target in ((10, 5.0), (100, 8.0)):
        T = noise.symmetric(0.4, c)
        clean = generate.clean_labels(n, np.full(c, 1.0 / c), seed)
        ours = best_of(lambda clean=clean, T=T: generate.noisy_labels(clean, T, 1), repeat)
        base = best_of(
            lambda clean=clean, T=T: numpy_noisy_labels(clean, T, np.random.default_rng(1)), repeat
        )
        row(f"noisy labels c={c}", ours, base, "numpy searchsorted", target)
        if c == 10 and cleanlab:
            try:  # cleanlab is the optional extra smallloss[test]: a baseline only
                from cleanlab.benchmarking.noise_generation import generate_noisy_labels
            except ImportError:
                pass
            else:
                # cleanlab's noise_matrix is P(noisy | true) with columns summing to 1: our T
                # transposed
                base = best_of(
                    lambda clean=clean, T=T: generate_noisy_labels(clean, T.T), max(1, repeat - 1)
                )
                row("noisy labels c=10", ours, base, "cleanlab generate_noisy_labels", 15.0)

    c = 10
    labels = rng.integers(0, c, n).astype(np.int32)
    probs = rng.dirichlet(np.ones(c), size=n).astype(np.float32)
    out = np.empty(n, dtype=np.float32)
    ours = best_of(lambda: generate.cross_entropy(probs, labels, out), repeat)
    base = best_of(lambda: -np.log(probs[np.arange(n), labels]), repeat)
    row("cross-entropy loss c=10", ours, base, "numpy fancy indexing", 2.5)
    probs = None  # frees the (n, c) outputs before the next kernel

    losses = rng.random(n, dtype=np.float32) * 5
    counts = (np.bincount(labels, minlength=c) * 0.6).astype(np.int64)
    ours = best_of(lambda: rules.select_per_class(losses, labels, counts), repeat)
    base = best_of(lambda: numpy_per_class_select(losses, labels, counts), repeat)
    row("per-class selection c=10", ours, base, "numpy argpartition", 3.0)

    for args in bench_instance(repeat, n=min(n, 1_000_000)):
        row(*args)

    if cleanlab:  # the optional peers (smallloss[test]) run together
        ds_row = bench_dawid_skene(repeat)
        if ds_row is not None:
            row(*ds_row)

    out = {
        "n": n,
        "repeat": repeat,
        "rows": rows,
        "first_call_in_fresh_process_s": first_call_seconds(),
        "versions": versions(),
    }
    if trainer:
        try:
            # torch is the optional extra smallloss[train]: imported only when the trainer is
            # timed
            from simulations.training import bench_trainer

            out["trainer"] = bench_trainer.bench_trainer(seed)
            out["trainer_large_images"] = bench_trainer.bench_large_images(seed=seed)
        except ImportError:
            out["trainer"] = None  # torch not installed
    return out
