"""Means over seeds with Student-t 95% intervals: how every multi-seed number is reported."""

from __future__ import annotations

import numpy as np
from scipy import stats

LEVEL = 0.95


def summary(values) -> dict:
    """``mean``, ``ci_low``, ``ci_high`` (Student-t, ``LEVEL``), ``seeds`` (the values).

    One value has no interval (``ci_low = ci_high = None``); Nones are left out.
    """
    v = np.array([x for x in values if x is not None], dtype=np.float64)
    out = {
        "mean": float(v.mean()) if v.size else None,
        "ci_low": None,
        "ci_high": None,
        "seeds": [float(x) for x in v],
    }
    if v.size >= 2:
        sd = v.std(ddof=1)
        if sd == 0:
            out["ci_low"] = out["ci_high"] = out["mean"]
        else:
            lo, hi = stats.t.interval(LEVEL, v.size - 1, loc=v.mean(), scale=sd / np.sqrt(v.size))
            out["ci_low"], out["ci_high"] = float(lo), float(hi)
    return out


def band(groups) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, low, high) arrays over groups of values, for error bars and bands; a group
    without an interval (one value) gets ``low = high = mean``."""
    stats = [summary(g) for g in groups]
    mean = np.array([s["mean"] for s in stats], dtype=float)
    low = np.array([s["mean"] if s["ci_low"] is None else s["ci_low"] for s in stats], dtype=float)
    high = np.array(
        [s["mean"] if s["ci_high"] is None else s["ci_high"] for s in stats], dtype=float
    )
    return mean, low, high


def mean_of(dicts: list[dict]) -> dict:
    """Key by key, the mean of the numeric values of several dicts of one schema (others, and
    everything when there is one dict: the first's)."""
    if len(dicts) == 1:
        return dict(dicts[0])
    out = {}
    for k, first in dicts[0].items():
        values = [d.get(k) for d in dicts]
        numeric = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        out[k] = float(np.mean(numeric)) if numeric and len(numeric) == len(values) else first
    return out
