"""Probes from a user's own training items: `pick` stratified by observed label and
reproducible from its seed, `merge` of the annotated clean labels, and `smallloss probes`
from picking to a run that `analyse` reads."""

import csv
import json

import numpy as np
import pytest
from run_arrays import synthetic_run

from simulations.cli import main
from simulations.selection import probeset, runfile
from theory.errors import InputError


def labels(seed=0, n=1_000, c=5):
    """Observed labels with unequal classes (the last one rare)."""
    p = np.array([0.4, 0.25, 0.2, 0.1, 0.05])[:c]
    return np.random.default_rng(seed).choice(c, n, p=p / p.sum())


@pytest.mark.parametrize("count", [1, 7, 50, 333, 999])
@pytest.mark.parametrize("seed", [0, 1])
def test_pick_is_stratified_by_observed_label(count, seed):
    noisy = labels(seed)
    index = probeset.pick(noisy, count, seed)
    assert index.size == count == np.unique(index).size
    assert np.all(np.diff(index) > 0)
    picked = np.bincount(noisy[index], minlength=5)
    expected = count * np.bincount(noisy, minlength=5) / noisy.size
    assert np.all(np.abs(picked - expected) < 1)


def test_the_quotas_are_largest_remainders():
    # 10 * (5, 3, 2) / 10 = (5, 3, 2) exactly; 4 * (5, 3, 2) / 10 = (2.0, 1.2, 0.8)
    assert probeset.quotas([5, 3, 2], 10).tolist() == [5, 3, 2]
    assert probeset.quotas([5, 3, 2], 4).tolist() == [2, 1, 1]
    # 3 * (1, 1, 1, 1) / 4 = 0.75 each: ties go to the lower classes
    assert probeset.quotas([1, 1, 1, 1], 3).tolist() == [1, 1, 1, 0]
    assert probeset.quotas([0, 7, 0], 5).tolist() == [0, 5, 0]


def test_pick_is_reproducible_from_the_seed_and_differs_across_seeds():
    noisy = labels(3)
    first = probeset.pick(noisy, 100, seed=11)
    assert np.array_equal(first, probeset.pick(noisy, 100, seed=11))
    others = [probeset.pick(noisy, 100, seed=s) for s in (12, 13)]
    assert all(not np.array_equal(first, o) for o in others)


@pytest.mark.parametrize("as_indices", [False, True])
def test_pick_never_picks_an_existing_probe(as_indices):
    noisy = labels(4, n=400)
    probe = np.random.default_rng(4).random(400) < 0.3
    exclude = np.flatnonzero(probe) if as_indices else probe
    free = int((~probe).sum())
    for seed in range(5):
        index = probeset.pick(noisy, 60, seed, exclude=exclude)
        assert not probe[index].any()
    # every item that is not a probe, stratified over the available ones
    everything = probeset.pick(noisy, free, 0, exclude=exclude)
    assert np.array_equal(everything, np.flatnonzero(~probe))


@pytest.mark.parametrize("count", [0, -3, 401, 2.5])
def test_pick_refuses_a_count_outside_one_to_the_available(count):
    with pytest.raises(InputError, match="cannot pick"):
        probeset.pick(labels(5, n=400), count, 0)


def test_merge_marks_the_probes_and_keeps_every_other_key():
    noisy = np.array([0, 1, 2, 1, 0, 2])
    extra = np.arange(6.0)
    arrays = {"noisy": noisy, "losses": extra[:, None], "ids": np.array(list("abcdef"))}
    out = probeset.merge(arrays, np.array([4, 1]), np.array([2, 1]))
    assert out["probe"].tolist() == [False, True, False, False, True, False]
    assert out["clean"].tolist() == [-1, 1, -1, -1, 2, -1]
    assert out["losses"] is arrays["losses"] and out["ids"] is arrays["ids"]
    assert "probe" not in arrays and "clean" not in arrays  # the input is not changed
    # a second round adds to the first and keeps the known clean labels
    again = probeset.merge(out, np.array([0]), np.array([0]))
    assert again["probe"].sum() == 3 and again["clean"].tolist() == [0, 1, -1, -1, 2, -1]
    assert out["probe"].sum() == 2


@pytest.mark.parametrize(
    ("index", "clean", "needle"),
    [
        ([6], [0], "outside"),
        ([-1], [0], "outside"),
        ([1, 1], [0, 0], "more than once"),
        ([1], [-1], "not a class"),
        ([2], [0], "already a probe"),
    ],
)
def test_merge_refuses_bad_indices_and_labels(index, clean, needle):
    arrays = {"noisy": np.zeros(6, int), "probe": np.arange(6) == 2, "clean": np.full(6, -1)}
    arrays["clean"][2] = 0
    with pytest.raises(InputError, match=needle):
        probeset.merge(arrays, np.array(index), np.array(clean))


