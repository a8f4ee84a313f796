"""`smallloss figures` and `smallloss sweep` report progress on stderr (silenced by --json and
--quiet), and a full `figures` run records what each figure took in TIMES.csv."""

import json
import types

import matplotlib.pyplot as plt
import pytest

from simulations import figures
from simulations.cli import main
from simulations.io import read_commented_csv


def _fake(name):
    def draw(table):
        fig, ax = plt.subplots()
        ax.plot(table["x"], table["y"])
        return fig

    return types.SimpleNamespace(
        NAME=name,
        CAPTION=f"a stand-in for {name}",
        compute=lambda quick, seed: [{"x": 0.0, "y": 1.0}, {"x": 1.0, "y": float(seed)}],
        draw=draw,
    )


@pytest.fixture
def tiny_figures(monkeypatch):
    """Two stand-in figures instead of the fifteen real ones."""
    fakes = {n: _fake(n) for n in ("first", "second")}
    monkeypatch.setattr(figures, "ORDER", tuple(fakes))

    def module(name):
        if name not in fakes:
            raise figures.InputError(f"unknown figure {name!r}")
        return fakes[name]

    monkeypatch.setattr(figures, "module", module)
    return fakes


def test_a_full_run_writes_times_and_shows_progress(tiny_figures, tmp_path, capsys):
    assert main(["figures", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert lines[0].startswith("figure 1 of 2: first (0 s elapsed")
    assert lines[1].startswith("figure 2 of 2: second") and "left" in lines[1]
    path = tmp_path / "TIMES.csv"
    first = path.read_text().splitlines()[0]
    assert first.startswith("# ")
    meta = json.loads(first[2:])
    assert meta["settings"]["figures"] == ["first", "second"] and not meta["settings"]["quick"]
    assert meta["machine"]["cores"] >= 1 and "numpy" in meta["versions"] and meta["created"]
    rows, header = read_commented_csv(path)
    assert header == ["figure", "seconds"]
    assert [r["figure"] for r in rows] == ["first", "second", "total"]
    seconds = [float(r["seconds"]) for r in rows]
    assert all(s >= 0 for s in seconds)
    assert seconds[-1] == pytest.approx(sum(seconds[:-1]), abs=0.02)
    assert "TIMES.csv" in captured.out
    # the next run's estimate of the time left reads these timings
    assert main(["figures", "--out", str(tmp_path)]) == 0
    assert "left" in capsys.readouterr().err.splitlines()[0]


@pytest.mark.parametrize(
    "extra", [["--quick"], ["--only", "first"], ["--redraw"]], ids=["quick", "only", "redraw"]
)
def test_only_full_runs_write_times(tiny_figures, tmp_path, capsys, extra):
    if extra == ["--redraw"]:
        assert main(["figures", "--only", "first", "second", "--out", str(tmp_path)]) == 0
    assert main(["figures", *extra, "--out", str(tmp_path)]) == 0
    assert not (tmp_path / "TIMES.csv").exists()


@pytest.mark.parametrize("quiet", ["--json", "--quiet"])
def test_figures_progress_is_silenced(tiny_figures, tmp_path, capsys, quiet):
    assert main(["figures", quiet, "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().err == ""
    assert (tmp_path / "TIMES.csv").exists()


CONFIG = """
name = "tiny"
kind = "simulate"
seeds = [0, 1]

[[grid]]
noise = ["symmetric"]
rate = [0.2, 0.3]
classes = [3]
n = [500]
"""


def test_sweep_progress_counts_cells_and_is_silenced(tmp_path, capsys):
    config = tmp_path / "tiny.toml"
    config.write_text(CONFIG)
    base = ["sweep", str(config), "--workers", "1"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert "tiny cells" in err and "4/4" in err
    for quiet in ("--json", "--quiet", "--no-progress"):
        assert main([*base, "--out", str(tmp_path / quiet.strip("-")), quiet]) == 0
        assert capsys.readouterr().err == ""


def test_times_record_the_machines_speed_and_scale_the_first_estimate(
    tiny_figures, tmp_path, capsys, monkeypatch
):
    """A full run records its machine's reference seconds; the next run, on a machine twice
    as slow by that workload, expects the recorded seconds twice over before any figure ran."""
    from simulations import machine

    monkeypatch.setattr(machine, "reference_seconds", lambda repeat=3: 0.5)
    assert main(["figures", "--quiet", "--out", str(tmp_path)]) == 0
    path = tmp_path / "TIMES.csv"
    meta = json.loads(path.read_text().splitlines()[0][2:])
    assert meta["machine"]["reference_s"] == 0.5
    rows = ["figure,seconds", "first,100", "second,50", "total,150"]
    path.write_text(path.read_text().splitlines()[0] + "\n" + "\n".join(rows) + "\n")
    monkeypatch.setattr(machine, "reference_seconds", lambda repeat=3: 1.0)
    assert main(["figures", "--out", str(tmp_path)]) == 0
    assert "about 5:00 left" in capsys.readouterr().err.splitlines()[0]  # 2 x 150 s


def test_the_reference_workload_is_timed_only_when_asked():
    from simulations import machine

    assert "reference_s" not in machine.describe(reference=False)
    assert 0 < machine.reference_seconds(repeat=1) < 60
