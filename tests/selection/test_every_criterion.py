"""Every registered criterion through every place that compares criteria: ``simulate``,
``analyse`` (its rows, masks, per-epoch rows, per-sample table and printed table), and the
figures that draw every criterion. A criterion is tested here by being registered; a toy one
registered for the test shows that nothing else needs editing. ``train``'s record is checked
for every criterion in ``tests/training/test_train.py``."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from run_arrays import synthetic_run

from simulations.cli.analyse import render
from simulations.selection import analyse, registry, runfile
from simulations.selection.criteria import Criterion, Scores, at_budget
from simulations.selection.criteria.cartography import CONFIDENCE
from simulations.selection.table import sample_table
from simulations.synthetic.simulate import Setting, simulate
from theory import noise

ALL = list(registry.REGISTRY.values())


@pytest.fixture(scope="module")
def analysed():
    arrays, _ = synthetic_run(seed=3, n=1_200, probes=200, epochs=5)
    run = runfile.from_arrays(arrays)
    record, masks = analyse.analyse(run, bootstrap=0)
    return run, record, masks


@pytest.mark.parametrize("crit", ALL, ids=lambda c: c.name)
def test_every_criterion_has_a_row_a_mask_and_a_table_column_in_analyse(crit, analysed):
    run, record, masks = analysed
    row = record["criteria"][crit.name]
    mask = masks[crit.name]
    assert mask.shape == (run.n,) and not mask[run.probes].any()
    assert row["selected"] == int(mask.sum()) > 0
    assert 0.0 <= row["observed_precision"] <= 1.0
    table = sample_table(run, masks, record)
    assert table[f"kept_{crit.name}"].sum() == row["selected"]
    assert any(line.startswith(crit.name) for line in render({**record, "run": "r"}).splitlines())
    if crit.variants:
        other = [v for v in registry.VARIANTS if v != crit.headline][0]
        tail = analyse.FIELD_TAIL[other]
        assert masks[f"{crit.name}_{tail}"].sum() == row[f"selected_{tail}"]
        assert row["mislabelled_probes_kept"] is not None  # the probes judged by its rule
    if crit.needs in ("losses", "loss_matrix"):
        assert all(f"{crit.name}_single" in e for e in record["per_epoch"])


@pytest.mark.parametrize("crit", ALL, ids=lambda c: c.name)
def test_every_simulated_criterion_is_simulated_and_no_other(crit):
    out = simulate(Setting(T=noise.pairwise(0.3, 4), n=4_000, seed=1, epochs=3, sigma=0.2))
    assert (crit.name in out["criteria"]) == crit.simulated
    if crit.simulated and crit.name != registry.CLEANLAB.name:  # cleanlab: an optional extra
        assert out["criteria"][crit.name]["selected"] > 0


@pytest.mark.parametrize("crit", ALL, ids=lambda c: c.name)
def test_every_criterion_has_a_label_and_a_colour_for_the_figures(crit):
    from simulations.figures import instance_noise, predicted_vs_observed

    assert registry.LABELS[crit.name] and registry.COLORS[crit.name].startswith("#")
    assert (crit.name in instance_noise.CRITERIA) == crit.simulated
    assert (crit.name in predicted_vs_observed.CRITERIA) == (
        crit.simulated and crit.needs == "losses"
    )


def _largest_loss(s: Scores):
    return -s.loss, -s.p_loss


def test_a_criterion_added_to_the_registry_alone_reaches_analyse_and_simulate(monkeypatch):
    toy = Criterion(
        "largest_loss",
        "largest loss",
        "#000000",
        "the largest losses, one ranking (a test's criterion)",
        needs="losses",
        select=at_budget(_largest_loss, lambda b: b.total),
    )
    monkeypatch.setitem(registry.REGISTRY, toy.name, toy)
    arrays, _ = synthetic_run(seed=4, n=800, probes=100, epochs=3)
    record, masks = analyse.analyse(runfile.from_arrays(arrays), bootstrap=0)
    k, n = record["criteria"][toy.name]["selected"], record["n"]
    assert k == record["criteria"]["global"]["selected"]
    # the largest k of n and the smallest k share 2k - n samples where k > n / 2, else none
    assert (masks[toy.name] & masks["global"]).sum() == max(0, 2 * k - n)
    assert (
        record["criteria"][toy.name]["observed_precision"]
        < record["criteria"]["global"]["observed_precision"]
    )
    out = simulate(Setting(T=noise.pairwise(0.3, 4), n=2_000, seed=1))
    assert out["criteria"][toy.name]["selected"] == out["criteria"]["global"]["selected"]


def _scores(losses, variant, total):
    n = losses.shape[0]
    z = np.zeros(n, np.int64)
    return Scores(
        variant=variant,
        noisy=z,
        p_noisy=np.zeros(0, np.int64),
        classes=1,
        total=total,
        classwise=np.array([total]),
        rsl=np.array([total]),
        loss=losses[:, -1],
        p_loss=np.zeros(0),
        losses=losses,
        p_losses=np.zeros((0, losses.shape[1])),
    )


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 60),
    epochs=st.integers(1, 6),
    share=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**16),
)
def test_cartography_keeps_the_highest_mean_probability_of_the_label(n, epochs, share, seed):
    losses = np.random.default_rng(seed).exponential(1.0, (n, epochs))
    total = max(1, int(share * n))
    mask, _ = CONFIDENCE.select(_scores(losses, "mean", total))
    confidence = np.exp(-losses).mean(axis=1)
    assert mask.sum() == total
    assert confidence[mask].min() >= confidence[~mask].max(initial=-np.inf)
    # on one epoch it ranks as the loss does
    single, _ = CONFIDENCE.select(_scores(losses, "single", total))
    assert single.sum() == total
    assert losses[single, -1].max() <= losses[~single, -1].min(initial=np.inf)


def test_cartography_and_rsl_part_where_one_epoch_is_uneven():
    # a: moderate every epoch; b: near zero but one epoch very large. The mean loss keeps a,
    # the mean probability keeps b (a very large loss costs it at most 1/E)
    losses = np.array([[1.0, 1.0, 1.0, 1.0], [0.01, 0.01, 0.01, 9.0]])
    assert losses.mean(axis=1)[0] < losses.mean(axis=1)[1]
    mask, _ = CONFIDENCE.select(_scores(losses, "mean", 1))
    assert mask.tolist() == [False, True]


def _literal_files(names) -> dict[str, set[str]]:
    """For each name, the files of theory/ and simulations/ that write it as a string literal."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    hits = {n: set() for n in names}
    for package in ("theory", "simulations"):
        for path in (root / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and node.value in hits:
                    hits[node.value].add(str(path.relative_to(root)))
    return hits


def test_a_criterions_name_is_written_in_few_files():
    """Code that needs one criterion reads it from the registry (``registry.RSL.name``); the
    literal stays in its own file, the theory's predictions keyed by it, and the few places
    where the same word is another thing's name (``--keep rsl``, ``--estimate confident``, the
    ``cleanlab`` switch of a simulation)."""
    for name, files in _literal_files(registry.CRITERIA).items():
        assert len(files) <= 5, (name, sorted(files))
