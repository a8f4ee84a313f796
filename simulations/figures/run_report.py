"""``smallloss analyse --out DIR --report``: ``DIR/report.html``, with PNGs beside it, of one
analysed run, drawn from the per-sample table as written (``samples.parquet`` or
``samples.csv``, read back from the file) and ``record.json``.

Not a study figure: it is not in ``simulations.figures.ORDER`` and has no CSV of its own; its
data is the run's table (``simulations.selection.table``). The pictures:

- ``report_class_<j>.png`` for each observed class j (the first ``MAX_CLASSES``): the
  histograms of the scored samples' last-epoch and epoch-mean losses (log x-axis), the probes'
  scores marked below them (clean and mislabelled apart), and a vertical line at each loss
  criterion's cut: the largest kept score of that class under ``global``, ``classwise``
  (last epoch), ``rsl`` (epoch mean) and each ``target_*`` present;
- ``report_precision_vs_kept.png``: the record's ``certifiable`` curves (with
  ``--keep target:P --confidence L``): the kept size each loss criterion certifies at each
  precision, the asked P marked.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from simulations.io import atomic_path
from simulations.selection.registry import LOSS_CRITERIA
from theory.errors import InputError

MAX_CLASSES = 20  # classes drawn, the first ones observed
HTML = "report.html"
CLASS_PNG = "report_class_{}.png"
CURVE_PNG = "report_precision_vs_kept.png"
# the masks that get a cut line, in legend order, where the table has their kept_ column
CUTS = (
    *LOSS_CRITERIA,
    *(f"target_{name}" for name in LOSS_CRITERIA),
    "target_coteaching_rule",
)
PANELS = (("score_last", "last-epoch loss"), ("score_mean", "epoch-mean loss"))
BINS = 40


def read_table(path):
    """The per-sample table as written: Parquet or CSV, by the file's suffix."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputError(f"no per-sample table to draw the report from: {path}")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path)


def observed_classes(table) -> list[int]:
    """The observed labels of the scored samples, ascending."""
    import numpy as np

    return [int(j) for j in np.unique(table.loc[~table["probe"], "noisy"])]


def class_data(table, j: int) -> dict:
    """What class j's picture shows, from the table: per score column, the scored samples',
    the clean probes' and the mislabelled probes' scores, and each criterion's cut (the
    largest kept score of the class; None where it keeps none of it)."""
    import numpy as np

    from simulations.selection.table import KEPT, score_of

    in_class = (table["noisy"] == j).to_numpy()
    probe = table["probe"].to_numpy(bool)
    bad = (table["clean"] != table["noisy"]).to_numpy()
    out = {}
    for column, _ in PANELS:
        s = table[column].to_numpy(np.float64)
        cuts = {}
        for name in CUTS:
            if f"{KEPT}{name}" not in table or score_of(name) != column:
                continue
            kept = in_class & table[f"{KEPT}{name}"].to_numpy(bool)
            cuts[name] = float(s[kept].max()) if kept.any() else None
        out[column] = {
            "scored": s[in_class & ~probe],
            "probes_clean": s[in_class & probe & ~bad],
            "probes_mislabelled": s[in_class & probe & bad],
            "cuts": cuts,
        }
    return out


def _floor(values) -> float:
    """The smallest positive score: where a log axis starts (a loss of 0 is drawn there)."""
    import numpy as np

    pos = np.concatenate([v[v > 0] for v in values]) if values else np.zeros(0)
    return float(pos.min()) if pos.size else 1e-8


