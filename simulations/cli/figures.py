"""`smallloss figures`: regenerate figures/ (PNG + CSV each)."""

from __future__ import annotations

import time

from simulations import figures
from simulations.cli._args import add_common
from simulations.io import ensure_dir

HELP = "regenerate figures/ (PNG + CSV each)"


def configure(p) -> None:
    p.add_argument("--quick", action="store_true", help="smaller grids, for CI")
    p.add_argument("--only", nargs="+", metavar="NAME", help="only these figures")
    p.add_argument("--out", default="figures", help="output folder")
    p.add_argument("--redraw", action="store_true", help="redraw PNGs from the CSVs already there")
    add_common(p)


def run(args) -> tuple[dict, str]:
    names = args.only or list(figures.ORDER)
    for n in names:
        figures.module(n)  # unknown names fail before anything is computed
    out = ensure_dir(args.out)
    done = []
    t0 = time.perf_counter()
    for n in names:
        if args.redraw:
            done.append({"name": n, "png": str(figures.draw_png(n, out))})
        else:
            done.append(figures.make(n, out, args.quick, args.seed))
    total = time.perf_counter() - t0
    result = {"figures": done, "seconds": total, "quick": args.quick}
    return result, render(result, out)


def render(result: dict, out) -> str:
    lines = [f"{d['name']:24s} {d.get('seconds', 0):7.1f} s  {d['png']}" for d in result["figures"]]
    lines.append(f"{len(result['figures'])} figure(s) in {result['seconds']:.1f} s -> {out}/")
    return "\n".join(lines)
