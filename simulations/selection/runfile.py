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

The number of classes c is fixed by ``T``, ``logits``, ``val_logits``, ``probs``, ``prior``
or ``classes`` (all that are given must agree); with none of them it is one more than the
largest of the ``noisy`` labels, the probes' ``clean`` labels and ``val_clean``/``val_noisy``.
A scored sample's clean label never widens c: it only scores a selection, so one >= c is an
error. Every label must lie in [0, c), and c is at most ``MAX_CLASSES`` (100,000). A class
may have no noisy label (``check_every_class_observed`` refuses that where it matters).

Numbers must be finite and within float32's range (the losses and logits are kept in
float32); ``prior`` must sum to 1 within ``PRIOR_SUM_TOLERANCE``; ``losses`` that look like
the label's probabilities instead of ``-log p`` are refused.

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
# A prior stored in float32 is off by at most ~6e-8 in its sum; anything past 1e-6 is not
# rounding but counts or a wrong vector, which renormalising would hide.
PRIOR_SUM_TOLERANCE = 1e-6
# Far above any labelled data set (ImageNet-21k has 21,841 classes), far below what a stray
# label such as 10**9 would make every per-class array allocate.
MAX_CLASSES = 100_000
FLOAT32_MAX = float(np.finfo(np.float32).max)
# The keys that fix the number of classes (by their shape; ``classes`` by its value), in the
# order they are checked: a key that disagrees with one before it is the one named.
CLASS_SOURCES = ("T", "logits", "classes", "val_logits", "probs", "prior")


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
    classes_from: str = ""  # the key that fixed ``classes``; "" where the labels did

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


def _float32(a: np.ndarray, key: str) -> np.ndarray:
    """``a`` (finite) as float32, refused where the cast would turn a value into infinity."""
    if a.size and np.abs(a).max() > FLOAT32_MAX:
        big = float(np.abs(a).max())
        raise InputError(
            f"run key {key!r}: value {big:.3g} is beyond float32's range ({FLOAT32_MAX:.3g}); "
            "rescale it"
        )
    return a.astype(np.float32)


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
    # Before the cast: a float label past int64 would wrap, and the class count is sized
    # from the labels, so a stray 10**9 must stop here, not in a 10**9-long bincount.
    if a.size and a.max() >= MAX_CLASSES:
        raise InputError(
            f"run key {key!r}: label {int(a.max())} is implausibly large (a run has at most "
            f"{MAX_CLASSES:,} classes)"
        )
    a = a.astype(np.int64)
    low = -1 if missing_ok else 0
    if a.size and a.min() < low:
        what = "-1 (unknown) or a class" if missing_ok else "a class in [0, c)"
        raise InputError(f"run key {key!r}: label {a.min()} is not {what}")
    return a


def _classes(value) -> int:
    a = np.asarray(value)
    if a.ndim != 0:
        raise InputError(f"run key 'classes': expected one integer, got shape {a.shape}")
    if a.dtype == np.bool_ or a.dtype.kind not in "iuf":
        raise InputError(f"run key 'classes': expected an integer, got {a.item()!r} ({a.dtype})")
    v = float(a)
    if not np.isfinite(v) or v != round(v):
        raise InputError(f"run key 'classes': expected a whole number of classes, got {v:g}")
    if v < 2:
        raise InputError(f"run key 'classes': {v:g} classes; a run needs at least 2")
    if v > MAX_CLASSES:
        raise InputError(
            f"run key 'classes': {v:.0f} classes is above the maximum of {MAX_CLASSES:,}"
        )
    return int(v)


def _class_count(a: dict) -> tuple[int | None, str]:
    """The number of classes that ``classes`` and the shapes of ``T``, the outputs and
    ``prior`` fix, all agreeing, and the first key that fixed it; ``(None, "")`` where none
    of them is given. ``classes`` is taken out of ``a``."""
    c, source = None, ""
    for key in CLASS_SOURCES:
        if key not in a:
            continue
        if key == "classes":
            given = _classes(a.pop("classes"))
            if c is not None and given != c:
                raise InputError(f"run key 'classes': {given}, but {source!r} has {c}")
            c, source = given, source or "classes"
            continue
        shape = np.shape(a[key])
        if key == "prior":
            k = shape[0] if len(shape) == 1 else None
        elif key in ("logits", "val_logits"):
            k = shape[-1] if len(shape) in (2, 3) else None
        elif key == "T":
            k = shape[0] if len(shape) == 2 and shape[0] == shape[1] else None
        else:
            k = shape[-1] if len(shape) == 2 else None
        if k is None:
            continue  # a wrong shape: the key's own check names it
        if k > MAX_CLASSES:
            raise InputError(
                f"run key {key!r}: {k} classes is above the maximum of {MAX_CLASSES:,}"
            )
        if c is None:
            c, source = k, key
        elif k != c:
            raise InputError(
                f"run key {key!r}: shape {shape} gives {k} classes, but {source!r} has {c}"
            )
    return c, source


