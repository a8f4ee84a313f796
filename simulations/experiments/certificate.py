"""A sweep cell of kind ``certificate``: the target search's validity and power on run files
without T, arm by arm, over draws of a world written here (not the project's exchangeable
generator): c classes with a 10:1 (``imbalance``) prior, class-dependent noise (a class's
flip rate from ``rate`` / 2 to 3 ``rate`` / 2, 70% of flips to the next class), lognormal
losses with the mislabelled ones shifted by ``shift`` (0: scores that say nothing), and the
probes a uniformly random part of the pool.

Arms, all on the global ranking unless named: ``band`` and ``design`` (the envelopes of
``selection.envelope``), ``pointwise`` (the one-threshold bound applied at every threshold:
the search's known failure), ``fdr`` (conformal p-values and Benjamini-Hochberg: its mean
false share, not a probability), ``classwise`` (per-class, one share for every class, the
design envelope), and ``limit``: the design's choice made with the true mislabelled curve,
what this family of envelopes keeps when the score laws are known in advance. ``oracle`` is
the largest prefix of the ranking whose true precision reaches P.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import nbinom

from simulations.selection.registry import CLASSWISE
from theory.errors import InputError

CERTIFICATE_KEYS = {
    "n",
    "probes",
    "classes",
    "imbalance",
    "rate",
    "shift",
    "target",
    "level",
    "draws",
}
ARMS = ("band", "design", "pointwise", CLASSWISE.name, "limit")


def certificate_inputs(settings: dict) -> dict:
    """The cell's settings, checked, with their defaults."""
    unknown = set(settings) - CERTIFICATE_KEYS
    if unknown:
        raise InputError(f"unknown certificate settings: {', '.join(sorted(unknown))}")
    try:
        s = {
            "n": int(settings.get("n", 4000)),
            "probes": int(settings.get("probes", 100)),
            "classes": int(settings.get("classes", 10)),
            "imbalance": float(settings.get("imbalance", 10.0)),
            "rate": float(settings.get("rate", 0.3)),
            "shift": float(settings.get("shift", 1.5)),
            "target": float(settings.get("target", 0.9)),
            "level": float(settings.get("level", 0.9)),
            "draws": int(settings.get("draws", 300)),
        }
    except (TypeError, ValueError) as exc:
        raise InputError(f"certificate settings must be numbers: {exc}") from None
    if s["n"] < 2 or s["probes"] < 1 or s["classes"] < 2 or s["draws"] < 1:
        raise InputError("certificate needs n >= 2, probes >= 1, classes >= 2, draws >= 1")
    for key in ("rate", "target", "level"):
        if not 0.0 < s[key] < 1.0:
            raise InputError(f"certificate setting {key} = {s[key]} is not in (0, 1)")
    if s["imbalance"] < 1.0:
        raise InputError(f"certificate setting imbalance = {s['imbalance']} is below 1")
    return s


def _world(rng, s: dict):
    c, N = s["classes"], s["n"] + s["probes"]
    prior = np.geomspace(s["imbalance"], 1.0, c)
    clean = rng.choice(c, N, p=prior / prior.sum())
    rates = np.linspace(s["rate"] / 2, 3 * s["rate"] / 2, c)[rng.permutation(c)]
    flip = rng.random(N) < rates[clean]
    step = np.where(rng.random(N) < 0.7, 1, 1 + rng.integers(0, c - 1, N))
    noisy = np.where(flip, (clean + step) % c, clean)
    scores = np.exp(rng.normal(np.where(noisy != clean, s["shift"], 0.0), 1.0))
    probe = np.zeros(N, bool)
    probe[rng.choice(N, s["probes"], replace=False)] = True
    return scores, clean, noisy, probe


