"""The selection criteria: which samples to keep, how many, and how clean they are.

- ``registry``: the criteria this project compares, in one list every command and figure
  iterates over;
- ``criteria``: each criterion as an object: what it reads, how it selects, what it is called
  and drawn as (one file per family: small loss, margin, probabilities, cartography);
- ``rules``: the criteria over per-sample scores and probabilities (global, per-class, RSL,
  GMM, confident learning, cleanlab);
- ``scores``: the scores they rank: the epoch-mean loss, the area under the margin (AUM);
- ``keep``: ``--keep`` parsed once: ``oracle``, ``rsl``, a share, or ``target:P``;
- ``budgets``: how many each loss criterion keeps (T's clean counts, RSL's, a share,
  Co-teaching's, a target precision's);
- ``bounds``: precision counted from probes with no T, its intervals and bounds, and a band
  that holds over a whole budget search;
- ``runfile``: the run format: one ``.npz`` any training code can write, checked on reading;
- ``predict``: predicted precision from cell laws (validation split, probes, atoms), with
  bootstrap intervals;
- ``recorded``: each (clean, noisy) cell's recorded loss over the epochs;
- ``analyse``: all of it on one run: ``smallloss analyse`` and the selection stage of
  ``smallloss train``.
"""

import lazy_loader

__all__ = [
    "registry",
    "criteria",
    "rules",
    "scores",
    "keep",
    "budgets",
    "bounds",
    "runfile",
    "predict",
    "recorded",
    "analyse",
]

__getattr__, __dir__, _ = lazy_loader.attach(__name__, submodules=__all__)
