"""Loaders read the standard local layouts; bad files get one clear error."""

import pickle

import numpy as np
import pytest
from datafiles import write_cifar, write_mnist

from simulations.training import data
from theory.errors import InputError


def test_digits_ships_with_scikit_learn():
    d = data.load("digits")
    assert d.X.shape == (1797, 64) and d.classes == 10 and d.X.max() <= 1.0


def test_npz_with_and_without_test_split(tmp_path):
    X, y = np.random.default_rng(0).normal(size=(20, 5)), np.arange(20) % 4
    np.savez(tmp_path / "a.npz", X=X, y=y)
    d = data.load(f"npz:{tmp_path / 'a.npz'}")
    assert d.X.dtype == np.float32 and d.X_test is None and d.classes == 4
    np.savez(tmp_path / "b.npz", X=X, y=y, X_test=X[:3], y_test=y[:3])
    assert data.load(f"npz:{tmp_path / 'b.npz'}").X_test.shape == (3, 5)


def test_cifar10_layout(tmp_path):
    folder = write_cifar(tmp_path / "cifar-10-batches-py")
    d = data.load(f"cifar10:{folder}")
    assert d.X.shape == (20, 3, 32, 32) and d.X_test.shape == (4, 3, 32, 32) and d.is_image
    with open(folder / "data_batch_1", "rb") as f:
        raw = pickle.load(f)
    first = raw[b"data"][0].reshape(3, 32, 32).astype(np.float32) / 255
    np.testing.assert_allclose(d.X[0], (first - data.CIFAR_MEAN) / data.CIFAR_STD, rtol=1e-6)


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_idx_files(tmp_path, compress):
    arrays = write_mnist(tmp_path, compress=compress)
    d = data.load(f"mnist:{tmp_path}")
    assert d.X.shape == (6, 1, 28, 28) and d.X_test.shape == (3, 1, 28, 28)
    np.testing.assert_array_equal(d.y, arrays["train_y"])


def test_split_is_stratified_and_disjoint():
    y = np.repeat(np.arange(5), 40)
    s = data.split(y, has_test=False, seed=0)
    assert len(set(s.train) | set(s.val) | set(s.test)) == y.size
    assert not (set(s.train) & set(s.val)) and not (set(s.val) & set(s.test))
    assert not set(s.train) & set(s.test)
    np.testing.assert_array_equal(np.bincount(y[s.val]), [4] * 5)
    np.testing.assert_array_equal(np.bincount(y[s.test]), [8] * 5)


def test_bad_files(tmp_path):
    cases = []
    np.savez(tmp_path / "noX.npz", y=np.arange(3))
    cases.append((f"npz:{tmp_path / 'noX.npz'}", "no array 'X'"))
    np.savez(tmp_path / "len.npz", X=np.zeros((4, 2)), y=np.arange(3))
    cases.append((f"npz:{tmp_path / 'len.npz'}", "4 rows but y has 3"))
    np.savez(tmp_path / "neg.npz", X=np.zeros((3, 2)), y=np.array([0, -1, 1]))
    cases.append((f"npz:{tmp_path / 'neg.npz'}", "negative"))
    np.savez(tmp_path / "nan.npz", X=np.full((3, 2), np.nan), y=np.arange(3))
    cases.append((f"npz:{tmp_path / 'nan.npz'}", "NaN"))
    (tmp_path / "junk.npz").write_text("junk")
    cases.append((f"npz:{tmp_path / 'junk.npz'}", "cannot read"))
    cases.append((f"npz:{tmp_path / 'missing.npz'}", "not found"))
    cases.append(("imagenet:/data", "unknown data set"))
    cases.append(("digits:extra", "unknown data set"))
    cases.append((f"cifar10:{tmp_path / 'nowhere'}", "not found"))
    folder = write_cifar(tmp_path / "c")
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    cases.append((f"cifar10:{folder}", "not a CIFAR-10"))
    write_mnist(tmp_path / "m")
    (tmp_path / "m" / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x09abc")
    cases.append((f"mnist:{tmp_path / 'm'}", "header says"))
    for spec, needle in cases:
        with pytest.raises(InputError, match=needle):
            data.load(spec)