def certificate_cell(settings: dict, seed: int) -> dict:
    """Per arm: ``valid_<arm>`` (the share of draws whose kept set is empty or reaches P) and
    ``kept_<arm>`` (the mean kept size); ``fdr_mean`` and ``kept_fdr``; ``oracle`` and the
    mean mislabelled probes."""
    from simulations.selection import bounds, conformal, envelope

    s = certificate_inputs(settings)
    rng = np.random.default_rng([seed, s["n"], s["probes"], s["classes"]])
    n, R, P, L, c = s["n"], s["probes"], s["target"], s["level"], s["classes"]
    p = R / (n + R)
    room = (1 - P) * n
    pointwise = nbinom.ppf(L, np.arange(1, R + 2), p)
    pointwise = pointwise[: int(np.searchsorted(pointwise, room, side="right"))]
    valid = dict.fromkeys(ARMS, 0)
    kept = {a: [] for a in ARMS}
    false_shares, kept_fdr, oracle, bad_probes = [], [], [], []
    for _ in range(s["draws"]):
        scores, clean, noisy, probe = _world(rng, s)
        t, q = ~probe, probe
        bad_t = clean[t] != noisy[t]
        counts = bounds.Counts(scores[t], noisy[t], scores[q], clean[q], noisy[q], c)
        order = np.argsort(scores[t], kind="stable")
        precision = 1.0 - np.cumsum(bad_t[order]) / np.arange(1, n + 1)
        ok = np.flatnonzero(precision >= P)
        oracle.append(int(ok[-1]) + 1 if ok.size else 0)
        bad_probes.append(int(counts.bad_probes))
        y = np.searchsorted(np.sort(scores[q][clean[q] != noisy[q]]), scores[t][order], "right")
        pooled = np.concatenate([scores[t], scores[q]])
        truth = np.cumsum(np.concatenate([bad_t, clean[q] != noisy[q]])[np.argsort(pooled)])
        _, u_limit, _ = envelope.design(
            n, R, L, P, truth.astype(float), np.arange(1, n + R + 1), bounds.band(n, R, L, P)
        )
        masks = {
            "band": counts.largest_global(P, L, "band")["mask"],
            "design": counts.largest_global(P, L, "design")["mask"],
            CLASSWISE.name: counts.largest_scaled(np.ones(c), P, L, "design")["mask"],
        }
        for name, u in (("pointwise", pointwise), ("limit", u_limit)):
            k = bounds._largest(y, np.arange(1, n + 1), u, P)
            m = np.zeros(n, bool)
            m[order[:k]] = True
            masks[name] = m
        for name, m in masks.items():
            kept[name].append(int(m.sum()))
            valid[name] += (not m.any()) or (1.0 - bad_t[m].mean()) >= P - 1e-12
        fdr = conformal.select(scores[t], scores[q][clean[q] != noisy[q]], P)
        kept_fdr.append(int(fdr.sum()))
        false_shares.append(float(bad_t[fdr].mean()) if fdr.any() else 0.0)
    D = s["draws"]
    row = {f"valid_{a}": valid[a] / D for a in ARMS}
    row.update({f"kept_{a}": float(np.mean(kept[a])) for a in ARMS})
    row.update(
        {
            "fdr_mean": float(np.mean(false_shares)),
            "fdr_sd": float(np.std(false_shares) / np.sqrt(D)),
            "kept_fdr": float(np.mean(kept_fdr)),
            "oracle": float(np.mean(oracle)),
            "mislabelled_probes": float(np.mean(bad_probes)),
        }
    )
    return row


def _crossing_by_fft(u: np.ndarray, p: float) -> float:
    """The band's walk as it was computed before (an FFT convolution a step): the bench's
    baseline for ``bounds._crossing``."""
    from scipy.signal import fftconvolve

    top = int(u[-1]) + 1
    step = nbinom.pmf(np.arange(top + 1), 1, p)
    alive = np.zeros(top + 1)
    alive[0] = 1.0
    for uj in u:
        alive = np.clip(fftconvolve(alive, step)[: top + 1], 0.0, None)
        alive[int(uj) + 1 :] = 0.0
    return float(1.0 - alive.sum())


BISECTIONS_BEFORE = 40  # the band's bisection ran all of them before


def bench_rows(n: int = 1_000_000, R: int = 5_000, seed: int = 0) -> list[tuple]:
    """(name, ours_s, baseline_s, baseline, target): the certified target search (global and
    per-class, the design's envelope, the band calibrated afresh) on n training samples and
    R probes, against the same search with the band's walk as it was (one walk timed, times
    the bisections it ran)."""
    import time

    from simulations.selection import bounds

    s = certificate_inputs({"n": n, "probes": R, "classes": 10, "shift": 1.5, "draws": 1})
    scores, clean, noisy, probe = _world(np.random.default_rng(seed), s)
    t, q = ~probe, probe
    bounds._bands.clear()
    start = time.perf_counter()
    counts = bounds.Counts(scores[t], noisy[t], scores[q], clean[q], noisy[q], 10)
    counts.largest_global(0.9, 0.9)
    counts.largest_scaled(np.ones(10), 0.9, 0.9)
    ours = time.perf_counter() - start
    u = bounds.band(n, R, 0.9, 0.9)  # cached: the walk it calibrated
    start = time.perf_counter()
    _crossing_by_fft(u, R / (n + R))
    one_walk = time.perf_counter() - start
    start = time.perf_counter()
    bounds._crossing(u, R / (n + R))
    one_walk_now = time.perf_counter() - start
    baseline = ours - one_walk_now + BISECTIONS_BEFORE * one_walk
    return [
        (
            f"certified target n={n:,} R={R:,} (global+class)",
            ours,
            baseline,
            f"band walk by FFT, 1 walk timed x{BISECTIONS_BEFORE}",
            1.0,
        )
    ]
