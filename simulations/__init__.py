"""Simulations and experiments around the small-loss theory in ``theory``: the map of rooms.

- ``synthetic``: synthetic settings: clean and noisy labels, model outputs and losses drawn
  by Numba kernels, instance-dependent noise, one setting simulated beside its predictions;
- ``selection``: the selection criteria: their registry, the rules on per-sample losses and
  probabilities, the criteria on a trained network's recorded losses, probe-count bounds,
  and the parser of ``--keep``;
- ``estimation``: the transition matrix from labels alone (Dawid-Skene for several
  annotators, single-label methods) with its uncertainty;
- ``training``: real data and the torch trainer: data sets, networks, the training loop, its
  stages and the real-data run (torch is imported only here);
- ``experiments``: sweeps of settings x seeds, one cell's row, and the benchmarks;
- ``cli``: the ``smallloss`` command line, one module per command (the only code that reads
  argv or prints);
- ``figures``: one module per figure: its data as a CSV, and a PNG drawn from that CSV;
- ``io`` and ``intervals``: files in and out with their provenance; means over seeds with
  95% intervals.

Upper rooms import lower ones only, in the order above from ``cli`` down (``figures`` above
``experiments``, ``training`` above ``synthetic`` above ``selection`` above ``estimation``;
``io`` and ``intervals`` at the bottom): ``[tool.importlinter]`` in ``pyproject.toml``.
Rooms and their modules are imported when first used, so that importing one room does not
load torch or compile Numba kernels it does not need.
"""

from __future__ import annotations

import lazy_loader

__all__ = [
    "synthetic",
    "selection",
    "estimation",
    "training",
    "experiments",
    "cli",
    "figures",
    "io",
    "intervals",
]


# each room is imported on first access (SPEC 1): importing one room loads no other
__getattr__, __dir__, _ = lazy_loader.attach(__name__, submodules=__all__)
