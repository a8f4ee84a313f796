"""Sweeps: cells from a config, resuming after a kill, and the same table from a Dask cluster."""

import json

import pytest

from simulations.cli import main
from simulations.experiments import sweep
from simulations.io import read_commented_csv

CONFIG = """
name = "tiny"
kind = "simulate"
seeds = [0, 1]

[base]
n = 3000
keep = "oracle"

[[grid]]
noise = ["symmetric", "pairwise"]
rate = [0.2, 0.4]
classes = [4]
model = ["bayes"]

[[grid]]
noise = ["pairwise"]
rate = [0.3]
classes = [4]
model = ["perturbed"]
epsilon = [0.1, 0.3]
"""


@pytest.fixture
def config(tmp_path):
    p = tmp_path / "tiny.toml"
    p.write_text(CONFIG)
    return p


def rows_of(path):
    return read_commented_csv(path)[0]


def test_cells_are_the_union_of_grid_products(config):
    cells = sweep.cells(sweep.load_config(config))
    assert len(cells) == (2 * 2 + 2) * 2
    assert len({c["key"] for c in cells}) == len(cells)
    assert all(c["settings"]["n"] == 3000 for c in cells)


def test_a_stopped_sweep_resumes_without_recomputing(config, tmp_path, monkeypatch):
    cfg = sweep.load_config(config)
    out = tmp_path / "out"
    first = sweep.run_sweep(cfg, out, workers=1, progress=False, limit=5)
    assert first["ran"] == 5
    done = {r["key"]: r for r in rows_of(out / sweep.RESULTS)}
    # a kill in the middle of a row: the cut row is dropped and redone
    text = (out / sweep.RESULTS).read_text()
    (out / sweep.RESULTS).write_text(text + text.splitlines()[1][:20])
    calls = []
    real = sweep.run_cell
    monkeypatch.setattr(sweep, "run_cell", lambda *a: calls.append(a) or real(*a))
    second = sweep.run_sweep(cfg, out, workers=1, progress=False)
    assert second["skipped"] == 5 and second["ran"] == len(sweep.cells(cfg)) - 5
    assert len(calls) == second["ran"]
    final = {r["key"]: r for r in rows_of(out / sweep.RESULTS)}
    assert len(final) == len(sweep.cells(cfg))
    for key, row in done.items():
        # finished cells kept, not recomputed (later cells may widen the table with empty columns)
        assert {k: v for k, v in final[key].items() if k in row} == row
        assert all(v == "" for k, v in final[key].items() if k not in row)
    third = sweep.run_sweep(cfg, out, workers=1, progress=False)
    assert third["ran"] == 0


def test_parallel_local_sweep_gives_the_serial_table(config, tmp_path):
    cfg = sweep.load_config(config)
    sweep.run_sweep(cfg, tmp_path / "serial", workers=1, progress=False)
    sweep.run_sweep(cfg, tmp_path / "parallel", workers=2, progress=False)
    assert (tmp_path / "serial" / sweep.RESULTS).read_text() == (
        tmp_path / "parallel" / sweep.RESULTS
    ).read_text()


def test_dask_cluster_gives_the_local_table(config, tmp_path):
    distributed = pytest.importorskip("distributed")
    cfg = sweep.load_config(config)
    sweep.run_sweep(cfg, tmp_path / "local", workers=1, progress=False)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        result = sweep.run_sweep(
            cfg, tmp_path / "dask", scheduler=cluster.scheduler_address, progress=False
        )
    assert result["ran"] == len(sweep.cells(cfg))
    assert (tmp_path / "local" / sweep.RESULTS).read_text() == (
        tmp_path / "dask" / sweep.RESULTS
    ).read_text()


def test_cli_and_bad_configs(config, tmp_path, capsys):
    assert (
        main(["sweep", str(config), "--out", str(tmp_path / "o"), "--workers", "1", "--json"]) == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["ran"] == 12
    bad = [
        ("kind = 'paint'\n", "kind"),
        ("[[grid]]\nrate = 0.2\n", "non-empty list"),
        ("= broken", "not valid TOML"),
    ]
    for text, needle in bad:
        p = tmp_path / "bad.toml"
        p.write_text(text)
        assert main(["sweep", str(p), "--out", str(tmp_path / "b")]) == 2
        assert needle in capsys.readouterr().err
    assert main(["sweep", str(tmp_path / "none.toml")]) == 2
    assert "not found" in capsys.readouterr().err
    p = tmp_path / "unknown.toml"
    p.write_text("[[grid]]\nnoise = ['symmetric']\nrate = [0.2]\nclasses = [3]\ncolour = ['red']\n")
    assert main(["sweep", str(p), "--out", str(tmp_path / "u"), "--workers", "1"]) == 2
    assert "unknown simulate settings: colour" in capsys.readouterr().err


def test_a_train_cell_scores_each_estimate_of_T_from_its_own_out_of_fold_probabilities(tmp_path):
    import numpy as np

    from simulations.estimation import transition
    from simulations.experiments import cells

    settings = {
        "noise": "pairwise",
        "rate": 0.3,
        "classes": 10,
        "epochs": 2,
        "cv": 2,
        "stage2": False,
        "bootstrap": 0,
        "estimate": ["confident", "mixture"],
        "out": str(tmp_path),
    }
    row = cells.train_cell(settings, seed=0)
    with np.load(tmp_path / "run.npz") as z:
        noisy, probs, T = z["noisy"], z["probs"].astype(float), z["T"]
    for method in ("confident", "mixture"):
        est = transition.from_probs(noisy, probs, 10, method)
        assert row[f"T_error_{method}"] == transition.t_error(est.T, T)
    assert "T_error_anchor" not in row


@pytest.mark.parametrize(
    "extra, needle",
    [({"estimate": ["ds"]}, "estimate ds: choose from"), ({"cv": 0}, "cv of at least 2")],
)
def test_a_train_cell_refuses_an_estimate_it_cannot_make_before_training(extra, needle):
    from simulations.experiments import cells
    from theory.errors import InputError

    with pytest.raises(InputError, match=needle):
        cells.train_cell({"noise": "symmetric", "rate": 0.2, "estimate": "mixture", **extra}, 0)


def test_a_coverage_cell_counts_entries_inside_each_models_interval():
    import numpy as np

    from simulations.experiments import cells
    from theory.errors import InputError

    settings = {"classes": 3, "n": 1500, "draws": 2, "bootstrap": 10}
    row = cells.coverage_cell(settings, seed=4)
    assert set(row) == {"coverage_ds", "coverage_ds_easy"}
    for v in row.values():  # a share of draws x c x c entries
        assert 0 <= v <= 1 and np.isclose(v * 18, round(v * 18))
    assert cells.coverage_cell(settings, seed=4) == row
    assert (
        cells.coverage_cell({**settings, "level": 0.99}, seed=4)["coverage_ds"]
        >= row["coverage_ds"]
    )
    for bad in ({"bootstrap": 5}, {"classes": 1}, {"n": 2}, {"shape": 1}):
        with pytest.raises(InputError):
            cells.coverage_cell({**settings, **bad}, seed=0)
