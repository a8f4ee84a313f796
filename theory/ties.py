"""One tolerance for every strict comparison of probabilities in ``theory/``.

Entries of T within ``TIE`` of each other are equal: a float tie (``1 - 0.075`` against
``0.925``, say) must not be decided by rounding, since the condition it decides (is column j
dominant?) is then a fact about the last bit, not about the noise. Entries of T live in
[0, 1], so the tolerance is absolute.
"""

from __future__ import annotations

import numpy as np

TIE = 1e-12


def exceeds(a, b):
    """``a > b`` by more than ``TIE`` (elementwise for arrays)."""
    return np.asarray(a) - np.asarray(b) > TIE


def ties(a, b):
    """``|a - b| <= TIE`` (elementwise for arrays)."""
    return np.abs(np.asarray(a) - np.asarray(b)) <= TIE
