"""`smallloss train`: the real-data loop from the command line."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from simulations.cli._args import (
    SCALING_RULE,
    add_common,
    add_source,
    instance_from_args,
    matrix_from_args,
)

if TYPE_CHECKING:
    from simulations.training.config import TrainConfig

HELP = "real data: stage 1 with loss recording, selection, stage 2"


def configure(p) -> None:
    """The flags, one per ``TrainConfig`` field (``simulations.training.config``, where each is
    declared with its default, help and choices), and the noise source and common flags."""
    from simulations.training.config import cli_fields

    for f in cli_fields():
        m = f.metadata
        flag = "--" + ("no-" if m["negate"] else "") + f.name.replace("_", "-")
        help_ = m["help"] + (f". Default: {SCALING_RULE}" if f.name == "scale" else "")
        if m["negate"]:
            p.add_argument(flag, dest=f.name, action="store_false", help=help_)
            continue
        kind = m["kind"] if m["kind"] in (int, float) else None
        choices = m["choices"] if f.name != "device" else None  # its own message names it
        shown = "" if f.default is None or "default" in help_ else f" (default {f.default})"
        p.add_argument(
            flag,
            type=kind,
            default=f.default,
            choices=choices,
            metavar=m["metavar"],
            help=help_ + shown,
        )
        if f.name == "dataset":
            add_source(p, labels=False)
    add_common(p)


def _missing_folders(path) -> list[Path]:
    """The folders of ``path`` (itself and its parents) that do not exist yet, outermost
    first: what a run creates, and what a failed run must not leave behind."""
    p = Path(path).absolute()
    missing = []
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    return missing[::-1]


def run(args) -> tuple[dict, str]:
    from simulations.training.config import flags
    from simulations.training.run import run_training
    from theory.errors import InputError

    name = instance_from_args(args)
    if name:
        T, source = None, f"noise {name} rate {args.rate:g}"
    elif args.noise or args.matrix:
        T, _, source = matrix_from_args(args)
    else:  # the data set must carry its own noisy labels (y_noisy): load() says so if not
        T, source = None, "the data set's own noisy labels"
    try:
        cfg = config(args, name, T, source)  # every setting checked before any work
    except InputError as exc:  # the library names parameters; the command line, its flags
        raise InputError(flags(str(exc))) from None
    created = _missing_folders(cfg.out)
    try:
        record = run_training(cfg)
    except BaseException as exc:
        # a failed run leaves no folder of its own behind, empty or half written
        if created:
            shutil.rmtree(created[0], ignore_errors=True)
        if isinstance(exc, InputError):
            raise InputError(flags(str(exc))) from None
        raise
    for line in record["warnings"]:
        print(f"smallloss: warning: {flags(line)}", file=sys.stderr)
    return record, render(record, source)


def config(args, name, T, source) -> TrainConfig:
    from simulations.training.config import TrainConfig, cli_fields

    return TrainConfig(
        instance=name,
        rate=args.rate if name else 0.0,
        T=T,
        source=source,
        noise=args.noise,
        seed=args.seed,
        **{f.name: getattr(args, f.name) for f in cli_fields() if f.name != "progress"},
        progress=args.progress and not args.json,
    )


def _interval(a: dict) -> str:
    if a["ci_low"] is None:
        return f"{a['mean']:.4f}"
    return f"{a['mean']:.4f} [{a['ci_low']:.4f}, {a['ci_high']:.4f}]"


def _with_interval(c: dict, key: str) -> str:
    """A prediction and its interval, ``0.9512 [0.9301, 0.9688]``, or a dash."""
    from simulations.io import fmt

    if c.get(key) is None:
        return "-".rjust(24)
    if c.get(f"{key}_low") is None:
        return fmt(c[key]).rjust(24)
    return f"{fmt(c[key])} [{fmt(c[f'{key}_low'])}, {fmt(c[f'{key}_high'])}]"


def render(r: dict, source: str) -> str:
    from simulations.io import fmt
    from simulations.selection.analyse import FEW_PROBES
    from simulations.selection.registry import ON_PROBABILITIES, REGISTRY

    seeds = len(r["seeds"])
    probes = "probes" in r
    rate = r["realised_noise_rate"]
    few = probes and r["probes"]["mislabelled"] < FEW_PROBES
    lines = [
        f"{r['dataset']} on {r['device']}: {source}, {r['n_train']} training samples, "
        f"noise rate {'unknown' if rate is None else f'{rate:.4f}'}, {r['epochs']} epochs, "
        f"{seeds} seed{'s' if seeds > 1 else ''}; inputs: {r['scaling']}",
        f"criterion  observed: single-epoch  mean-loss | predicted ({r['level']:g} intervals): "
        "validation laws, g* atoms" + (", probe laws, probe counts" if probes else ""),
    ]
    ranked = [n for n, crit in REGISTRY.items() if crit.variants and n in r["criteria"]]
    for name in ranked:
        c = r["criteria"][name]
        line = (
            f"{name:10s} {fmt(c['observed_precision_single_epoch']):>19} "
            f"{fmt(c['observed_precision_mean_loss']):>10} | "
            f"{_with_interval(c, 'predicted_precision_validation')} "
            f"{fmt(c.get('predicted_precision_bayes')):>7}"
        )
        if probes:
            line += (
                f" {_with_interval(c, 'predicted_precision_probes')}"
                f" {_with_interval(c, 'predicted_precision_counts')}{'*' if few else ''}"
            )
        lines.append(line)
    if few:
        lines.append(
            f"* the probe counts rest on {r['probes']['mislabelled']} mislabelled probes (fewer "
            f"than {FEW_PROBES}): read the interval, not the point"
        )
    for name in ON_PROBABILITIES:
        c = r["criteria"][name]
        agree = c["agreement_with_cleanlab"]
        kept = "-" if c["selected"] is None else f"{c['selected']:.0f}"
        lines.append(
            f"{name:10s} {fmt(c['observed_precision']):>19} (kept {kept}; "
            f"{r['probabilities']} probabilities"
            + ("" if agree is None else f"; agreement with cleanlab {agree:.4f}")
            + ")"
        )
    if "target" in r:
        t = r["target"]
        bounded = "confidence" in t
        source = (
            f"empty or of precision >= {t['precision']:g} with probability "
            f"{t['confidence']:g} over the probes' draw, from their counts"
            if bounded
            else f"from the {t['laws']} laws"
        )
        lines.append(
            f"--keep target:{t['precision']:g} (budgets {source}): predicted"
            + (", bound" if bounded else "")
            + ", observed precision, recall, kept"
        )
        for name, c in t["criteria"].items():
            bound = f" {fmt(c['precision_bound']):>7}" if bounded else ""
            lines.append(
                f"  {name:15s} {fmt(c['predicted_precision']):>7}{bound}"
                f" {fmt(c['observed_precision']):>7} {fmt(c['observed_recall']):>7}"
                f" {c['selected']:>8.0f}"
            )
    if r["test_accuracy"]:
        lines.append(f"test accuracy, mean [95% interval] over {seeds} seed(s):")
        for name, a in r["test_accuracy"].items():
            lines.append(
                f"  {name:17s} {_interval(a):>26}  trained on {a['train_size']:.0f} samples"
                + ("" if a["train_precision"] is None else f", {a['train_precision']:.3f} clean")
            )
    if "estimate" in r:
        e = r["estimate"]
        lines.append(
            f"budgets, predictions and forget rates from T estimated by {e['method']} (no clean "
            f"training label): noise rate {e['noise_rate']:.4f}"
            + (
                f" vs true {e['true_noise_rate']:.4f}, T error {e['T_error']:.2f} "
                "(sum |T_hat - T| / c x 100)"
                if "T_error" in e
                else ""
            )
        )
        for name, c in e.get("with_true_T", {}).get("criteria", {}).items():
            lines.append(f"  with the true T, {name:10s} {fmt(c['observed_precision'])}")
    t = r["timing"]
    lines.append(
        f"epoch {t['epoch_s'] * 1e3:.1f} ms, loss recording {t['record_s'] * 1e3:.1f} ms, "
        f"whole run {t['total_s']:.1f} s; run file: {r['run_file']}"
    )
    return "\n".join(lines)
