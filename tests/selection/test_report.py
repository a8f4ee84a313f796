"""`smallloss analyse --out DIR [--csv] [--report]`: the per-sample table (one row per sample,
joinable on the run's ids, its kept flags the .npy masks) and the report drawn from that table
as written (``simulations.figures.run_report``)."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from run_arrays import synthetic_run

from simulations import figures
from simulations.cli import analyse as analyse_cli
from simulations.cli import main
from simulations.figures import run_report
from simulations.selection import analyse, runfile, scores, table

N, PROBES = 700, 200
PNG = b"\x89PNG\r\n\x1a\n"


def _run_arrays(seed=3) -> dict:
    """A synthetic run with its probes scattered through it (not the last rows) and ids."""
    arrays, _ = synthetic_run(seed=seed, n=N, probes=PROBES, val=0, probs=False)
    order = np.random.default_rng(seed).permutation(N + PROBES)
    arrays = {
        k: v[order] if k in ("noisy", "logits", "clean", "probe") else v for k, v in arrays.items()
    }
    arrays["ids"] = np.array([f"img-{i:05d}" for i in order])
    # some scored samples' clean labels unknown (-1): no per-epoch scoring, a quicker analyse
    arrays["clean"][~arrays["probe"] & (np.arange(N + PROBES) % 7 == 0)] = -1
    return arrays


QUICK = ["--keep", "target:0.9", "--bootstrap", "0", "--quiet", "--json"]
ARGS = [*QUICK, "--confidence", "0.9"]  # and the certifiable curve


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """One run analysed with --out, --csv and --report; the folder and the run file."""
    base = tmp_path_factory.mktemp("report")
    np.savez(base / "run.npz", **_run_arrays())
    out = base / "out"
    argv = ["analyse", str(base / "run.npz"), *ARGS, "--out", str(out), "--csv", "--report"]
    assert main(argv) == 0
    return out, base / "run.npz"


def test_the_table_has_one_row_per_sample_and_the_documented_columns(analysed):
    out, path = analysed
    t = pd.read_parquet(out / "samples.parquet")
    run = runfile.read(path)
    z = np.load(path)
    assert len(t) == run.n == N + PROBES
    assert list(t.columns[: len(table.COLUMNS)]) == list(table.COLUMNS)
    masks = {p.stem for p in out.glob("*.npy")}
    kept = [c for c in t.columns if c.startswith("kept_")]
    assert list(t.columns) == [*table.COLUMNS, *kept]
    assert {c.removeprefix("kept_") for c in kept} == masks
    assert {"kept_target_global", "kept_target_classwise", "kept_target_rsl"} <= set(kept)
    np.testing.assert_array_equal(t["index"], np.arange(run.n))
    np.testing.assert_array_equal(t["id"].to_numpy(str), z["ids"])
    np.testing.assert_array_equal(t["probe"], z["probe"])
    np.testing.assert_array_equal(t["noisy"], z["noisy"])
    np.testing.assert_array_equal(t["clean"], z["clean"])
    np.testing.assert_array_equal(t["score_last"], run.losses[:, -1])
    np.testing.assert_array_equal(t["score_mean"], scores.mean_loss(run.losses))
    np.testing.assert_allclose(t["aum"], scores.aum(run.logits, run.noisy))
    assert t["probe"].dtype == bool and t["score_last"].dtype == np.float32


def test_the_kept_flags_are_the_npy_masks_and_the_record_counts(analysed):
    out, _ = analysed
    t = pd.read_parquet(out / "samples.parquet")
    record = json.loads((out / "record.json").read_text())
    for npy in out.glob("*.npy"):
        flags = t[f"kept_{npy.stem}"]
        assert flags.dtype == bool
        np.testing.assert_array_equal(flags.to_numpy(), np.load(npy))
        assert not flags[t["probe"]].any(), npy.stem
    for name, row in record["target"].items():
        assert int(t[f"kept_target_{name}"].sum()) == row["selected"]
    for name in ("global", "classwise", "rsl"):
        assert int(t[f"kept_{name}"].sum()) == record["criteria"][name]["selected"]


def test_ids_join_back_and_the_csv_holds_the_same_table(analysed):
    out, path = analysed
    t = pd.read_parquet(out / "samples.parquet")
    c = pd.read_csv(out / "samples.csv")
    assert list(c.columns) == list(t.columns)
    for col in t.columns:
        if col == "id":
            assert list(c[col]) == list(t[col])
        else:
            np.testing.assert_allclose(c[col].to_numpy(float), t[col].to_numpy(float), rtol=1e-6)
    # a practitioner's own table, keyed by id and in another order, joins on it
    mine = pd.DataFrame({"id": np.load(path)["ids"][::-1], "mine": np.arange(N + PROBES)})
    joined = mine.merge(t, on="id", validate="one_to_one")
    assert len(joined) == len(t)
    row = joined.iloc[0]
    assert row["index"] == t.index[t["id"] == row["id"]][0]


def test_without_clean_labels_or_ids_the_table_says_so():
    rng = np.random.default_rng(1)
    noisy = rng.integers(0, 3, 400)
    losses = rng.gamma(2.0, 0.3, (400, 3))
    T = np.full((3, 3), 0.1) + 0.7 * np.eye(3)
    run = runfile.from_arrays({"noisy": noisy, "losses": losses, "T": T})
    record, masks = analyse.analyse(run, bootstrap=0)
    t = table.sample_table(run, masks, record)
    assert "id" not in t and "aum" not in t  # no ids key, no logits
    assert (t["clean"] == -1).all() and not t["probe"].any()
    assert len(t) == 400 and {f"kept_{m}" for m in masks} <= set(t.columns)


def test_a_malformed_ids_key_is_named_before_the_work(tmp_path, capsys):
    arrays = _run_arrays()
    arrays["ids"] = arrays["ids"][:10]
    np.savez(tmp_path / "run.npz", **arrays)
    assert main(["analyse", str(tmp_path / "run.npz"), "--out", str(tmp_path / "o")]) == 2
    assert "'ids'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("flag", ["--report", "--csv"])
def test_report_and_csv_need_out(tmp_path, capsys, flag):
    np.savez(tmp_path / "run.npz", **_run_arrays())
    assert main(["analyse", str(tmp_path / "run.npz"), flag]) == 2
    assert "--out" in capsys.readouterr().err


def test_the_report_pngs_exist_and_the_html_shows_each(analysed):
    out, path = analysed
    pngs = sorted(out.glob("report_*.png"))
    classes = np.unique(np.load(path)["noisy"])
    assert len(pngs) == len(classes) + 1  # a class each, and the precision-versus-kept curve
    for png in pngs:
        data = png.read_bytes()
        assert data.startswith(PNG) and len(data) > 1_000, png.name
    page = (out / "report.html").read_text()
    shown = re.findall(r'<img src="([^"]+)"', page)
    assert sorted(shown) == [p.name for p in pngs]
    assert "samples.parquet" in page and "Truncated" not in page
    assert "run_report" not in figures.ORDER  # not a study figure


def test_the_command_draws_from_the_table_file(tmp_path, monkeypatch):
    """The CLI hands the drawing the table read back from samples.parquet."""
    np.savez(tmp_path / "run.npz", **_run_arrays(seed=5))
    read, drawn = [], {}
    real_read, real_draw = run_report.read_table, run_report.draw_class
    monkeypatch.setattr(run_report, "read_table", lambda p: read.append(p) or real_read(p))

    def spy(j, data):
        drawn[j] = data
        return real_draw(j, data)

    monkeypatch.setattr(run_report, "draw_class", spy)
    out = tmp_path / "out"
    assert main(["analyse", str(tmp_path / "run.npz"), *QUICK, "--out", str(out), "--report"]) == 0
    assert read == [out / "samples.parquet"]
    t = pd.read_parquet(out / "samples.parquet")
    assert sorted(drawn) == run_report.observed_classes(t)
    for j, data in drawn.items():
        mine = (t["noisy"] == j) & ~t["probe"]
        np.testing.assert_array_equal(data["score_last"]["scored"], t.loc[mine, "score_last"])
        np.testing.assert_array_equal(data["score_mean"]["scored"], t.loc[mine, "score_mean"])
        cut = t.loc[(t["noisy"] == j) & t["kept_classwise"], "score_last"].max()
        assert data["score_last"]["cuts"]["classwise"] == pytest.approx(cut)
        assert data["score_mean"]["cuts"]["target_rsl"] is not None


def test_the_pictures_follow_the_written_table_not_the_run(analysed, tmp_path, monkeypatch):
    """Edit the written table's scores: the redrawn histograms and cuts move with them."""
    out, _ = analysed
    t = pd.read_parquet(out / "samples.parquet")
    t["score_last"] = (t["score_last"] * 100 + 5).astype(np.float32)
    t.to_parquet(tmp_path / "samples.parquet", index=False)
    (tmp_path / "record.json").write_bytes((out / "record.json").read_bytes())
    figs = {}
    real = run_report.draw_class
    monkeypatch.setattr(run_report, "draw_class", lambda j, d: figs.setdefault(j, real(j, d)))
    run_report.write_report(tmp_path, tmp_path / "samples.parquet")
    for j, fig in figs.items():
        ax = fig.axes[0]  # the last-epoch panel
        mine = t[(t["noisy"] == j)]
        scored = mine.loc[~mine["probe"], "score_last"].to_numpy(float)
        heights = [p.get_height() for p in ax.patches]
        assert sum(heights) == scored.size
        # the bins start at the class's smallest score, edited (every edited score is >= 5)
        assert ax.patches[0].get_x() == pytest.approx(mine["score_last"].min())
        assert ax.patches[0].get_x() > 5
        lines = {ln.get_label(): ln for ln in ax.get_lines()}
        cut = mine.loc[mine["kept_global"], "score_last"].max()
        assert lines["global cut"].get_xdata()[0] == pytest.approx(cut)
        bad = mine["probe"] & (mine["clean"] != mine["noisy"])
        rug = next(ln for name, ln in lines.items() if name.startswith("probes, mislabelled"))
        np.testing.assert_allclose(np.sort(rug.get_xdata()), np.sort(mine.loc[bad, "score_last"]))


