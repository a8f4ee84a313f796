"""The settings of one real-data loop (``TrainConfig``), each declared once: its default,
help, choices and range (``setting``), from which ``smallloss train``'s flags and a train
sweep cell's settings are built and by which ``__post_init__`` checks it. Messages name a
parameter as `` `name` ``; the command line prints it as its flag (``flags``). Also what
``model="auto"`` and an unset batch resolve to.

Nothing heavy is imported at module level: building the command line's parser reads this
module, and ``smallloss train --help`` answers without numpy's or theory's import.
"""

from __future__ import annotations

import re
from dataclasses import MISSING, asdict, dataclass, field, fields

from simulations.estimation.methods import PROBS_METHODS
from simulations.training import arms as arm_registry

RSL_RULES = ("auto", "authors", "balanced")
AUTHORS_RULE_NOISE = ("uniform", "pairwise")  # where the authors' code keeps prop * n / c
RECORD_MODES = ("pass", "eval")  # stage 1's losses: from the training pass, or an eval pass
MODELS = ("auto", "mlp", "cnn", "resnet")  # the networks of training.models.build_model
VECTOR_MODELS = ("auto", "mlp")  # those that take feature vectors (cnn and resnet: images)
VECTOR_DATASETS = ("digits",)  # data sets known to hold vectors before they are loaded
DEVICES = ("auto", "cpu", "cuda")
# copies of simulations.selection.analyse's LEVEL, BOOTSTRAP and SINGLE_LABEL (its import
# costs numpy and scipy; tests/training/test_settings.py holds them equal)
LEVEL = 0.9
BOOTSTRAP = 200
SINGLE_LABEL = PROBS_METHODS
ARMS = arm_registry.NAMES
# with --keep target:P, stage 2 also trains on each loss criterion's target selection
TARGET_ARMS = arm_registry.TARGET_CRITERIA
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

# On a CPU a CNN trains about 2,000-6,000 Fashion-MNIST images a second on 2 cores (and far
# fewer when other work shares them) and the MLP 60,000: the whole loop (stage 1, five
# folds, the stage-2 models) fits minutes on a CPU only with the MLP, and above this many
# training images only at a batch of 128
LARGE_ON_CPU = 20_000


def resolve_recipe(
    model: str, batch: int | None, shape: tuple, n_train: int, device: str
) -> tuple[str, int]:
    """What ``model="auto"`` and an unset ``batch`` mean: the MLP on a CPU or on vectors, a
    CNN on images on a GPU; a batch of 32 (every digits result), unless the data set is large
    and the device a CPU."""
    large_cpu = device == "cpu" and n_train > LARGE_ON_CPU
    if model == "auto":
        model = "mlp" if device == "cpu" or len(shape) != 3 else "cnn"
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
    from theory.errors import InputError

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


def setting(
    default,
    help: str = "",
    *,
    kind=None,
    choices=None,
    low=None,
    high=None,
    open_low=False,
    open_high=False,
    flag: str | None = None,
    negate: bool = False,
    metavar: str | None = None,
    cell=MISSING,
    cli: bool = True,
):
    """A ``TrainConfig`` field declared once: its default, its help, its type (``kind``) and
    the values it may take (``choices``; ``low``/``high``, bounds open where said). ``flag``
    names the flag that sets it where that is not its own ``--name-with-dashes`` (one that
    another part of the parser adds); ``negate``: a ``--no-...`` switch that turns
    the default True off. ``cell``: a train sweep cell's own default (MISSING: the same;
    None: not a cell setting); ``cli=False``: set from other flags (``flag`` says which)."""
    meta = {k: v for k, v in locals().items() if k != "default"}
    meta["kind"] = kind or type(default)
    return field(default=default, metadata=meta)


SOURCE = "--noise/--rate/--classes or --matrix"


