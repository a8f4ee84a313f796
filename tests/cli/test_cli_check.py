"""`smallloss check`: the JSON contract, the sources, and one-line errors with exit code 2."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from reference import assert_same, brute_report

from simulations.cli import main
from theory import noise

LABELS = Path(__file__).resolve().parents[2] / "theory" / "data" / "cifar10n" / "labels.npz"
KEYS = [
    "classes",
    "noise_rate",
    "row_dominant",
    "column_dominant",
    "diagonally_dominant",
    "globally_separable",
    "cleanlab_valid",
    "row_margin",
    "column_margin",
    "epsilon_star",
    "classes_failing_row",
    "classes_failing_column",
    "per_class",
]


def run_json(capsys, *argv):
    assert main(["check", *argv, "--json"]) == 0
    out = capsys.readouterr().out
    return json.loads(out)


def run_error(capsys, *argv):
    code = main(["check", *argv])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_json_keys_and_values_for_a_family(capsys):
    got = run_json(capsys, "--noise", "pairwise", "--rate", "0.4", "--classes", "5")
    assert set(KEYS) <= set(got)
    assert_same(got, brute_report(noise.pairwise(0.4, 5).tolist(), [0.2] * 5))
    assert set(got["per_class"][0]) >= {"class", "eta", "clean_loss", "min_noisy_loss"}


def test_matrix_file_csv_and_npy_agree(tmp_path, capsys):
    T = noise.random_transition(4, 0.05, seed=7)
    np.savetxt(tmp_path / "T.csv", T, delimiter=",", fmt="%.17g")
    np.save(tmp_path / "T.npy", T)
    a = run_json(capsys, "--matrix", str(tmp_path / "T.csv"))
    b = run_json(capsys, "--matrix", str(tmp_path / "T.npy"))
    a.pop("source"), b.pop("source")
    assert a == b
    assert_same(a, brute_report(T.tolist(), [0.25] * 4))


def test_prior_file_changes_noise_rates(tmp_path, capsys):
    np.savetxt(tmp_path / "p.csv", [[10, 1]], delimiter=",")
    got = run_json(
        capsys,
        "--noise",
        "symmetric",
        "--rate",
        "0.2",
        "--classes",
        "2",
        "--prior",
        str(tmp_path / "p.csv"),
    )
    p = [10 / 11, 1 / 11]
    assert_same(got, brute_report(noise.symmetric(0.2, 2).tolist(), p))
    assert got["prior"] == pytest.approx(p)


def test_labels_from_npz_and_two_npy(tmp_path, capsys):
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 3, 500)
    noisy = np.where(rng.random(500) < 0.3, rng.integers(0, 3, 500), clean)
    np.savez(tmp_path / "l.npz", truth=clean, observed=noisy)
    np.save(tmp_path / "c.npy", clean), np.save(tmp_path / "n.npy", noisy)
    a = run_json(
        capsys, "--labels", str(tmp_path / "l.npz"), "--clean", "truth", "--noisy", "observed"
    )
    b = run_json(capsys, "--labels", str(tmp_path / "c.npy"), str(tmp_path / "n.npy"))
    T, p = noise.estimate(clean, noisy)
    for got in (a, b):
        assert_same(got, brute_report(T.tolist(), p.tolist()))


@pytest.mark.parametrize("name", noise.CIFAR10N_NAMES)
def test_shipped_real_noise_equals_the_estimate_from_labels(name, capsys):
    shipped = run_json(capsys, "--noise", f"cifar10n-{name}")
    estimated = run_json(capsys, "--labels", str(LABELS), "--clean", "clean", "--noisy", name)
    for key in KEYS + ["prior", "T"]:
        assert shipped[key] == estimated[key], key


def test_human_table(capsys):
    assert main(["check", "--noise", "structured", "--rate", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "column dominant" in out and "epsilon*" in out and "min_noisy_loss" in out


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--noise", "gaussian", "--rate", "0.2", "--classes", "3"], "unknown noise"),
        (["--noise", "symmetric", "--rate", "1.5", "--classes", "3"], "outside [0, 1]"),
        (["--noise", "symmetric", "--rate", "-0.1", "--classes", "3"], "outside [0, 1]"),
        (["--noise", "symmetric", "--rate", "0.2", "--classes", "1"], "below 2"),
        (["--noise", "symmetric", "--classes", "3"], "needs a rate"),
        (["--noise", "symmetric", "--rate", "0.2"], "number of classes"),
        (["--matrix", "/nonexistent/T.csv"], "not found"),
        ([], "exactly one source"),
    ],
)
def test_bad_arguments(capsys, argv, needle):
    assert needle in run_error(capsys, *argv)


@pytest.mark.parametrize(
    "content, needle",
    [
        ("0.5,0.6\n0.5,0.5\n", "row 0"),
        ("0.5,0.5\n0.2,0.7\n", "row 1"),
        ("nan,1\n0.5,0.5\n", "finite"),
        ("inf,0\n0.5,0.5\n", "finite"),
        ("1.2,-0.2\n0.5,0.5\n", "negative"),
        ("0.5,0.5,0\n0.5,0.5,0\n", "square"),
        ("1\n", "at least 2"),
        ("", "empty"),
        ("# only a comment\n", "empty"),
        ("a,b\nc,d\n", "non-numeric"),
        ("0.5,0.5\n1\n", "different lengths"),
    ],
)
def test_bad_matrix_files(tmp_path, capsys, content, needle):
    assert needle in run_error(capsys, "--matrix", _write(tmp_path, "T.csv", content))


def test_bad_npy_and_npz_files(tmp_path, capsys):
    assert "cannot read" in run_error(capsys, "--matrix", _write(tmp_path, "T.npy", "not numpy"))
    assert "cannot read" in run_error(capsys, "--labels", _write(tmp_path, "l.npz", "not a zip"))
    assert "not found" in run_error(capsys, "--labels", str(tmp_path / "missing.npz"))
    np.savez(tmp_path / "k.npz", a=np.arange(3))
    assert "no array 'clean'" in run_error(capsys, "--labels", str(tmp_path / "k.npz"))
    np.savez(tmp_path / "d.npz", clean=np.arange(3), noisy=np.arange(4))
    assert "differ in length" in run_error(capsys, "--labels", str(tmp_path / "d.npz"))
    np.savez(tmp_path / "n.npz", clean=np.array([0, -1, 1]), noisy=np.array([0, 1, 1]))
    assert "negative" in run_error(capsys, "--labels", str(tmp_path / "n.npz"))
    np.savez(tmp_path / "f.npz", clean=np.array([0.5, 1]), noisy=np.array([0, 1]))
    assert "integers" in run_error(capsys, "--labels", str(tmp_path / "f.npz"))
    np.savetxt(tmp_path / "p.csv", [0.5, 0.5])
    assert "expected 3" in run_error(
        capsys,
        "--noise",
        "uniform",
        "--rate",
        "0.1",
        "--classes",
        "3",
        "--prior",
        str(tmp_path / "p.csv"),
    )


def test_console_script_error_is_one_line_without_traceback(tmp_path):
    bad = _write(tmp_path, "T.csv", "0.9,0.3\n0.5,0.5\n")
    proc = subprocess.run(
        [sys.executable, "-m", "simulations.cli", "check", "--matrix", bad],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "row 0" in proc.stderr
