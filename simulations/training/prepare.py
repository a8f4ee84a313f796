"""Stage 0 of the real-data loop: the data set (loaded once for every seed), its split into
training, clean validation and test samples, the scaling, the noisy labels (injected from T,
drawn by an instance-dependent recipe, or the data set's own) and the probes.

Under class-conditional noise the validation items carry only their clean label (T is
known, as in the paper). Under an instance-dependent recipe or the data set's own noisy
labels, the validation items carry a noisy label too, drawn by the same process: that is
what a user has who annotated a validation set twice, and it is what T is estimated from
(``simulations.selection.analyse``), never the training samples' clean labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simulations.synthetic import generate, instance_noise
from simulations.training import data
from simulations.training.probes import make_probes
from theory.errors import InputError

CLEAN_MODEL_EPOCHS = 25  # the PMD recipe's clean-trained model
CLEAN_MODEL_FOLDS = 5  # its probabilities for each item come from the fold that did not see it


@dataclass
class Prepared:
    """The data split, the noisy labels and the prior, as numpy arrays."""

    X: np.ndarray  # every sample's features, scaled
    classes: int
    train_idx: np.ndarray
    val_idx: np.ndarray
    clean: np.ndarray  # clean training labels (-1 unknown): for scoring only
    noisy: np.ndarray
    val_clean: np.ndarray
    prior: np.ndarray  # estimated on the clean validation split
    X_test: np.ndarray
    y_test: np.ndarray
    scaling: str
    seeds: dict  # one integer seed per later stage
    T: np.ndarray | None  # the known T: what class-conditional labels were drawn from, or given
    noise_source: str = "T"  # "T" (injected from T), the recipe's name, or "observed"
    known_T: bool = True  # whether the loop may read T (else it is estimated)
    val_noisy: np.ndarray | None = None  # the validation items' noisy labels, where drawn
    T_bar: np.ndarray | None = None  # instance noise: the realised class-level matrix
    flip: np.ndarray | None = None  # instance noise: each training sample's flip probability
    instance: dict | None = None  # instance noise: its name, rate and parameters
    recipe: dict | None = None  # model, batch, epochs, recording and threads, once resolved
    # probes: validation items moved into stage 1's training set, never selected
    probe_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    probe_clean: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    probe_noisy: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    probe_seed: np.random.SeedSequence | None = None
    # the data set's own noisy labels: the share that differs from a known clean label, over
    # every sample that has both (an observation, as the realised rate is)
    dataset_noise_rate: float | None = None


def load(cfg) -> data.Dataset:
    """The data set, once for every seed, checked against the noise the settings name."""
    ds = data.load(cfg.dataset, scale=cfg.scale)
    if cfg.T is not None and len(cfg.T) != ds.classes:
        raise InputError(
            f"the noise matrix has {len(cfg.T)} classes but {cfg.dataset} has {ds.classes}"
        )
    if ds.y_noisy is not None and cfg.instance is not None:
        raise InputError(
            f"{cfg.dataset} carries its own noisy labels (y_noisy): no instance noise is drawn"
        )
    if ds.y_noisy is None and cfg.T is None and cfg.instance is None:
        raise InputError(
            f"{cfg.dataset} has no noisy labels of its own (y_noisy): name the noise to inject "
            "(`noise` and `rate`, or `matrix`)"
        )
    return ds


def prepare(cfg, ds: data.Dataset, seed: int) -> Prepared:
    """Split ``ds`` (train / clean validation / test), subsample, scale, draw noisy labels
    (instance-dependent ones come later, from ``instance_labels``) and move the probes."""
    c = ds.classes
    seqs = np.random.SeedSequence(seed).spawn(8)  # the first 7 as before probes existed
    s_split, s_frac, s_noise, later, s_probe = *seqs[:3], seqs[3:7], seqs[7]
    parts = data.split(ds.y, ds.X_test is not None, s_split)
    train_idx = parts.train
    if cfg.train_fraction < 1.0:
        keep = max(c, int(round(cfg.train_fraction * train_idx.size)))
        rng = np.random.default_rng(s_frac)
        train_idx = np.sort(rng.choice(train_idx, keep, replace=False))
    if ds.X_test is not None:
        X, X_test, y_test = ds.X, ds.X_test, ds.y_test
    else:
        X, X_test, y_test = ds.X, ds.X[parts.test], ds.y[parts.test]
    scaling = ds.scaling
    if ds.standardise:
        X, X_test = data.standardised(X, train_idx, X_test)
    clean = ds.y[train_idx]
    val_idx = parts.val
    val_noisy, source = None, "T"
    own_rate = None
    if ds.y_noisy is not None:
        noisy, val_noisy, source = ds.y_noisy[train_idx], ds.y_noisy[val_idx], "observed"
        both = ds.y >= 0
        own_rate = float((ds.y[both] != ds.y_noisy[both]).mean())
    elif cfg.instance is not None:  # drawn by instance_labels, from a clean-trained model
        noisy, source = clean.copy(), cfg.instance
    else:
        noisy = generate.noisy_labels(clean, cfg.T, s_noise)
        if not cfg.known_T:  # the validation items annotated too, by the same T
            s_val = np.random.SeedSequence(seed).spawn(9)[8]
            val_noisy = generate.noisy_labels(ds.y[val_idx], cfg.T, s_val).astype(np.int64)
    prior = np.bincount(ds.y[val_idx], minlength=c) / val_idx.size
    if np.any(prior == 0):
        raise InputError(
            "a class has no sample in the clean validation split; the data set is too small"
        )
    names = ("model", "folds", "stage2", "coteaching", "noise")
    prep = Prepared(
        X=X,
        classes=c,
        train_idx=train_idx,
        val_idx=val_idx,
        clean=clean,
        noisy=noisy,
        val_clean=ds.y[val_idx],
        prior=prior,
        X_test=X_test,
        y_test=y_test,
        scaling=scaling,
        seeds={k: int(s.generate_state(1)[0]) for k, s in zip(names, [*later, s_noise])},
        T=cfg.T,
        known_T=cfg.known_T and cfg.T is not None,
        noise_source=source,
        val_noisy=val_noisy,
        probe_seed=s_probe,
        dataset_noise_rate=own_rate,
    )
    if cfg.instance is None:
        add_probes(cfg, prep)
    return prep


def add_probes(cfg, prep: Prepared) -> None:
    """Move ``cfg.probes`` of the validation items into the training set as probes, labelled
    as the training samples are: by their own noisy labels where the items have them, else
    drawn from T."""
    if cfg.probes <= 0:
        return
    own = prep.val_noisy
    T = None if own is not None else prep.T
    p = make_probes(prep.val_clean, cfg.probes, prep.probe_seed, val_noisy=own, T=T)
    if np.bincount(prep.val_clean[p.keep], minlength=prep.classes).min() == 0:
        raise InputError(
            f"`probes` {cfg.probes:g} leaves a class with no clean validation sample: "
            "use a smaller share"
        )
    prep.probe_idx = prep.val_idx[p.index]
    prep.probe_clean, prep.probe_noisy = p.clean, p.noisy
    prep.val_idx, prep.val_clean = prep.val_idx[p.keep], prep.val_clean[p.keep]
    if own is not None:
        prep.val_noisy = own[p.keep]


def instance_labels(cfg, prep: Prepared, device, batch: int, model: str) -> None:
    """Noisy labels by ``cfg.instance`` for the training samples and the validation items
    alike: part-dependent from the (scaled) features; pmd-k and margin from networks trained
    on the clean labels (``CLEAN_MODEL_EPOCHS``, as in the PMD recipe), each item's
    probabilities from the one of ``CLEAN_MODEL_FOLDS`` fold models that did not see it (its
    last epoch's softmax is the posterior; its softmax averaged over the epochs is margin's
    score). Then the probes move. ``prep.T_bar`` and ``prep.flip`` record the training
    samples' realised noise: observations, never read by a budget or a prediction."""
    items = np.concatenate([prep.train_idx, prep.val_idx])
    clean = np.concatenate([prep.clean, prep.val_clean])
    n = prep.train_idx.size
    X = prep.X[items].reshape(items.size, -1)
    posterior = scores = None
    if cfg.instance != "part-dependent":
        # torch is the optional extra smallloss[train]: imported only when a network is trained
        from simulations.training.loop import Recipe
        from simulations.training.stages import clean_out_of_fold

        posterior, scores = clean_out_of_fold(
            model,
            prep.X[items],
            clean,
            prep.classes,
            CLEAN_MODEL_FOLDS,
            Recipe(epochs=CLEAN_MODEL_EPOCHS, batch=batch),
            prep.seeds["noise"],
            device,
            cfg.progress,
        )
    noise = instance_noise.generate(
        cfg.instance,
        clean,
        cfg.rate,
        prep.seeds["noise"],
        features=X,
        posterior=posterior,
        scores=scores,
        classes=prep.classes,
    )
    labels = noise.noisy.astype(np.int64)
    prep.noisy, prep.val_noisy = labels[:n], labels[n:]
    prep.flip = noise.flip[:n]
    prep.T_bar = realised_T(prep.clean, prep.noisy, prep.classes)
    params = {k: v for k, v in noise.params.items() if k != "W"}
    q05, q50, q95 = (float(q) for q in np.quantile(prep.flip, [0.05, 0.5, 0.95]))
    prep.instance = {
        "name": cfg.instance,
        "rate": cfg.rate,
        "params": params,
        "flip_probability_mean": float(prep.flip.mean()),
        "flip_probability": {"q05": q05, "q50": q50, "q95": q95},
        "posterior": "out of fold" if posterior is not None else None,
    }
    add_probes(cfg, prep)


def realised_T(clean: np.ndarray, noisy: np.ndarray, classes: int) -> np.ndarray:
    """The class-level matrix the labels realise: row i the shares of each noisy label among
    the samples of clean class i (a uniform row for a class with no sample)."""
    counts = np.zeros((classes, classes))
    np.add.at(counts, (clean, noisy), 1.0)
    rows = counts.sum(1, keepdims=True)
    return np.divide(counts, rows, out=np.full(counts.shape, 1.0 / classes), where=rows > 0)
