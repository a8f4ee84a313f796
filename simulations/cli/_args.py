"""Arguments that several commands share, and turning them into library inputs.

Building the parser imports argparse and this module only: the library (numpy, scipy, the
Numba kernels, torch) is imported inside the functions that run a command, so ``--help`` and
a bad option answer at once. The library's constants that a parser needs (choices, defaults)
are copied here, and ``tests/cli/test_cli_startup.py`` holds each copy equal to its source.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING

from simulations.estimation.methods import METHODS, PROBS_METHODS

if TYPE_CHECKING:
    import numpy as np

ESTIMATE_METHODS = METHODS
# simulations.selection.analyse: LEVEL, BOOTSTRAP, SINGLE_LABEL, ESTIMATES
LEVEL = 0.9
BOOTSTRAP = 200
SINGLE_LABEL = PROBS_METHODS
ESTIMATES = ("pairs", *SINGLE_LABEL)
# simulations.selection.budgets.RSL_RULES (analyse's --rsl-budget)
ANALYSE_RSL_RULES = ("balanced", "authors")
# simulations.training.config: RSL_RULES, RECORD_MODES, LARGE_ON_CPU, MODELS
TRAIN_RSL_RULES = ("auto", "authors", "balanced")
RECORD_MODES = ("pass", "eval")
LARGE_ON_CPU = 20_000
MODELS = ("auto", "mlp", "cnn", "resnet")
# simulations.training.data.SCALING_RULE
SCALING_RULE = (
    "integer images (uint8, uint16) are divided by their dtype's maximum, to [0, 1], as "
    "torchvision's ToTensor does; boolean features become 0/1; any other features (floats, "
    "other integers) are standardised per feature (per channel for images) with the mean and "
    "standard deviation of the training split only; digits are divided by 16, their range; "
    "MNIST and CIFAR-10 get their usual per-channel normalisation"
)


class LazyModule:
    """A library module imported on first use of one of its attributes; ``known`` answers
    for the constants a parser reads (copies of the module's, kept equal by the tests)."""

    def __init__(self, name: str, **known):
        self._name, self._known = name, known

    def __getattr__(self, attr: str):
        if attr in self._known:
            return self._known[attr]
        return getattr(importlib.import_module(self._name), attr)


class LazyName:
    """One name of a library module (a function, a tuple), imported when first called,
    iterated or indexed."""

    def __init__(self, module: str, name: str):
        self._module, self._name = module, name

    def _get(self):
        return getattr(importlib.import_module(self._module), self._name)

    def __call__(self, *args, **kwargs):
        return self._get()(*args, **kwargs)

    def __iter__(self):
        return iter(self._get())

    def __len__(self):
        return len(self._get())

    def __contains__(self, item):
        return item in self._get()

    def __getitem__(self, key):
        return self._get()[key]


def unit_interval(text: str) -> float:
    """An argparse type: a number in [0, 1]."""
    from theory.errors import InputError
    from theory.validation import check_unit

    try:
        return check_unit(text, "value")
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_source(p: argparse.ArgumentParser, labels: bool = True) -> None:
    g = p.add_argument_group("noise source (one of)")
    g.add_argument(
        "--noise",
        help="symmetric, uniform, pairwise, structured, "
        "cifar10n-{aggre,random1,random2,random3,worse}, or instance-dependent: "
        "part-dependent, pmd-1, pmd-2, pmd-3, margin (with --rate)",
    )
    g.add_argument("--rate", type=unit_interval, help="rate of the noise family, in [0, 1]")
    g.add_argument("--classes", type=int, help="number of classes")
    g.add_argument("--matrix", help="CSV or .npy file, rows = clean class, columns = noisy class")
    if labels:
        g.add_argument(
            "--labels",
            nargs="+",
            metavar="FILE",
            help="an .npz of (clean, noisy) label arrays, or two .npy files: T is estimated",
        )
        g.add_argument("--clean", default="clean", help="key of the clean labels in the .npz")
        g.add_argument("--noisy", default="noisy", help="key of the noisy labels in the .npz")


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--json", action="store_true", help="print one JSON object and nothing else on stdout"
    )
    p.add_argument("--seed", type=int, default=0, help="seed; the same seed gives the same output")


def instance_from_args(args) -> str | None:
    """The instance-dependent recipe that ``--noise`` names (with its ``--rate``), or None."""
    from simulations.synthetic import instance_noise
    from theory.errors import InputError

    if getattr(args, "noise", None) not in instance_noise.NOISES:
        return None
    others = [s for s in ("matrix", "labels") if getattr(args, s, None)]
    if others:
        raise InputError(f"give exactly one source: --noise or --{others[0]}")
    if args.rate is None:
        raise InputError(f"noise {args.noise!r} needs a rate")
    return args.noise


def matrix_from_args(args, pair=None) -> tuple[np.ndarray, np.ndarray | None, str]:
    """(T, prior or None, a description) from ``--noise``, ``--matrix`` or ``--labels``.

    ``pair``: the (clean, noisy) arrays of ``--labels`` when the caller has read them already.
    """
    from simulations.io import read_label_pair, read_matrix, read_prior
    from theory import noise
    from theory.errors import InputError
    from theory.validation import check_prior

    given = [s for s in ("noise", "matrix", "labels") if getattr(args, s, None)]
    if len(given) != 1:
        sources = ", ".join(f"--{s}" for s in ("noise", "matrix", "labels") if hasattr(args, s))
        raise InputError(f"give exactly one source: {sources}")
    prior = None
    if args.noise:
        T, source = noise.named(args.noise, args.rate, args.classes), f"noise {args.noise}"
        if args.rate is not None and not args.noise.startswith("cifar10n-"):
            source += f" rate {args.rate:g}"
    elif args.matrix:
        T, source = read_matrix(args.matrix), f"matrix {args.matrix}"
    else:
        if pair is None:
            pair = read_label_pair(args.labels, args.clean, args.noisy)
        clean, noisy = pair
        T, prior = noise.estimate(clean, noisy)
        source = f"labels {' '.join(map(str, args.labels))}"
    if getattr(args, "prior", None) not in (None, "uniform"):
        prior = read_prior(args.prior)
    if prior is not None:
        prior = check_prior(prior, len(T))
    return T, prior, source


# a bar appears once a step has run this long: short runs stay silent
PROGRESS_AFTER_S = 3.0


@contextmanager
def progress_bar(desc: str, total: int, unit: str = "it"):
    """A progress bar with the time left on stderr, shown only past ``PROGRESS_AFTER_S``;
    its value is the bar's ``update``."""
    from tqdm.auto import tqdm  # only the command line draws a bar

    with tqdm(
        total=total, desc=desc, unit=unit, delay=PROGRESS_AFTER_S, leave=False, file=sys.stderr
    ) as bar:
        yield bar.update
