"""The run format: one ``.npz`` that holds what a training run recorded, read and checked.

Any training code can write it (``simulations.training.recorder.Recorder`` does, and
``smallloss train`` writes exactly this); ``smallloss analyse`` reads it. The names are the
contract; other keys are kept and ignored.

=============  ================  ===========================================================
key            shape, dtype      what it holds
=============  ================  ===========================================================
``noisy``      (n,) int          each sample's training label, as observed (already noisy)
``losses``     (n, E) float      each sample's training loss at each of E epochs
``logits``     (n, E, c) float   or: the network's outputs, from which the losses follow
``probs``      (n, c) float      out-of-sample predicted probabilities (cleanlab's input)
``probe``      (n,) bool         probes: trained on, never selected, never scored
``clean``      (n,) int          clean labels, -1 where unknown; a probe's is what the
                                 predictions read, the others only score a selection
``val_logits`` (m, E, c) float   outputs on a clean validation split, each epoch
``val_clean``  (m,) int          its clean labels
``val_noisy``  (m,) int          its observed noisy labels, where annotated (T from pairs)
``T``          (c, c) float      the noise's transition matrix, rows = clean class
``prior``      (c,) float        the clean class prior
``classes``    () int            the number of classes, when nothing else says it
=============  ================  ===========================================================

Every check names the key and the problem in one line (``InputError``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simulations.io import atomic_path, read_npz
from theory.errors import InputError
from theory.validation import check_prior, check_transition

KEYS = (
    "noisy",
    "losses",
    "logits",
    "probs",
    "probe",
    "clean",
    "val_logits",
    "val_clean",
    "val_noisy",
    "T",
    "prior",
    "classes",
)
ROW_SUM_TOLERANCE = 1e-4


@dataclass
class Run:
    """A checked run: arrays as the module's table says, ``losses`` always present."""

    noisy: np.ndarray  # (n,) int64
    losses: np.ndarray  # (n, E) float32
    classes: int
    logits: np.ndarray | None = None  # (n, E, c) float32
    probs: np.ndarray | None = None  # (n, c) float64
    probe: np.ndarray | None = None  # (n,) bool; None: no probes
    clean: np.ndarray | None = None  # (n,) int64, -1 unknown
    val_logits: np.ndarray | None = None
    val_clean: np.ndarray | None = None
    val_noisy: np.ndarray | None = None
    T: np.ndarray | None = None
    prior: np.ndarray | None = None
    extra: dict = field(default_factory=dict)  # every other key, as read

    @property
    def n(self) -> int:
        return int(self.noisy.size)

    @property
    def epochs(self) -> int:
        return int(self.losses.shape[1])

    @property
    def scored(self) -> np.ndarray:
        """(n,) bool: the samples a selection may keep (everything but the probes)."""
        return np.ones(self.n, bool) if self.probe is None else ~self.probe

    @property
    def probes(self) -> np.ndarray:
        return np.zeros(self.n, bool) if self.probe is None else self.probe


def _finite(a: np.ndarray, key: str) -> np.ndarray:
    if not np.issubdtype(a.dtype, np.number) or a.dtype.kind == "c":
        raise InputError(f"run key {key!r}: expected real numbers, got dtype {a.dtype}")
    bad = ~np.isfinite(a)
    if bad.any():
        raise InputError(f"run key {key!r}: {int(bad.sum())} value(s) are NaN or infinite")
    return a


def _labels(a, key: str, n: int | None, missing_ok: bool = False) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 1:
        raise InputError(f"run key {key!r}: expected one label per sample, got shape {a.shape}")
    if n is not None and a.size != n:
        raise InputError(f"run key {key!r}: {a.size} labels for {n} samples")
    if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.number):
        raise InputError(f"run key {key!r}: labels must be integers, got dtype {a.dtype}")
    _finite(a, key)
    if np.any(a != np.round(a)):
        raise InputError(f"run key {key!r}: labels must be whole numbers")
    a = a.astype(np.int64)
    low = -1 if missing_ok else 0
    if a.size and a.min() < low:
        what = "-1 (unknown) or a class" if missing_ok else "a class in [0, c)"
        raise InputError(f"run key {key!r}: label {a.min()} is not {what}")
    return a


