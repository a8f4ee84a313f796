"""The selection criteria: which samples to keep, and how many.

- ``registry``: the criteria this project compares: names, labels, colours, what each ranks;
- ``rules``: the criteria over per-sample losses and probabilities (global, per-class, RSL,
  GMM, confident learning, cleanlab), their budgets and metrics;
- ``recorded``: every criterion on a trained network's recorded losses and probabilities, and
  the predictions for them (numpy only);
- ``bounds``: selection precision counted from probes, with a lower bound at a stated
  confidence, and the budgets whose bound reaches a target;
- ``keep``: ``--keep`` parsed once: ``oracle``, ``rsl``, a share, or ``target:P``.
"""

from simulations import lazy_modules

__all__ = ["registry", "rules", "recorded", "bounds", "keep"]

__getattr__ = lazy_modules(__name__, __all__)