def _rows_are_probabilities(a: np.ndarray) -> bool:
    # The sum in float64: float32 logits near their range's end would overflow it.
    return (
        bool(a.size)
        and a.min() >= 0
        and np.allclose(a.sum(-1, dtype=np.float64), 1.0, atol=ROW_SUM_TOLERANCE)
    )


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
    if a.shape[1] == 0:
        raise InputError(f"run key {key!r}: no epochs (shape {a.shape})")
    if (a < 0).any():
        raise InputError(
            f"run key {key!r}: losses are >= 0 (cross-entropy); negative values "
            "look like log-probabilities: pass -log p"
        )
    return _float32(a, key)


def _look_like_probabilities(losses: np.ndarray, classes: int) -> bool:
    """Whether ``losses`` are the label's probabilities p rather than -log p.

    Cross-entropy starts near log(c), above 1 for c >= 3, and the mislabelled samples stay
    above it until they are memorised, so real losses with every value <= 1 mean a network
    that fitted every sample from the first recorded epoch; their median is then well below
    0.5 (p > 0.6). Probabilities of the label are <= 1 by construction and, once the network
    fits the majority of clean samples, their median is above 0.5. With 2 classes log(c) is
    0.69, so a barely trained binary network could have every loss <= 1 with a median near
    0.69: there the median must pass 0.75 (p < 0.47 for most samples, below chance).
    """
    if not losses.size or losses.max() > 1:
        return False
    return float(np.median(losses)) > (0.5 if classes >= 3 else 0.75)


def _logits(a, key: str, n: int) -> np.ndarray:
    a = _finite(np.asarray(a), key)
    if a.ndim == 2:
        a = a[:, None, :]  # one epoch
    if a.ndim != 3:
        raise InputError(f"run key {key!r}: expected (samples, epochs, classes), got {a.shape}")
    if a.shape[0] != n:
        hint = " (the samples go first)" if n in a.shape[1:] else ""
        raise InputError(f"run key {key!r}: {a.shape[0]} rows for {n} samples{hint}")
    if 0 in a.shape[1:]:
        raise InputError(f"run key {key!r}: no epochs or no classes (shape {a.shape})")
    if _rows_are_probabilities(a):
        raise InputError(
            f"run key {key!r}: every row sums to 1: these are probabilities; pass "
            "the network's outputs before the softmax"
        )
    return _float32(a, key)


def _probs(a, n: int, classes: int) -> np.ndarray:
    a = _finite(np.asarray(a), "probs").astype(np.float64)
    if a.shape != (n, classes):
        raise InputError(f"run key 'probs': expected shape ({n}, {classes}), got {a.shape}")
    if not _rows_are_probabilities(a):
        looks = " (negative values: logits? apply a softmax)" if (a < 0).any() else ""
        raise InputError(f"run key 'probs': each row must be probabilities summing to 1{looks}")
    return a


def _prior(a, classes: int) -> np.ndarray:
    raw = _finite(np.asarray(a), "prior").astype(np.float64)
    prior = check_prior(raw, classes, name="run key 'prior'")
    total = float(raw.sum())
    if abs(total - 1.0) > PRIOR_SUM_TOLERANCE:
        raise InputError(
            f"run key 'prior': sums to {total:.6g}, not 1 (a probability per class; divide "
            "counts by their total)"
        )
    return prior


def _within(labels: np.ndarray, key: str, c: int, source: str) -> None:
    if not labels.size or labels.max() < c:
        return
    top = int(labels.max())
    by = f" that run key {source!r} fixes" if source else ""
    hint = ""
    if top == c and labels[labels >= 0].min() == 1:
        hint = " (the labels look 1-based: subtract 1)"
    raise InputError(f"run key {key!r}: label {top} is outside [0, {c}){by}{hint}")


