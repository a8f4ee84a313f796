"""The real-data loop, stage by stage: ``prepare`` (split, scaling, noisy labels, probes),
stage 1 (cross-entropy with every sample's loss recorded), out-of-fold probabilities, the run
file, ``analyse`` on it (every criterion and its predictions: the same code path as
``smallloss analyse RUN.npz``), stage 2 (each arm trained on a selection) and the record.
``run_once`` runs them for one seed; ``run_training`` repeats it over seeds. Each stage's
seconds go to the record (``stage_seconds``) and, with progress on, to stderr.

The stages that train (``simulations.training.stages``, ``two_networks``) are imported inside
the functions that run them: torch is the optional extra smallloss[train], and this module
imports without it.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

import numpy as np
from scipy.special import softmax

from simulations.io import ensure_dir, provenance, write_json
from simulations.selection import rules, runfile
from simulations.selection.analyse import analyse
from simulations.selection.scores import mean_loss
from simulations.training import report
from simulations.training.arms import Arm
from simulations.training.config import MAX_SAVED_OUTPUTS, TrainConfig, resolve_recipe
from simulations.training.prepare import Prepared, instance_labels, load, prepare
from theory.noise import noise_rate

LEARNED_MARGIN = 0.05  # above the majority-class rate by less than this: "did not learn"
COTEACHING_RAMP = 10  # epochs over which Co-teaching's forget rate rises to its target
RUN_FILE = "run.npz"


class Stages:
    """Each stage's seconds, said on stderr as it ends when ``say``; with ``threads``, torch's
    CPU thread count set back to it after each stage: ``analyse`` leaves it at the core
    count (torch shares its OpenMP runtime with the libraries ``analyse`` calls), which made
    each stage-2 epoch of a 1-thread run (a sweep cell) 10 to 50 times slower on a busy
    2-core machine."""

    def __init__(self, say: bool, threads: int | None = None):
        self.seconds: dict[str, float] = {}
        self.say = say
        self.threads = threads

    @contextlib.contextmanager
    def __call__(self, name: str):
        t = time.perf_counter()
        yield
        if self.threads is not None:
            import torch

            torch.set_num_threads(self.threads)
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t
        if self.say:  # through tqdm, which clears a progress bar's line first
            from tqdm.auto import tqdm

            tqdm.write(f"smallloss: {name} {self.seconds[name]:.1f} s", file=sys.stderr)


def learning_warnings(val_acc: list[float], prep: Prepared) -> list[str]:
    """A warning when stage 1 learned nothing: its best clean validation accuracy is within
    ``LEARNED_MARGIN`` of always predicting the majority class."""
    majority = float(prep.prior.max())
    best = max(val_acc)
    if best > majority + LEARNED_MARGIN:
        return []
    return [
        f"the network did not learn: its best clean validation accuracy {best:.3f} is within "
        f"{LEARNED_MARGIN} of always predicting the majority class ({majority:.3f}); every "
        f"criterion then selects at chance. Inputs: {prep.scaling}; check them and `epochs`"
    ]


def run_arrays(prep: Prepared, fit1, probs: np.ndarray) -> dict:
    """The run file's arrays (``simulations.selection.runfile``): the training samples, then
    the probes; the validation split's outputs; T where it is known; what else the run
    recorded (accuracies per epoch, sample indices, flip probabilities)."""
    R = prep.probe_idx.size
    arrays = {
        "noisy": np.concatenate([prep.noisy, prep.probe_noisy]).astype(np.int64),
        "losses": fit1.losses,
        "logits": fit1.outputs,
        "probs": probs.astype(np.float64),
        "probe": np.concatenate([np.zeros(prep.noisy.size, bool), np.ones(R, bool)]),
        "clean": np.concatenate([prep.clean, prep.probe_clean]).astype(np.int64),
        "val_logits": fit1.val_outputs,
        "val_clean": prep.val_clean,
        "val_noisy": prep.val_noisy,
        "T": prep.T if prep.known_T else None,
        "prior": prep.prior,
        "classes": np.array(prep.classes),
        "val_acc": np.array(fit1.val_acc),
        "test_acc": np.array(fit1.test_acc),
        "train_index": np.concatenate([prep.train_idx, prep.probe_idx]),
        "flip_probability": prep.flip,
    }
    if not R:
        del arrays["probe"]
    return arrays


def reanalysed(cfg: TrainConfig, seed: int, out_dir: Path) -> dict | None:
    """A run of ``cfg.run_cache`` with these training settings and seed, analysed again with
    this config's ``keep``, ``confidence``, ``level``, ``estimate`` and RSL rule (the same
    ``analyse`` that a fresh run calls); None when there is no such run, or stage 2 is on."""
    if cfg.run_cache is None or cfg.stage2:
        return None
    folder = Path(cfg.run_cache) / cfg.run_key(seed)
    if not (folder / RUN_FILE).exists():
        return None
    import json
    import shutil

    t_start = time.perf_counter()
    run = runfile.read(folder / RUN_FILE)
    analysis, _ = _analyse(cfg, run, json.loads((folder / "seeds.json").read_text())["model"])
    record = report.reanalysed(json.loads((folder / "record.json").read_text()), analysis, cfg)
    ensure_dir(out_dir)
    if Path(out_dir).resolve() != folder.resolve():
        shutil.copyfile(folder / RUN_FILE, Path(out_dir) / RUN_FILE)
    record["run_file"] = record["loss_matrix"] = str(Path(out_dir) / RUN_FILE)
    record["timing"]["total_s"] = time.perf_counter() - t_start
    record["stage_seconds"] = {"analyse": record["timing"]["total_s"]}
    return record


def _cache(cfg: TrainConfig, seed: int, out_dir: Path, seeds: dict, record: dict) -> None:
    """Keep this run's files in ``run_cache`` for a later config that only reads it: the run
    file, and the seed's own record (not the layout ``record.json`` shows a reader)."""
    if cfg.run_cache is None:
        return
    import json
    import shutil

    folder = ensure_dir(Path(cfg.run_cache) / cfg.run_key(seed))
    shutil.copyfile(Path(out_dir) / RUN_FILE, folder / RUN_FILE)
    write_json(folder / "record.json", record)
    (folder / "seeds.json").write_text(json.dumps(seeds))


