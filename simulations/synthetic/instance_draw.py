"""The overlap model under instance-dependent noise: features, noisy labels from a recipe, the
model outputs they imply, and the theory's predictions for the same rule."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulations.selection.registry import CLEANLAB, CONFIDENT
from simulations.synthetic import generate, instance_noise
from theory import instance as theory_instance
from theory import precision
from theory.errors import InputError
from theory.losses import overlap_posterior


@dataclass
class InstanceDraw:
    clean: np.ndarray
    noisy: np.ndarray
    probs: np.ndarray  # (n, c) float32: g(x), the noisy-label posterior
    noise: instance_noise.InstanceNoise
    non_dominant_share: float  # realised: samples whose own row t(x, y) is not row dominant


class FixedOutputs:
    """Outputs held in memory, served like ``generate.Model.chunks``."""

    def __init__(self, probs: np.ndarray):
        self.probs = probs

    def chunks(self, clean, seed):
        for sl in generate._chunks(len(self.probs)):
            yield sl, self.probs[sl]


def overlap_features(clean, classes: int, separation: float, seed) -> np.ndarray:
    """``x = z + separation e_y``, ``z ~ N(0, I_c)``, chunk by chunk from ``seed``."""
    X = np.empty((clean.size, classes))

    def work(sl, rng):
        X[sl] = rng.standard_normal((sl.stop - sl.start, classes))
        X[sl][np.arange(sl.stop - sl.start), clean[sl]] += separation

    generate._for_chunks(clean.size, seed, work)
    return X


def draw(name: str, n: int, rate: float, separation: float, prior, seed) -> InstanceDraw:
    """Clean labels, features, noisy labels by ``name``, and the outputs ``g(x)``."""
    instance_noise.check_noise(name)
    c = len(prior)
    ss_clean, ss_x, ss_noise = generate.seed_sequence(seed).spawn(3)
    clean = generate.clean_labels(n, prior, ss_clean)
    X = overlap_features(clean, c, separation, ss_x)
    q = overlap_posterior(X, separation, prior)
    noise = instance_noise.generate(name, clean, rate, ss_noise, features=X, posterior=q, classes=c)
    g = np.zeros_like(q)
    own_rows_bad = np.zeros(n, dtype=bool)
    for k in range(c):
        t = theory_instance.rows(name, X, q, k, noise.params)
        g += q[:, [k]] * t
        mine = clean == k
        others = np.delete(t[mine], k, axis=1).max(axis=1)
        own_rows_bad[mine] = t[mine, k] <= others
    return InstanceDraw(clean, noise.noisy, g.astype(np.float32), noise, float(own_rows_bad.mean()))


def predictions(
    name, params, *, classes, separation, prior, sd, mean_sd, fractions_of, n, cleanlab=True
):
    """The theory's predictions for the rule that made the draw (``params``: its parameters);
    ``cleanlab=False`` leaves out cleanlab's."""
    if separation <= 0:
        raise InputError("instance noise needs --separation > 0 (the features it depends on)")
    laws = theory_instance.overlap_laws(
        classes, name, params, separation=separation, prior=prior, sd=sd
    )
    mean = (
        laws
        if mean_sd == sd
        else theory_instance.overlap_laws(
            classes, name, params, separation=separation, prior=prior, sd=mean_sd
        )
    )
    preds = precision.predict_from_laws(
        laws.laws, mean.laws, laws.T_bar, prior, fractions=fractions_of(laws.T_bar), n=n
    )
    preds[CONFIDENT.name] = precision.confident_from_points(laws.points, np.asarray(prior))
    if cleanlab:
        preds[CLEANLAB.name] = precision.cleanlab_from_points(laws.points, np.asarray(prior))
    return preds, laws, mean
