"""`smallloss analyse RUN.npz`: every criterion on a run that any training code recorded."""

from __future__ import annotations

from pathlib import Path

from simulations.cli._args import ANALYSE_RSL_RULES as RSL_RULES
from simulations.cli._args import BOOTSTRAP, ESTIMATES, LEVEL, add_common, progress_bar

ENVELOPES = ("design", "band")  # simulations.selection.bounds.ENVELOPES, checked by a test

HELP = "analyse a recorded training run (the run format: see the README)"
FLAGS = {"rsl_rule": "--rsl-budget"}  # analyse's parameters whose flag is not --<name>


def configure(p) -> None:
    p.add_argument("run", metavar="RUN.npz", help="a run file (noisy, losses or logits, ...)")
    p.add_argument("--matrix", help="T as CSV or .npy (rows = clean class), instead of the run's")
    p.add_argument(
        "--estimate",
        choices=ESTIMATES,
        help="estimate T from the run instead: pairs (the probes' clean and noisy labels), or "
        "confident, anchor, mixture (from its out-of-sample 'probs')",
    )
    p.add_argument(
        "--keep",
        default="oracle",
        help="oracle (T's clean count per class; RSL its own), rsl, a share in [0, 1], or "
        "target:P (also the largest budgets whose precision is P)",
    )
    p.add_argument(
        "--confidence",
        type=float,
        metavar="L",
        help="lower bounds at confidence L on every count prediction; with --keep target:P, "
        "the largest budgets such that, with probability L over the probes' draw (the search "
        "included), the kept set is empty or its precision is >= P, and the precision each "
        "criterion can certify. Assumes probes drawn at random from the training pool and "
        "labelled by the same noise; needs no T",
    )
    p.add_argument(
        "--fdr",
        action="store_true",
        help="with --keep target:P: also the kept sets whose EXPECTED clean share is >= P "
        "(false discovery rate <= 1 - P, Benjamini-Hochberg on conformal p-values from the "
        "mislabelled probes): a mean over draws, not a probability like --confidence",
    )
    p.add_argument(
        "--per-class",
        action="store_true",
        help="with --keep target:P --confidence L: also a kept set per observed class, every "
        "class's empty or >= P together with probability L (each class at level 1 - (1 - L) / "
        "classes)",
    )
    p.add_argument(
        "--envelope",
        default="design",
        choices=ENVELOPES,
        help="the target search's bound over thresholds: design (the band or one knot, chosen "
        "from the pooled scores without their labels; default) or band",
    )
    p.add_argument("--level", type=float, default=LEVEL, help="interval level (default 0.9)")
    p.add_argument(
        "--bootstrap",
        type=int,
        default=BOOTSTRAP,
        help="resamples behind the law predictions' intervals (0: none)",
    )
    p.add_argument("--rsl-budget", default="balanced", choices=RSL_RULES, help="RSL's rule")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="write each criterion's kept mask (.npy), the record, and samples.parquet: one "
        "row per sample (index, id, probe, noisy, clean, scores, kept_<mask> flags)",
    )
    p.add_argument("--csv", action="store_true", help="with --out: also DIR/samples.csv")
    p.add_argument(
        "--report",
        action="store_true",
        help="with --out: also DIR/report.html, with PNGs beside it, drawn from the written "
        "table: each class's score histograms and cuts, and the precision-versus-kept curve",
    )
    p.add_argument("--quiet", action="store_true", help="no progress on stderr (--json implies it)")
    add_common(p)


def run(args) -> tuple[dict, str]:
    from simulations.io import ensure_dir, read_matrix
    from simulations.selection import analyse as an
    from simulations.selection import runfile
    from theory.errors import InputError

    if (args.csv or args.report) and not args.out:
        raise InputError("--csv and --report write into --out DIR: give --out")
    r = runfile.read(args.run)
    matrix = read_matrix(args.matrix) if args.matrix else None
    if args.out:
        from simulations.selection.table import ids_of

        ids_of(r)  # a malformed 'ids' key fails before the work, not after
        ensure_dir(args.out)  # fail before the work, not after
    record, masks = an.analyse(
        r,
        matrix=matrix,
        estimate=args.estimate,
        keep=args.keep,
        confidence=args.confidence,
        level=args.level,
        rsl_rule=args.rsl_budget,
        bootstrap=args.bootstrap,
        seed=args.seed,
        progress=None if args.json or args.quiet else progress_bar,
        fdr=args.fdr,
        envelope=args.envelope,
        per_class=args.per_class,
    )
    record["run"] = str(args.run)
    written = []
    if args.out:
        written = write(Path(args.out), record, masks, vars(args), run=r)
    text = render(record)
    if written:
        text += "\nwritten: " + ", ".join(str(p) for p in written)
    return record, text


TABLE = "samples"  # DIR/samples.parquet, DIR/samples.csv


def write(out: Path, record: dict, masks: dict, settings: dict, run=None) -> list[Path]:
    """``<criterion>.npy`` (n booleans in the run's order) per kept mask, with ``run`` the
    per-sample table (``samples.parquet``; ``samples.csv`` with ``--csv`` or without
    pyarrow, which adds a line to the record's warnings), ``record.json``, and with
    ``--report`` ``report.html`` drawn from the table file. Returns the table and report
    paths written."""
    import numpy as np

    from simulations.io import atomic_path, provenance, write_json

    for name, mask in masks.items():
        with atomic_path(out / f"{name}.npy") as tmp, open(tmp, "wb") as f:
            np.save(f, mask)
    tables = (
        write_table(out, run, masks, record, settings.get("csv", False)) if run is not None else []
    )
    settings = {k: v for k, v in settings.items() if k != "func"}
    write_json(out / "record.json", {**record, "provenance": provenance(settings)})
    written = list(tables)
    if settings.get("report") and tables:
        from simulations.figures.run_report import write_report

        report = write_report(out, tables[0], out / "record.json")
        written.append(report["html"])
    return written