def run_once(cfg: TrainConfig, ds, seed: int, out_dir: Path) -> dict:
    """Every stage for one seed; the seed's record (its run file written to ``out_dir``).

    Parameters
    ----------
    cfg : TrainConfig
    ds : simulations.training.data.Dataset
        The data set, loaded once (``prepare.load``).
    seed : int
        The run's seed; each stage draws from its own child of it.
    out_dir : pathlib.Path
        Where the run file (``run.npz``) goes (``run_training`` writes the record beside it).

    Returns
    -------
    dict
        The record: settings echoed, every criterion's observed and predicted precision,
        stage 2's test accuracies, per-epoch rows, cells, budgets and timings.
    """
    cached = reanalysed(cfg, seed, out_dir)
    if cached is not None:
        return cached
    # torch is the optional extra smallloss[train]: only the training stages need it
    import torch

    from simulations.training.loop import Recipe, predict, resolve_device
    from simulations.training.stages import Tensors, out_of_fold_probs, stage1

    t_start = time.perf_counter()
    stage = Stages(cfg.progress, torch.get_num_threads())
    with stage("prepare"):
        prep = prepare(cfg, ds, seed)
        c = prep.classes
        device = resolve_device(cfg.device)
        model, batch = resolve_recipe(
            cfg.model, cfg.batch, prep.X.shape[1:], prep.clean.size, device.type
        )
        prep.recipe = {
            "model": model,
            "batch": batch,
            "epochs": cfg.epochs,
            "stage2_epochs": cfg.stage2_epochs or cfg.epochs,
            "record": cfg.record,
            "threads": torch.get_num_threads(),
        }
        if cfg.instance:
            instance_labels(cfg, prep, device, batch, model)
        tensors = Tensors.of(prep, device)
    n = prep.clean.size
    keep_outputs = (n + prep.probe_idx.size) * cfg.epochs * c <= MAX_SAVED_OUTPUTS
    stage1_set = tensors.with_probes(prep.X[prep.probe_idx], prep.probe_noisy)
    recipe = Recipe(epochs=cfg.epochs, batch=batch)
    with stage("stage 1"):
        fit1, net = stage1(
            model, stage1_set, recipe, cfg.record, prep.seeds["model"], keep_outputs, cfg.progress
        )
    warnings = learning_warnings(fit1.val_acc, prep)
    if cfg.cv >= 2:
        with stage(f"out-of-fold probabilities ({cfg.cv} folds)"):
            probs = out_of_fold_probs(
                model, stage1_set, cfg.cv, recipe, prep.seeds["folds"], cfg.progress
            )
        probs_source = f"out of fold, {cfg.cv} folds"
    else:
        if fit1.outputs is not None:
            logits = fit1.outputs[:, -1]
        else:  # too many outputs were kept to store: predict the last epoch's again
            logits = predict(net, stage1_set.X_train).cpu().numpy()
        probs = softmax(logits, axis=-1)
        probs_source = "in sample (`cv` 0)"
        warnings.append(
            "confident learning and cleanlab ranked in-sample probabilities (`cv` 0): a network "
            "that has fitted its labels looks confident on all of them, so both keep nearly all"
        )
    arrays = run_arrays(prep, fit1, probs)
    with stage("analyse"):
        run = runfile.from_arrays(arrays, where="the training run")
        analysis, masks = _analyse(cfg, run, prep.seeds["model"])
        with_true_T = None
        if cfg.estimate and prep.T is not None:  # what the true T would have given, beside it
            with_true_T, _ = analyse(
                run, matrix=prep.T, rsl_rule=cfg.rsl_rule, bootstrap=0, per_epoch=False
            )
    masks = {name: mask[:n] for name, mask in masks.items()}  # the probes are never trained on
    warnings += [
        f"--keep {cfg.keep}: {arm.mask.removeprefix('target_')} keeps nothing, so stage 2 has "
        f"no {arm.name} arm"
        for arm in cfg.stage2_arms
        if arm.needs_keep and not masks[arm.mask].any()
    ]
    forget = noise_rate(np.array(analysis["T"]), np.array(analysis["prior"]))
    test_accuracy = stage2(cfg, tensors, prep, fit1.losses[:n], masks, forget, stage)
    record = report.train_record(
        cfg, prep, fit1, analysis, with_true_T, test_accuracy, warnings, probs_source,
        str(device), seed, out_dir / RUN_FILE,
    )  # fmt: skip
    with stage("save"):
        save(out_dir, cfg, arrays, record, t_start)
    record["stage_seconds"] = stage.seconds
    _cache(cfg, seed, out_dir, prep.seeds, record)
    return record


