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

Size: ``read`` maps each large member of an uncompressed ``.npz`` (``np.savez``) read-only
from the file instead of copying it into memory, and every check and every loss computed
from ``logits`` walks the arrays once, a block at a time (``io.row_blocks``), dropping each
block's pages once read: a run whose ``losses`` or ``logits`` take 400 MB is read holding
one block of them (32 MiB) besides what is computed from them. A compressed
``.npz`` (``np.savez_compressed``, which ``write`` uses for runs under 64 MiB) cannot be
mapped: its members are read into memory. Write large runs with ``np.savez``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numba as nb
import numpy as np

from simulations.io import atomic_path, drop_pages, read_npz, row_blocks
from simulations.selection.scores import kernel_takes
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
_RTOL = 1e-5  # np.allclose's default, which _rows_are_probabilities applies to a sum of 1
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


def _float32(a: np.ndarray, key: str, big: float | None = None) -> np.ndarray:
    """``a`` (finite) as float32, refused where the cast would turn a value into infinity;
    ``big``, the largest magnitude where a pass already found it. Float32 stays as it is
    (a mapped array stays mapped)."""
    if big is None and a.size and a.dtype != np.float32:
        big = float(np.abs(a).max())
    if big is not None and big > FLOAT32_MAX:
        raise InputError(
            f"run key {key!r}: value {big:.3g} is beyond float32's range ({FLOAT32_MAX:.3g}); "
            "rescale it"
        )
    return a.astype(np.float32, copy=False)


def _real(a: np.ndarray) -> bool:
    """Whether the one-pass checks take ``a`` (other dtypes take the NumPy checks)."""
    return kernel_takes(a)


def _scan(a: np.ndarray, key: str) -> tuple[float, float, float]:
    """``_finite``'s check in one pass without a mask of ``a``'s size: (smallest, largest,
    largest magnitude) of a real array whose values are all finite."""
    bad, low, high, big = _value_stats_pass(a)
    if bad:
        raise InputError(f"run key {key!r}: {bad} value(s) are NaN or infinite")
    return low, high, big


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


def _epoch_matrix(a, key: str, n: int) -> tuple[np.ndarray, float | None]:
    """The checked (n, E) float32 matrix, and its largest value where the check found it."""
    a = np.asarray(a)
    if _real(a) and a.ndim in (1, 2) and a.shape[0] == n and a.size:
        # the shape is right: one pass checks every value (a run's losses can be larger
        # than the memory a mask or a copy of them would take)
        low, high, big = _scan(a, key)
        if a.ndim == 1:
            a = a[:, None]
        if low < 0:
            _negative(key)
        return _float32(a, key, big), float(np.float32(high))  # the max of the cast
    a = _finite(a, key)
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
        _negative(key)
    return _float32(a, key), None


def _negative(key: str):
    raise InputError(
        f"run key {key!r}: losses are >= 0 (cross-entropy); negative values "
        "look like log-probabilities: pass -log p"
    )


def _look_like_probabilities(losses: np.ndarray, classes: int, top: float | None = None) -> bool:
    """Whether ``losses`` are the label's probabilities p rather than -log p.

    Cross-entropy starts near log(c), above 1 for c >= 3, and the mislabelled samples stay
    above it until they are memorised, so real losses with every value <= 1 mean a network
    that fitted every sample from the first recorded epoch; their median is then well below
    0.5 (p > 0.6). Probabilities of the label are <= 1 by construction and, once the network
    fits the majority of clean samples, their median is above 0.5. With 2 classes log(c) is
    0.69, so a barely trained binary network could have every loss <= 1 with a median near
    0.69: there the median must pass 0.75 (p < 0.47 for most samples, below chance).
    """
    if not losses.size or (losses.max() if top is None else top) > 1:
        return False
    return _median_above(losses, 0.5 if classes >= 3 else 0.75)


def _logits(a, key: str, n: int) -> np.ndarray:
    a = np.asarray(a)
    if _real(a) and a.ndim in (2, 3) and a.shape[0] == n and 0 not in a.shape[1:]:
        # the shape is right: one pass for the values, one for the rows' sums, no copy
        low, _, big = _scan(a, key)
        if a.ndim == 2:
            a = a[:, None, :]
        if low >= 0 and _rows_sum_to_one(a, ROW_SUM_TOLERANCE + _RTOL):
            _probabilities(key)
        return _float32(a, key, big)
    a = _finite(a, key)
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
        _probabilities(key)
    return _float32(a, key)


