"""`smallloss estimate` as a user meets it: one line naming the input for bad input, a point
estimate with --bootstrap 0, a progress bar that --json and --quiet silence."""

import json

import numpy as np
import pytest
from annotators import annotate, random_T, write_npz

from simulations.cli import _args, main

METHODS = ("confident", "anchor", "mixture")


@pytest.fixture
def labels(tmp_path):
    """300 items, labels that reach class 9, and valid 10-column probabilities."""
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 10, 300)
    noisy = annotate(rng, truth, [random_T(rng, 10, 0.7)])[:, 0]
    noisy[:10] = np.arange(10)  # every class occurs, class 9 among them
    probs = rng.dirichlet(np.ones(10), 300)
    f = write_npz(tmp_path, noisy=noisy, oof=probs)
    np.save(tmp_path / "P.npy", probs)
    return tmp_path, f, probs


def _one_error_line(capsys, argv) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    return lines[0]


@pytest.mark.parametrize("method", METHODS)
def test_too_few_probability_columns_names_probs_and_both_shapes(labels, capsys, method):
    tmp, f, probs = labels
    np.save(tmp / "P9.npy", probs[:, :9] / probs[:, :9].sum(1, keepdims=True))
    argv = ["estimate", "--labels", f, "--noisy", "noisy", "--probs", str(tmp / "P9.npy")]
    line = _one_error_line(capsys, [*argv, "--method", method])
    assert "--probs" in line and "(300, 9)" in line and "(300, 10)" in line


@pytest.mark.parametrize("method", METHODS)
def test_too_few_columns_under_a_key_of_the_labels(labels, capsys, method, tmp_path):
    _, _, probs = labels
    rng = np.random.default_rng(1)
    f = write_npz(tmp_path, noisy=rng.integers(0, 10, 300), oof=probs[:, :9])
    argv = ["estimate", "--labels", f, "--noisy", "noisy", "--probs", "oof", "--method", method]
    line = _one_error_line(capsys, argv)
    assert "--probs" in line and "(300, 9)" in line and "(300, 10)" in line


@pytest.mark.parametrize(
    "change, needle",
    [
        (lambda p: p * 1.01, "sum to 1"),
        (lambda p: np.where(np.arange(10) == 0, -0.1, p + 0.1 / 9), "negative"),
        (lambda p: np.where(np.arange(10) == 3, np.nan, p), "NaN"),
        (lambda p: p[:200], "(200, 10)"),
    ],
)
def test_bad_probabilities_name_probs(labels, capsys, change, needle):
    tmp, f, probs = labels
    np.save(tmp / "bad.npy", change(probs))
    argv = ["estimate", "--labels", f, "--noisy", "noisy", "--probs", str(tmp / "bad.npy")]
    line = _one_error_line(capsys, argv)
    assert "--probs" in line and needle in line


def test_rows_off_by_less_than_the_tolerance_are_accepted(labels, capsys):
    tmp, f, probs = labels
    np.save(tmp / "close.npy", probs * (1 + 5e-5))
    argv = ["estimate", "--labels", f, "--noisy", "noisy", "--probs", str(tmp / "close.npy")]
    assert main([*argv, "--bootstrap", "0", "--json"]) == 0


def test_missing_files_name_their_flag(labels, capsys):
    tmp, f, _ = labels
    line = _one_error_line(
        capsys,
        ["estimate", "--labels", str(tmp / "nope.npz"), "--noisy", "noisy", "--probs", "P.npy"],
    )
    assert line.startswith("smallloss: error: --labels file not found") and "nope.npz" in line
    line = _one_error_line(
        capsys, ["estimate", "--labels", f, "--noisy", "noisy", "--probs", str(tmp / "no.npy")]
    )
    assert line.startswith("smallloss: error: --probs file not found") and "no.npy" in line
    line = _one_error_line(
        capsys, ["estimate", "--labels", f, "--noisy", "noisy", "--probs", "absent"]
    )
    assert "--probs 'absent'" in line


@pytest.mark.parametrize("draws", ["1", "9", "-3"])
def test_too_few_bootstrap_draws_are_refused(labels, capsys, draws):
    _, f, _ = labels
    argv = ["estimate", "--labels", f, "--noisy", "noisy", "--probs", "oof"]
    line = _one_error_line(capsys, [*argv, "--bootstrap", draws])
    assert f"--bootstrap {draws}" in line and "at least 10 draws" in line


@pytest.mark.parametrize("method", METHODS)
def test_bootstrap_zero_is_a_point_estimate(labels, capsys, method):
    _, f, _ = labels
    argv = ["estimate", "--labels", f, "--noisy", "noisy", "--probs", "oof", "--method", method]
    assert main([*argv, "--bootstrap", "0", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["bootstrap"] == 0 and len(d["T"]) == 10
    for key in ("T_low", "T_high", "noise_rate_low", "noise_rate_high"):
        assert d[key] is None
    assert d["conditions"]["bootstrap_share"] is None
    assert d["conditions"]["row_margin_low"] is None
    assert isinstance(d["conditions"]["row_dominant"], bool)
    assert main([*argv, "--bootstrap", "0"]) == 0
    assert "no intervals (--bootstrap 0)" in capsys.readouterr().out


def test_bootstrap_zero_with_annotators(tmp_path, capsys):
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 3, 500)
    ann = annotate(rng, truth, [random_T(rng, 3) for _ in range(3)])
    f = write_npz(tmp_path, a=ann[:, 0], b=ann[:, 1], c=ann[:, 2])
    assert main(["estimate", "--labels", f, "--noisy", "a", "b", "c", "--bootstrap", "0"]) == 0
    assert "no intervals" in capsys.readouterr().out
    argv = ["estimate", "--labels", f, "--noisy", "a", "b", "c", "--bootstrap", "0", "--json"]
    assert main(argv) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["annotators"]["a"]["T_low"] is None and d["T_high"] is None


def test_the_text_names_the_share_of_draws_not_a_probability(labels, capsys):
    _, f, _ = labels
    argv = ["estimate", "--labels", f, "--noisy", "noisy", "--probs", "oof", "--bootstrap", "10"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "share of draws in which it holds" in out and "P(condition" not in out


def test_progress_bar_on_stderr_unless_json_or_quiet(labels, capsys, monkeypatch):
    monkeypatch.setattr(_args, "PROGRESS_AFTER_S", 0.0)
    _, f, _ = labels
    argv = ["estimate", "--labels", f, "--noisy", "noisy", "--probs", "oof", "--bootstrap", "12"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "bootstrap" in err and "12" in err
    for quiet in ("--json", "--quiet"):
        assert main([*argv, quiet]) == 0
        assert capsys.readouterr().err == ""