def from_arrays(arrays: dict, where: str = "run") -> Run:
    """A checked ``Run`` from a dict of arrays (the module's keys; others go to ``extra``)."""
    a = {k: v for k, v in arrays.items() if v is not None}
    if "noisy" not in a:
        raise InputError(f"{where} has no key 'noisy' (the training labels)")
    noisy = _labels(a.pop("noisy"), "noisy", None)
    n = noisy.size
    if n < 2:
        raise InputError("run key 'noisy': fewer than 2 samples")
    c, source = _class_count(a)
    T = None
    if "T" in a:
        T = check_transition(
            _finite(np.asarray(a.pop("T")), "T").astype(np.float64), name="run key 'T'"
        )
    logits = losses = None
    if "logits" in a:
        logits = _logits(a.pop("logits"), "logits", n)
    if "losses" in a:
        losses = _epoch_matrix(a.pop("losses"), "losses", n)
    if logits is None and losses is None:
        raise InputError(
            f"{where} has neither 'losses' (n, epochs) nor 'logits' (n, epochs, classes)"
        )
    clean = _labels(a.pop("clean"), "clean", n, missing_ok=True) if "clean" in a else None
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
    val_clean = _labels(a.pop("val_clean"), "val_clean", None) if "val_clean" in a else None
    val_noisy = None
    if "val_noisy" in a:
        if val_clean is None:
            raise InputError("run key 'val_noisy' needs 'val_clean'")
        val_noisy = _labels(a.pop("val_noisy"), "val_noisy", val_clean.size)
    # Labels that the predictions read (the noisy ones, the probes' clean ones, the
    # validation split's) may size the classes; a scored sample's clean label only scores
    # a selection, so it must not change the computation by adding a class.
    sizing = [("noisy", noisy), ("val_clean", val_clean), ("val_noisy", val_noisy)]
    if probe is not None:
        sizing.append(("clean", clean[probe]))
    if c is None:
        key, top = max(
            ((k, int(x.max())) for k, x in sizing if x is not None and x.size),
            key=lambda kv: kv[1],
        )
        c = top + 1
        if c < 2:
            raise InputError(
                f"run key {key!r}: every label is 0; give 'classes' for a run of one class"
            )
    for key, labels in sizing:
        if labels is not None:
            _within(labels, key, c, source)
    if clean is not None:
        if source:
            _within(clean, "clean", c, source)
        elif clean.max() >= c:
            raise InputError(
                f"run key 'clean': label {int(clean.max())} of a scored sample is outside "
                f"[0, {c}), the classes of the noisy, probe and validation labels (a clean "
                "label only scores a selection: it cannot add a class)"
            )
    if losses is not None and _look_like_probabilities(losses, c):
        raise InputError(
            "run key 'losses': every value is in [0, 1] and most are above "
            f"{0.5 if c >= 3 else 0.75}: these look like probabilities of the label, not "
            "losses; pass -log p"
        )
    if logits is not None:
        from_logits = _cross_entropy64(logits, noisy)
        if from_logits.max() > FLOAT32_MAX:
            raise InputError(
                f"run key 'logits': the losses they give reach {from_logits.max():.3g}, "
                f"beyond float32's range ({FLOAT32_MAX:.3g}); rescale them"
            )
        if losses is not None and losses.shape[1] != logits.shape[1]:
            raise InputError(
                f"run key 'losses': {losses.shape[1]} epochs, 'logits' {logits.shape[1]}"
            )
        losses = from_logits.astype(np.float32) if losses is None else losses
    probs = _probs(a.pop("probs"), n, c) if "probs" in a else None
    val_logits = None
    if "val_logits" in a or val_clean is not None:
        if "val_logits" not in a or val_clean is None:
            raise InputError("run keys 'val_logits' and 'val_clean' go together")
        val_logits = _logits(a.pop("val_logits"), "val_logits", val_clean.size)
        if val_logits.shape[1] != losses.shape[1]:
            raise InputError(
                f"run key 'val_logits': {val_logits.shape[1]} epochs, the training "
                f"losses {losses.shape[1]}"
            )
    prior = _prior(a.pop("prior"), c) if "prior" in a else None
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
        classes_from=source,
    )


def check_every_class_observed(run: Run) -> None:
    """InputError naming ``noisy`` (and the key that fixed the class count) where a class in
    [0, c) has no noisy label among the training samples and probes.

    ``read`` allows an empty class; what needs every class seen (a per-class target, say)
    calls this. An empty class 0 with labels up to c - 1 is the mark of 1-based labels, an
    empty top class that of a ``classes`` key larger than the labels.
    """
    counts = np.bincount(run.noisy, minlength=run.classes)
    empty = np.flatnonzero(counts == 0)
    if not empty.size:
        return
    shown = ", ".join(str(int(k)) for k in empty[:5]) + (", ..." if empty.size > 5 else "")
    by = f" that run key {run.classes_from!r} fixes" if run.classes_from else ""
    low, top = int(run.noisy.min()), int(run.noisy.max())
    if low == 1 and list(empty) == [0]:
        hint = f" (the labels look 1-based: they run 1..{top}; subtract 1)"
    else:
        hint = f" (the labels run {low}..{top})"
    raise InputError(
        f"run key 'noisy': no training sample or probe has the noisy label of class(es) "
        f"{shown} of the {run.classes}{by}{hint}"
    )


def _cross_entropy64(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    from scipy.special import logsumexp

    # logsumexp subtracts each row's maximum first, so logits of any size within float32
    # give finite losses (a plain softmax overflows from about 89 up).
    z = logits.astype(np.float64)
    picked = np.take_along_axis(z, labels[:, None, None].astype(np.int64), axis=2)[..., 0]
    return logsumexp(z, axis=2) - picked


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(n, E) float32: ``-log softmax(logits)[label]`` at every epoch, from (n, E, c) logits."""
    return _cross_entropy64(logits, labels).astype(np.float32)


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