def _analyse(cfg: TrainConfig, run, seed: int) -> tuple[dict, dict]:
    """``analyse`` on a run file with the selection settings of ``cfg``."""
    return analyse(
        run,
        estimate=cfg.estimate,
        keep=cfg.keep or "oracle",
        confidence=cfg.confidence,
        level=cfg.level,
        rsl_rule=cfg.rsl_rule,
        bootstrap=cfg.bootstrap,
        seed=seed,
    )


def stage2_sets(arms, masks: dict, loss_matrix, noisy) -> dict:
    """Each single-network arm's training set (mask, weights), read from ``analyse``'s
    ``masks`` (criterion -> mask over the training samples): no selection is made again here.
    An arm with no mask trains on every sample; RSL's weighted arm weighs its selection by
    the mean loss (``rules.rsl_weights``); a target arm whose mask is empty is left out."""
    sets = {}
    for arm in arms:
        if arm.runner is None or arm.networks != 1:
            continue
        mask = masks[arm.mask] if arm.mask else np.ones(noisy.size, bool)
        if arm.needs_keep and not mask.any():
            continue
        weights = rules.rsl_weights(mean_loss(loss_matrix), noisy, mask) if arm.weighted else None
        sets[arm.name] = (mask, weights)
    return sets


def stage2(cfg, tensors, prep: Prepared, loss_matrix, masks: dict, forget: float,
           stage: Stages) -> dict:  # fmt: skip
    """Fresh networks for each arm of ``cfg.stage2_arms`` (``simulations.training.arms``),
    on its training set from ``masks`` (``stage2_sets``), the two-network arms at the forget
    rate of the T the run used; each arm's test accuracy at its last epoch and at its best
    clean-validation epoch.

    Returns
    -------
    dict
        Arm name -> ``best_val``, ``best_epoch``, ``last``, ``train_size`` and
        ``train_precision``; the two-network arms also ``forget_rate``. In registry order.
    """
    if not cfg.stage2_arms:
        return {}
    # torch is the optional extra smallloss[train]: imported only when a network is trained
    from simulations.training.loop import Recipe
    from simulations.training.stages import ArmContext, train_arm

    recipe = Recipe(epochs=prep.recipe["stage2_epochs"], batch=prep.recipe["batch"])
    sets = stage2_sets(cfg.stage2_arms, masks, loss_matrix, prep.noisy)
    ctx = ArmContext(
        prep.recipe["model"],
        tensors,
        recipe,
        prep,
        cfg.progress,
        sets,
        forget,
        min(COTEACHING_RAMP, recipe.epochs),
    )
    out = {}
    for arm in cfg.stage2_arms:
        if not _trainable(arm, prep, sets):
            continue
        if arm.derived_from:  # its source's fit read at its best validation epoch
            out[arm.name] = {**out[arm.derived_from], "last": out[arm.derived_from]["best_val"]}
            continue
        with stage(f"stage 2: {arm.name}"):
            out[arm.name] = train_arm(arm, ctx)
    return out


