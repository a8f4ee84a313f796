"""Real data sets from local files: digits (ships with scikit-learn), npz, CIFAR-10, MNIST.

Every loader returns a ``Dataset`` of numpy arrays; splitting and noise come after. No
loader downloads anything.
"""

from __future__ import annotations

import gzip
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulations.io import read_npz
from theory.errors import InputError
from theory.validation import check_labels

CIFAR10_TRAIN = [f"data_batch_{k}" for k in range(1, 6)]
CIFAR10_TEST = "test_batch"
MNIST_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}


@dataclass
class Dataset:
    name: str
    X: np.ndarray  # float32, (n, d) or (n, channels, h, w)
    y: np.ndarray  # int64 clean labels
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    scaling: str = "none"  # what the loader did to the raw values, for the record
    standardise: bool = False  # the run standardises with training-split statistics
    # labels as observed, already noisy (human annotations, web labels): the loop then injects
    # nothing; ``y`` is then -1 where the clean label is unknown
    y_noisy: np.ndarray | None = None

    @property
    def classes(self) -> int:
        tops = [self.y.max()] + [a.max() for a in (self.y_test, self.y_noisy) if a is not None]
        return int(max(tops)) + 1

    @property
    def is_image(self) -> bool:
        return self.X.ndim == 4


SCALING_RULE = (
    "integer images (uint8, uint16) are divided by their dtype's maximum, to [0, 1], as "
    "torchvision's ToTensor does; boolean features become 0/1; any other features (floats, "
    "other integers) are standardised per feature (per channel for images) with the mean and "
    "standard deviation of the training split only; digits are divided by 16, their range; "
    "MNIST and CIFAR-10 get their usual per-channel normalisation"
)


def load(spec: str, scale: bool = True) -> Dataset:
    """``digits``, ``fashion-mnist[:DIR]``, ``npz:PATH``, ``cifar10:DIR`` or ``mnist:DIR``;
    ``scale=False`` keeps the raw
    values (as float32). See ``SCALING_RULE`` for what ``scale=True`` does."""
    kind, _, path = spec.partition(":")
    if kind == "digits" and not path:
        return load_digits(scale)
    if kind == "fashion-mnist":
        folder = Path(path) if path else FASHION_MNIST_DIR
        if not folder.is_dir():
            raise InputError(
                f"Fashion-MNIST is not in {folder}: install it with `apt-get install "
                "dataset-fashion-mnist` (Debian), or name its folder: --dataset fashion-mnist:DIR"
            )
        return load_mnist(folder, scale, name="fashion-mnist", stats=FASHION_MNIST_STATS)
    if kind in ("npz", "cifar10", "mnist") and path:
        loader = {"npz": load_npz, "cifar10": load_cifar10, "mnist": load_mnist}[kind]
        return loader(Path(path), scale)
    raise InputError(
        f"unknown data set {spec!r}; use digits, fashion-mnist, npz:PATH, cifar10:DIR or mnist:DIR"
    )


def load_digits(scale: bool = True) -> Dataset:
    """scikit-learn's 8x8 digits (1,797 images, pixel counts 0..16), as 64 features."""
    # sklearn is imported where it is needed: its import costs about a second
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    X = d.data / 16.0 if scale else d.data
    scaling = "pixel counts 0..16 divided by 16" if scale else "none"
    return Dataset("digits", X.astype(np.float32), d.target.astype(np.int64), scaling=scaling)


def _scale_rule(dtype: np.dtype, scale: bool) -> tuple[float | None, str, bool]:
    """(divisor or None, description, standardise later) for raw features of ``dtype``."""
    if not scale:
        return None, "none", False
    if dtype in (np.uint8, np.uint16):
        top = float(np.iinfo(dtype).max)
        return top, f"{dtype.name} divided by {top:g}, to [0, 1]", False
    if dtype == np.bool_:
        return None, "booleans as 0/1", False
    return (
        None,
        "standardised per feature (per channel for images) with the training split's mean and sd",
        True,
    )


def _features(X, n: int, where: str, divisor: float | None = None) -> np.ndarray:
    X = np.asarray(X)
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_):
        raise InputError(f"{where}: X must be numeric")
    if X.ndim < 2:
        raise InputError(f"{where}: X must have one row per sample, got shape {X.shape}")
    if X.shape[0] != n:
        raise InputError(f"{where}: X has {X.shape[0]} rows but y has {n} labels")
    X = X.astype(np.float32)
    if divisor is not None:
        X /= np.float32(divisor)
    if not np.all(np.isfinite(X)):
        raise InputError(f"{where}: X contains NaN or infinite values")
    return X if X.ndim in (2, 4) else X.reshape(n, -1)


