"""Synthetic settings: labels, outputs and losses drawn from a known model, and one setting
simulated beside what the theory predicts for it.

- ``generate``: Numba kernels: clean and noisy labels from any T, model outputs, per-sample
  losses, epoch fluctuations;
- ``instance_noise``: instance-dependent label noise, the three published recipes, as seeded
  Numba generators;
- ``instance_draw``: the overlap model under instance-dependent noise: features, noisy labels,
  the outputs they imply and the theory's predictions for them;
- ``exchangeable``: training samples and probes drawn alike, for checking a confidence level;
- ``simulate``: one synthetic setting (``Setting``), every criterion, predicted beside observed.
"""

import lazy_loader

__all__ = ["generate", "instance_noise", "instance_draw", "exchangeable", "simulate"]

__getattr__, __dir__, _ = lazy_loader.attach(__name__, submodules=__all__)
