"""One sweep cell as a flat row: the settings a config gives, turned into a run and its metrics."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np

from simulations.experiments import certificate
from simulations.io import read_matrix
from simulations.synthetic import instance_noise
from simulations.synthetic.simulate import Setting, simulate
from simulations.training.config import TrainConfig, cell_defaults
from simulations.training.run import RUN_FILE, run_training
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


def simulate_setting(settings: dict, seed: int) -> Setting:
    """A simulate cell's ``Setting``, every setting checked (``Setting`` checks its own): the
    cell's inputs without its work, as the sweep checks every cell before it runs one."""
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
    return Setting(T=T, prior=prior, seed=seed, **kw)


def simulate_cell(settings: dict, seed: int) -> dict:
    out = simulate(simulate_setting(settings, seed))
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


# a train cell's own settings, beside TrainConfig's (``config.cell_defaults``): the noise
# source, and the T errors (``estimate``) and class-conditional twin it adds to its row
CELL_ONLY_KEYS = {"noise", "rate", "classes", "matrix", "estimate", "twin"}
TRAIN_KEYS = set(cell_defaults()) | CELL_ONLY_KEYS
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


def _estimate_methods(settings: dict) -> list[str]:
    from simulations.estimation.methods import PROBS_METHODS

    methods = settings.get("estimate", [])
    methods = [methods] if isinstance(methods, str) else list(methods)
    unknown = [m for m in methods if m not in PROBS_METHODS]
    if unknown:
        raise InputError(f"estimate {', '.join(unknown)}: choose from {', '.join(PROBS_METHODS)}")
    if methods and settings.get("cv", cell_defaults()["cv"]) < 2:
        raise InputError("estimate needs out-of-fold probabilities: cv of at least 2")
    return methods


def _t_errors(run_file: Path, methods: list[str]) -> dict:
    """T estimated from the run's noisy labels and out-of-fold probabilities alone, by each
    method, scored against the T that drew the labels (``T_error_{method}``)."""
    from simulations.estimation import transition

    with np.load(run_file) as z:
        noisy, probs, T = z["noisy"], z["probs"].astype(np.float64), z["T"]
    c = len(T)
    return {
        f"T_error_{m}": transition.t_error(transition.from_probs(noisy, probs, c, m).T, T)
        for m in methods
    }


def _twin(cfg: TrainConfig, run: dict, out: Path) -> dict:
    """The instance run's class-conditional twin: the same seed and samples, labels drawn from
    the run's realised T_bar, which the twin does not read (it estimates T from its
    validation items' labels, as the instance run does); its metrics as ``twin_*`` columns,
    beside the instance run's realised noise rate and flip-probability quantiles."""
    twin = dataclasses.replace(
        cfg,
        T=np.array(run["T_bar"]),
        instance=None,
        rate=0.0,
        noise=None,
        known_T=False,
        out=str(out),
    )
    r = run_training(twin)
    flip = run["instance_noise"]["flip_probability"]
    return {
        "realised_noise_rate": run["realised_noise_rate"],
        **{f"flip_{q}": flip[q] for q in ("q05", "q50", "q95")},
        **flatten(r["criteria"], TRAIN_METRICS, prefix="twin_"),
    }


def train_cell(settings: dict, seed: int) -> dict:
    """A sweep cell: one training run, flattened to ``{criterion}_{metric}`` and
    ``test_{arm}_{last|best_val}``; with ``estimate`` (methods of ``estimate --probs``), also
    the T error of each method's estimate from the run's out-of-fold probabilities; with
    ``twin`` (instance noise only), its class-conditional twin's metrics (``_twin``)."""
    with tempfile.TemporaryDirectory() as scratch:
        cfg, methods = train_config(settings, seed, scratch)
        r = run_training(cfg)
        errors = _t_errors(Path(cfg.out) / RUN_FILE, methods) if methods else {}
        twin = _twin(cfg, r, Path(scratch) / "twin") if settings.get("twin") else {}
    row = {
        "noise_rate": r["noise_rate"],
        "n_train": r["n_train"],
        "seconds": r["timing"]["total_s"],
        **errors,
    }
    row.update(flatten(r["criteria"], TRAIN_METRICS))
    if "target" in r:
        row.update(flatten(r["target"]["criteria"], TARGET_METRICS, prefix="target_"))
    row.update(twin)
    for name, v in r["test_accuracy"].items():
        row[f"test_{name}_best_val"] = v["early_stopped"]["mean"]
        row[f"test_{name}_last"] = v["mean"]
    return row


