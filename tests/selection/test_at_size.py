"""`analyse` at size, at small sizes: the mapped read of an uncompressed run gives the record
the in-memory read gives, and the one-pass kernels and the 1-D GMM fit equal what they
replace. (The sizes themselves are timed by ``simulations.experiments.bench_size``.)"""

import numpy as np
import pytest
from scipy.special import logsumexp

from simulations import io
from simulations.experiments import bench_size
from simulations.selection import analyse, rules, runfile, scores
from simulations.selection.scores import margins, mean_loss


@pytest.fixture
def small_blocks(monkeypatch):
    """Map every member and walk every array in many blocks, as at size."""
    monkeypatch.setattr(io, "MAP_MIN_BYTES", 1)
    monkeypatch.setattr(io, "BLOCK_BYTES", 4096)


def _strip(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "run"}


@pytest.mark.parametrize("logits", [False, True])
def test_the_mapped_read_gives_the_in_memory_record(tmp_path, small_blocks, logits):
    path = bench_size.write_run(
        tmp_path / "run.npz", 3000, 12, 4, logits=logits, probs=True, probes=300, seed=3
    )
    mapped, in_memory = runfile.read(path), runfile.read(path, mmap=False)
    big = mapped.logits if logits else mapped.losses
    assert io._file_map(big) is not None and not big.flags.writeable
    assert io._file_map(in_memory.losses) is None
    np.testing.assert_array_equal(mapped.losses, in_memory.losses)
    rec_m, masks_m = analyse.analyse(mapped, keep="target:0.9", confidence=0.9, bootstrap=20)
    rec_i, masks_i = analyse.analyse(in_memory, keep="target:0.9", confidence=0.9, bootstrap=20)
    assert _strip(rec_m) == _strip(rec_i)
    assert masks_m.keys() == masks_i.keys()
    for k in masks_m:
        np.testing.assert_array_equal(masks_m[k], masks_i[k])


def test_a_compressed_run_is_read_into_memory(tmp_path, small_blocks):
    plain = bench_size.write_run(tmp_path / "plain.npz", 500, 5, 3, probes=50)
    packed = bench_size.write_run(tmp_path / "packed.npz", 500, 5, 3, probes=50, compressed=True)
    a, b = runfile.read(plain), runfile.read(packed)
    assert io._file_map(a.losses) is not None and io._file_map(b.losses) is None
    np.testing.assert_array_equal(a.losses, b.losses)


def test_dropped_pages_read_back_the_same_and_memory_is_untouched(tmp_path, small_blocks):
    path = bench_size.write_run(tmp_path / "run.npz", 2000, 30, 3, probes=100)
    losses = runfile.read(path).losses
    before = np.array(losses)
    io.drop_pages(losses, 0, 1000)
    io.drop_pages(losses)
    np.testing.assert_array_equal(losses, before)
    copy = before.copy()
    io.drop_pages(copy)  # an array in memory: advice would zero it, so none is given
    np.testing.assert_array_equal(copy, before)


def test_a_member_of_objects_is_refused_not_mapped(tmp_path, small_blocks):
    path = tmp_path / "objects.npz"
    np.savez(path, noisy=np.array([0, 1], object), losses=np.ones((2, 2)))
    with pytest.raises(runfile.InputError, match="run file"):
        runfile.read(path)


def _reference_cross_entropy(z, y):
    z = z.astype(np.float64)
    picked = np.take_along_axis(z, y[:, None, None], axis=2)[..., 0]
    return logsumexp(z, axis=2) - picked


@pytest.mark.parametrize("c", [2, 3, 8, 10, 17, 130])
def test_the_kernels_equal_the_numpy_they_replace(small_blocks, c):
    rng = np.random.default_rng(c)
    z = (rng.standard_normal((700, 6, c)) * 6).astype(np.float32)
    z[:50, :, 1] = z[:50, :, 0]  # tied maxima
    y = rng.integers(0, c, 700)
    want = _reference_cross_entropy(z, y)
    got, top = runfile._cross_entropy_pass(z, y)
    np.testing.assert_array_equal(got, want.astype(np.float32))
    assert top == want.max()
    np.testing.assert_array_equal(runfile.cross_entropy(z, y), want.astype(np.float32))
    zz = z.astype(np.float64)
    others = zz.copy()
    np.put_along_axis(others, np.broadcast_to(y[:, None, None], (700, 6, 1)), -np.inf, axis=2)
    np.testing.assert_array_equal(
        margins(z, y), np.take_along_axis(zz, y[:, None, None], 2)[..., 0] - others.max(2)
    )
    losses = np.abs(z[..., 0])
    np.testing.assert_array_equal(
        mean_loss(losses),
        (np.cumsum(losses, axis=1, dtype=np.float64)[:, -1] / 6).astype(np.float32),
    )
    bad, low, high, big = runfile._value_stats_pass(z)
    assert (bad, low, high, big) == (0, z.min(), z.max(), np.abs(z).max())
    z[3, 2, 1] = np.nan
    z[9, 0, 0] = np.inf
    assert runfile._value_stats_pass(z)[0] == 2


