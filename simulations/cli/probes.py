"""`smallloss probes plan|pick|merge RUN.npz`: how many training items to annotate, which ones,
and their annotated clean labels merged back into the run file as probes."""

from __future__ import annotations

from pathlib import Path

from simulations.cli._args import add_common

HELP = (
    "plan how many training items of a run to annotate as probes, pick them, or merge their "
    "clean labels back"
)
ACTIONS = ("plan", "pick", "merge")


def configure(p) -> None:
    p.add_argument(
        "action",
        choices=ACTIONS,
        help="plan: the kept size a certified target is expected to reach with each number of "
        "probes (a forecast); pick: which training items to send for annotation (a CSV of "
        "index,noisy[,id]); merge: the annotated clean labels back into a copy of the run, as "
        "probes",
    )
    p.add_argument("run", metavar="RUN.npz", help="a run file (noisy, losses or logits, ...)")
    p.add_argument(
        "--count",
        type=int,
        metavar="R",
        help="pick: how many items, stratified by observed label (required)",
    )
    p.add_argument(
        "--precision",
        type=float,
        default=0.9,
        metavar="P",
        help="plan: the target precision (default 0.9)",
    )
    p.add_argument(
        "--confidence",
        type=float,
        default=0.9,
        metavar="L",
        help="plan: the confidence of the certificate (default 0.9)",
    )
    p.add_argument(
        "--size",
        type=int,
        metavar="K",
        help="plan: also name the fewest probes expected to certify K kept samples",
    )
    p.add_argument(
        "--plot",
        metavar="FILE.png",
        help="plan: draw the expected kept size against the number of probes",
    )
    p.add_argument(
        "--labels",
        metavar="FILE.csv",
        help="merge: a CSV with columns index,clean (the annotated clean label of each picked "
        "item; other columns ignored; required)",
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        help="pick: the CSV of picked items (default: RUN-probes.csv beside the run file); "
        "merge: the new run file (required)",
    )
    add_common(p)


def run(args) -> tuple[dict, str]:
    from theory.errors import InputError

    wrong = {"plan": ("labels", "count", "out"), "pick": ("labels", "size", "plot")}.get(
        args.action, ("count", "size", "plot")
    )
    for name in wrong:
        if getattr(args, name) is not None:
            raise InputError(f"--{name} is not an option of probes {args.action}")
    result = {"plan": plan, "pick": pick, "merge": merge}[args.action](args)
    return result, render(result)


def plan(args) -> dict:
    from simulations.io import atomic_path
    from simulations.selection import planner, runfile
    from theory.errors import InputError

    if args.size is not None and args.size < 1:
        raise InputError(f"--size {args.size}: a kept size is at least 1")
    if args.plot and Path(args.plot).suffix.lower() != ".png":
        raise InputError(f"--plot {args.plot}: write a .png")
    r = runfile.read(args.run)
    scores = r.losses[r.scored, -1]  # the global search ranks the last epoch's loss
    pilot = r.clean[r.probes] != r.noisy[r.probes] if r.probe is not None else None
    rows, model = planner.plan(scores, args.precision, args.confidence, pilot)
    result = {
        "action": "plan",
        "run": str(args.run),
        "n": int(scores.size),
        "precision": args.precision,
        "confidence": args.confidence,
        "model": model,
        "pilot_probes": 0 if pilot is None else int(pilot.size),
        "rows": [row.to_dict() for row in rows],
        "size": args.size,
        "probes_for_size": None if args.size is None else planner.probes_for(rows, args.size),
    }
    if args.plot:
        with atomic_path(Path(args.plot)) as tmp:
            _draw_plan(result, tmp)
        result["plot"] = str(args.plot)
    return result


def _draw_plan(result: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    R = [row["probes"] for row in result["rows"]]
    kept = [row["expected_kept"] for row in result["rows"]]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(R, kept, "o-")
    ax.set_xscale("log")
    ax.set_xlabel("probes annotated")
    ax.set_ylabel("expected kept (certified)")
    ax.set_title(
        f"P = {result['precision']:g}, L = {result['confidence']:g}, n = {result['n']:,}",
        fontsize=9,
    )
    if result["size"] is not None:
        ax.axhline(result["size"], color="grey", lw=0.8, ls="--")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120)
    plt.close(fig)