def train_config(settings: dict, seed: int, scratch: str) -> tuple[TrainConfig, list[str]]:
    """A train cell's ``TrainConfig`` (which checks its settings) and its ``estimate`` methods:
    the cell's inputs without its work; ``scratch`` is the run's folder unless ``out`` is
    set (nothing is written here)."""
    unknown = set(settings) - TRAIN_KEYS
    if unknown:
        raise InputError(f"unknown train settings: {', '.join(sorted(unknown))}")
    methods = _estimate_methods(settings)
    name = instance_of(settings)
    if settings.get("twin") and not name:
        raise InputError("twin needs instance-dependent noise (its T_bar draws the twin's labels)")
    T = None if name else matrix_of(settings)
    given = {k: v for k, v in settings.items() if k not in CELL_ONLY_KEYS}
    cfg = TrainConfig(
        T=T,
        instance=name,
        rate=settings.get("rate", 0.0) if name else 0.0,
        noise=settings.get("noise"),
        seed=seed,
        progress=False,
        **(cell_defaults() | {"out": scratch} | given),
    )
    return cfg, methods


COVERAGE_KEYS = {"classes", "n", "draws", "bootstrap", "level"}


def coverage_inputs(settings: dict) -> tuple[int, int, int, int, float]:
    """A coverage cell's (classes, n, draws, bootstrap, level), checked: its inputs without
    its work."""
    from simulations.estimation import transition

    unknown = set(settings) - COVERAGE_KEYS
    if unknown:
        raise InputError(f"unknown coverage settings: {', '.join(sorted(unknown))}")
    try:
        c, n = int(settings.get("classes", 3)), int(settings.get("n", 3000))
        draws, boots = int(settings.get("draws", 40)), int(settings.get("bootstrap", 100))
        level = float(settings.get("level", 0.9))
    except (TypeError, ValueError) as exc:
        raise InputError(f"coverage settings must be numbers: {exc}") from None
    if boots < transition.MIN_DRAWS or draws < 1 or c < 2 or n < c:
        raise InputError(
            f"coverage needs classes >= 2, n >= classes, draws >= 1 and bootstrap >= "
            f"{transition.MIN_DRAWS}"
        )
    return c, n, draws, boots, level


def check_cell(kind: str, settings: dict, seed: int) -> None:
    """Every check that a cell of ``kind`` makes of its settings, without its work."""
    if kind == "simulate":
        simulate_setting(settings, seed)
    elif kind == "train":
        train_config(settings, seed, tempfile.gettempdir())
    elif kind == "certificate":
        certificate.certificate_inputs(settings)
    else:
        coverage_inputs(settings)


def coverage_cell(settings: dict, seed: int) -> dict:
    """A sweep cell of kind ``coverage``: how often the bootstrap interval of each crowd
    model (``ds``, ``ds-easy``) holds the first annotator's T, entry by entry, over
    ``draws`` simulated worlds where a share 0.2-0.5 of the items is easy (every annotator
    right) and the rest follow random confusions with diagonal 0.5 (the world ``ds-easy``
    models and Dawid-Skene does not). Each world's T is that of its own (clean, noisy)
    pairs; the models never see the clean labels. Columns ``coverage_ds``,
    ``coverage_ds_easy``."""
    from simulations.estimation import transition
    from simulations.synthetic import generate

    c, n, draws, boots, level = coverage_inputs(settings)
    rng = np.random.default_rng([seed, c, n])
    hits = {m: [] for m in transition.CROWD_METHODS}
    for _ in range(draws):
        truth = rng.integers(0, c, n)
        confusions = [0.5 * np.eye(c) + 0.5 * rng.dirichlet(np.ones(c), c) for _ in range(3)]
        easy = rng.random(n) < rng.uniform(0.2, 0.5)
        ann = np.column_stack(
            [
                np.where(easy, truth, generate.noisy_labels(truth, T, int(rng.integers(1 << 31))))
                for T in confusions
            ]
        )
        target = transition.from_pairs(truth, ann[:, 0], c).T
        for model, h in hits.items():
            e = transition.from_annotators(ann, list("abc"), c, model=model)
            _, _, per = transition.draws(e, boots, int(rng.integers(1 << 31)))
            low, high = transition.interval(per["a"], level)
            h.append(((low <= target) & (target <= high)).ravel())
    return {
        f"coverage_{m.replace('-', '_')}": float(np.concatenate(h).mean()) for m, h in hits.items()
    }