@pytest.fixture
def user_run(tmp_path):
    """A run as a user's training code would write it: no clean labels, no T, no probes, its
    own sample ids; and the clean labels an annotator would give."""
    arrays, _ = synthetic_run(seed=2, n=900, probes=0, epochs=3)
    clean = arrays.pop("clean")
    for key in ("T", "prior"):
        arrays.pop(key)
    arrays["ids"] = np.array([f"item-{i}" for i in range(900)])
    path = tmp_path / "run.npz"
    runfile.write(path, arrays)
    return path, arrays, clean


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_pick_then_merge_gives_a_run_that_analyse_reads(capsys, tmp_path, user_run):
    path, arrays, clean = user_run
    picked = tmp_path / "pick.csv"
    assert (
        main(
            [
                "probes",
                "pick",
                str(path),
                "--count",
                "160",
                "--seed",
                "4",
                "--json",
                "--out",
                str(picked),
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    rows = read_csv(picked)
    assert list(rows[0]) == ["index", "noisy", "id"] and len(rows) == 160
    index = np.array([int(r["index"]) for r in rows])
    assert [int(r["noisy"]) for r in rows] == arrays["noisy"][index].tolist()
    assert [r["id"] for r in rows] == [f"item-{i}" for i in index]
    assert sum(summary["per_class"].values()) == 160
    by_class = sorted(i for ids in summary["indices"].values() for i in ids)
    assert by_class == sorted(index.tolist())
    # the same seed, the same file
    again = tmp_path / "again.csv"
    assert (
        main(["probes", "pick", str(path), "--count", "160", "--seed", "4", "--out", str(again)])
        == 0
    )
    assert again.read_text() == picked.read_text()
    assert "picked 160" in capsys.readouterr().out

    # the annotator's labels: the true clean ones, some equal to the observed label, some not
    given = clean[index]
    mislabelled = int((given != arrays["noisy"][index]).sum())
    assert 0 < mislabelled < index.size
    annotated = tmp_path / "annotated.csv"
    with open(annotated, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "index", "clean", "note"])
        w.writerows([f"item-{i}", i, k, "checked"] for i, k in zip(index, given, strict=True))
    new = tmp_path / "new.npz"
    assert (
        main(
            ["probes", "merge", str(path), "--labels", str(annotated), "--out", str(new), "--json"]
        )
        == 0
    )
    merged = json.loads(capsys.readouterr().out)
    assert merged["merged"] == 160 and merged["mislabelled"] == mislabelled

    run = runfile.read(new)
    assert np.array_equal(np.flatnonzero(run.probes), index)
    assert np.array_equal(run.clean[index], given)
    assert (np.delete(run.clean, index) == -1).all()
    assert np.array_equal(run.extra["ids"], arrays["ids"])
    assert np.allclose(run.losses, runfile.read(path).losses)
    assert runfile.read(path).probe is None  # the original is left as it was

    # picking again never picks the probes just merged
    assert (
        main(
            [
                "probes",
                "pick",
                str(new),
                "--count",
                "50",
                "--json",
                "--out",
                str(tmp_path / "more.csv"),
            ]
        )
        == 0
    )
    more = json.loads(capsys.readouterr().out)
    assert not {i for ids in more["indices"].values() for i in ids} & set(index.tolist())

    argv = ["analyse", str(new), "--keep", "target:0.9", "--confidence", "0.9"]
    assert main([*argv, "--json", "--quiet"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["probes"] > 0


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert captured.out == ""
    return lines[0]


@pytest.mark.parametrize(
    ("rows", "needle"),
    [
        (["index,clean", "3,1", "900,0"], "line 3: index 900 is outside"),
        (["index,clean", "3,1", "8,0", "3,2"], "line 4: index 3 is given twice (also on line 2)"),
        (["index,clean", "3,4"], "line 2 (index 3): clean label 4 is not a class in [0, 4)"),
        (["index,clean", "3,-1"], "line 2 (index 3): clean label -1 is not a class"),
        (["index,clean", "3,cat"], "line 2 (index 3): clean label 'cat' is not a whole"),
        (["index,clean", "3,1.5"], "clean label '1.5' is not a whole"),
        (["index,clean", "3,"], "line 2 (index 3): empty clean label"),
        (["index,clean", "x,1"], "line 2: index 'x' is not a whole number"),
        (["id,clean", "3,1"], "no column 'index'"),
        (["index,clean"], "has no rows"),
    ],
)
def test_bad_rows_exit_2_with_one_line(capsys, tmp_path, user_run, rows, needle):
    path = user_run[0]
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(rows) + "\n")
    out = tmp_path / "new.npz"
    assert main(["probes", "merge", str(path), "--labels", str(bad), "--out", str(out)]) == 2
    assert needle in one_error_line(capsys)
    assert not out.exists()


def test_a_probe_cannot_be_merged_twice(capsys, tmp_path, user_run):
    path = user_run[0]
    good = tmp_path / "good.csv"
    good.write_text("index,clean\n3,1\n5,2.0\n")  # 2.0 as a spreadsheet writes it
    new = tmp_path / "new.npz"
    assert main(["probes", "merge", str(path), "--labels", str(good), "--out", str(new)]) == 0
    assert "merged 2 probes" in capsys.readouterr().out
    assert runfile.read(new).clean[[3, 5]].tolist() == [1, 2]
    argv = ["probes", "merge", str(new), "--labels", str(good), "--out", str(tmp_path / "x.npz")]
    assert main(argv) == 2
    assert "line 2: index 3 is already a probe" in one_error_line(capsys)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["pick", "{run}", "--count", "0"], "cannot pick 0 items"),
        (["pick", "{run}", "--count", "901"], "only 900 of the 900"),
        (["pick", "{run}", "--count", "900"], "at least one left to select"),
        (["pick", "{run}"], "needs --count"),
        (["pick", "{dir}/missing.npz", "--count", "5"], "run file not found"),
        (["pick", "{run}", "--count", "5", "--out", "{run}"], "is the run file itself"),
        (["merge", "{run}", "--labels", "{dir}/missing.csv", "--out", "{dir}/n.npz"], "not found"),
        (["merge", "{run}", "--labels", "{dir}/l.csv"], "needs --out"),
        (["merge", "{run}", "--count", "3"], "not an option of probes merge"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, tmp_path, user_run, argv, needle):
    argv = [a.format(run=user_run[0], dir=tmp_path) for a in argv]
    assert main(["probes", *argv]) == 2
    assert needle in one_error_line(capsys)
    assert user_run[0].is_file()