def load_npz(path: Path, scale: bool = True) -> Dataset:
    """Arrays ``X`` and ``y`` (and optionally ``X_test``, ``y_test``), as users save them:
    ``X`` of any numeric dtype, (n, d), (n, h, w) (flattened) or (n, channels, h, w).

    With ``y_noisy`` (the labels as observed, already noisy) beside ``y``, the loop injects
    no noise, and ``y`` (the clean labels) may be -1 where unknown: such samples can only
    train, and the clean validation and test splits are cut from the others.

    With ``scale`` (see ``SCALING_RULE``), uint8/uint16 become [0, 1]; other features are
    marked for standardisation, which the run fits on the training split alone."""
    arrays = read_npz(path)
    for key in ("X", "y"):
        if key not in arrays:
            raise InputError(
                f"{path} has no array {key!r} (it has: {', '.join(arrays) or 'nothing'})"
            )
    y_noisy = None
    if "y_noisy" in arrays:
        y_noisy = check_labels(arrays["y_noisy"], f"{path}: y_noisy")
        y = _clean_or_unknown(arrays["y"], y_noisy.size, f"{path}: y")
    else:
        y = check_labels(arrays["y"], f"{path}: y")
    if y.size < 2:
        raise InputError(f"{path}: fewer than 2 samples")
    divisor, scaling, standardise = _scale_rule(np.asarray(arrays["X"]).dtype, scale)
    X = _features(arrays["X"], y.size, str(path), divisor)
    Xt = yt = None
    if "X_test" in arrays and "y_test" in arrays:
        yt = check_labels(arrays["y_test"], f"{path}: y_test")
        Xt = _features(arrays["X_test"], yt.size, f"{path} (test)", divisor)
        if Xt.shape[1:] != X.shape[1:]:
            raise InputError(f"{path}: X_test has shape {Xt.shape[1:]} per sample, X {X.shape[1:]}")
    return Dataset(
        path.stem, X, y, Xt, yt, scaling=scaling, standardise=standardise, y_noisy=y_noisy
    )


def _clean_or_unknown(y, n: int, where: str) -> np.ndarray:
    """Clean labels beside noisy ones: integers >= 0, or -1 where the clean label is unknown."""
    y = np.asarray(y)
    if y.shape != (n,):
        raise InputError(f"{where}: {y.size} clean labels for {n} noisy ones")
    known = y >= 0 if np.issubdtype(y.dtype, np.number) else np.ones(n, bool)
    out = np.full(n, -1, dtype=np.int64)
    out[known] = check_labels(y[known], where, nonempty=False)
    if (y[~known] != -1).any():
        raise InputError(f"{where}: an unknown clean label is written -1")
    if known.sum() < 2:
        raise InputError(f"{where}: the clean validation split needs clean labels; almost none")
    return out


def standardised(X: np.ndarray, rows: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """``X`` and ``others`` standardised with the mean and sd of ``X[rows]`` alone: per feature
    for (n, d) data, per channel for (n, c, h, w) images; constant features keep sd 1."""
    axes = (0,) if X.ndim == 2 else (0, 2, 3)
    fit = X[rows].astype(np.float64)
    mean = fit.mean(axis=axes, keepdims=True)
    sd = fit.std(axis=axes, keepdims=True)
    sd = np.where(sd > 1e-8 * np.maximum(1.0, np.abs(mean)), sd, 1.0)
    return [((a - mean) / sd).astype(np.float32) for a in (X, *others)]


def _unpickle(path: Path) -> dict:
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="bytes")
        return {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError) as exc:
        raise InputError(f"{path} is not a CIFAR-10 python batch: {exc}") from None


def _cifar_batch(path: Path):
    d = _unpickle(path)
    if "data" not in d or "labels" not in d:
        raise InputError(f"{path} lacks 'data' or 'labels'")
    data = np.asarray(d["data"], dtype=np.uint8)
    labels = check_labels(np.asarray(d["labels"]), f"{path}: labels")
    if data.ndim != 2 or data.shape[1] != 3072 or data.shape[0] != labels.size:
        raise InputError(f"{path}: expected {labels.size} rows of 3072 bytes, got {data.shape}")
    return data, labels


