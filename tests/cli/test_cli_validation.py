"""Each command checks its input before its first costly step: a bad input ends in exit code
2 and one line on stderr that names it, and leaves no folder behind."""

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from simulations.cli import main

ROOT = Path(__file__).resolve().parents[2]


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_gpu_study_refuses_a_data_folder_without_the_idx_files(tmp_path, capsys):
    data = tmp_path / "fm"
    data.mkdir()
    (data / "train-images-idx3-ubyte.gz").write_bytes(b"")
    out = tmp_path / "o"
    argv = ["gpu-study", "--data", str(data), "--out", str(out), "--device", "cpu"]
    assert main(argv) == 2
    line = one_line(capsys)
    assert "--data" in line and "train-labels-idx1-ubyte" in line
    assert "t10k-images-idx3-ubyte" in line and "train-images-idx3-ubyte," not in line
    assert not out.exists()


@pytest.mark.parametrize("make", ["nothing", "file"])
def test_gpu_study_refuses_a_missing_or_file_data(tmp_path, capsys, make):
    data = tmp_path / "fm"
    if make == "file":
        data.write_text("")
    out = tmp_path / "o"
    assert main(["gpu-study", "--data", str(data), "--out", str(out), "--device", "cpu"]) == 2
    assert "--data" in one_line(capsys)
    assert not out.exists()


TRAIN = ["train", "--noise", "symmetric", "--rate", "0.2", "--classes", "10", "--epochs", "1"]


def test_train_that_fails_leaves_no_folder_it_made(tmp_path, capsys):
    out = tmp_path / "new" / "run"
    argv = [*TRAIN, "--dataset", f"npz:{tmp_path / 'missing.npz'}", "--out", str(out)]
    assert main(argv) == 2  # fails in loading the data, after the folder was made
    assert "missing.npz" in one_line(capsys)
    assert not (tmp_path / "new").exists()


def test_train_that_fails_keeps_a_folder_that_was_there(tmp_path, capsys):
    out = tmp_path / "there"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    argv = [*TRAIN, "--dataset", f"npz:{tmp_path / 'missing.npz'}", "--out", str(out)]
    assert main(argv) == 2
    one_line(capsys)
    assert (out / "keep.txt").read_text() == "mine"


def test_train_removes_its_folder_when_the_run_breaks(tmp_path, capsys, monkeypatch):
    from simulations.training import run

    def broken(cfg):  # the real run makes its folder first, then writes into it
        Path(cfg.out).mkdir(parents=True)
        (Path(cfg.out) / "run.npz.partial").write_text("")
        raise RuntimeError("the run broke")

    monkeypatch.setattr(run, "run_training", broken)
    out = tmp_path / "made"
    with pytest.raises(RuntimeError):
        main([*TRAIN, "--out", str(out)])
    assert not out.exists()


@pytest.mark.parametrize(
    ("dataset", "model", "allowed"),
    [
        ("digits", "transformer", "auto, mlp"),
        ("digits", "resnet", "auto, mlp"),
        ("npz:whatever.npz", "transformer", "auto, mlp, cnn, resnet"),
    ],
)
def test_train_checks_the_model_for_the_dataset_first(tmp_path, capsys, dataset, model, allowed):
    out = tmp_path / "o"
    argv = [*TRAIN, "--dataset", dataset, "--model", model, "--out", str(out)]
    assert main(argv) == 2
    line = one_line(capsys)
    assert f"--model {model!r}" in line and f"choose {allowed}" in line
    assert not out.exists()


def test_estimate_names_a_label_key_of_two_columns(tmp_path, capsys):
    labels = tmp_path / "ann.npz"
    rng = np.random.default_rng(0)
    np.savez(labels, a=rng.integers(0, 3, (50, 2)), b=rng.integers(0, 3, 50))
    assert main(["estimate", "--labels", str(labels), "--noisy", "a", "b"]) == 2
    line = one_line(capsys)
    assert "'a'" in line and "(50, 2)" in line and "'b'" not in line


def test_estimate_refuses_an_out_that_is_a_folder_before_the_work(tmp_path, capsys):
    labels = tmp_path / "ann.npz"
    np.savez(labels, a=np.zeros(10, int), b=np.zeros(10, int))
    argv = ["estimate", "--labels", str(labels), "--noisy", "a", "b", "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "is a folder" in one_line(capsys)


def _copy_without(src: Path, dest: Path, column: str) -> None:
    lines = src.read_text().splitlines()
    rows = list(csv.reader(lines[1:]))
    k = rows[0].index(column)
    body = [",".join(r[:k] + r[k + 1 :]) for r in rows]
    dest.write_text("\n".join([lines[0], *body]) + "\n")


def test_redraw_names_the_csv_and_its_missing_column(tmp_path, capsys):
    figs = tmp_path / "figures"  # a copy: the committed figures/ are never touched
    figs.mkdir()
    _copy_without(ROOT / "figures" / "theorem2.csv", figs / "theorem2.csv", "eps")
    argv = ["figures", "--redraw", "--only", "theorem2", "--out", str(figs), "--quiet"]
    assert main(argv) == 2
    line = one_line(capsys)
    assert str(figs / "theorem2.csv") in line and "'eps'" in line
    assert not (figs / "theorem2.png").exists()


def test_redraw_checks_every_csv_before_drawing(tmp_path, capsys):
    figs = tmp_path / "figures"
    figs.mkdir()
    shutil.copy(ROOT / "figures" / "theorem2.csv", figs)
    argv = ["figures", "--redraw", "--only", "theorem2", "conditions", "--out", str(figs)]
    assert main([*argv, "--quiet"]) == 2
    assert "conditions" in one_line(capsys)
    assert not (figs / "theorem2.png").exists()
