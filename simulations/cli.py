"""The `smallloss` command line: the only place that knows about argv, files and printing."""

from __future__ import annotations

import argparse
import importlib
import sys

from theory.errors import InputError

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage in one line (no usage dump), exit code 2."""

    def error(self, message):
        raise InputError(f"{self.prog}: {message}")


def _unit_interval(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= x <= 1.0:
        raise argparse.ArgumentTypeError(f"{x:g} is outside [0, 1]")
    return x


def _add_source(p: argparse.ArgumentParser, labels: bool = True) -> None:
    g = p.add_argument_group("noise source (one of)")
    g.add_argument("--noise", help="symmetric, uniform, pairwise, structured, or cifar10n-{aggre,random1,random2,random3,worse}")
    g.add_argument("--rate", type=_unit_interval, help="rate of the noise family, in [0, 1]")
    g.add_argument("--classes", type=int, help="number of classes")
    g.add_argument("--matrix", help="CSV or .npy file, rows = clean class, columns = noisy class")
    if labels:
        g.add_argument("--labels", nargs="+", metavar="FILE",
                       help="an .npz of (clean, noisy) label arrays, or two .npy files: T is estimated")
        g.add_argument("--clean", default="clean", help="key of the clean labels in the .npz")
        g.add_argument("--noisy", default="noisy", help="key of the noisy labels in the .npz")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object and nothing else on stdout")
    p.add_argument("--seed", type=int, default=0, help="seed; the same seed gives the same output")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="smallloss", description="Why the small-loss criterion works, and when it breaks.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("check", help="conditions of one transition matrix")
    _add_source(p)
    p.add_argument("--prior", help="file with the clean class prior (default: uniform, or the clean frequencies with --labels)")
    _common(p)

    p = sub.add_parser("simulate", help="one synthetic setting: predicted vs observed precision")
    _add_source(p, labels=False)
    p.add_argument("--n", type=int, default=100_000, help="number of samples")
    p.add_argument("--model", default="bayes", help="bayes, perturbed or overlap")
    p.add_argument("--epsilon", type=float, default=0.1, help="sup-norm distance from g* (perturbed)")
    p.add_argument("--separation", type=float, default=3.0, help="distance of class means / sqrt 2 (overlap)")
    p.add_argument("--keep", default="oracle", help="oracle, rsl or a fraction in [0, 1]")
    p.add_argument("--prior", default="uniform", help="'uniform' or a file with the clean class prior")
    p.add_argument("--epochs", type=int, default=1, help="epochs of loss to average (fluctuation model)")
    p.add_argument("--sigma", type=float, default=0.0, help="spread of the per-epoch loss fluctuation")
    p.add_argument("--rho", type=float, default=0.0, help="correlation of the fluctuation between epochs")
    p.add_argument("--exact", action="store_true", help="exact per-cell counts instead of i.i.d. noisy labels")
    _common(p)

    p = sub.add_parser("train", help="real data: stage 1 with loss recording, selection, stage 2")
    p.add_argument("--dataset", default="digits", help="digits, npz:PATH, cifar10:DIR or mnist:DIR")
    _add_source(p, labels=False)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--stage2-epochs", type=int, default=None, help="epochs of each stage-2 model (default: --epochs)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--out", default="runs/train", help="folder for the loss matrix and the record")
    p.add_argument("--train-fraction", type=float, default=1.0, help="share of the training split to use, in (0, 1]")
    p.add_argument("--model", default="auto", help="auto, mlp, cnn or resnet")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _common(p)

    p = sub.add_parser("figures", help="regenerate figures/ (PNG + CSV each)")
    p.add_argument("--quick", action="store_true", help="smaller grids, for CI")
    p.add_argument("--only", nargs="+", metavar="NAME", help="only these figures")
    p.add_argument("--out", default="figures", help="output folder")
    p.add_argument("--redraw", action="store_true", help="redraw PNGs from the CSVs already there")
    _common(p)

    p = sub.add_parser("sweep", help="a grid of settings x seeds, locally or on a Dask cluster")
    p.add_argument("config", help="a TOML file (see simulations/sweeps/)")
    p.add_argument("--out", default=None, help="results folder (default: runs/sweeps/<config name>)")
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: all cores)")
    p.add_argument("--scheduler", default=None, help="address of a Dask distributed scheduler")
    p.add_argument("--no-progress", action="store_true")
    _common(p)

    p = sub.add_parser("bench", help="kernels against their baselines, ratios from one run")
    p.add_argument("--n", type=int, default=10_000_000)
    p.add_argument("--repeat", type=int, default=3, help="best of this many timings")
    p.add_argument("--no-cleanlab", action="store_true", help="skip the cleanlab baseline")
    p.add_argument("--no-train", action="store_true", help="skip the trainer timings (torch)")
    _common(p)
    return parser


COMMANDS = {
    "check": "simulations.check",
    "simulate": "simulations.simulate",
    "train": "simulations.train_cli",
    "figures": "simulations.figures",
    "sweep": "simulations.sweep",
    "bench": "simulations.bench",
}


def main(argv=None) -> int:
    from simulations.io import dumps

    try:
        args = build_parser().parse_args(argv)
        module = importlib.import_module(COMMANDS[args.command])
        result, text = module.run(args)
    except InputError as exc:
        print(f"smallloss: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:  # a file or folder the command was pointed at
        where = f": {exc.filename}" if exc.filename else ""
        print(f"smallloss: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("smallloss: interrupted", file=sys.stderr)
        return 130
    if args.json:
        print(dumps(result))
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