@dataclass
class TrainConfig:
    """One real-data loop's settings; ``__post_init__`` checks each by its name.

    ``T`` is the class-conditional noise to inject (None under instance-dependent noise, or
    when the data set carries its own noisy labels); every other field is declared with
    ``setting``: a keyword of ``smallloss train`` (``--name-with-dashes``) and of a train
    sweep's settings.
    """

    T: object = setting(
        None, "the class-conditional noise to inject", cli=False, flag=SOURCE, cell=None
    )
    dataset: str = setting(
        "digits",
        "digits, fashion-mnist[:DIR] (Debian's dataset-fashion-mnist), npz:PATH, "
        "cifar10:DIR or mnist:DIR",
    )
    source: str = setting("", "what drew the noisy labels", cli=False, flag=SOURCE, cell=None)
    # the family's name, when T came from one (for rsl_budget auto)
    noise: str | None = setting(None, kind=str, cli=False, flag="--noise", cell=None)
    instance: str | None = setting(None, kind=str, cli=False, flag="--noise", cell=None)
    rate: float = setting(
        0.0, "an instance recipe's mean flip rate", cli=False, flag="--rate", cell=None
    )
    epochs: int = setting(30, low=1)
    stage2_epochs: int | None = setting(
        None, "epochs of each stage-2 model (default: --epochs)", kind=int, low=1
    )
    device: str = setting("auto", "auto, cpu or cuda", choices=DEVICES, cell="cpu")
    out: str = setting("runs/train", "folder for the loss matrix and the record")
    train_fraction: float = setting(
        1.0, "share of the training split to use, in (0, 1]", low=0.0, high=1.0, open_low=True
    )
    model: str = setting(
        "auto",
        "auto, mlp, cnn or resnet (auto: the MLP on a CPU or on vectors, a CNN on images on a GPU)",
    )
    batch: int | None = setting(
        None,
        f"batch size (default 32; 128 on a CPU above {LARGE_ON_CPU:,} training samples)",
        kind=int,
        low=1,
    )
    record: str = setting(
        "pass",
        "stage 1's per-sample losses: from the training pass itself (pass: free, the losses "
        "Co-teaching ranks) or from a prediction pass after each epoch in eval mode (eval, as "
        "RSL's authors record them)",
        choices=RECORD_MODES,
    )
    # one sweep cell a process, one process a core, unless the config says otherwise
    threads: int | None = setting(
        None, "torch CPU threads (default: torch's)", kind=int, low=1, cell=1
    )
    seed: int = setting(0, flag="--seed", cell=None)
    seeds: int = setting(
        1,
        "repeat the whole run for seeds --seed, --seed + 1, ...; report means with 95%% intervals",
        low=1,
        cell=None,
    )
    cv: int = setting(
        5,
        "folds of the out-of-fold probabilities that confident learning and cleanlab rank "
        "(0: in-sample probabilities, not advised)",
        low=0,
    )
    scale: bool = setting(True, "keep the raw feature values", negate=True)
    rsl_budget: str = setting(
        "auto",
        "RSL's per-class budget: balanced num(i), or the authors' prop * n / c (auto: the "
        "authors' for uniform and pairwise noise, as in their code)",
        choices=RSL_RULES,
    )
    progress: bool = setting(
        True, "no progress bars, nor each stage's seconds on stderr", negate=True, cell=None
    )
    stage2: bool = setting(True, "no stage 2 (stage 1, the run file and analyse only)", negate=True)
    arms: str = setting(
        "default",
        "stage-2 arms to train, comma-separated: all, default ("
        + ", ".join(arm_registry.DEFAULT)
        + "), none, or names of "
        + ", ".join(arm_registry.NAMES)
        + " (two-network arms train two models each: asked for by name or all)",
        cell="all",
    )
    # T from the noisy labels and out-of-fold probabilities; a sweep cell's ``estimate`` is
    # its own (the T errors of methods of estimate --probs)
    estimate: str | None = setting(
        None,
        "take T and the prior from the noisy labels and the out-of-fold probabilities (as a "
        "user without T would) for budgets, predictions and stage 2; the record keeps what the "
        "true T gives under 'estimate'",
        kind=str,
        choices=SINGLE_LABEL,
        cell=None,
    )
    probes: float = setting(
        0.0,
        "share of the clean validation split to train on with labels drawn from T (probes, "
        "never selected): their in-sample losses give the cell laws of the in-sample "
        "prediction (predicted_precision_probes)",
        low=0.0,
        high=1.0,
        open_high=True,
    )
    keep: object = setting(
        None,
        "also choose the budgets whose predicted precision is P (from the probes' laws with "
        "--probes, else the validation split's) and report what they keep (JSON: target)",
        kind=str,
        metavar="target:P",
    )
    confidence: float | None = setting(
        None,
        "with --probes: bound each criterion's precision from below at confidence L (e.g. "
        "0.9), counted from the mislabelled probes it keeps (JSON: precision_bound); with "
        "--keep target:P, keep the largest budgets whose bound reaches P, at a confidence that "
        "holds over the whole search",
        kind=float,
        low=0.0,
        high=1.0,
        open_low=True,
        open_high=True,
        metavar="L",
    )
    # class-conditional noise: whether the loop is told T (as in the paper), or, like a user
    # who annotated a validation set twice, estimates it from the validation items' pairs
    known_T: bool = setting(True, "the loop is told T", cli=False, flag="(sweeps only)")
    level: float = setting(
        LEVEL, "of every prediction's interval", low=0.0, high=1.0, open_low=True, open_high=True
    )
    bootstrap: int = setting(
        BOOTSTRAP, "resamples behind the law predictions' intervals (0: none)", low=0
    )
    # a folder of finished stage-1 runs: a run trained with the same settings (those in
    # TRAINING_FIELDS) and seed is analysed again instead of trained again (no stage 2)
    run_cache: str | None = setting(
        None, "reuse the stage-1 runs of this folder (with --no-stage2)", kind=str
    )

    def __post_init__(self):
        from simulations.selection.keep import parse_target
        from simulations.synthetic import instance_noise
        from theory.errors import InputError
        from theory.validation import check_transition, check_unit

        for f in fields(self):
            setattr(self, f.name, checked(f, getattr(self, f.name)))
        if self.instance is not None:
            instance_noise.check_noise(self.instance)
            self.rate = check_unit(self.rate, "`rate`")
        elif self.T is not None:
            self.T = check_transition(self.T)
        self.model = check_model(self.model, self.dataset)
        if self.keep is not None:
            self.keep = parse_target(self.keep, "train")
        try:
            self.arms = ",".join(arm_registry.parse(self.arms))
        except ValueError as exc:
            raise InputError(f"`arms`: {exc}") from None
        if self.confidence is not None and self.probes <= 0:
            raise InputError(
                "`confidence` bounds the precision of what is kept by the probes' counts: "
                "it needs `probes`"
            )
        if self.cv == 1:
            raise InputError("`cv` 1 leaves nothing out: use 0 (in-sample) or at least 2 folds")
        if self.estimate is not None and self.cv < 2:
            raise InputError("`estimate` needs out-of-fold probabilities: `cv` 2 or more")

    @property
    def stage2_arms(self) -> tuple:
        """The arms stage 2 trains (``simulations.training.arms``), derived ones included."""
        if not self.stage2:
            return ()
        return arm_registry.chosen(self.arms.split(","), self.keep is not None)

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
        import numpy as np

        d = asdict(self)
        d["T"] = None if self.T is None else np.asarray(self.T).tolist()
        d["rsl_rule"] = self.rsl_rule
        return d