def _rows_are_probabilities(a: np.ndarray) -> bool:
    return bool(a.size) and a.min() >= 0 and np.allclose(a.sum(-1), 1.0, atol=ROW_SUM_TOLERANCE)


def _epoch_matrix(a, key: str, n: int) -> np.ndarray:
    a = _finite(np.asarray(a), key)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise InputError(f"run key {key!r}: expected (n, epochs), got shape {a.shape}")
    if a.shape[0] != n:
        hint = " (it looks like (epochs, n): transpose it)" if a.shape[1] == n else ""
        raise InputError(
            f"run key {key!r}: shape {a.shape} has {a.shape[0]} rows for {n} samples{hint}"
        )
    if (a < 0).any():
        raise InputError(
            f"run key {key!r}: losses are >= 0 (cross-entropy); negative values "
            "look like log-probabilities: pass -log p"
        )
    return a.astype(np.float32)


def _logits(a, key: str, n: int, classes: int | None) -> np.ndarray:
    a = _finite(np.asarray(a), key)
    if a.ndim == 2:
        a = a[:, None, :]  # one epoch
    if a.ndim != 3:
        raise InputError(f"run key {key!r}: expected (samples, epochs, classes), got {a.shape}")
    if a.shape[0] != n:
        hint = " (the samples go first)" if n in a.shape[1:] else ""
        raise InputError(f"run key {key!r}: {a.shape[0]} rows for {n} samples{hint}")
    if classes is not None and a.shape[2] != classes:
        raise InputError(f"run key {key!r}: {a.shape[2]} classes, but T has {classes}")
    if _rows_are_probabilities(a):
        raise InputError(
            f"run key {key!r}: every row sums to 1: these are probabilities; pass "
            "the network's outputs before the softmax"
        )
    return a.astype(np.float32)


def _probs(a, n: int, classes: int) -> np.ndarray:
    a = _finite(np.asarray(a, dtype=np.float64), "probs")
    if a.shape != (n, classes):
        raise InputError(f"run key 'probs': expected shape ({n}, {classes}), got {a.shape}")
    if not _rows_are_probabilities(a):
        looks = " (negative values: logits? apply a softmax)" if (a < 0).any() else ""
        raise InputError(f"run key 'probs': each row must be probabilities summing to 1{looks}")
    return a