def _trainable(arm: Arm, prep: Prepared, sets: dict) -> bool:
    if arm.labels == "clean" and not (prep.clean >= 0).all():
        return False  # the ceiling needs every clean label
    return arm.networks != 1 or arm.runner is None or arm.name in sets


def save(out_dir: Path, cfg: TrainConfig, arrays: dict, record: dict, t_start: float) -> None:
    """The run file (the run format ``smallloss analyse`` reads), written atomically with the
    settings that made it; the record's total seconds."""
    ensure_dir(out_dir)
    settings = {**cfg.echo(), "seed": record["seed"]}
    runfile.write(out_dir / RUN_FILE, arrays, settings)
    record["timing"]["total_s"] = time.perf_counter() - t_start


def run_training(cfg: TrainConfig) -> dict:
    """``cfg.seeds`` whole runs (seeds ``seed``, ``seed + 1``, ...); with several, each run's
    files go to ``out/seed-S/``. The record (``report.combine``: means with 95% intervals over
    the seeds, one seed or many) is returned and written to ``out/record.json``."""
    t_start = time.perf_counter()
    out = ensure_dir(cfg.out)  # fail before training, not after
    seeds = [cfg.seed + k for k in range(cfg.seeds)]
    ds = load(cfg)
    folders = [out if len(seeds) == 1 else out / f"seed-{s}" for s in seeds]
    runs = []
    with torch_threads(cfg.threads):
        for s, folder in zip(seeds, folders):
            runs.append(run_once(cfg, ds, s, folder))
            if len(seeds) > 1:  # each seed's folder holds the layout of any record.json
                _write(folder, report.combine(runs[-1:]), {**cfg.echo(), "seed": s})
    record = report.combine(runs)
    record["timing"]["total_s"] = time.perf_counter() - t_start
    return _write(out, record, cfg.echo())


def _write(folder: Path, record: dict, settings: dict) -> dict:
    """``record`` with its provenance, as written to ``folder/record.json``."""
    record = {**record, "provenance": provenance(settings)}
    write_json(Path(folder) / "record.json", record)
    return record


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """torch's CPU thread count set for the run, and given back after it."""
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