def checked(f, value):
    """``value`` of field ``f`` as its declaration allows (None where the default is None),
    else the one-line error naming it."""
    from theory.errors import InputError
    from theory.validation import check_float, check_int

    m, name = f.metadata, f"`{f.name}`"
    if value is None and f.default is None:
        return None
    if m["choices"] is not None:
        if value not in m["choices"]:
            what = f.name.replace("_", " ")
            raise InputError(f"unknown {what} {value!r} ({name}): choose {', '.join(m['choices'])}")
        return value
    if m["kind"] is int:
        return check_int(value, name, low=m["low"], high=m["high"])
    if m["kind"] is float:
        low = -float("inf") if m["low"] is None else m["low"]
        high = float("inf") if m["high"] is None else m["high"]
        return check_float(value, name, low, high, low_open=m["open_low"], high_open=m["open_high"])
    return value


def cli_fields() -> list:
    """The fields that ``smallloss train`` sets by a flag of their own."""
    return [f for f in fields(TrainConfig) if f.metadata["cli"] and f.metadata["flag"] is None]


def cell_defaults() -> dict:
    """A train sweep cell's settings and their defaults (those of ``TrainConfig``, but where a
    cell has its own)."""
    out = {}
    for f in fields(TrainConfig):
        cell = f.metadata["cell"]
        if cell is None:
            continue
        out[f.name] = f.default if cell is MISSING else cell
    return out
