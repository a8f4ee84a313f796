"""Shared helpers of the estimation tests: random transition matrices, annotators who label
by them, the empirical T of label pairs, and label arrays written as an .npz file."""

import numpy as np


def random_T(rng, c, diag=0.7):
    T = rng.dirichlet(np.ones(c), size=c) * (1 - diag)
    return T + np.eye(c) * diag


def annotate(rng, truth, Ts):
    cum = [np.cumsum(T, 1) for T in Ts]
    u = rng.random((len(truth), len(Ts)))
    return np.column_stack(
        [np.minimum((u[:, a, None] > cum[a][truth]).sum(1), len(T) - 1) for a, T in enumerate(Ts)]
    )


def pairs_T(clean, noisy, c):
    M = np.zeros((c, c))
    np.add.at(M, (clean, noisy), 1)
    return M / M.sum(1, keepdims=True)


def write_npz(tmp_path, **arrays):
    p = tmp_path / "labels.npz"
    np.savez(p, **arrays)
    return str(p)
