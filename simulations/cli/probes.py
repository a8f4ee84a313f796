"""`smallloss probes pick|merge RUN.npz`: choose training items to annotate, and merge their
annotated clean labels back into the run file as probes."""

from __future__ import annotations

from pathlib import Path

from simulations.cli._args import add_common

HELP = "pick training items of a run to annotate as probes, or merge their clean labels back"
ACTIONS = ("pick", "merge")


def configure(p) -> None:
    p.add_argument(
        "action",
        choices=ACTIONS,
        help="pick: which training items to send for annotation (a CSV of index,noisy[,id]); "
        "merge: the annotated clean labels back into a copy of the run, as probes",
    )
    p.add_argument("run", metavar="RUN.npz", help="a run file (noisy, losses or logits, ...)")
    p.add_argument(
        "--count",
        type=int,
        metavar="R",
        help="pick: how many items, stratified by observed label (required)",
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

    wrong = ("labels",) if args.action == "pick" else ("count",)
    for name in wrong:
        if getattr(args, name) is not None:
            raise InputError(f"--{name} is not an option of probes {args.action}")
    result = pick(args) if args.action == "pick" else merge(args)
    return result, render(result)


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
