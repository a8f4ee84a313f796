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

import importlib
from collections.abc import Callable, Iterable
from types import ModuleType

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


def lazy_modules(package: str, names: Iterable[str]) -> Callable[[str], ModuleType]:
    """A module-level ``__getattr__`` (PEP 562) for ``package``: ``package.name`` imports
    ``package.<name>`` on first access, for each of ``names``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    names : iterable of str
        Its submodules (its ``__all__``).

    Returns
    -------
    callable
        ``__getattr__(name) -> module``; it raises ``AttributeError`` for any other name.
    """
    known = frozenset(names)

    def __getattr__(name: str) -> ModuleType:
        if name in known:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


__getattr__ = lazy_modules(__name__, __all__)
