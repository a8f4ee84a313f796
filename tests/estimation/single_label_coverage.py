"""Coverage of the single-label bootstrap (confident, anchor, mixture), measured.

The probabilities come from a known model, the overlap model's noisy-class posterior
``g = T^T q(x)`` (``generate.Model("overlap", T, separation=...)``), used directly as the
out-of-sample probabilities, and the noisy labels are drawn from the same known T. The
bootstrap resamples the items with those probabilities held fixed; an entry of T is covered
when it lies inside its central 90% interval.

``python tests/estimation/single_label_coverage.py`` prints the table quoted in
simulations/README.md and in ``test_single_label_coverage.py``.
"""

from __future__ import annotations

import numpy as np

from simulations.estimation import transition as est
from simulations.synthetic import generate

METHODS = ("confident", "anchor", "mixture")


def random_T(rng, c):
    diag = rng.uniform(0.55, 0.85)
    return np.eye(c) * diag + rng.dirichlet(np.ones(c), size=c) * (1 - diag)


def one_draw(c: int, n: int, boots: int, rng, separation: float = 2.0, level: float = 0.9):
    """Per method: (entries of T inside their interval (c*c,) bool, T error of the fit)."""
    T = random_T(rng, c)
    clean = rng.integers(0, c, n).astype(np.int32)
    noisy = generate.noisy_labels(clean, T, int(rng.integers(1 << 31)))
    model = generate.Model("overlap", T, separation=separation)
    probs = model.probs(clean, np.random.default_rng(int(rng.integers(1 << 31))))
    probs = probs.astype(np.float64)
    probs /= probs.sum(1, keepdims=True)
    out = {}
    for method in METHODS:
        e = est.from_probs(noisy, probs, c, method)
        Ts, _, _ = est.draws(e, boots, int(rng.integers(1 << 31)))
        low, high = est.interval(Ts, level)
        out[method] = (((low <= T) & (high >= T)).ravel(), est.t_error(e.T, T))
    return out


def coverage(c: int, n: int, draws: int, boots: int, seed: int) -> dict:
    """Per method: {'coverage': share of entries covered, 'T_error': mean T error}."""
    rng = np.random.default_rng([seed, c, n])
    hits = {m: [] for m in METHODS}
    errors = {m: [] for m in METHODS}
    for _ in range(draws):
        for method, (inside, err) in one_draw(c, n, boots, rng).items():
            hits[method].append(inside)
            errors[method].append(err)
    return {
        m: {
            "coverage": float(np.concatenate(hits[m]).mean()),
            "T_error": float(np.mean(errors[m])),
        }
        for m in METHODS
    }


SETTINGS = [(3, 500), (3, 2000), (10, 1000), (10, 3000)]

if __name__ == "__main__":
    import sys
    import time

    draws = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    boots = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    for c, n in SETTINGS:
        t = time.perf_counter()
        res = coverage(c, n, draws, boots, seed=0)
        cells = "  ".join(
            f"{m} {r['coverage']:.3f} (T error {r['T_error']:.1f})" for m, r in res.items()
        )
        took = time.perf_counter() - t
        print(f"c={c:2d} n={n:5d} draws={draws} boots={boots}: {cells}  [{took:.0f} s]", flush=True)
