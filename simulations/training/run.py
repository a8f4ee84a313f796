"""The real-data loop, stage by stage: ``prepare`` (split, scaling, noisy labels, probes),
stage 1 (cross-entropy with every sample's loss recorded), out-of-fold probabilities, the run
file, ``analyse`` on it (every criterion and its predictions: the same code path as
``smallloss analyse RUN.npz``), stage 2 (each arm trained on a selection) and the record.
``run_once`` runs them for one seed; ``run_training`` repeats it over seeds.

The stages that train (``simulations.training.stages``, ``two_networks``) are imported inside
the functions that run them: torch is the optional extra smallloss[train], and this module
imports without it.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import numpy as np
from scipy.special import softmax

from simulations.io import ensure_dir, provenance, write_json
from simulations.selection import rules, runfile
from simulations.selection.analyse import analyse
from simulations.selection.scores import mean_loss
from simulations.training import report
from simulations.training.config import (
    ARMS,
    MAX_SAVED_OUTPUTS,
    TARGET_ARMS,
    TrainConfig,
    resolve_recipe,
)
from simulations.training.prepare import Prepared, instance_labels, load, prepare
from theory.noise import noise_rate

LEARNED_MARGIN = 0.05  # above the majority-class rate by less than this: "did not learn"
COTEACHING_RAMP = 10  # epochs over which Co-teaching's forget rate rises to its target
RUN_FILE = "run.npz"


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
    write_json(Path(out_dir) / "record.json", {**record, "provenance": provenance(cfg.echo())})
    return record


def _cache(cfg: TrainConfig, seed: int, out_dir: Path, seeds: dict) -> None:
    """Keep this run's files in ``run_cache`` for a later config that only reads it."""
    if cfg.run_cache is None:
        return
    import json
    import shutil

    folder = ensure_dir(Path(cfg.run_cache) / cfg.run_key(seed))
    for name in (RUN_FILE, "record.json"):
        shutil.copyfile(Path(out_dir) / name, folder / name)
    (folder / "seeds.json").write_text(json.dumps(seeds))


