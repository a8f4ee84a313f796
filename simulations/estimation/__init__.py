"""The transition matrix T from labels alone, with its uncertainty.

- ``dawid_skene``: several annotators per item: Dawid-Skene EM on the distinct label
  patterns, with easy items and the independence test; derived label sets by their rule;
- ``transition``: T from annotators, out-of-fold probabilities or label pairs, and its
  intervals.
"""

import lazy_loader

__all__ = ["dawid_skene", "transition"]

__getattr__, __dir__, _ = lazy_loader.attach(__name__, submodules=__all__)
