"""`smallloss figures`: regenerate figures/ (PNG + CSV each)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from simulations.cli._args import add_common

HELP = "regenerate figures/ (PNG + CSV each)"


def configure(p) -> None:
    p.add_argument("--quick", action="store_true", help="smaller grids, for CI")
    p.add_argument("--only", nargs="+", metavar="NAME", help="only these figures")
    p.add_argument("--out", default="figures", help="output folder")
    p.add_argument("--redraw", action="store_true", help="redraw PNGs from the CSVs already there")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr (--json implies it)")
    p.add_argument(
        "--publish-times",
        action="store_true",
        help="a full run only: also write its seconds and machine to TIMES-published.csv, the "
        "record the READMEs quote (a plain full run writes TIMES.csv alone)",
    )
    add_common(p)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"


def _left(names, k, elapsed, past, quick, speed=1.0) -> str:
    """Time left before figure ``k`` starts: the last full run's seconds for the figures
    still to come, scaled by how this run compares with it so far (before the first, by
    ``speed``: this machine's reference seconds over that run's), else elapsed per figure."""
    if not quick and all(n in past for n in names):
        so_far = sum(past[n] for n in names[:k])
        scale = elapsed / so_far if k and so_far > 0 else speed
        return f"about {_clock(scale * sum(past[n] for n in names[k:]))} left"
    if k:
        return f"about {_clock(elapsed / k * (len(names) - k))} left"
    return "time left unknown"


def run(args) -> tuple[dict, str]:
    from simulations import figures, machine
    from simulations.io import ensure_dir
    from theory.errors import InputError

    if args.publish_times and (args.quick or args.only or args.redraw):
        raise InputError(
            "--publish-times publishes a full run: not with --quick, --only or --redraw"
        )
    names = args.only or list(figures.ORDER)
    for n in names:
        figures.module(n)  # unknown names fail before anything is computed
    if args.redraw:  # every CSV there before the first figure is drawn
        missing = [n for n in names if not (Path(args.out) / f"{n}.csv").is_file()]
        if missing:
            raise InputError(
                f"--redraw: no data to redraw {', '.join(missing)} from: "
                f"{Path(args.out) / (missing[0] + '.csv')} is missing"
            )
    out = ensure_dir(args.out)
    show = not (args.json or args.quiet)
    past = figures.read_times(out)
    full = not (args.quick or args.only or args.redraw)  # only a full run is a timing record
    host = machine.describe(reference=full)
    before = figures.times_reference(out)
    speed = host["reference_s"] / before if full and before else 1.0
    done = []
    t0 = time.perf_counter()
    for k, n in enumerate(names):
        if show:
            elapsed = time.perf_counter() - t0
            print(
                f"figure {k + 1} of {len(names)}: {n} ({_clock(elapsed)} elapsed, "
                f"{_left(names, k, elapsed, past, args.quick or args.redraw, speed)})",
                file=sys.stderr,
                flush=True,
            )
        if args.redraw:
            done.append({"name": n, "png": str(figures.draw_png(n, out))})
        else:
            done.append(figures.make(n, out, args.quick, args.seed))
    total = time.perf_counter() - t0
    result = {"figures": done, "seconds": total, "quick": args.quick}
    if full:
        result["times"] = str(
            figures.write_times(out, done, args.seed, host, publish=args.publish_times)
        )
        if args.publish_times:
            result["published_times"] = str(out / figures.PUBLISHED_TIMES)
    return result, render(result, out)


def render(result: dict, out) -> str:
    lines = [f"{d['name']:24s} {d.get('seconds', 0):7.1f} s  {d['png']}" for d in result["figures"]]
    lines.append(f"{len(result['figures'])} figure(s) in {result['seconds']:.1f} s -> {out}/")
    if "times" in result:
        lines.append(f"timings: {result['times']}")
    if "published_times" in result:
        lines.append(f"published timings: {result['published_times']}")
    return "\n".join(lines)