def run_once(cfg: TrainConfig, ds, seed: int, out_dir: Path) -> dict:
    """Every stage for one seed; the record (also written to ``out_dir`` with the run file).

    Parameters
    ----------
    cfg : TrainConfig
    ds : simulations.training.data.Dataset
        The data set, loaded once (``prepare.load``).
    seed : int
        The run's seed; each stage draws from its own child of it.
    out_dir : pathlib.Path
        Where the run file (``run.npz``) and the record (``record.json``) go.

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
    fit1, net = stage1(
        model, stage1_set, recipe, cfg.record, prep.seeds["model"], keep_outputs, cfg.progress
    )
    warnings = learning_warnings(fit1.val_acc, prep)
    if cfg.cv >= 2:
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
    run = runfile.from_arrays(arrays, where="the training run")
    analysis, masks = _analyse(cfg, run, prep.seeds["model"])
    with_true_T = None
    if cfg.estimate and prep.T is not None:  # what the true T would have given, beside it
        with_true_T, _ = analyse(
            run, matrix=prep.T, rsl_rule=cfg.rsl_rule, bootstrap=0, per_epoch=False
        )
    target_masks = None
    if cfg.keep is not None:
        target_masks = {name: masks[f"target_{name}"][:n] for name in TARGET_ARMS}
        warnings += [
            f"--keep {cfg.keep}: {name} keeps nothing, so stage 2 has no target_{name} arm"
            for name, mask in target_masks.items()
            if cfg.stage2 and not mask.any()
        ]
    test_accuracy = {}
    if cfg.stage2:
        forget = noise_rate(np.array(analysis["T"]), np.array(analysis["prior"]))
        test_accuracy = stage2(cfg, tensors, prep, fit1.losses[:n], masks["rsl"][:n], forget,
                               target_masks)  # fmt: skip
    record = report.train_record(
        cfg, prep, fit1, analysis, with_true_T, test_accuracy, warnings, probs_source,
        str(device), seed, out_dir / RUN_FILE,
    )  # fmt: skip
    save(out_dir, cfg, arrays, record, t_start)
    _cache(cfg, seed, out_dir, prep.seeds)
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


def stage2_sets(loss_matrix, noisy, rsl_mask, target: dict | None = None) -> dict:
    """Each stage-2 arm's training set (mask, weights): all noisy data, the global selection
    at RSL's total, RSL's selection unweighted (as the authors train) and with its weights;
    with ``target`` (criterion -> mask of ``--keep target:P``), ``target_<criterion>`` too,
    unweighted, where it keeps something."""
    mean = mean_loss(loss_matrix)
    global_mask = rules.select_global(loss_matrix[:, -1], int(rsl_mask.sum()))
    sets = {
        "ce_all": (np.ones(noisy.size, bool), None),
        "global_selected": (global_mask, None),
        "rsl_selected": (rsl_mask, None),
        "rsl_weighted": (rsl_mask, rules.rsl_weights(mean, noisy, rsl_mask)),
    }
    for name, mask in (target or {}).items():
        if mask.any():
            sets[f"target_{name}"] = (mask, None)
    return sets


def stage2(cfg, tensors, prep: Prepared, loss_matrix, rsl_mask, forget: float,
           target: dict | None = None) -> dict:  # fmt: skip
    """Fresh networks on each arm's training set (``stage2_sets``), Co-teaching and JoCoR at
    the forget rate of the T the run used; each arm's test accuracy at its last epoch and at
    its best clean-validation epoch (``early_stopped``), and the clean-label ceiling.

    Returns
    -------
    dict
        Arm name -> ``best_val``, ``best_epoch``, ``last``, ``train_size`` and
        ``train_precision``; Co-teaching and JoCoR also ``forget_rate``. The arms of ``ARMS``
        first, then the target arms.
    """
    # torch is the optional extra smallloss[train]: imported only when a network is trained
    from simulations.training.loop import Recipe
    from simulations.training.stages import stage2_arm
    from simulations.training.two_networks import coteaching, jocor

    model = prep.recipe["model"]
    recipe = Recipe(epochs=prep.recipe["stage2_epochs"], batch=prep.recipe["batch"])
    seed = prep.seeds["stage2"]
    out = {}
    for name, (mask, w) in stage2_sets(loss_matrix, prep.noisy, rsl_mask, target).items():
        out[name] = stage2_arm(model, tensors, mask, w, recipe, seed, prep, cfg.progress, name)
    out["ce_early_stopped"] = {**out["ce_all"], "last": out["ce_all"]["best_val"]}
    if (prep.clean >= 0).all():  # the ceiling, for reference only: the clean labels
        out["ce_clean"] = stage2_arm(
            model,
            tensors,
            np.ones(prep.clean.size, bool),
            None,
            recipe,
            seed,
            prep,
            cfg.progress,
            "ce_clean",
            labels=prep.clean,
        )
    ramp = min(COTEACHING_RAMP, recipe.epochs)
    for name, arm in (("coteaching", coteaching), ("jocor", jocor)):
        out[name] = arm(
            model, tensors, recipe, prep.seeds["coteaching"], forget, ramp, prep, cfg.progress
        )
    return {name: out[name] for name in (*ARMS, *(a for a in out if a not in ARMS)) if name in out}


def save(out_dir: Path, cfg: TrainConfig, arrays: dict, record: dict, t_start: float) -> None:
    """The run file (the run format ``smallloss analyse`` reads) and the record as JSON, each
    written atomically, each with the settings that made it."""
    ensure_dir(out_dir)
    settings = {**cfg.echo(), "seed": record["seed"]}
    runfile.write(out_dir / RUN_FILE, arrays, settings)
    record["timing"]["total_s"] = time.perf_counter() - t_start
    write_json(out_dir / "record.json", {**record, "provenance": provenance(settings)})


def run_training(cfg: TrainConfig) -> dict:
    """``cfg.seeds`` whole runs (seeds ``seed``, ``seed + 1``, ...); with several, each run's
    files go to ``out/seed-S/`` and the record reports means with 95% intervals."""
    t_start = time.perf_counter()
    out = ensure_dir(cfg.out)  # fail before training, not after
    seeds = [cfg.seed + k for k in range(cfg.seeds)]
    ds = load(cfg)
    with torch_threads(cfg.threads):
        runs = [run_once(cfg, ds, s, out if len(seeds) == 1 else out / f"seed-{s}") for s in seeds]
    record = report.combine(runs)
    record["timing"]["total_s"] = time.perf_counter() - t_start
    if len(seeds) > 1:
        write_json(out / "record.json", {**record, "provenance": provenance(cfg.echo())})
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
