"""`smallloss estimate`: T, the prior and the noise rate from labels alone, with intervals."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from simulations.cli._args import ESTIMATE_METHODS, LazyModule, add_common, progress_bar
from simulations.estimation.methods import CROWD_METHODS, DEFAULT_WITH_PROBS

# imported when the command runs; its METHODS, for --method's choices, without importing it
est = LazyModule("simulations.estimation.transition", METHODS=ESTIMATE_METHODS)

HELP = "estimate the transition matrix from noisy labels (annotators, probabilities or pairs)"


def configure(p) -> None:
    p.add_argument("--labels", required=True, metavar="FILE.npz", help="an .npz of label arrays")
    p.add_argument(
        "--noisy",
        nargs="+",
        required=True,
        metavar="KEY",
        help="noisy label arrays; several = annotators (negative = not labelled)",
    )
    p.add_argument("--target", metavar="KEY", help="a label set derived from the annotators")
    p.add_argument(
        "--target-rule",
        default="auto",
        choices=("auto", "observed", "worst"),
        help="how --target depends on the truth: observed (a vote), worst (a wrong "
        "annotation whenever one exists, as CIFAR-N's 'worse'); auto infers it",
    )
    p.add_argument("--clean", metavar="KEY", help="clean labels: method 'pairs'")
    p.add_argument(
        "--probs",
        metavar="FILE.npy|KEY",
        help="out-of-sample predicted probabilities: a .npy file, or a key of --labels "
        "(train writes 'probs' into its run.npz)",
    )
    p.add_argument("--method", choices=est.METHODS, help="default: from what is given")
    p.add_argument(
        "--independence",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="with several annotators, test independent errors against ds-easy (default on; "
        "about 0.2 s at 10 classes, 3 s at 20, 2 min at 100)",
    )
    p.add_argument("--level", type=float, default=0.9, help="interval level (default 0.9)")
    p.add_argument(
        "--bootstrap",
        type=int,
        default=200,
        help="draws for the intervals (default 200; at least 10, or 0 for a point estimate "
        "without intervals)",
    )
    p.add_argument("--out", metavar="T.csv", help="write T (and T.prior.csv) for --matrix/--prior")
    p.add_argument(
        "--quiet", action="store_true", help="no progress bar on stderr (--json implies it)"
    )
    add_common(p)


def _method(args) -> str:
    from theory.errors import InputError

    if args.method:
        return args.method
    if len(args.noisy) > 1:
        return "ds"
    if args.probs:
        return DEFAULT_WITH_PROBS
    if args.clean:
        return "pairs"
    raise InputError("one --noisy key needs --probs FILE.npy or --clean KEY (or give several)")


def _existing_file(path, flag: str) -> Path:
    """``path`` as given to ``flag``, or the one-line error that names the flag."""
    from theory.errors import InputError

    p = Path(path)
    if not p.exists():
        raise InputError(f"{flag} file not found: {p}")
    if not p.is_file():
        raise InputError(f"{flag} {p} is not a file")
    return p


def _label_columns(arrays: dict, labels_file: Path) -> None:
    """Each label array one label per item: a 2-D array under a key is refused by name."""
    from theory.errors import InputError

    for key, a in arrays.items():
        if a.ndim != 1:
            raise InputError(
                f"--labels {labels_file}: array {key!r} has shape {a.shape}; a label array "
                "holds one label per item (shape (n,)): give one --noisy key per annotator"
            )


def fit(args) -> tuple[est.Estimate, int]:
    from simulations.io import read_label_arrays, read_npy
    from theory.errors import InputError

    method = _method(args)
    probs_key = args.probs if args.probs and not args.probs.endswith(".npy") else None
    named = [k for k in (args.target, args.clean) if k]
    keys = list(dict.fromkeys(args.noisy + named))
    labels_file = _existing_file(args.labels, "--labels")
    arrays = read_label_arrays(labels_file, keys)
    _label_columns(arrays, labels_file)
    annotations = est.check_annotations({k: arrays[k] for k in args.noisy})
    target = None
    if args.target:
        target = est.check_annotations({args.target: arrays[args.target]})[:, 0]
    c = int(max(annotations.max(), -1 if target is None else target.max())) + 1
    if method in CROWD_METHODS:
        if len(args.noisy) < 2:
            raise InputError(f"method {method!r} needs several --noisy keys (one per annotator)")
        e = est.from_annotators(
            annotations, args.noisy, c, target, args.target_rule, method, args.independence
        )
        return e, c
    noisy = annotations[:, 0]
    if (noisy < 0).any():
        raise InputError(f"method {method!r} needs a label for every item in {args.noisy[0]!r}")
    if method == "pairs":
        if not args.clean:
            raise InputError("method 'pairs' needs --clean KEY")
        clean = est.check_annotations({args.clean: arrays[args.clean]})[:, 0]
        if (clean < 0).any():
            raise InputError(f"{args.clean!r} has items without a clean label")
        c = max(c, int(clean.max()) + 1)
        return est.from_pairs(clean, noisy, c), c
    if not args.probs:
        raise InputError(f"method {method!r} needs --probs FILE.npy (out-of-sample)")
    if probs_key:  # a key of the --labels archive, or nothing there
        try:
            probs = read_label_arrays(labels_file, [probs_key])[probs_key]
        except InputError as exc:
            raise InputError(f"--probs {probs_key!r} is not a .npy file, and {exc}") from None
    else:
        probs_file = _existing_file(args.probs, "--probs")
        try:
            probs = read_npy(probs_file)
        except InputError as exc:
            raise InputError(f"--probs: {exc}") from None
    probs = est.check_probs(probs, len(noisy), c)  # at least the classes the labels reach
    c = probs.shape[1]
    return est.from_probs(noisy, probs, c, method), c


def _draw_count(value) -> int:
    from theory.errors import InputError
    from theory.validation import check_int

    boots = check_int(value, "--bootstrap")
    if boots != 0 and boots < est.MIN_DRAWS:
        raise InputError(
            f"--bootstrap {boots}: intervals need at least {est.MIN_DRAWS} draws "
            "(0 gives the point estimate without intervals)"
        )
    return boots


def _draws(e: est.Estimate, boots: int, seed: int, show: bool):
    if not show:
        return est.draws(e, boots, seed)
    with progress_bar(f"{e.method} bootstrap", boots, unit="refit") as update:
        return est.draws(e, boots, seed, progress=update)


def _out_file(path) -> None:
    """``--out`` refused before the work, not when T is written after it."""
    from theory.errors import InputError

    if Path(path).is_dir():
        raise InputError(f"--out {path} is a folder: name the CSV file to write, as T.csv")


def run(args) -> tuple[dict, str]:
    from theory.conditions import report
    from theory.noise import noise_rate
    from theory.validation import check_unit

    level = check_unit(args.level, "--level")
    boots = _draw_count(args.bootstrap)
    if args.out:
        _out_file(args.out)
    start = time.perf_counter()
    e, c = fit(args)
    conditions = report(e.T, e.prior).to_dict()
    if boots:
        Ts, priors, ann_draws = _draws(e, boots, args.seed, not (args.json or args.quiet))
        spread = est.summarise(e, Ts, priors, level)
    else:  # a point estimate: every interval and share is null
        ann_draws = {}
        spread = dict.fromkeys(("T_low", "T_high", "noise_rate_low", "noise_rate_high"))
        for name in ("row_margin", "column_margin", "epsilon_star"):
            spread[f"{name}_low"] = spread[f"{name}_high"] = None
        spread["bootstrap_share"] = None
    conditions["bootstrap_share"] = spread.pop("bootstrap_share")
    for k in [k for k in spread if not k.startswith(("T_", "noise_rate"))]:
        conditions[k] = spread.pop(k)
    out = {
        "method": e.method,
        "classes": c,
        "T": e.T.tolist(),
        **_pick(spread, "T_"),
        "prior": e.prior.tolist(),
        "noise_rate": e.noise_rate,
        **_pick(spread, "noise_rate"),
        "conditions": conditions,
    }
    if e.annotators:
        out["annotators"] = {}
        for k, T in e.annotators.items():
            lo, hi = est.interval(ann_draws[k], level) if boots else (None, None)
            out["annotators"][k] = {
                "T": T.tolist(),
                "T_low": None if lo is None else lo.tolist(),
                "T_high": None if hi is None else hi.tolist(),
                "noise_rate": noise_rate(T, e.prior),
            }
    if "independence" in e.details:
        out["independence"] = e.details["independence"]
    if "easy_share" in e.details:
        out["easy_share"] = e.details["easy_share"].tolist()
    if e.details.get("rule"):
        out["target"], out["target_rule"] = args.target, e.details["rule"]
    out["level"], out["bootstrap"] = level, boots
    out["seconds"] = time.perf_counter() - start
    if args.out:
        write(args.out, e, out)
    return out, render(out)


def _pick(d: dict, prefix: str) -> dict:
    return {k: v for k, v in d.items() if k.startswith(prefix)}


def write(path, e: est.Estimate, out: dict) -> None:
    """T and the prior in the format ``--matrix`` and ``--prior`` read, with provenance."""
    from simulations.io import atomic_path, provenance

    settings = {k: out[k] for k in ("method", "classes", "level", "bootstrap")}
    head = "# " + json.dumps(provenance(settings)) + "\n"
    path = Path(path)
    prior_path = path.with_name(f"{path.stem}.prior{path.suffix or '.csv'}")
    for p, rows in ((path, e.T), (prior_path, e.prior[None, :])):
        with atomic_path(p) as tmp:
            body = "\n".join(",".join(f"{v:.17g}" for v in r) for r in rows)
            tmp.write_text(head + body + "\n")


def render(out: dict) -> str:
    from simulations.io import fmt

    head = f"method {out['method']}: {out['classes']} classes, noise rate {out['noise_rate']:.4f}"
    share = out["conditions"]["bootstrap_share"]
    if share is None:
        lines = [f"{head}, no intervals (--bootstrap 0)"]
    else:
        lines = [
            f"{head} [{out['noise_rate_low']:.4f}, {out['noise_rate_high']:.4f}] "
            f"({out['level']:g} interval, {out['bootstrap']} draws)",
            "  share of draws in which it holds: "
            + ", ".join(f"{k} {v:.2f}" for k, v in share.items()),
        ]
    lines.append("  T (rows = clean class):")
    lines += ["   " + " ".join(fmt(v) for v in row) for row in out["T"]]
    for k, a in out.get("annotators", {}).items():
        lines.append(f"  annotator {k}: noise rate {a['noise_rate']:.4f}")
    if "independence" in out:
        t = out["independence"]
        lines.append(
            f"  annotators err independently given the class (Dawid-Skene) against errors "
            f"only on hard items: LR {t['statistic']:.1f}, df {t['df']}, p {t['p_value']:.2g}"
            + (
                " (rejected: annotators err together; the intervals carry sampling error only)"
                if t["p_value"] < 0.01
                else ""
            )
        )
    lines.append(f"  {out['seconds']:.2f} s")
    return "\n".join(lines)
