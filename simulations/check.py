"""`smallloss check`: the conditions of one transition matrix, as JSON or a table."""

from __future__ import annotations

import numpy as np

from simulations.io import fmt, read_label_pair, read_matrix, read_prior
from theory import noise
from theory.conditions import ConditionReport, report
from theory.errors import InputError


def matrix_from_args(args) -> tuple[np.ndarray, np.ndarray | None, str]:
    """(T, prior or None, a description) from ``--noise/--rate/--classes``, ``--matrix`` or ``--labels``."""
    given = [s for s in ("noise", "matrix", "labels") if getattr(args, s, None)]
    if len(given) != 1:
        raise InputError("give exactly one source: --noise, --matrix or --labels")
    prior = None
    if args.noise:
        T, source = noise.named(args.noise, args.rate, args.classes), f"noise {args.noise}"
        if args.rate is not None and not args.noise.startswith("cifar10n-"):
            source += f" rate {args.rate:g}"
    elif args.matrix:
        T, source = read_matrix(args.matrix), f"matrix {args.matrix}"
    else:
        clean, noisy = read_label_pair(args.labels, args.clean, args.noisy)
        T, prior = noise.estimate(clean, noisy)
        source = f"labels {' '.join(map(str, args.labels))}"
    if getattr(args, "prior", None) not in (None, "uniform"):
        prior = read_prior(args.prior)
    if prior is not None:
        prior = noise.validate_prior(prior, len(T))
    return T, prior, source


def run(args) -> tuple[dict, str]:
    T, prior, source = matrix_from_args(args)
    rep = report(T, prior)
    out = rep.to_dict()
    out["source"] = source
    return out, render(rep, source)



def render(rep: ConditionReport, source: str) -> str:
    yes = {True: "yes", False: "NO"}
    lines = [
        f"{source}: {rep.classes} classes, noise rate {rep.noise_rate:.4f}",
        f"  row dominant        {yes[rep.row_dominant]:4s} margin {rep.row_margin:+.4f}"
        + (f"  failing {rep.classes_failing_row}" if rep.classes_failing_row else ""),
        f"  column dominant     {yes[rep.column_dominant]:4s} margin {rep.column_margin:+.4f}"
        + (f"  failing {rep.classes_failing_column}" if rep.classes_failing_column else ""),
        f"  diagonally dominant {yes[rep.diagonally_dominant]}",
        f"  globally separable  {yes[rep.globally_separable]}",
        f"  cleanlab valid      {yes[rep.cleanlab_valid]}",
        f"  epsilon*            {rep.epsilon_star:+.4f}",
        "",
        "  class    eta   clean_loss  min_noisy_loss",
    ]
    for c in rep.per_class:
        lines.append(f"  {c.cls:5d} {fmt(c.eta):>7} {fmt(c.clean_loss):>11} {fmt(c.min_noisy_loss):>15}")
    return "\n".join(lines)
