"""Many runs at once: sweeps of settings x seeds, and the benchmarks.

- ``sweep``: a grid of settings x seeds from a TOML config, locally or on a Dask cluster,
  resumable, one row per cell;
- ``cells``: one sweep cell (a simulation or a training run) as a flat row;
- ``bench``: each kernel against its baseline, timed in one run, as ratios.
"""

from simulations import lazy_modules

__all__ = ["sweep", "cells", "bench"]

__getattr__ = lazy_modules(__name__, __all__)
