"""Closed forms of the small-loss theory (Gui, Wang & Tian, IJCAI 2021) and beyond.

Pure numpy + scipy: nothing here samples data, imports torch, numba or `simulations`.
Convention everywhere: ``T[clean, noisy]``, rows sum to 1.
"""

from theory.errors import InputError

__all__ = ["InputError"]
