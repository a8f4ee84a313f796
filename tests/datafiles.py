"""Tiny data sets written in the standard file layouts (CIFAR-10 python batches, MNIST idx),
for the loaders and the trainer."""

import gzip
import pickle
import struct

import numpy as np

from simulations.training import data


def write_cifar(folder, per_batch=4, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name in data.CIFAR10_TRAIN + [data.CIFAR10_TEST]:
        batch = {
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"labels": rng.integers(0, 10, per_batch).tolist(),
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    return folder


def write_mnist(folder, n=6, compress=False):
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_x": rng.integers(0, 256, (n, 28, 28)),
        "train_y": rng.integers(0, 10, n),
        "test_x": rng.integers(0, 256, (n // 2, 28, 28)),
        "test_y": rng.integers(0, 10, n // 2),
    }
    for key, stem in data.MNIST_FILES.items():
        raw = idx_bytes(arrays[key])
        if compress:
            (folder / (stem + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / stem).write_bytes(raw)
    return arrays


def idx_bytes(a: np.ndarray) -> bytes:
    return (
        bytes([0, 0, 8, a.ndim])
        + struct.pack(f">{a.ndim}I", *a.shape)
        + a.astype(np.uint8).tobytes()
    )
