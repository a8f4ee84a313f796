"""Hypothesis strategies shared by the tests: row-stochastic matrices and priors."""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays


@st.composite
def transition_matrices(draw, min_classes=2, max_classes=6, zeros=True):
    """Row-stochastic matrices, sometimes with exact zeros, ties and near-identity rows."""
    c = draw(st.integers(min_classes, max_classes))
    raw = draw(arrays(np.float64, (c, c), elements=st.floats(0.0, 1.0, allow_nan=False, width=32)))
    raw = raw + draw(st.floats(0.0, 3.0)) * np.eye(c)  # pull towards dominance sometimes
    if not zeros:
        raw = raw + 1e-3
    raw[raw.sum(axis=1) == 0, 0] = 1.0
    return raw / raw.sum(axis=1, keepdims=True)


@st.composite
def priors(draw, classes):
    p = draw(arrays(np.float64, classes, elements=st.floats(0.01, 1.0)))
    return p / p.sum()


@st.composite
def matrices_with_prior(draw, **kw):
    T = draw(transition_matrices(**kw))
    return T, draw(priors(len(T)))


@st.composite
def weighted_points(draw, min_size, max_size, top, step, max_weight):
    """(x, w): points on the grid ``0, step, ..., top * step`` (ties likely) with whole
    positive weights up to ``max_weight``, as float arrays of equal length."""
    k = draw(st.integers(min_size, max_size))
    xs = draw(st.lists(st.integers(0, top), min_size=k, max_size=k))
    ws = draw(st.lists(st.integers(1, max_weight), min_size=k, max_size=k))
    return np.array(xs, dtype=float) * step, np.array(ws, dtype=float)
