"""`smallloss check`: the conditions of one transition matrix, as JSON or a table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulations.cli._args import add_common, add_source, matrix_from_args

if TYPE_CHECKING:
    from theory.conditions import ConditionReport

HELP = "conditions of one transition matrix"


def configure(p) -> None:
    add_source(p)
    p.add_argument(
        "--prior",
        help="file with the clean class prior "
        "(default: uniform, or the clean frequencies with --labels)",
    )
    p.add_argument(
        "--ci",
        action="store_true",
        help="with --labels: intervals for the margins and epsilon*, and each condition's "
        "probability, from the Jeffreys-Dirichlet posterior of T",
    )
    p.add_argument("--level", type=float, default=0.9, help="interval level (default 0.9)")
    p.add_argument("--draws", type=int, default=1000, help="posterior draws for --ci")
    add_common(p)


def run(args) -> tuple[dict, str]:
    from simulations.estimation import transition
    from simulations.io import read_label_pair
    from theory.conditions import report
    from theory.errors import InputError
    from theory.validation import check_int

    pair = None
    if args.ci:
        if not args.labels:
            raise InputError("--ci needs --labels: a matrix given as numbers has no sampling error")
        pair = read_label_pair(args.labels, args.clean, args.noisy)  # read once, used twice
    T, prior, source = matrix_from_args(args, pair)
    rep = report(T, prior)
    out = rep.to_dict()
    out["source"] = source
    text = render(rep, source)
    if pair is not None:
        e = transition.from_pairs(*pair, len(T))
        Ts, priors, _ = transition.draws(e, check_int(args.draws, "--draws", low=10), args.seed)
        spread = transition.summarise(e, Ts, priors, args.level)
        spread.pop("T_low"), spread.pop("T_high")
        # pairs' draws are the Jeffreys posterior's: the share is a calibrated probability
        spread["probabilities"] = spread.pop("bootstrap_share")
        out.update(spread)
        text += "\n\n" + render_ci(spread, args.level)
    return out, text


def render_ci(spread: dict, level: float) -> str:
    lines = [f"  {level:g} intervals (Jeffreys-Dirichlet posterior of T and the prior):"]
    for k in ("noise_rate", "row_margin", "column_margin", "epsilon_star"):
        lines.append(f"  {k:20s} [{spread[k + '_low']:+.4f}, {spread[k + '_high']:+.4f}]")
    lines += [f"  P({k}) {v:.3f}" for k, v in spread["probabilities"].items()]
    return "\n".join(lines)


def render(rep: ConditionReport, source: str) -> str:
    from simulations.io import fmt

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