def _probabilities(key: str):
    raise InputError(
        f"run key {key!r}: every row sums to 1: these are probabilities; pass "
        "the network's outputs before the softmax"
    )


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
    logits = losses = top = None
    if "logits" in a:
        logits = _logits(a.pop("logits"), "logits", n)
    if "losses" in a:
        losses, top = _epoch_matrix(a.pop("losses"), "losses", n)
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
    if losses is not None and _look_like_probabilities(losses, c, top):
        raise InputError(
            "run key 'losses': every value is in [0, 1] and most are above "
            f"{0.5 if c >= 3 else 0.75}: these look like probabilities of the label, not "
            "losses; pass -log p"
        )
    if logits is not None:
        from_logits, top = _cross_entropy_pass(logits, noisy)
        if top > FLOAT32_MAX:
            raise InputError(
                f"run key 'logits': the losses they give reach {top:.3g}, "
                f"beyond float32's range ({FLOAT32_MAX:.3g}); rescale them"
            )
        if losses is not None and losses.shape[1] != logits.shape[1]:
            raise InputError(
                f"run key 'losses': {losses.shape[1]} epochs, 'logits' {logits.shape[1]}"
            )
        losses = from_logits if losses is None else losses
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
    logits = np.asarray(logits)
    if logits.ndim == 3 and kernel_takes(logits) and np.isfinite(logits).all():
        return _cross_entropy_pass(logits, np.asarray(labels))[0]
    return _cross_entropy64(logits, labels).astype(np.float32)


def read(path, mmap: bool = True) -> Run:
    """A run file, checked (``from_arrays``). With ``mmap`` (the default), the large arrays
    of an uncompressed ``.npz`` (``np.savez``) are read-only maps of the file
    (``simulations.io.read_npz``), so ``losses`` and ``logits`` are never copied whole into
    memory; those of a compressed one (``np.savez_compressed``, ``write``) are read into it.
    """
    return from_arrays(read_npz(path, "run file", mmap=mmap), where=str(Path(path)))


# Above this many bytes of arrays a run is stored uncompressed, so that ``read`` maps it
# instead of inflating it into memory; below it, compression saves disk for nothing.
STORE_ABOVE_BYTES = 1 << 26


def write(path, arrays: dict, settings: dict | None = None) -> None:
    """The run format, written atomically; ``settings`` (JSON) records what made it.
    Compressed, unless the arrays pass ``STORE_ABOVE_BYTES`` (then mappable by ``read``)."""
    arrays = {k: v for k, v in arrays.items() if v is not None}
    if settings is not None:
        arrays["settings"] = np.array(json.dumps(settings, default=str))
    total = sum(np.asarray(v).nbytes for v in arrays.values())
    save = np.savez if total > STORE_ABOVE_BYTES else np.savez_compressed
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        save(f, **arrays)


# --- one pass over a run's arrays ----------------------------------------------------------
# A run's arrays can be larger than memory allows to copy (a CIFAR run's logits are 400 MB,
# and ``read`` maps them from the file), so every check and every loss that reads all of
# them walks the samples once, a block at a time, and allocates only what it returns: no
# boolean mask of the array's size, no float64 copy. Each result equals the NumPy
# expression it replaces (``tests/selection/test_at_size.py``): row sums follow NumPy's
# pairwise summation and the losses ``scipy.special.logsumexp`` step by step.


@nb.njit(parallel=True, cache=True)
def _value_stats_kernel(a, bad, low, high, big):
    """Per row of a (n, m) array: non-finite values, the smallest and largest finite value,
    and the largest magnitude."""
    n, m = a.shape
    for i in nb.prange(n):
        count, lo, hi, mag = 0, np.inf, -np.inf, 0.0
        for k in range(m):
            x = np.float64(a[i, k])
            if not np.isfinite(x):
                count += 1
                continue
            lo = min(lo, x)
            hi = max(hi, x)
            mag = max(mag, abs(x))
        bad[i], low[i], high[i], big[i] = count, lo, hi, mag


def _value_stats_pass(a: np.ndarray) -> tuple[int, float, float, float]:
    """(non-finite values, smallest finite, largest finite, largest finite magnitude) of a
    real array, in one pass; the extremes are inf/-inf/0 where no value is finite."""
    a2 = a.reshape(a.shape[0], -1) if a.ndim else a.reshape(1, 1)
    n = a2.shape[0]
    if not a2.size:
        return 0, np.inf, -np.inf, 0.0
    bad = np.empty(n, np.int64)
    low, high, big = np.empty(n), np.empty(n), np.empty(n)
    for i, j in row_blocks(a):
        _value_stats_kernel(a2[i:j], bad[i:j], low[i:j], high[i:j], big[i:j])
    return int(bad.sum()), float(low.min()), float(high.max()), float(big.max())


@nb.njit(inline="always")
def _block_sum(v, start, m):
    """NumPy's ``pairwise_sum`` of at most 128 values: eight accumulators."""
    if m < 8:
        res = 0.0
        for k in range(start, start + m):
            res += v[k]
        return res
    r0, r1, r2, r3 = v[start], v[start + 1], v[start + 2], v[start + 3]
    r4, r5, r6, r7 = v[start + 4], v[start + 5], v[start + 6], v[start + 7]
    k = 8
    while k < m - (m % 8):
        i = start + k
        r0 += v[i]
        r1 += v[i + 1]
        r2 += v[i + 2]
        r3 += v[i + 3]
        r4 += v[i + 4]
        r5 += v[i + 5]
        r6 += v[i + 6]
        r7 += v[i + 7]
        k += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while k < m:
        res += v[start + k]
        k += 1
    return res