def test_the_curve_comes_from_the_record(analysed):
    out, _ = analysed
    record = json.loads((out / "record.json").read_text())
    fig = run_report.draw_curve(record["certifiable"], 0.9, 0.9)
    lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}
    for name, c in record["certifiable"].items():
        P, kept = zip(*c["kept_at_precision"])
        np.testing.assert_array_equal(lines[name].get_xdata(), P)
        np.testing.assert_array_equal(lines[name].get_ydata(), kept)
    assert lines["asked P = 0.9"].get_xdata()[0] == 0.9


def _hand_table(classes: int, rng) -> pd.DataFrame:
    n = classes * 30
    noisy = np.repeat(np.arange(classes), 30)
    probe = rng.random(n) < 0.2
    s = rng.gamma(2.0, 0.3, n).astype(np.float32)
    s[0] = 0.0  # a loss of 0 on a log axis
    return pd.DataFrame(
        {
            "index": np.arange(n),
            "probe": probe,
            "noisy": noisy,
            "clean": np.where(probe, noisy, -1),
            "score_last": s,
            "score_mean": s,
            "kept_global": ~probe & (s < 0.5),
        }
    )


def test_many_classes_are_truncated_and_a_missing_curve_is_said(tmp_path, monkeypatch):
    assert run_report.MAX_CLASSES == 20
    monkeypatch.setattr(run_report, "MAX_CLASSES", 3)  # three figures drawn, not twenty
    _hand_table(5, np.random.default_rng(0)).to_csv(tmp_path / "samples.csv", index=False)
    (tmp_path / "record.json").write_text(json.dumps({"warnings": ["a warning"], "run": "r"}))
    done = run_report.write_report(tmp_path, tmp_path / "samples.csv")
    assert (done["classes_observed"], done["classes_shown"]) == (5, 3)
    page = (tmp_path / "report.html").read_text()
    assert "the first 3 of 5 observed classes" in page
    assert "No precision-versus-kept curve" in page and "a warning" in page
    shown = re.findall(r'<img src="([^"]+)"', page)
    assert shown == [f"report_class_{j}.png" for j in range(3)]
    assert all((tmp_path / s).read_bytes().startswith(PNG) for s in shown)


def test_without_pyarrow_the_table_is_csv_and_the_record_warns(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(analyse_cli, "has_pyarrow", lambda: False)
    np.savez(tmp_path / "run.npz", **_run_arrays())
    out = tmp_path / "out"
    assert main(["analyse", str(tmp_path / "run.npz"), *QUICK, "--out", str(out), "--report"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert not (out / "samples.parquet").exists()
    assert len(pd.read_csv(out / "samples.csv")) == N + PROBES
    saved = json.loads((out / "record.json").read_text())
    for record in (printed, saved):
        assert sum("pyarrow" in w for w in record["warnings"]) == 1
    assert "samples.csv" in (out / "report.html").read_text()
