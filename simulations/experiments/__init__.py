"""Many runs at once: sweeps of settings x seeds, and the benchmarks.

- ``sweep``: a grid of settings x seeds from a TOML config, locally or on a Dask cluster,
  resumable, one row per cell;
- ``cells``: one sweep cell (a simulation or a training run) as a flat row;
- ``bench``: each kernel against its baseline, timed in one run, as ratios.
"""

import lazy_loader

__all__ = ["sweep", "cells", "bench"]

__getattr__, __dir__, _ = lazy_loader.attach(__name__, submodules=__all__)