def _not_the_run(out: Path, run) -> None:
    from theory.errors import InputError

    if out.resolve() == Path(run).resolve():
        raise InputError(f"--out {out} is the run file itself; name a new file")


def pick(args) -> dict:
    import csv

    import numpy as np

    from simulations.io import atomic_path, csv_cell
    from simulations.selection import probeset, runfile
    from theory.errors import InputError

    if args.count is None:
        raise InputError("probes pick needs --count R (how many items to annotate)")
    r = runfile.read(args.run)
    ids = r.extra.get("ids")
    if ids is not None and np.shape(ids) != (r.n,):
        raise InputError(f"run key 'ids': expected one id per sample ({r.n}), got {np.shape(ids)}")
    run_path = Path(args.run)
    out = Path(args.out) if args.out else run_path.with_name(f"{run_path.stem}-probes.csv")
    _not_the_run(out, args.run)
    if args.count == r.scored.sum():  # merged, they would leave the run nothing to select
        raise InputError(
            f"--count {args.count} is every training item that is not a probe; a run needs "
            "at least one left to select"
        )
    index = probeset.pick(r.noisy, args.count, args.seed, exclude=r.probes)
    header = ["index", "noisy"] + (["id"] if ids is not None else [])
    with atomic_path(out) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for i in index:
            w.writerow([int(i), int(r.noisy[i])] + ([csv_cell(ids[i])] if ids is not None else []))
    available = np.bincount(r.noisy[r.scored], minlength=r.classes)
    picked = r.noisy[index]
    classes = range(r.classes)
    return {
        "action": "pick",
        "run": str(args.run),
        "out": str(out),
        "count": int(index.size),
        "seed": args.seed,
        "training_items": int(r.scored.sum()),
        "existing_probes": int(r.probes.sum()),
        "available": {str(j): int(available[j]) for j in classes},
        "per_class": {str(j): int((picked == j).sum()) for j in classes},
        "indices": {str(j): index[picked == j].tolist() for j in classes},
    }


def _whole(text: str, what: str, where: str) -> int:
    """A cell as an integer ("3", or "3.0" as spreadsheets write it), or a one-line error."""
    from theory.errors import InputError

    cell = text.strip()
    if not cell:
        raise InputError(f"{where}: empty {what}")
    try:
        return int(cell)
    except ValueError:
        pass
    try:
        value = float(cell)
    except ValueError:
        raise InputError(f"{where}: {what} {cell!r} is not a whole number") from None
    if value != value or value in (float("inf"), float("-inf")) or value != round(value):
        raise InputError(f"{where}: {what} {cell!r} is not a whole number")
    return int(value)


def read_annotations(path, n: int, classes: int, probe) -> tuple[list[int], list[int]]:
    """(indices, clean labels) from a CSV with columns ``index`` and ``clean`` (others
    ignored; blank lines and lines that start with ``#`` skipped), each row checked: the index
    in [0, n), not given twice, not already a probe; the label a class in [0, classes)."""
    import csv
    import io

    from theory.errors import InputError

    p = Path(path)
    if not p.is_file():
        raise InputError(f"labels file not found: {p}")
    try:
        text = p.read_text(encoding="utf-8-sig")  # a spreadsheet's byte-order mark dropped
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read labels file {p}: {exc}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header, seen, index, clean = None, {}, [], []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [c.strip().lower() for c in cells]
                for col in ("index", "clean"):
                    if col not in header:
                        has = ", ".join(repr(c) for c in header)
                        raise InputError(f"labels file {p}: no column {col!r} (it has: {has})")
                at_i, at_c = header.index("index"), header.index("clean")
                continue
            where = f"{p} line {reader.line_num}"
            if len(cells) <= max(at_i, at_c):
                raise InputError(f"{where}: {len(cells)} cells, the header has {len(header)}")
            i = _whole(cells[at_i], "index", where)
            if not 0 <= i < n:
                raise InputError(f"{where}: index {i} is outside the run's rows [0, {n})")
            if i in seen:
                raise InputError(f"{where}: index {i} is given twice (also on line {seen[i]})")
            if probe[i]:
                raise InputError(f"{where}: index {i} is already a probe in the run")
            k = _whole(cells[at_c], "clean label", f"{where} (index {i})")
            if not 0 <= k < classes:
                raise InputError(
                    f"{where} (index {i}): clean label {k} is not a class in [0, {classes})"
                )
            seen[i] = reader.line_num
            index.append(i)
            clean.append(k)
    except csv.Error as exc:
        raise InputError(f"{p} line {reader.line_num}: {exc}") from None
    if not index:
        raise InputError(f"labels file {p} has no rows (expected columns index,clean)")
    return index, clean


