"""How many probes to annotate: the kept size the certified target search is expected to reach
with R probes, for each R of a grid, from what a run already holds.

The search's kept size depends on where mislabelled samples fall in the ranking, which the
planner models along the global ranking of the training scores:

the working mixture of ``envelope`` (a two-component mixture of the log-scores) gives the
shape, and a pilot of annotated probes, where there is one, the noise rate (the mixture alone
overstates it where the losses overlap, and so forecasts too little). The pilot's own
mislabelled scores are too few to give the shape: the search stops in their law's lower
tail, and a lognormal fitted to 90 of them doubled the mislabelled count there.

Under that model each R's expected kept size is ``envelope.expected_kept`` of the envelope the
search would use (``envelope.design``). A plan is a forecast, not a guarantee: it reads the
pilot's labels, which a certificate never may; the certificate is computed afresh on the
probes annotated. ``tests/selection/test_planner.py`` compares the forecast with the mean
kept size of the search over simulated draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulations.selection import bounds, envelope
from theory.errors import InputError
from theory.validation import check_unit

PROBES = (50, 100, 200, 300, 500, 1_000, 2_000, 5_000)  # the grid of probe counts planned for


@dataclass(frozen=True)
class PlanRow:
    probes: int  # R
    mislabelled_probes: float  # expected among them
    expected_kept: float  # of the n training samples, certified at P with confidence L
    envelope: str  # the one the search is expected to use

    def to_dict(self) -> dict:
        return {
            "probes": self.probes,
            "mislabelled_probes": self.mislabelled_probes,
            "expected_kept": self.expected_kept,
            "envelope": self.envelope,
        }


def mislabelled_curve(scores, pilot_bad=None) -> tuple[np.ndarray, str]:
    """The expected mislabelled training samples among the k smallest scores, k = 1..n, and
    the model it comes from: the working mixture's shape, with its total set to the pilot's
    noise rate (``pilot``) where a pilot is given, else its own (``mixture``)."""
    s = np.sort(np.asarray(scores, np.float64))
    curve = np.cumsum(envelope.working_badness(s))
    if pilot_bad is None or not np.size(pilot_bad) or curve[-1] <= 0:
        return curve, "mixture"
    return curve * (s.size * float(np.mean(pilot_bad)) / curve[-1]), "pilot"


def plan(
    scores,
    target: float,
    confidence: float,
    pilot_bad=None,
    probes=PROBES,
) -> tuple[list[PlanRow], str]:
    """The expected certified kept size of the global search at each probe count.

    Parameters
    ----------
    scores : (n,) float
        The training samples' scores (a loss: smallest kept first).
    target, confidence : float
        P and L.
    pilot_bad : (R0,) bool, optional
        Which of the probes already annotated are mislabelled.
    probes : sequence of int
        The probe counts to plan for.

    Returns
    -------
    (rows, model): one ``PlanRow`` per probe count, and the model (``pilot`` or ``mixture``).
    """
    target = check_unit(target, "target precision")
    confidence = check_unit(confidence, "--confidence")
    n = int(np.size(scores))
    if n < 2:
        raise InputError("planning needs at least 2 training samples")
    working, _ = mislabelled_curve(scores)
    curve, model = mislabelled_curve(scores, pilot_bad)
    rate = curve[-1] / n
    rows = []
    for R in sorted({int(r) for r in probes if int(r) >= 1}):
        pooled = (n + R) / n  # the pool grows with the probes, drawn like the training set
        kept = np.arange(1, n + 1, dtype=np.float64)
        band = bounds.band(n, R, confidence, target)
        # the search picks its envelope from its own working mixture; the plan follows it
        name, u, _ = envelope.design(
            n, R, confidence, target, working * pooled, kept * pooled, band
        )
        expected = envelope.expected_kept(u, curve * pooled, kept, R / (n + R), target)
        rows.append(PlanRow(R, R * rate, expected, name))
    return rows, model


def probes_for(rows: list[PlanRow], size: float) -> int | None:
    """The fewest probes of the plan whose expected kept size reaches ``size``."""
    return next((r.probes for r in rows if r.expected_kept >= size), None)