def has_pyarrow() -> bool:
    """Whether pyarrow imports: pandas writes Parquet through it."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def write_table(out: Path, run, masks: dict, record: dict, csv: bool) -> list[Path]:
    """The per-sample table as ``samples.parquet`` (and ``samples.csv`` where ``csv``),
    each written atomically; without pyarrow, CSV alone and one warning in the record.
    Returns the paths written, the Parquet file first."""
    from simulations.io import atomic_path
    from simulations.selection.table import sample_table

    table = sample_table(run, masks, record)
    paths = []
    if not has_pyarrow():
        record["warnings"].append(
            f"pyarrow is not installed: the per-sample table is {TABLE}.csv, not "
            f"{TABLE}.parquet (pip install pyarrow)"
        )
        csv = True
    else:
        with atomic_path(out / f"{TABLE}.parquet") as tmp:
            table.to_parquet(tmp, index=False)
        paths.append(out / f"{TABLE}.parquet")
    if csv:
        with atomic_path(out / f"{TABLE}.csv") as tmp:
            table.to_csv(tmp, index=False)
        paths.append(out / f"{TABLE}.csv")
    return paths


def _interval(c: dict, key: str) -> str:
    from simulations.io import fmt

    low, high = c.get(f"{key}_low"), c.get(f"{key}_high")
    if c.get(key) is None:
        return "-".rjust(22)
    if low is None:
        return f"{fmt(c[key])}".rjust(22)
    return f"{fmt(c[key])} [{fmt(low)}, {fmt(high)}]"


def render(r: dict) -> str:
    from simulations.io import fmt
    from simulations.selection.registry import CRITERIA
    from theory.conditions import CONDITIONS

    source = {"given": "the run's T", "matrix": "--matrix", "estimated": "T estimated"}
    observed = any(c.get("observed_precision") is not None for c in r["criteria"].values())
    predicted = any(c.get("predicted_precision") is not None for c in r["criteria"].values())
    lines = [
        f"{r['run']}: {r['n']} samples scored, {r['probes']} probes "
        f"({r['mislabelled_probes']} mislabelled), {r['epochs']} epochs, {r['classes']} "
        f"classes; {source[r['T_source']]}, noise rate {r['noise_rate']:.4f}; predictions from "
        f"{r['predicted_from']}" + (f" ({r['level']:g} intervals)" if predicted else ""),
        "conditions: "
        + ", ".join(f"{k} {'yes' if r['conditions'][k] else 'no'}" for k in CONDITIONS),
        "criterion      kept   "
        + ("predicted [interval]" if predicted else "ideal net (g*, not this run)")
        + ("   observed" if observed else "")
        + ("   bound" if r["confidence"] is not None else ""),
    ]
    for name in CRITERIA:
        c = r["criteria"].get(name)
        if c is None or c.get("selected") is None:
            continue
        if predicted:
            shown = _interval(c, "predicted_precision")
        else:
            shown = fmt(c.get("predicted_precision_bayes")).rjust(22)
        line = f"{name:11s} {c['selected']:>7d}  {shown}"
        if observed:
            line += f"   {fmt(c.get('observed_precision'))}"
        if r["confidence"] is not None:
            line += f"   {fmt(c.get('precision_bound'))}"
        lines.append(line)
    if "target" in r:
        lines.append("--keep target: predicted, bound, observed precision, kept")
        for name, t in r["target"].items():
            lines.append(
                f"  {name:15s} {fmt(t['predicted_precision'])} {fmt(t.get('precision_bound'))} "
                f"{fmt(t.get('observed_precision'))} {t['selected']:>8d}"
            )
    if "certifiable" in r:
        lines.append(
            f"certifiable at confidence {r['confidence']:g}: the highest precision, and the "
            "kept size at each (each point a certificate on its own)"
        )
        for name, c in r["certifiable"].items():
            curve = " ".join(f"{P:g}:{k}" for P, k in c["kept_at_precision"])
            lines.append(f"  {name:10s} {fmt(c['highest_precision'])}   {curve}")
    if "target_per_class" in r:
        lines.append(
            "--per-class: every class's kept set empty or >= P together at the confidence "
            "asked: kept, observed precision, classes kept from"
        )
        for name, t in r["target_per_class"].items():
            used = sum(1 for c in t["classes"].values() if c["selected"])
            lines.append(
                f"  {name:15s} {t['selected']:>8d} {fmt(t.get('observed_precision'))} "
                f"{used} of {len(t['classes']) + len(t['classes_without_probes'])}"
            )
    if "target_fdr" in r:
        lines.append(
            "--fdr: expected clean share >= P (a mean over the probes' draw, not a "
            "probability): observed precision, kept"
        )
        for name, t in r["target_fdr"].items():
            lines.append(f"  {name:15s} {fmt(t.get('observed_precision'))} {t['selected']:>8d}")
    lines += [f"warning: {w}" for w in r["warnings"]]
    return "\n".join(lines)
