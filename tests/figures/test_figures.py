"""`smallloss figures --quick`: every PNG with its CSV, and every PNG redrawn from its CSV alone."""

import json

import numpy as np
import pytest

from simulations import figures
from simulations.cli import main
from theory import conditions, regions

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def quick_figures(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    assert main(["figures", "--quick", "--out", str(out)]) == 0
    return out


def test_every_figure_has_a_png_and_its_csv(quick_figures):
    for name in figures.ORDER:
        png, csv_path = quick_figures / f"{name}.png", quick_figures / f"{name}.csv"
        assert png.stat().st_size > 10_000, name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        meta = figures.read_meta(csv_path)
        assert meta["settings"]["figure"] == name and "numpy" in meta["versions"]
        assert len(figures.read_csv(csv_path)) > 0


def test_figures_redraw_from_their_csv_alone(quick_figures, tmp_path, capsys):
    capsys.readouterr()
    for name in figures.ORDER:
        (tmp_path / f"{name}.csv").write_bytes((quick_figures / f"{name}.csv").read_bytes())
    assert main(["figures", "--redraw", "--out", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [f["name"] for f in out["figures"]] == list(figures.ORDER)
    for name in figures.ORDER:
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000


def test_figure_data_tells_the_story(quick_figures):
    t = figures.read_csv(quick_figures / "predicted_vs_observed.csv")
    synthetic = t["panel"] == "synthetic"
    keep = synthetic & np.isin(t["criterion"], ["global", "classwise", "rsl"])
    diff = abs(t["observed"] - t["predicted"])[keep]
    assert diff.max() <= 0.02
    # trivial cells are exactly the synthetic ones with both sides 1, to rounding (an exact
    # test would make the count depend on the CPU's last bits)
    both_one = (abs(t["observed"] - 1) <= 1e-9) & (abs(t["predicted"] - 1) <= 1e-9)
    np.testing.assert_array_equal(t["trivial"] == 1, synthetic & both_one)
    assert (t["panel"] == "digits").sum() > 0
    cond = figures.read_csv(quick_figures / "conditions.csv")
    sim = np.flatnonzero(cond["grid"] == "simulated")
    # at every simulated point: per-class selection is exact exactly where T is column
    # dominant, one global ranking exactly where T is globally separable
    for k in sim:
        T = regions.MATRIX_FAMILIES[cond["family"][k]](cond["a"][k], cond["b"][k])
        assert (cond["simulated_classwise"][k] == 1) == conditions.column_dominant(T), k
        assert (cond["simulated_global"][k] == 1) == conditions.globally_separable(T), k


def test_unknown_figure_and_missing_csv(tmp_path, capsys):
    assert main(["figures", "--only", "nonsense", "--out", str(tmp_path)]) == 2
    assert "unknown figure" in capsys.readouterr().err
    assert main(["figures", "--only", "theorem2", "--redraw", "--out", str(tmp_path)]) == 2
    assert "missing" in capsys.readouterr().err


def test_estimation_figure_data(quick_figures):
    t = figures.read_csv(quick_figures / "estimation.csv")
    cif = t["kind"] == "cifar10n"
    worse = cif & (t["name"] == "worse") & (t["method"] == "ds")
    by_rule = {r: t["T_error"][worse & (t["rule"] == r)][0] for r in ("worst", "observed")}
    assert by_rule["worst"] < 0.5 * by_rule["observed"]
    assert np.all(t["noise_rate_low"][cif] <= t["noise_rate"][cif])
    assert np.all(t["noise_rate"][cif] <= t["noise_rate_high"][cif])
    # the labels alone reject independent errors on CIFAR-10N; the paired bootstrap brackets
    # the full-data difference between the two models
    easy = cif & (t["method"] == "ds-easy") & (t["rule"] != "observed")
    assert np.all(t["independence_p"][easy] < 0.01)
    assert np.all(t["boot_diff_low"][easy] <= t["boot_diff_median"][easy])
    assert np.all(t["boot_diff_median"][easy] <= t["boot_diff_high"][easy])
    # independent errors: Dawid-Skene is right; shared errors: it under-counts them
    cor = (t["kind"] == "correlated") & (t["method"] == "ds")
    err, said, true = t["T_error"][cor], t["noise_rate"][cor], t["true_noise_rate"][cor]
    assert err[0] < 1.5 and np.all(np.diff(err) > 0)
    assert abs(said[0] - true[0]) < 0.005 and np.all((true - said)[1:] > 0.005)
    # more items, smaller error in the predicted precision (first vs last size, mean of draws)
    pr = t["kind"] == "propagation"
    gap = np.abs(t["predicted"] - t["achieved"])
    n = t["n_per_class"]
    assert gap[pr & (n == n[pr].max())].mean() < gap[pr & (n == n[pr].min())].mean()
