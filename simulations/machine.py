"""How fast the machine a timing was taken on is: a fixed workload, timed.

A figure's seconds say little across machines: the same commit's figures took 2 to 3 times
as long on one 2-core machine as on another. The reference workload is independent of the
project's code (a Python loop, a NumPy sort, a matrix product), so its seconds, recorded
beside a timing, tell a slow machine from a slow change.
"""

from __future__ import annotations

import os
import platform
import time

import numpy as np

REFERENCE_REPEAT = 3


def _workload() -> None:
    total = 0
    for i in range(1_000_000):  # interpreter overhead, as in the figures' Python loops
        total += i * i
    values = np.random.default_rng(0).random(1_000_000)
    np.sort(values)  # memory-bound NumPy
    a = values[:160_000].reshape(400, 400)
    for _ in range(5):
        a = a @ a / 400.0  # BLAS


def reference_seconds(repeat: int = REFERENCE_REPEAT) -> float:
    """Best of ``repeat`` timings of the reference workload (about 0.14 s each on a 2-core
    machine; best of, since other work on the machine only ever adds time)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        _workload()
        times.append(time.perf_counter() - t)
    return round(min(times), 3)


def describe(reference: bool = True) -> dict:
    """Cores, processor, system and (with ``reference``) the reference workload's seconds."""
    out = {
        "cores": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "system": platform.system(),
    }
    if reference:
        out["reference_s"] = reference_seconds()
    return out
