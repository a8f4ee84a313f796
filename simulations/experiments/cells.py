"""One sweep cell as a flat row: the settings a config gives, turned into a run and its metrics."""

from __future__ import annotations

import tempfile

import numpy as np

from simulations.io import read_matrix
from simulations.selection.analyse import BOOTSTRAP, LEVEL
from simulations.synthetic import instance_noise
from simulations.synthetic.simulate import Setting, simulate
from simulations.training.config import TrainConfig
from simulations.training.run import run_training
from theory import noise
from theory.errors import InputError

# settings passed to simulate's Setting as they are; the others pick T, the prior, cleanlab
SETTING_KEYS = (
    "n",
    "model",
    "epsilon",
    "separation",
    "alpha",
    "keep",
    "epochs",
    "sigma",
    "rho",
    "exact",
)
SIMULATE_KEYS = {"noise", "rate", "classes", "matrix", "imbalance", "cleanlab", *SETTING_KEYS}


def imbalanced_prior(classes: int, ratio: float) -> np.ndarray:
    """A geometric prior whose largest class is ``ratio`` times its smallest (1: balanced)."""
    if ratio < 1:
        raise InputError(f"imbalance {ratio:g} must be >= 1")
    p = np.geomspace(ratio, 1.0, classes)
    return p / p.sum()


def instance_of(settings: dict) -> str | None:
    """The instance-dependent recipe a cell names (its T_bar is drawn, not given), or None."""
    name = settings.get("noise")
    if name not in instance_noise.NOISES:
        return None
    if "rate" not in settings:
        raise InputError(f"noise {name!r} needs a rate")
    return name


def matrix_of(settings: dict) -> np.ndarray:
    if instance_of(settings):
        if "classes" not in settings:
            raise InputError(f"noise {settings['noise']!r} needs a number of classes")
        return np.eye(int(settings["classes"]))  # replaced by the realised T_bar
    if "matrix" in settings:
        return read_matrix(settings["matrix"])
    return noise.named(settings["noise"], settings.get("rate"), settings.get("classes"))


def simulate_cell(settings: dict, seed: int) -> dict:
    unknown = set(settings) - SIMULATE_KEYS
    if unknown:
        raise InputError(f"unknown simulate settings: {', '.join(sorted(unknown))}")
    T = matrix_of(settings)
    kw = {k: settings[k] for k in SETTING_KEYS if k in settings}
    # cleanlab and its prediction add seconds a cell at 100 classes: opt in
    kw["cleanlab"] = settings.get("cleanlab", False)
    prior = imbalanced_prior(len(T), settings.get("imbalance", 1.0))
    name = instance_of(settings)
    if name:
        kw |= {"noise": name, "rate": settings["rate"]}
    out = simulate(Setting(T=T, prior=prior, seed=seed, **kw))
    return {
        "noise_rate": out["setting"]["noise_rate"],
        **flatten(out["criteria"], SIMULATE_METRICS),
    }


SIMULATE_METRICS = (
    "predicted_precision",
    "observed_precision",
    "difference",
    "observed_recall",
    "selected",
    "agreement_with_cleanlab",
    "coteaching_kept_at_equal_precision",
)


def flatten(criteria: dict, metrics: tuple[str, ...], prefix: str = "") -> dict:
    """The one result-row schema of every sweep: ``{criterion}_{metric}``, with the metric
    names of the commands' JSON (``global_observed_precision``, ``rsl_selected``, ...)."""
    return {f"{prefix}{name}_{m}": v[m] for name, v in criteria.items() for m in metrics if m in v}


TRAIN_KEYS = {
    "dataset",
    "noise",
    "rate",
    "classes",
    "matrix",
    "epochs",
    "stage2_epochs",
    "device",
    "out",
    "train_fraction",
    "stage2",
    "cv",
    "rsl_budget",
    "scale",
    "model",
    "batch",
    "record",
    "threads",
    "probes",
    "keep",
    "confidence",
    "level",
    "bootstrap",
    "known_T",
    "run_cache",
}
TRAIN_METRICS = (
    "observed_precision",
    "observed_precision_single_epoch",
    "observed_precision_mean_loss",
    "predicted_precision",
    "predicted_precision_bayes",
    "predicted_precision_single_epoch",
    "predicted_precision_mean_loss",
    "predicted_precision_validation_single_epoch",
    "predicted_precision_validation_mean_loss",
    "predicted_precision_probes_single_epoch",
    "predicted_precision_probes_mean_loss",
    "predicted_precision_counts_single_epoch",
    "predicted_precision_counts_mean_loss",
    "precision_bound_single_epoch",
    "precision_bound_mean_loss",
    *(
        f"predicted_precision_{source}_{variant}_{end}"
        for source in ("validation", "probes", "counts")
        for variant in ("single_epoch", "mean_loss")
        for end in ("low", "high")
    ),
    "selected",
)


TARGET_METRICS = (
    "predicted_precision",
    "precision_bound",
    "observed_precision",
    "observed_recall",
    "selected",
)


def train_cell(settings: dict, seed: int) -> dict:
    """A sweep cell: one training run, flattened to ``{criterion}_{metric}`` and
    ``test_{arm}_{last|best_val}``."""
    unknown = set(settings) - TRAIN_KEYS
    if unknown:
        raise InputError(f"unknown train settings: {', '.join(sorted(unknown))}")
    name = instance_of(settings)
    T = None if name else matrix_of(settings)
    with tempfile.TemporaryDirectory() as scratch:
        cfg = TrainConfig(
            T=T,
            instance=name,
            rate=settings.get("rate", 0.0) if name else 0.0,
            dataset=settings.get("dataset", "digits"),
            noise=settings.get("noise"),
            epochs=settings.get("epochs", 30),
            stage2_epochs=settings.get("stage2_epochs"),
            device=settings.get("device", "cpu"),
            out=settings.get("out", scratch),
            seed=seed,
            train_fraction=settings.get("train_fraction", 1.0),
            cv=settings.get("cv", 5),
            rsl_budget=settings.get("rsl_budget", "auto"),
            scale=settings.get("scale", True),
            model=settings.get("model", "auto"),
            batch=settings.get("batch"),
            record=settings.get("record", "pass"),
            # one cell a process, one process a core, unless the config says otherwise; the
            # run sets torch's threads and gives them back
            threads=settings.get("threads", 1),
            probes=settings.get("probes", 0.0),
            keep=settings.get("keep"),
            confidence=settings.get("confidence"),
            level=settings.get("level", LEVEL),
            bootstrap=settings.get("bootstrap", BOOTSTRAP),
            known_T=settings.get("known_T", True),
            run_cache=settings.get("run_cache"),
            progress=False,
            stage2=settings.get("stage2", True),
        )
        r = run_training(cfg)
    row = {
        "noise_rate": r["noise_rate"],
        "n_train": r["n_train"],
        "seconds": r["timing"]["total_s"],
    }
    row.update(flatten(r["criteria"], TRAIN_METRICS))
    if "target" in r:
        row.update(flatten(r["target"]["criteria"], TARGET_METRICS, prefix="target_"))
    for name, v in r["test_accuracy"].items():
        row[f"test_{name}_best_val"] = v["early_stopped"]["mean"]
        row[f"test_{name}_last"] = v["mean"]
    return row