def merge(args) -> dict:
    import numpy as np

    from simulations.io import read_npz
    from simulations.selection import probeset, runfile
    from theory.errors import InputError

    if not args.labels:
        raise InputError("probes merge needs --labels FILE.csv (columns index,clean)")
    if not args.out:
        raise InputError("probes merge needs --out NEW.npz (the run file is left as it is)")
    out = Path(args.out)
    _not_the_run(out, args.run)
    arrays = read_npz(args.run, "run file")
    r = runfile.from_arrays(arrays, where=str(args.run))
    index, clean = read_annotations(args.labels, r.n, r.classes, r.probes)
    index, clean = np.array(index, np.int64), np.array(clean, np.int64)
    merged = probeset.merge(arrays, index, clean)
    new = runfile.from_arrays(merged, where=str(out))  # what analyse will read, checked first
    runfile.write(out, merged)
    mislabelled = int((clean != r.noisy[index]).sum())
    return {
        "action": "merge",
        "run": str(args.run),
        "labels": str(args.labels),
        "out": str(out),
        "merged": int(index.size),
        "mislabelled": mislabelled,
        "probes": int(new.probes.sum()),
        "mislabelled_probes": int((new.clean[new.probes] != new.noisy[new.probes]).sum()),
    }


def render(result: dict) -> str:
    if result["action"] == "plan":
        source = (
            f"the loss mixture's shape, the noise rate of {result['pilot_probes']} pilot probes"
            if result["model"] == "pilot"
            else "the loss mixture alone (no pilot probes: it tends to overstate the noise)"
        )
        lines = [
            f"{result['run']}: the kept size a certified target (P = {result['precision']:g}, "
            f"L = {result['confidence']:g}) is expected to reach, of {result['n']:,} training "
            f"samples; a forecast from {source}, not a guarantee",
            "  probes  mislabelled  expected kept  envelope",
        ]
        for row in result["rows"]:
            lines.append(
                f"  {row['probes']:>6,}  {row['mislabelled_probes']:>11.0f}  "
                f"{row['expected_kept']:>13,.0f}  {row['envelope']}"
            )
        if result["size"] is not None:
            got = result["probes_for_size"]
            lines.append(
                f"to certify {result['size']:,} kept: "
                + (f"about {got:,} probes" if got else "more probes than the plan's largest")
            )
        lines.append(f"then: smallloss probes pick {result['run']} --count R")
        return "\n".join(lines)
    if result["action"] == "merge":
        return (
            f"{result['out']}: merged {result['merged']} probes from {result['labels']}, "
            f"{result['mislabelled']} of them mislabelled (clean label != observed label); "
            f"the run now has {result['probes']} probes ({result['mislabelled_probes']} "
            "mislabelled)"
        )
    lines = [
        f"{result['run']}: picked {result['count']} of {result['training_items']:,} training "
        f"items (seed {result['seed']}), stratified by observed label -> {result['out']}",
        "  class  available  picked",
    ]
    for j, k in result["per_class"].items():
        lines.append(f"  {j:>5}  {result['available'][j]:>9,}  {k:>6,}")
    lines.append(
        "annotate each item's clean label in a CSV with columns index,clean, then: "
        f"smallloss probes merge {result['run']} --labels FILE.csv --out NEW.npz"
    )
    return "\n".join(lines)
