"""Confident learning (the paper's rule) and cleanlab (find_label_issues' defaults), each against
its definition; one draw of the model outputs for every criterion in `simulate`."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from simulations.cli import main
from simulations.selection import rules
from simulations.synthetic import generate
from theory import noise

cleanlab_filter = pytest.importorskip("cleanlab.filter")


def confident_by_definition(probs, labels):
    """The confident-learning paper's rule, by plain loops: t_j = mean p_j over samples labelled
    j; a sample is dropped when, among the classes k with p_k >= t_k, the most probable one is
    not its label; a sample with no such class stays."""
    n, c = probs.shape
    # thresholds as float32, the resolution of the probabilities they are compared with
    t = [
        np.float32(np.mean([float(probs[i, j]) for i in range(n) if labels[i] == j]))
        for j in range(c)
    ]
    keep = []
    for i in range(n):
        confident = [k for k in range(c) if probs[i, k] >= t[k]]
        if not confident:
            keep.append(True)
            continue
        best = max(confident, key=lambda k: (probs[i, k], -k))
        keep.append(best == labels[i])
    return np.array(keep)


def test_the_paper_rule_on_rows_where_it_differs_from_argmax():
    t = np.array([0.7, 0.4, 0.1], dtype=np.float32)
    probs = np.array(
        [
            [0.50, 0.45, 0.05],  # label 0 = argmax, below t_0; class 1 clears t_1: dropped
            [0.45, 0.41, 0.14],  # label 1; argmax 0 is not confident, 1 and 2 are: 1 wins, kept
            [0.80, 0.15, 0.05],  # label 1; class 0 is confident and most probable: dropped
            [0.30, 0.30, 0.40],  # label 2; no class but 2 clears its threshold: kept
        ],
        dtype=np.float32,
    )
    labels = np.array([0, 1, 1, 2])
    kept = rules.select_confident(probs, labels, thresholds=t)
    np.testing.assert_array_equal(kept, [False, True, False, True])
    argmax_rule = probs.argmax(axis=1) == labels
    # a naive argmax rule decides the first two rows the other way
    np.testing.assert_array_equal(kept != argmax_rule, [True, True, False, False])


def test_cleanlab_criterion_is_find_label_issues_with_its_defaults():
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.full(4, 0.7), size=400)
    labels = np.where(rng.random(400) < 0.7, probs.argmax(axis=1), rng.integers(0, 4, 400))
    kept = rules.cleanlab_keep(probs, labels)
    np.testing.assert_array_equal(kept, ~cleanlab_filter.find_label_issues(labels, probs))
    # the two rules are two criteria: on these rows they decide differently somewhere
    assert (kept != rules.select_confident(probs, labels)).any()


@given(
    st.integers(2, 4).flatmap(
        lambda c: arrays(np.float64, (24, c), elements=st.floats(0.015625, 1.0, width=32))
    )
)
def test_the_paper_rule_matches_its_definition(raw):
    probs = (raw / raw.sum(axis=1, keepdims=True)).astype(np.float32)
    labels = np.arange(probs.shape[0]) % probs.shape[1]  # every class observed
    np.testing.assert_array_equal(
        rules.select_confident(probs, labels), confident_by_definition(probs, labels)
    )


def test_model_outputs_are_one_draw_for_a_seed_sequence():
    T = noise.pairwise(0.3, 5)
    clean = generate.clean_labels(3 * generate.CHUNK // 2, np.full(5, 0.2), 0)
    noisy = generate.noisy_labels(clean, T, 1)
    ss = np.random.SeedSequence(7).spawn(2)[1]
    model = generate.Model("overlap", T, separation=1.5)
    first = np.concatenate([p for _, p in model.chunks(clean, ss)])
    second = np.concatenate([p for _, p in model.chunks(clean, ss)])
    np.testing.assert_array_equal(first, second)
    losses = generate.observed_losses(model, clean, noisy, ss)
    np.testing.assert_allclose(losses, generate.cross_entropy(first, noisy), rtol=1e-6)


@pytest.mark.parametrize("model", ["bayes", "perturbed", "overlap"])
def test_simulate_cleanlab_agrees_with_find_label_issues(capsys, model):
    argv = [
        "simulate",
        "--noise",
        "pairwise",
        "--rate",
        "0.4",
        "--classes",
        "4",
        "--n",
        "6000",
        "--model",
        model,
        "--epsilon",
        "0.3",
        "--separation",
        "1.5",
        "--json",
    ]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)["criteria"]
    assert out["cleanlab"]["agreement_with_cleanlab"] == 1.0
    # the paper's rule and cleanlab's implementation of it, on the same outputs
    assert out["confident"]["agreement_with_cleanlab"] >= 0.999
