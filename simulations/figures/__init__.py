"""`smallloss figures`: every figure as a CSV (the data) and a PNG drawn from that CSV alone.

Each figure module has ``NAME``, ``CAPTION``, ``compute(quick, seed) -> list[dict]`` and
``draw(table) -> matplotlib Figure``, where ``table`` maps column names to arrays read back
from the CSV. Both files are written atomically and carry the settings and versions that
made them (a ``#`` comment line in the CSV, PNG text metadata).
"""

from __future__ import annotations

import importlib
import json
import time
from pathlib import Path

import numpy as np

from simulations.io import atomic_path, provenance, read_commented_csv, write_commented_csv
from theory.errors import InputError

ORDER = (
    "conditions",
    "loss_laws",
    "theorem2",
    "predicted_vs_observed",
    "cifar10n",
    "trainer_epochs",
    "train_fraction",
    "stage2_accuracy",
    "imbalance",
    "estimation",
    "instance_noise",
    "real_gap",
    "fashion",
    "target_keep",
    "target_bound",
    "bound_search",
    "aum_probes",
    "memorisation",
    "certificate",
)


def module(name: str):
    if name not in ORDER:
        raise InputError(f"unknown figure {name!r}; choose from {', '.join(ORDER)}")
    return importlib.import_module(f"simulations.figures.{name}")


def write_csv(path: Path, rows: list[dict], meta: dict) -> None:
    if not rows:
        raise RuntimeError(f"{path.name}: the figure computed no rows")
    write_commented_csv(path, rows, meta)


class Table(dict):
    """A figure CSV's columns by name; a column the figure reads and the file lacks is an
    InputError naming the file and the column (a CSV edited by hand, or from another version),
    not a KeyError inside the figure's ``draw``."""

    def __init__(self, path: Path, columns: dict):
        super().__init__(columns)
        self.path = path

    def __missing__(self, key):
        has = ", ".join(self) or "no columns"
        raise InputError(f"{self.path}: no column {key!r} (it has: {has})")


def read_csv(path: Path) -> Table:
    """Columns of a figure CSV; numeric columns as float arrays (empty cells as NaN).

    Parameters
    ----------
    path : pathlib.Path
        A figure's CSV (its ``#`` provenance line is skipped).

    Returns
    -------
    Table
        A dict of column name -> ``(rows,)`` float64 array, or an object array of the cells'
        text where a column is not numeric; a missing column raises InputError naming the
        file and the column.
    """
    rows, _ = read_commented_csv(path)
    table = Table(path, {})
    for key in rows[0] if rows else []:
        values = [r[key] for r in rows]
        try:
            table[key] = np.array([float(v) if v != "" else np.nan for v in values])
        except ValueError:
            table[key] = np.array(values, dtype=object)
    return table


def read_meta(path: Path) -> dict:
    with open(path) as f:
        first = f.readline()
    return json.loads(first[2:]) if first.startswith("# ") else {}


def draw_png(name: str, out: Path) -> Path:
    csv_path, png_path = out / f"{name}.csv", out / f"{name}.png"
    if not csv_path.exists():
        raise InputError(f"no data to redraw {name} from: {csv_path} is missing")
    fig = module(name).draw(read_csv(csv_path))
    meta = read_meta(csv_path)
    with atomic_path(png_path) as tmp:
        fig.savefig(
            tmp,
            dpi=110,
            format="png",
            bbox_inches="tight",
            metadata={
                "Description": json.dumps(meta, sort_keys=True)[:60000],
                "Software": "smallloss",
            },
        )
    return png_path


def make(name: str, out: Path, quick: bool, seed: int) -> dict:
    t = time.perf_counter()
    mod = module(name)
    rows = mod.compute(quick=quick, seed=seed)
    write_csv(
        out / f"{name}.csv",
        rows,
        provenance({"figure": name, "quick": quick, "seed": seed, "caption": mod.CAPTION}),
    )
    draw_png(name, out)
    return {
        "name": name,
        "rows": len(rows),
        "seconds": round(time.perf_counter() - t, 2),
        "csv": str(out / f"{name}.csv"),
        "png": str(out / f"{name}.png"),
    }


TIMES = "TIMES.csv"  # what each figure of the last full run took, beside the figures
# the full run the READMEs quote: written only when a run is published (`--publish-times`),
# so that a run's own times and machine cannot change what the committed READMEs promise
PUBLISHED_TIMES = "TIMES-published.csv"


def write_times(out: Path, done: list[dict], seed: int, host: dict, publish: bool = False) -> Path:
    """``TIMES.csv`` of a full run: one row per figure (name, seconds), then a total row; its
    ``#`` line gives the settings, the versions, the date and ``host`` (the machine, with
    its reference workload's seconds: ``simulations.machine.describe``). With ``publish``,
    the same file as ``TIMES-published.csv`` too, the record the READMEs quote."""
    rows = [{"figure": d["name"], "seconds": d["seconds"]} for d in done]
    rows.append({"figure": "total", "seconds": round(sum(d["seconds"] for d in done), 2)})
    meta = provenance({"figures": [d["name"] for d in done], "quick": False, "seed": seed})
    meta["machine"] = host
    write_csv(out / TIMES, rows, meta)
    if publish:
        write_csv(out / PUBLISHED_TIMES, rows, meta)
    return out / TIMES


def _times_path(out: Path) -> Path:
    """The last full run's ``TIMES.csv``, else (a fresh clone) the published record."""
    return out / TIMES if (out / TIMES).is_file() else out / PUBLISHED_TIMES


def times_reference(out: Path) -> float | None:
    """The reference workload's seconds on the machine of the last full run, if recorded."""
    try:
        return float(read_meta(_times_path(out))["machine"]["reference_s"])
    except (OSError, KeyError, TypeError, ValueError):
        return None


def read_times(out: Path) -> dict[str, float]:
    """Seconds per figure from a previous full run's ``TIMES.csv`` (empty if none)."""
    try:
        rows, _ = read_commented_csv(_times_path(out))
        return {r["figure"]: float(r["seconds"]) for r in rows if r["figure"] != "total"}
    except (OSError, KeyError, ValueError):
        return {}