def draw_class(j: int, data: dict):
    """Class j's figure: one panel per score (``class_data``'s output)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    from simulations.selection.registry import COLORS

    fig = Figure(figsize=(11, 3.8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(PANELS), squeeze=False)[0]
    for ax, (column, label) in zip(axes, PANELS):
        d = data[column]
        groups = [d["scored"], d["probes_clean"], d["probes_mislabelled"]]
        cuts = [v for v in d["cuts"].values() if v is not None]
        lo = _floor([*groups, np.asarray(cuts, float)])
        hi = max([lo * 10] + [float(g.max()) for g in groups if g.size] + cuts)
        bins = np.geomspace(lo, hi * 1.01, BINS + 1)
        ax.hist(
            np.clip(d["scored"], lo, None),
            bins=bins,
            color="0.6",
            label=f"scored ({d['scored'].size})",
        )
        for g, y, marker, color, what in (
            (d["probes_clean"], 0.04, "|", "#2ca02c", "probes, clean"),
            (d["probes_mislabelled"], 0.1, "x", "#d62728", "probes, mislabelled"),
        ):
            if g.size:
                ax.plot(
                    np.clip(g, lo, None),
                    np.full(g.size, y),
                    marker,
                    color=color,
                    linestyle="none",
                    transform=ax.get_xaxis_transform(),
                    label=f"{what} ({g.size})",
                )
        for name, cut in d["cuts"].items():
            if cut is None:
                continue
            base = name.removeprefix("target_")
            ax.axvline(
                max(cut, lo),
                color=COLORS.get(base, "black"),
                linestyle="--" if name.startswith("target_") else "-",
                label=f"{name} cut",
            )
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # labelled decades only: quick to draw
        ax.set_xlabel(f"{label} (log)")
        ax.set_ylabel("samples")
        ax.set_title(f"observed class {j}: {label}")
        ax.legend(fontsize=7, loc="upper right")
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.14, top=0.92, wspace=0.18)
    return fig


def asked_precision(record: dict) -> float | None:
    """The P of ``--keep target:P``, where the record has a target."""
    for t in record.get("target", {}).values():
        return float(t["P"])
    return None


def draw_curve(certifiable: dict, asked: float | None, confidence):
    """Kept size against precision, per loss criterion (the record's ``certifiable``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from simulations.selection.registry import COLORS

    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for name, c in certifiable.items():
        P = [float(p) for p, _ in c["kept_at_precision"]]
        kept = [int(k) for _, k in c["kept_at_precision"]]
        ax.plot(P, kept, "o-", color=COLORS.get(name, "black"), label=name, markersize=3)
        if asked is not None and asked in P:
            ax.plot([asked], [kept[P.index(asked)]], "*", color=COLORS.get(name), markersize=12)
    if asked is not None:
        ax.axvline(asked, color="black", linestyle=":", label=f"asked P = {asked:g}")
    ax.set_xlabel("precision P")
    ax.set_ylabel("kept (certified)")
    level = f" at confidence {confidence:g}" if confidence is not None else ""
    ax.set_title(f"largest kept set whose precision is >= P{level}")
    ax.legend(fontsize=8)
    fig.subplots_adjust(left=0.13, right=0.97, bottom=0.13, top=0.9)
    return fig


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": "smallloss"})


def write_report(out, table_path, record_path=None) -> dict:
    """``out/report.html`` and its PNGs, from the table file and the record file.

    Parameters
    ----------
    out : path
        The folder to write into (``analyse --out``).
    table_path : path
        The per-sample table as written (``samples.parquet`` or ``samples.csv``).
    record_path : path, optional
        The record (default ``out/record.json``).

    Returns
    -------
    dict
        ``html`` (its path), ``pngs`` (their paths), ``classes_observed``, ``classes_shown``.
    """
    out = Path(out)
    record_path = Path(record_path) if record_path is not None else out / "record.json"
    table = read_table(table_path)
    record = json.loads(record_path.read_text())
    classes = observed_classes(table)
    shown = classes[:MAX_CLASSES]
    pngs, sections = [], []
    for j in shown:
        path = out / CLASS_PNG.format(j)
        _save(draw_class(j, class_data(table, j)), path)
        pngs.append(path)
        sections.append(f'<h3>observed class {j}</h3>\n<img src="{path.name}" alt="class {j}">')
    if len(classes) > len(shown):
        sections.insert(
            0,
            f"<p><b>Truncated:</b> the first {len(shown)} of {len(classes)} observed classes "
            "are shown.</p>",
        )
    certifiable = record.get("certifiable")
    if certifiable:
        path = out / CURVE_PNG
        _save(draw_curve(certifiable, asked_precision(record), record.get("confidence")), path)
        pngs.append(path)
        curve = (
            "<p>Each point is a certificate on its own: a precision picked after reading "
            f'the curve is not covered by the level.</p>\n<img src="{path.name}" '
            'alt="precision against kept">'
        )
    else:
        curve = (
            "<p>No precision-versus-kept curve: the record has no <code>certifiable</code> "
            "entry (it comes with <code>--keep target:P --confidence L</code> on a run with "
            "probes).</p>"
        )
    page = _page(record, Path(table_path).name, sections, curve)
    html_path = out / HTML
    with atomic_path(html_path) as tmp:
        tmp.write_text(page)
    return {
        "html": html_path,
        "pngs": pngs,
        "classes_observed": len(classes),
        "classes_shown": len(shown),
    }


def _page(record: dict, table_name: str, sections: list[str], curve: str) -> str:
    e = html.escape
    run = e(str(record.get("run", "")))
    warnings = "".join(f"<li>{e(w)}</li>" for w in record.get("warnings", []))
    summary = (
        f"{record.get('n')} samples scored, {record.get('probes')} probes "
        f"({record.get('mislabelled_probes')} mislabelled), {record.get('classes')} classes, "
        f"{record.get('epochs')} epochs; --keep {e(str(record.get('keep')))}"
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html><head><meta charset="utf-8">',
            f"<title>smallloss analyse: {run}</title>",
            "<style>body{font-family:sans-serif;max-width:1150px;margin:auto}"
            "img{max-width:100%}</style></head><body>",
            f"<h1>smallloss analyse: {run}</h1>",
            f"<p>{summary}</p>",
            f"<ul>{warnings}</ul>" if warnings else "",
            f"<p>Drawn from <code>{e(table_name)}</code> and <code>record.json</code>.</p>",
            "<h2>Scores per observed class</h2>",
            "<p>Histograms of the scored samples' losses (log x-axis; a loss of 0 is drawn at "
            "the smallest positive one); below them the probes' scores, clean (|) and "
            "mislabelled (x); a vertical line at each criterion's cut, the largest score it "
            "keeps in the class (solid: at the budgets of --keep; dashed: the target's). "
            "global and per-class rank the last epoch's loss, RSL the epoch mean.</p>",
            *sections,
            "<h2>Precision against kept</h2>",
            curve,
            "</body></html>",
            "",
        ]
    )
