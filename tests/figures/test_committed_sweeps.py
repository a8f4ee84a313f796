"""Committed sweeps (figures/sweeps/) are what their configs make: each names the config and
the one command that regenerates it, records that config's settings, and holds one row for
every cell of it; `smallloss sweep --publish` writes them so, and never a partial sweep."""

import json
from pathlib import Path

import pytest

from simulations.cli import main
from simulations.experiments import sweep
from simulations.io import read_commented_csv
from theory.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = sorted((ROOT / "figures" / "sweeps").glob("*.csv"))


def _meta(path: Path) -> dict:
    with open(path) as f:
        return json.loads(f.readline()[2:])


@pytest.mark.parametrize("path", COMMITTED, ids=[p.stem for p in COMMITTED])
def test_a_committed_sweep_is_its_configs_every_cell(path):
    config = f"simulations/sweeps/{path.stem}.toml"
    cfg = sweep.load_config(ROOT / config)
    recorded = _meta(path)["settings"]
    assert recorded["config"] == config
    assert recorded["command"].startswith(f"smallloss sweep {config}")
    assert recorded["settings"] == cfg, "the config changed: run the recorded command again"
    rows, _ = read_commented_csv(path)
    assert sorted(r["key"] for r in rows) == sorted(c["key"] for c in sweep.cells(cfg))


CONFIG = """
name = "tiny_published"
kind = "simulate"
seeds = [0, 1]

[base]
n = 2000
keep = "oracle"

[[grid]]
noise = ["symmetric", "pairwise"]
rate = [0.3]
classes = [3]
"""


def test_publish_writes_every_row_with_its_provenance_and_refuses_a_partial_sweep(tmp_path):
    config = tmp_path / "tiny_published.toml"
    config.write_text(CONFIG)
    cfg = sweep.load_config(config)
    part = sweep.run_sweep(cfg, tmp_path / "run", workers=1, progress=False, limit=3)
    with pytest.raises(InputError, match="1 of 4 cells are not done"):
        sweep.publish(cfg, config, part, tmp_path / "dest", 1.0)
    assert not (tmp_path / "dest" / "tiny_published.csv").exists()
    done = sweep.run_sweep(cfg, tmp_path / "run", workers=1, progress=False)
    path = sweep.publish(cfg, config, done, tmp_path / "dest", 2.5)
    meta = _meta(path)
    assert meta["settings"]["settings"] == cfg and meta["settings"]["wall_clock_s"] == 2.5
    assert meta["settings"]["machine"]["cores"] >= 1 and "numpy" in meta["versions"]
    rows, _ = read_commented_csv(path)
    assert rows == read_commented_csv(tmp_path / "run" / sweep.RESULTS)[0]


def test_the_sweep_command_publishes_where_the_figures_read(tmp_path, monkeypatch, capsys):
    from simulations.figures import _common

    config = tmp_path / "tiny_published.toml"
    config.write_text(CONFIG)
    monkeypatch.setattr(_common, "SWEEP_RESULTS", tmp_path / "committed")
    args = ["sweep", str(config), "--workers", "1", "--quiet", "--out", str(tmp_path / "run")]
    assert main([*args, "--publish"]) == 0
    assert "published: " in capsys.readouterr().out
    rows = _common.committed_sweep("tiny_published")
    assert len(rows) == 4 and {r["seed"] for r in rows} == {0.0, 1.0}