CIFAR_MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)[:, None, None]
CIFAR_STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)[:, None, None]


def load_cifar10(folder: Path, scale: bool = True) -> Dataset:
    """The python-version batches (``data_batch_1..5``, ``test_batch``), normalised per channel."""
    if not folder.is_dir():
        raise InputError(f"CIFAR-10 folder not found: {folder}")
    train = [_cifar_batch(folder / f) for f in CIFAR10_TRAIN]
    test_x, test_y = _cifar_batch(folder / CIFAR10_TEST)

    def images(data):
        x = data.reshape(-1, 3, 32, 32).astype(np.float32)
        return (x / 255.0 - CIFAR_MEAN) / CIFAR_STD if scale else x

    return Dataset(
        "cifar10",
        images(np.concatenate([d for d, _ in train])),
        np.concatenate([y for _, y in train]),
        images(test_x),
        test_y,
        scaling="uint8 / 255, then CIFAR-10's channel mean and sd" if scale else "none",
    )


def _read_idx(folder: Path, stem: str) -> np.ndarray:
    for name in (stem, stem + ".gz"):
        p = folder / name
        if p.is_file():
            break
    else:
        raise InputError(f"file not found: {folder / stem} (or .gz)")
    try:
        raw = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"cannot read {p}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise InputError(f"{p} is not an idx file of unsigned bytes")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(int)
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise InputError(f"{p}: header says {tuple(dims)} but holds {body.size} bytes")
    return body.reshape(dims)


FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")  # where Debian's package puts it
MNIST_STATS = (0.1307, 0.3081)  # pixel mean and sd of the training images, after / 255
FASHION_MNIST_STATS = (0.2860, 0.3530)


def load_mnist(
    folder: Path, scale: bool = True, name: str = "mnist", stats: tuple[float, float] = MNIST_STATS
) -> Dataset:
    """The idx files (``train-images-idx3-ubyte`` ..., plain or .gz), as 1x28x28 images."""
    if not folder.is_dir():
        raise InputError(f"MNIST folder not found: {folder}")
    a = {k: _read_idx(folder, v) for k, v in MNIST_FILES.items()}
    for part in ("train", "test"):
        if a[f"{part}_x"].shape[0] != a[f"{part}_y"].shape[0]:
            raise InputError(f"MNIST {part} images and labels differ in count")

    def images(x):
        x = x.astype(np.float32)[:, None, :, :]
        return (x / 255.0 - stats[0]) / stats[1] if scale else x

    return Dataset(
        name,
        images(a["train_x"]),
        a["train_y"].astype(np.int64),
        images(a["test_x"]),
        a["test_y"].astype(np.int64),
        scaling=f"uint8 / 255, then mean {stats[0]} and sd {stats[1]}" if scale else "none",
    )


@dataclass
class Split:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray | None  # None: the data set's own test split


def split(y: np.ndarray, has_test: bool, seed, val: float = 0.1, test: float = 0.2) -> Split:
    """A stratified split into train, clean validation (``val``) and test (``test``).

    No test share is cut when the data set has its own test set. Samples whose clean label is
    unknown (-1) go to the training split; the others are split by class."""
    # sklearn is imported where it is needed: its import costs about a second
    from sklearn.model_selection import train_test_split

    unknown = np.flatnonzero(y < 0)
    if unknown.size:
        known = np.flatnonzero(y >= 0)
        parts = split(y[known], has_test, seed, val, test)
        test_idx = None if parts.test is None else known[parts.test]
        return Split(
            np.sort(np.concatenate([known[parts.train], unknown])), known[parts.val], test_idx
        )
    idx = np.arange(y.size)
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, 2**31, 2)
    try:
        test_idx = None
        if not has_test:
            idx, test_idx = train_test_split(
                idx, test_size=test, stratify=y, random_state=int(seeds[0])
            )
        tr, va = train_test_split(
            idx,
            test_size=val / (1 - (0 if has_test else test)),
            stratify=y[idx],
            random_state=int(seeds[1]),
        )
    except ValueError as exc:
        raise InputError(f"cannot split the data set by class: {exc}") from None
    return Split(np.sort(tr), np.sort(va), None if test_idx is None else np.sort(test_idx))
