"""``--keep`` parsed once, at the boundary: ``oracle`` (the clean count of each observed
class, as well as it is known: ``simulate``, which draws every clean label, keeps the
realised count; ``analyse`` and ``train``, on a run, keep T's expected count
``(1 - eta_j) n_j``), ``rsl`` (RSL's budgets), a share in [0, 1], or ``target:P`` (the
largest budgets whose predicted precision is P). The commands, the sweep cells and the
figures read the text here; the theory's functions take the precision as a float.
"""

from __future__ import annotations

from theory.errors import InputError
from theory.validation import check_unit

PREFIX = "target:"
ORACLE_KEEP, RSL_KEEP = "oracle", "rsl"  # the two words --keep takes besides a share or target
WORDS = (ORACLE_KEEP, RSL_KEEP)


class Target(str):
    """``--keep target:P``: the text ``target:P`` with P printed by ``:g``, as records echo it,
    and ``precision``, the float P that text reads as.

    A ``str``, so that settings, JSON records and sweep rows show it as the text it was.
    """

    precision: float

    def __new__(cls, precision: float) -> Target:
        self = super().__new__(cls, f"{PREFIX}{precision:g}")
        self.precision = float(self.removeprefix(PREFIX))
        return self

    def __getnewargs__(self) -> tuple[float]:
        return (self.precision,)


def is_target(keep) -> bool:
    """Whether ``keep`` is written ``target:...``."""
    return str(keep).startswith(PREFIX)


def parse_target(keep, command: str) -> Target:
    """``target:P`` and nothing else (``command --keep`` takes no other kind).

    Parameters
    ----------
    keep : str
        The text of ``--keep``.
    command : str
        The command, named in the error.

    Returns
    -------
    Target
        With ``precision`` in [0, 1].

    Raises
    ------
    InputError
        When ``keep`` is not ``target:P`` with P a precision in [0, 1].
    """
    if not is_target(keep):
        raise InputError(f"{command} --keep takes target:P only, got {keep!r}")
    return _target(keep)


def parse_keep(keep) -> str | float | Target:
    """What ``--keep`` asks for.

    Parameters
    ----------
    keep : str or float
        ``"oracle"``, ``"rsl"``, ``"target:P"``, or a share (a number, or its text).

    Returns
    -------
    str, float or Target
        ``"oracle"`` or ``"rsl"`` as given; a ``Target`` for ``target:P``; else the share as a
        float in [0, 1]. A value this returns parses to itself.

    Raises
    ------
    InputError
        For anything else, a share outside [0, 1], or a target precision outside [0, 1].
    """
    if keep in WORDS:
        return keep
    if isinstance(keep, str) and keep.startswith(PREFIX):
        return _target(keep)
    try:
        float(keep)
    except (TypeError, ValueError):
        raise InputError(
            f"--keep must be oracle, rsl, target:P or a fraction in [0, 1], got {keep!r}"
        ) from None
    return check_unit(keep, "--keep fraction")


def _target(keep) -> Target:
    try:
        value = float(str(keep).removeprefix(PREFIX))
    except ValueError:
        raise InputError(f"--keep target:P needs a precision P in [0, 1], got {keep!r}") from None
    return Target(check_unit(value, "--keep target precision"))