def test_rows_that_sum_to_one_are_found_in_any_block(small_blocks):
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(5), size=(400, 3))
    assert runfile._rows_sum_to_one(p, 1.1e-4)
    p[399, 2] *= 1.01
    assert not runfile._rows_sum_to_one(p, 1.1e-4)


@pytest.mark.parametrize("n", [1, 2, 3, 10, 11, 4001, 4002])
def test_the_median_side_is_numpy_s(small_blocks, n):
    rng = np.random.default_rng(n)
    for _ in range(50):
        a = rng.random(n).astype(np.float32)
        if rng.random() < 0.3:
            a[: n // 2] = 0.5
        for t in (0.5, 0.75):
            assert runfile._median_above(a, t) == (float(np.median(a)) > t)


def _two_groups(n, seed):
    rng = np.random.default_rng(seed)
    clean = rng.gamma(2.0, 0.15, size=int(0.7 * n))
    noisy = rng.normal(1.4, 0.5, size=n - clean.size)
    return rng.permutation(np.concatenate([clean, noisy])).astype(np.float32)


@pytest.mark.parametrize("seed", range(8))
def test_the_one_dimensional_gmm_keeps_what_scikit_learn_keeps(seed):
    pytest.importorskip("sklearn")
    losses = _two_groups([500, 4000, 30_000][seed % 3], seed)
    probes = _two_groups(300, seed + 100)
    got, p_got = rules.gmm_keep(losses, probes, seed=seed, fit_max=20_000)
    want, p_want = bench_size.sklearn_gmm_keep(losses, probes, seed=seed, fit_max=20_000)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(p_got, p_want)


@pytest.mark.parametrize("seed", range(6))
def test_the_kmeans_start_is_scikit_learn_s(seed):
    sklearn = pytest.importorskip("sklearn.cluster")
    x = _two_groups(3000, seed).astype(np.float64)
    x = (x - x.min()) / (x.max() - x.min())
    want = sklearn.KMeans(2, n_init=1, random_state=seed).fit(x[:, None]).labels_
    got = rules._kmeans_labels(x, seed)
    assert (got == want).all() or (got != want).all()


def test_other_dtypes_take_the_numpy_checks():
    rng = np.random.default_rng(1)
    noisy = rng.integers(0, 3, 200)
    half = runfile.from_arrays({"noisy": noisy, "losses": rng.random((200, 4)).astype(np.float16)})
    assert half.losses.dtype == np.float32
    whole = runfile.from_arrays({"noisy": noisy, "losses": rng.integers(0, 5, (200, 4))})
    assert whole.losses.dtype == np.float32
    z = rng.standard_normal((200, 4, 3)).astype(np.float16)
    np.testing.assert_array_equal(
        runfile.from_arrays({"noisy": noisy, "logits": z}).losses,
        runfile.from_arrays({"noisy": noisy, "logits": z.astype(np.float32)}).losses,
    )


def test_a_large_run_is_written_to_be_mapped(tmp_path, monkeypatch, small_blocks):
    rng = np.random.default_rng(2)
    arrays = {"noisy": rng.integers(0, 3, 500), "losses": rng.random((500, 8), np.float32)}
    runfile.write(tmp_path / "small.npz", arrays)
    assert io._file_map(runfile.read(tmp_path / "small.npz").losses) is None  # compressed
    monkeypatch.setattr(runfile, "STORE_ABOVE_BYTES", 1000)
    runfile.write(tmp_path / "large.npz", arrays)
    large = runfile.read(tmp_path / "large.npz")
    assert io._file_map(large.losses) is not None
    np.testing.assert_array_equal(large.losses, arrays["losses"])


def test_the_epoch_summaries_equal_what_analyse_computed(tmp_path, small_blocks):
    path = bench_size.write_run(tmp_path / "run.npz", 1500, 9, 3, probes=100)
    losses = runfile.read(path).losses
    got = scores.epoch_summaries(losses)
    np.testing.assert_array_equal(got["last"], losses[:, -1])
    np.testing.assert_array_equal(got["mean"], mean_loss(np.array(losses)))
    want = np.exp(-np.array(losses, dtype=np.float64)).mean(axis=1)
    np.testing.assert_array_equal(got["confidence"], want)
    np.testing.assert_array_equal(scores.confidence(losses), want)
