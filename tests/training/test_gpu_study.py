"""The GPU study's command on a CPU at tiny sizes, as a bare machine would run it: no
cleanlab, crowd-kit or dask importable, output files with their schema, bad input refused."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from datafiles import write_mnist

from simulations.training.config import ARMS

ROOT = Path(__file__).resolve().parents[2]
# what the GPU machine lacks is made unimportable before the command starts
BARE = (
    "import sys; sys.modules.update({m: None for m in ('cleanlab', 'crowdkit', 'dask', "
    "'distributed', 'mapie', 'aum')}); from simulations.cli import main; "
    "sys.exit(main(sys.argv[1:]))"
)


def study(*args):
    return subprocess.run(
        [sys.executable, "-c", BARE, "gpu-study", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_quick_study_on_a_bare_cpu_writes_every_part(tmp_path):
    write_mnist(tmp_path / "fm", n=20_000)
    out = tmp_path / "out"
    done = study("--data", tmp_path / "fm", "--out", out, "--device", "cpu", "--quick")
    assert done.returncode == 0, done.stderr
    record = json.loads((out / "study.json").read_text())
    assert set(record) >= {"settings", "parity", "speed", "c10", "provenance"}
    assert record["settings"]["quick"] is True
    parity = rows(out / "parity.csv")
    quantities = {r["quantity"] for r in parity}
    assert {"precision_global", "precision_rsl", "test_jocor_last"} <= quantities
    # the same seeds on the same device: a reproducible run differs by nothing
    assert all(float(r["difference"]) == 0.0 for r in parity if r["difference"])
    speed = rows(out / "speed.csv")
    assert {(r["mode"], r["recording"]) for r in speed} == {("fp32", "pass"), ("fp32", "off")}
    for r in speed:
        assert float(r["samples_per_s"]) > 0 and 0 <= float(r["record_share"]) < 1
    (c10,) = rows(out / "c10.csv")
    assert c10["noise"] == "symmetric"
    for arm in ARMS:
        for end in ("last", "best_val"):
            assert 0 <= float(c10[f"test_{arm}_{end}"]) <= 1, (arm, end)
    assert "parity: largest |cpu - cpu|" in done.stdout and "jocor" in done.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "c10.csv",
        "parity.csv",
        "speed.csv",
        "study.json",
    ]  # nothing half-written left beside them


def test_study_refuses_a_missing_data_folder_in_one_line(tmp_path):
    done = study("--data", tmp_path / "nowhere", "--out", tmp_path / "o", "--device", "cpu")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "--data" in done.stderr
    assert not (tmp_path / "o").exists()