@nb.njit(inline="always")
def _row_sum(v, m):
    """NumPy's sum of the contiguous float64 ``v[:m]`` (its ``pairwise_sum``: blocks of at
    most 128 summed by eight accumulators, halves above), so a row sum here has NumPy's
    bits. The halving is walked with an explicit stack: a recursive function inside a
    cached kernel crashes Numba's cache loader."""
    if m <= 128:
        return _block_sum(v, 0, m)
    starts = np.empty(64, np.int64)
    sizes = np.empty(64, np.int64)
    state = np.zeros(64, np.int64)
    partial = np.empty(64)
    top, done = 0, 0
    starts[0], sizes[0], state[0] = 0, m, 0
    while top >= 0:
        s, size = starts[top], sizes[top]
        half = size // 2
        half -= half % 8
        if size <= 128:
            partial[done] = _block_sum(v, s, size)
            done += 1
            top -= 1
        elif state[top] == 0:
            state[top] = 1
            top += 1
            starts[top], sizes[top], state[top] = s, half, 0
        elif state[top] == 1:
            state[top] = 2
            top += 1
            starts[top], sizes[top], state[top] = s + half, size - half, 0
        else:
            done -= 1
            partial[done - 1] = partial[done - 1] + partial[done]
            top -= 1
    return partial[0]


@nb.njit(parallel=True, cache=True)
def _row_sums_off(a, tol, off):
    """Per sample: whether every (sample, epoch) row of the (n, E, c) outputs sums to 1
    within ``tol`` (in float64), and the smallest value."""
    n, E, c = a.shape
    for i in nb.prange(n):
        v = np.empty(c)
        ok = True
        for e in range(E):
            for k in range(c):
                v[k] = np.float64(a[i, e, k])
            if not abs(_row_sum(v, c) - 1.0) <= tol:
                ok = False
                break
        off[i] = not ok


def _rows_sum_to_one(a: np.ndarray, tol: float) -> bool:
    """Whether every row along the last axis of the finite (n, E, c) ``a`` sums to 1 within
    ``tol`` (``np.allclose(a.sum(-1, dtype=float64), 1, atol)`` with its rtol folded in)."""
    off = np.empty(a.shape[0], np.bool_)
    for i, j in row_blocks(a):
        _row_sums_off(a[i:j], tol, off[i:j])
        if off[i:j].any():
            drop_pages(a, i, j)
            return False
    return True


@nb.njit(parallel=True, cache=True)
def _cross_entropy_kernel(logits, labels, out, top):
    n, E, c = logits.shape
    for i in nb.prange(n):
        y = labels[i]
        v = np.empty(c)
        worst = -np.inf
        for e in range(E):
            mx = -np.inf
            for k in range(c):
                v[k] = np.float64(logits[i, e, k])
                mx = max(mx, v[k])
            # logsumexp: the maxima are taken out of the sum and counted (m), the rest
            # summed as exp(z - max), then log1p(s / m) + log(m) + max
            m = 0
            for k in range(c):
                if v[k] == mx:
                    m += 1
                    v[k] = 0.0
                else:
                    v[k] = np.exp(v[k] - mx)
            s = _row_sum(v, c)
            if s != 0.0:
                s = s / m
            loss = np.log1p(s) + np.log(np.float64(m)) + mx - np.float64(logits[i, e, y])
            out[i, e] = np.float32(loss)
            worst = max(worst, loss)
        top[i] = worst


def _cross_entropy_pass(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, float]:
    """(n, E) float32 ``-log softmax(logits)[label]`` of (n, E, c) finite logits, computed in
    float64, and the largest loss in float64 (above float32's range the float32 is inf)."""
    n, E, _ = logits.shape
    out = np.empty((n, E), np.float32)
    top = np.empty(n)
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    if logits.size:
        for i, j in row_blocks(logits):
            _cross_entropy_kernel(logits[i:j], labels[i:j], out[i:j], top[i:j])
    return out, float(top.max()) if n and E else -np.inf


@nb.njit(cache=True)
def _around(a, t):
    """How many values exceed t, the largest value at or below t and the smallest above."""
    above, below_max, above_min = 0, -np.inf, np.inf
    flat = a.ravel()
    for k in range(flat.size):
        x = flat[k]
        if x > t:
            above += 1
            if x < above_min:
                above_min = x
        elif x > below_max:
            below_max = x
    return above, below_max, above_min


def _median_above(a: np.ndarray, t: float) -> bool:
    """``float(np.median(a)) > t`` for a non-empty finite float32 array, without sorting a
    copy: the count above t says which side the middle values fall on; where they straddle
    t, the median is their float32 mean, as ``np.median`` computes it."""
    n = a.size
    above, below_max, above_min = 0, -np.inf, np.inf
    a = np.ascontiguousarray(a)
    for i, j in row_blocks(a):
        k, b, m = _around(a[i:j], t)
        above, below_max, above_min = above + k, max(below_max, b), min(above_min, m)
    if n % 2:
        return above >= (n + 1) // 2
    if above != n // 2:
        return above > n // 2
    mid = (np.float32(below_max) + np.float32(above_min)) / np.float32(2)
    return float(mid) > t
