"""`smallloss sweep CONFIG.toml`: a grid of settings x seeds, locally or on a Dask cluster."""

from __future__ import annotations

import time
from pathlib import Path

from simulations.cli._args import add_common

HELP = "a grid of settings x seeds, locally or on a Dask cluster"


def configure(p) -> None:
    p.add_argument("config", help="a TOML file (see simulations/sweeps/)")
    p.add_argument(
        "--out", default=None, help="results folder (default: runs/sweeps/<config name>)"
    )
    p.add_argument(
        "--workers", type=int, default=None, help="local worker processes (default: all cores)"
    )
    p.add_argument("--scheduler", default=None, help="address of a Dask distributed scheduler")
    p.add_argument(
        "--publish",
        action="store_true",
        help="when every cell is done, write the rows to figures/sweeps/<name>.csv, where the "
        "figures read committed sweeps",
    )
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr (as --no-progress)")
    add_common(p)


def run(args) -> tuple[dict, str]:
    from simulations.experiments.sweep import load_config, publish, run_sweep
    from theory.errors import InputError

    cfg = load_config(args.config)
    out = Path(args.out) if args.out else Path("runs") / "sweeps" / cfg["name"]
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers {args.workers} must be at least 1")
    started = time.perf_counter()
    result = run_sweep(
        cfg,
        out,
        args.workers,
        args.scheduler,
        progress=not (args.no_progress or args.quiet or args.json),
    )
    if args.publish:
        from simulations.figures._common import SWEEP_RESULTS

        seconds = time.perf_counter() - started
        result["published"] = str(publish(cfg, args.config, result, SWEEP_RESULTS, seconds))
    shown = {k: v for k, v in result.items() if k != "rows"}
    return shown, render(result)


def comparison_table(rows: list[dict]) -> list[str]:
    """One line a cell: its settings, then predicted | observed | difference per criterion."""
    from simulations.io import fmt
    from simulations.selection.registry import LOSS_CRITERIA

    settings = sorted({k for r in rows for k in r if k.startswith("setting_") and r[k] != ""})
    varying = [k for k in settings if len({r.get(k, "") for r in rows}) > 1]
    # each settings column as wide as its longest value: cut short, cifar10n-random1 and
    # cifar10n-worse (or target:0.9 and target:0.95) would read alike
    width = {
        k: max(len(k) - len("setting_"), *(len(str(r.get(k, ""))) for r in rows)) for k in varying
    }
    head = " ".join(f"{k[len('setting_') :]:>{width[k]}}" for k in varying)
    crit = LOSS_CRITERIA
    lines = [
        f"{head} seed | " + " | ".join(f"{c:^26}" for c in crit),
        f"{'':{len(head)}} {'':4} | "
        + " | ".join(f"{'pred':>7} {'obs':>8} {'diff':>8}" for _ in crit),
    ]
    order = sorted(
        rows, key=lambda r: tuple(str(r.get(k, "")) for k in varying) + (str(r["seed"]),)
    )
    for r in order:
        cells = " | ".join(
            f"{fmt(r.get(f'{c}_predicted_precision')):>7} "
            f"{fmt(r.get(f'{c}_observed_precision')):>8} "
            f"{fmt(r.get(f'{c}_difference')):>8}"
            for c in crit
        )
        settings_text = " ".join(f"{str(r.get(k, '')):>{width[k]}}" for k in varying)
        lines.append(f"{settings_text} {r['seed']:>4} | {cells}")
    return lines


def render(result: dict) -> str:
    lines = [
        f"{result['config']}: {result['ran']} cells run, {result['skipped']} already done, "
        f"{result['cells']} in all -> {result['out']}"
    ]
    rows = result["rows"]
    if rows and any(k.endswith("_predicted_precision") for k in rows[0]):
        lines = comparison_table(rows) + lines
    crits = [
        k[: -len("_difference")] for k in (rows[0] if rows else {}) if k.endswith("_difference")
    ]
    for c in crits:
        diffs = [
            abs(float(r[f"{c}_difference"]))
            for r in rows
            if r.get(f"{c}_difference") not in (None, "")
        ]
        if diffs:
            lines.append(
                f"  {c:10s} |predicted - observed| max {max(diffs):.4f}, "
                f"mean {sum(diffs) / len(diffs):.4f} over {len(diffs)} cells"
            )
    if result.get("published"):
        lines.append(f"published: {result['published']}")
    return "\n".join(lines)