def from_arrays(arrays: dict, where: str = "run") -> Run:
    """A checked ``Run`` from a dict of arrays (the module's keys; others go to ``extra``)."""
    a = {k: v for k, v in arrays.items() if v is not None}
    if "noisy" not in a:
        raise InputError(f"{where} has no key 'noisy' (the training labels)")
    noisy = _labels(a.pop("noisy"), "noisy", None)
    n = noisy.size
    if n < 2:
        raise InputError("run key 'noisy': fewer than 2 samples")
    T = prior = None
    if "T" in a:
        T = check_transition(
            _finite(np.asarray(a.pop("T"), dtype=np.float64), "T"), name="run key 'T'"
        )
    c = None if T is None else len(T)
    logits = losses = None
    if "logits" in a:
        logits = _logits(a.pop("logits"), "logits", n, c)
        c = logits.shape[2] if c is None else c
    if "losses" in a:
        losses = _epoch_matrix(a.pop("losses"), "losses", n)
    if logits is None and losses is None:
        raise InputError(
            f"{where} has neither 'losses' (n, epochs) nor 'logits' (n, epochs, classes)"
        )
    if "probs" in a and c is None:
        c = int(np.shape(a["probs"])[-1]) if np.ndim(a["probs"]) == 2 else None
    if "classes" in a:
        given = int(np.asarray(a.pop("classes")))
        if c is not None and given != c:
            raise InputError(f"run key 'classes': {given}, but the outputs have {c}")
        c = given
    clean = _labels(a.pop("clean"), "clean", n, missing_ok=True) if "clean" in a else None
    val_clean = _labels(a.pop("val_clean"), "val_clean", None) if "val_clean" in a else None
    if c is None:
        c = int(max(x.max() for x in (noisy, clean, val_clean) if x is not None)) + 1
    for key, labels in (("noisy", noisy), ("clean", clean), ("val_clean", val_clean)):
        if labels is not None and labels.size and labels.max() >= c:
            raise InputError(f"run key {key!r}: label {labels.max()} is outside [0, {c})")
    if logits is not None:
        from_logits = cross_entropy(logits, noisy)
        if losses is not None and losses.shape[1] != logits.shape[1]:
            raise InputError(
                f"run key 'losses': {losses.shape[1]} epochs, 'logits' {logits.shape[1]}"
            )
        losses = from_logits if losses is None else losses
    probs = _probs(a.pop("probs"), n, c) if "probs" in a else None
    probe = None
    if "probe" in a:
        probe = np.asarray(a.pop("probe"))
        if (
            probe.shape != (n,)
            or probe.dtype.kind not in "biuf"
            or not np.isin(probe, (0, 1)).all()
        ):
            raise InputError(
                f"run key 'probe': expected {n} booleans, got {probe.dtype} {probe.shape}"
            )
        probe = probe.astype(bool)
        if probe.all():
            raise InputError("run key 'probe': every sample is a probe; nothing is left to select")
        if clean is None or (clean[probe] < 0).any():
            raise InputError("run key 'probe': every probe needs its clean label in 'clean'")
        if not probe.any():
            probe = None
    val_logits = None
    if "val_logits" in a or val_clean is not None:
        if "val_logits" not in a or val_clean is None:
            raise InputError("run keys 'val_logits' and 'val_clean' go together")
        val_logits = _logits(a.pop("val_logits"), "val_logits", val_clean.size, c)
        if val_logits.shape[1] != losses.shape[1]:
            raise InputError(
                f"run key 'val_logits': {val_logits.shape[1]} epochs, the training "
                f"losses {losses.shape[1]}"
            )
    val_noisy = None
    if "val_noisy" in a:
        if val_clean is None:
            raise InputError("run key 'val_noisy' needs 'val_clean'")
        val_noisy = _labels(a.pop("val_noisy"), "val_noisy", val_clean.size)
    if "prior" in a:
        prior = check_prior(_finite(np.asarray(a.pop("prior"), dtype=np.float64), "prior"), c)
    return Run(
        noisy=noisy,
        losses=losses,
        classes=int(c),
        logits=logits,
        probs=probs,
        probe=probe,
        clean=clean,
        val_logits=val_logits,
        val_clean=val_clean,
        val_noisy=val_noisy,
        T=T,
        prior=prior,
        extra=a,
    )


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(n, E) float32: ``-log softmax(logits)[label]`` at every epoch, from (n, E, c) logits."""
    from scipy.special import logsumexp

    z = logits.astype(np.float64)
    picked = np.take_along_axis(z, labels[:, None, None].astype(np.int64), axis=2)[..., 0]
    return (logsumexp(z, axis=2) - picked).astype(np.float32)


def read(path) -> Run:
    """A run file, checked (``from_arrays``)."""
    return from_arrays(read_npz(path, "run file"), where=str(Path(path)))


def write(path, arrays: dict, settings: dict | None = None) -> None:
    """The run format, written atomically; ``settings`` (JSON) records what made it."""
    arrays = {k: v for k, v in arrays.items() if v is not None}
    if settings is not None:
        arrays["settings"] = np.array(json.dumps(settings, default=str))
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
