"""One row per sample of a run: what ``analyse`` scored and kept, to join on your own ids.

``sample_table(run, masks, record)`` builds it from the run (``runfile.Run``) and what
``analyse.analyse`` returns; ``smallloss analyse --out DIR`` writes it as
``DIR/samples.parquet`` (and ``samples.csv`` with ``--csv``), and ``--report`` draws its
pictures from that file (``simulations.figures.run_report``). The columns, in order:

==================  =========  ==============================================================
column              dtype      what it holds
==================  =========  ==============================================================
``index``           int64      the sample's row in the run file
``id``              as given   the run's key ``ids`` ((n,), optional), where the run has it
``probe``           bool       a probe: never scored, never kept
``noisy``           int64      the observed (training) label
``clean``           int64      the clean label where the run knows it, else -1
``score_last``      float32    the last epoch's loss (global and per-class rank it)
``score_mean``      float32    the epoch-mean loss (RSL ranks it)
``aum``             float64    the area under the margin, where the run has logits (large:
                               clean; the AUM criterion keeps the largest)
``kept_<name>``     bool       each of ``analyse``'s masks: kept by criterion ``<name>``
                               (``kept_global``, ``kept_rsl``, ``kept_global_mean_loss``,
                               ``kept_target_classwise``, ``kept_fdr_rsl``, ...)
==================  =========  ==============================================================

Every score is given for every sample, probes included (the probes' are what the count
predictions compare with the cuts). Numpy and pandas are imported inside the function: the
selection room imports neither torch nor pandas when loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulations.selection.registry import LOSS_CRITERIA, REGISTRY
from theory.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from simulations.selection.runfile import Run

# The columns before the ``kept_<name>`` flags; ``id`` and ``aum`` only where the run has them
COLUMNS = ("index", "id", "probe", "noisy", "clean", "score_last", "score_mean", "aum")
KEPT = "kept_"
# The score each loss criterion at a budget (and its certified target) ranks: the rest have
# no cut here
SCORE_OF = {
    **{
        name: "score_last" if REGISTRY[name].headline == "single" else "score_mean"
        for name in LOSS_CRITERIA
    },
    "coteaching_rule": "score_last",
}


def ids_of(run: Run):
    """The run's key ``ids`` as (n,) values, or None where it has none; InputError naming
    the key where it is not one id per sample."""
    import numpy as np

    ids = run.extra.get("ids")
    if ids is None:
        return None
    ids = np.asarray(ids)
    if ids.shape != (run.n,):
        raise InputError(f"run key 'ids': expected one id per sample ({run.n}), got {ids.shape}")
    if ids.dtype.kind == "S":  # bytes: shown as text
        ids = np.char.decode(ids, "utf-8", errors="replace")
    return ids


def sample_table(run: Run, masks: dict, record: dict) -> pd.DataFrame:
    """The per-sample table of one analysed run.

    Parameters
    ----------
    run : Run
        The run ``analyse`` read (``runfile.read``).
    masks : dict of str -> (n,) bool
        ``analyse``'s masks, in the run's order (probes never kept).
    record : dict
        ``analyse``'s record: its ``n`` (the scored samples) is checked against the run.

    Returns
    -------
    pandas.DataFrame
        One row per sample of the run, in its order; the module's columns.
    """
    import numpy as np
    import pandas as pd

    from simulations.selection.scores import aum, mean_loss

    n = run.n
    scored = int(run.scored.sum())
    if record.get("n") not in (None, scored):
        raise InputError(f"the record scored {record['n']} samples, the run has {scored}")
    cols: dict = {"index": np.arange(n, dtype=np.int64)}
    ids = ids_of(run)
    if ids is not None:
        cols["id"] = ids
    cols["probe"] = run.probes.astype(bool)
    cols["noisy"] = run.noisy.astype(np.int64)
    clean = run.clean if run.clean is not None else np.full(n, -1)
    cols["clean"] = np.asarray(clean, dtype=np.int64)
    cols["score_last"] = run.losses[:, -1].astype(np.float32)
    cols["score_mean"] = mean_loss(run.losses)
    if run.logits is not None:
        cols["aum"] = aum(run.logits, run.noisy)
    for name, mask in masks.items():
        mask = np.asarray(mask)
        if mask.shape != (n,) or mask.dtype != bool:
            raise ValueError(f"mask {name!r}: expected ({n},) bool, got {mask.dtype} {mask.shape}")
        cols[f"{KEPT}{name}"] = mask
    return pd.DataFrame(cols)


def score_of(name: str) -> str | None:
    """The table's score column that mask ``name`` cuts (``target_rsl``: ``score_mean``,
    ``classwise_mean_loss``: ``score_mean``), or None where it is no loss criterion's."""
    base = name.removeprefix("target_")
    for tail, column in (("_mean_loss", "score_mean"), ("_single_epoch", "score_last")):
        if base.endswith(tail) and base.removesuffix(tail) in SCORE_OF:
            return column
    return SCORE_OF.get(base)
