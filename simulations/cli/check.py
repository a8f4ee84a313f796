"""`smallloss check`: the conditions of one transition matrix, as JSON or a table."""

from __future__ import annotations

from simulations.cli._args import add_common, add_source, matrix_from_args
from simulations.io import fmt
from theory.conditions import ConditionReport, report

HELP = "conditions of one transition matrix"


def configure(p) -> None:
    add_source(p)
    p.add_argument(
        "--prior",
        help="file with the clean class prior "
        "(default: uniform, or the clean frequencies with --labels)",
    )
    add_common(p)


def run(args) -> tuple[dict, str]:
    T, prior, source = matrix_from_args(args)
    rep = report(T, prior)
    out = rep.to_dict()
    out["source"] = source
    return out, render(rep, source)


def render(rep: ConditionReport, source: str) -> str:
    yes = {True: "yes", False: "NO"}
    failing_row = f"  failing {rep.classes_failing_row}" if rep.classes_failing_row else ""
    failing_col = f"  failing {rep.classes_failing_column}" if rep.classes_failing_column else ""
    lines = [
        f"{source}: {rep.classes} classes, noise rate {rep.noise_rate:.4f}",
        f"  row dominant        {yes[rep.row_dominant]:4s} margin {rep.row_margin:+.4f}"
        + failing_row,
        f"  column dominant     {yes[rep.column_dominant]:4s} margin {rep.column_margin:+.4f}"
        + failing_col,
        f"  diagonally dominant {yes[rep.diagonally_dominant]}",
        f"  globally separable  {yes[rep.globally_separable]}",
        f"  cleanlab valid      {yes[rep.cleanlab_valid]}",
        f"  epsilon*            {rep.epsilon_star:+.4f}  (over pairs that flip: "
        f"{fmt(rep.epsilon_star_flipping).strip()})",
        "",
        "  class    eta   clean_loss  min_noisy_loss",
    ]
    for c in rep.per_class:
        lines.append(
            f"  {c.cls:5d} {fmt(c.eta):>7} {fmt(c.clean_loss):>11} {fmt(c.min_noisy_loss):>15}"
        )
    return "\n".join(lines)
