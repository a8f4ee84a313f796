"""The settings of one real-data loop (``TrainConfig``), checked by parameter name, and what
``model="auto"`` and an unset batch resolve to. Messages name a parameter as `` `name` ``;
the command line prints it as its flag (``flags``)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np

from simulations.selection.analyse import BOOTSTRAP, LEVEL, SINGLE_LABEL
from simulations.selection.keep import parse_target
from simulations.synthetic import instance_noise
from theory.errors import InputError
from theory.validation import check_float, check_int, check_transition, check_unit

RSL_RULES = ("auto", "authors", "balanced")
AUTHORS_RULE_NOISE = ("uniform", "pairwise")  # where the authors' code keeps prop * n / c
RECORD_MODES = ("pass", "eval")  # stage 1's losses: from the training pass, or an eval pass
MODELS = ("auto", "mlp", "cnn", "resnet")  # the networks of training.models.build_model
VECTOR_MODELS = ("auto", "mlp")  # those that take feature vectors (cnn and resnet: images)
VECTOR_DATASETS = ("digits",)  # data sets known to hold vectors before they are loaded
ARMS = (
    "ce_all",
    "ce_early_stopped",
    "global_selected",
    "rsl_selected",
    "rsl_weighted",
    "coteaching",
    "jocor",
    "ce_clean",
)
# with --keep target:P, stage 2 also trains on each loss criterion's target selection
TARGET_ARMS = ("global", "classwise", "rsl")
# the settings that make a stage-1 run; the others only choose what is read from it
TRAINING_FIELDS = (
    "T",
    "dataset",
    "noise",
    "instance",
    "rate",
    "epochs",
    "device",
    "train_fraction",
    "model",
    "batch",
    "record",
    "cv",
    "scale",
    "probes",
    "known_T",
)
MAX_SAVED_OUTPUTS = 50_000_000  # floats: above this only the loss matrix is saved

# On a CPU a CNN trains about 2,000-6,000 Fashion-MNIST images a second on 2 cores and the MLP
# 60,000: above this many training images the whole loop (stage 1, five folds, five stage-2
# models) fits 20 minutes only with the MLP at a batch of 128
LARGE_ON_CPU = 20_000


def resolve_recipe(
    model: str, batch: int | None, shape: tuple, n_train: int, device: str
) -> tuple[str, int]:
    """What ``model="auto"`` and an unset ``batch`` mean: a CNN on images, an MLP on vectors,
    a batch of 32 (every digits result), unless the data set is large and the device a CPU."""
    large_cpu = device == "cpu" and n_train > LARGE_ON_CPU
    if model == "auto":
        model = "mlp" if large_cpu or len(shape) != 3 else "cnn"
    if batch is None:
        batch = 128 if large_cpu else 32
    return model, batch


def models_for(dataset: str) -> tuple[str, ...]:
    """The ``model`` names that exist for ``dataset``: on a data set of vectors (digits) no
    image network; on another, every network (an npz of vectors is told when it is loaded)."""
    kind, _, path = str(dataset).partition(":")
    return VECTOR_MODELS if kind in VECTOR_DATASETS and not path else MODELS


def check_model(model: str, dataset: str) -> str:
    """``model`` if it exists for ``dataset``, else the one-line error naming the allowed."""
    allowed = models_for(dataset)
    if model in allowed:
        return model
    if model in MODELS:  # an image network on a data set of vectors
        raise InputError(
            f"`model` {model!r} needs image data; data set {dataset!r} holds feature vectors: "
            f"choose {', '.join(allowed)}"
        )
    raise InputError(
        f"unknown `model` {model!r} for data set {dataset!r}: choose {', '.join(allowed)}"
    )


def flags(message: str) -> str:
    """A library message with its `` `name` `` parameters written as command-line flags."""
    return re.sub(r"`([a-z][a-z0-9_]*)`", lambda m: "--" + m.group(1).replace("_", "-"), message)


@dataclass
class TrainConfig:
    """One real-data loop's settings; ``__post_init__`` checks each by its name.

    ``T`` is the class-conditional noise to inject (None under instance-dependent noise, or
    when the data set carries its own noisy labels); every other field is a keyword of
    ``smallloss train`` (``--name-with-dashes``) and of a train sweep's settings.
    """

    T: np.ndarray | None
    dataset: str = "digits"
    source: str = ""
    noise: str | None = None  # the family's name, when T came from one (for rsl_budget auto)
    epochs: int = 30
    stage2_epochs: int | None = None
    device: str = "auto"
    out: str = "runs/train"
    train_fraction: float = 1.0
    model: str = "auto"
    batch: int | None = None  # None: the recipe's (resolve_recipe)
    record: str = "pass"  # stage 1's loss recording: in the training pass, or an eval pass
    threads: int | None = None  # torch's CPU threads; None: torch's default
    seed: int = 0
    seeds: int = 1
    cv: int = 5
    scale: bool = True
    rsl_budget: str = "auto"
    progress: bool = True
    stage2: bool = True
    estimate: str | None = None  # T from the noisy labels and out-of-fold probabilities
    instance: str | None = None  # an instance-dependent recipe (T is then None)
    rate: float = 0.0  # its mean flip rate
    probes: float = 0.0  # share of the clean validation split trained on as probes
    keep: str | None = None  # "target:P" (a selection.keep.Target once parsed)
    confidence: float | None = None  # with probes: lower bounds on precision at this level
    # class-conditional noise: whether the loop is told T (as in the paper), or, like a user
    # who annotated a validation set twice, estimates it from the validation items' pairs
    known_T: bool = True
    level: float = LEVEL  # of every prediction's interval
    bootstrap: int = BOOTSTRAP  # resamples behind the law predictions' intervals
    # a folder of finished stage-1 runs: a run trained with the same settings (those in
    # TRAINING_FIELDS) and seed is analysed again instead of trained again (no stage 2)
    run_cache: str | None = None

    def __post_init__(self):
        if self.instance is not None:
            instance_noise.check_noise(self.instance)
            self.rate = check_unit(self.rate, "`rate`")
        elif self.T is not None:
            self.T = check_transition(self.T)
        self.epochs = check_int(self.epochs, "`epochs`", low=1)
        if self.batch is not None:
            self.batch = check_int(self.batch, "`batch`", low=1)
        if self.threads is not None:
            self.threads = check_int(self.threads, "`threads`", low=1)
        self.model = check_model(self.model, self.dataset)
        if self.record not in RECORD_MODES:
            raise InputError(f"`record` {self.record!r}: choose {' or '.join(RECORD_MODES)}")
        if self.stage2_epochs is not None:
            self.stage2_epochs = check_int(self.stage2_epochs, "`stage2_epochs`", low=1)
        self.train_fraction = check_float(
            self.train_fraction, "`train_fraction`", 0.0, 1.0, low_open=True
        )
        self.seeds = check_int(self.seeds, "`seeds`", low=1)
        self.cv = check_int(self.cv, "`cv`", low=0)
        self.probes = check_float(self.probes, "`probes`", 0.0, 1.0, high_open=True)
        self.level = check_float(self.level, "`level`", 0.0, 1.0, low_open=True, high_open=True)
        self.bootstrap = check_int(self.bootstrap, "`bootstrap`", low=0)
        if self.keep is not None:
            self.keep = parse_target(self.keep, "train")
        if self.confidence is not None:
            self.confidence = check_float(
                self.confidence, "`confidence`", 0.0, 1.0, low_open=True, high_open=True
            )
            if self.probes <= 0:
                raise InputError(
                    "`confidence` bounds the precision of what is kept by the probes' counts: "
                    "it needs `probes`"
                )
        if self.cv == 1:
            raise InputError("`cv` 1 leaves nothing out: use 0 (in-sample) or at least 2 folds")
        if self.estimate is not None:
            if self.estimate not in SINGLE_LABEL:
                raise InputError(f"`estimate` {self.estimate!r}: choose {', '.join(SINGLE_LABEL)}")
            if self.cv < 2:
                raise InputError("`estimate` needs out-of-fold probabilities: `cv` 2 or more")
        if self.rsl_budget not in RSL_RULES:
            raise InputError(f"`rsl_budget` {self.rsl_budget!r}: choose {', '.join(RSL_RULES)}")

    @property
    def rsl_rule(self) -> str:
        if self.rsl_budget != "auto":
            return self.rsl_budget
        return "authors" if self.noise in AUTHORS_RULE_NOISE else "balanced"

    def run_key(self, seed: int) -> str:
        """The name of this run's stage 1 in ``run_cache``: its training settings and seed."""
        import hashlib
        import json

        echo = self.echo()
        text = json.dumps({k: echo[k] for k in TRAINING_FIELDS} | {"seed": seed}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    def echo(self) -> dict:
        d = asdict(self)
        d["T"] = None if self.T is None else np.asarray(self.T).tolist()
        d["rsl_rule"] = self.rsl_rule
        return d
