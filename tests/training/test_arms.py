"""The stage-2 arms: one registry, every arm trained through the same stage 2, each trained
on the set ``analyse`` selected (no second selection), and the record's one layout."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from simulations.cli import main  # noqa: E402
from simulations.selection import rules  # noqa: E402
from simulations.training import arms, run, stages  # noqa: E402
from simulations.training.config import TrainConfig  # noqa: E402
from simulations.training.prepare import load, prepare  # noqa: E402
from theory import noise  # noqa: E402

TINY = ["--epochs", "2", "--stage2-epochs", "1", "--cv", "0", "--bootstrap", "0"]
PAIRWISE = ["train", "--noise", "pairwise", "--rate", "0.3", "--classes", "10", *TINY]


def test_the_arm_names_parse_in_registry_order():
    assert arms.parse("jocor,ce_all") == ("ce_all", "jocor")
    assert arms.parse("ce_early_stopped") == ("ce_all", "ce_early_stopped")  # its source too
    assert arms.parse("all") == arms.NAMES and arms.parse("none") == ()
    assert set(arms.DEFAULT) == {a.name for a in arms.REGISTRY if not (a.costly or a.needs_keep)}
    with pytest.raises(ValueError, match="unknown arm 'nosuch'"):
        arms.parse("nosuch")


def test_every_registered_arm_trains_through_one_stage_2():
    cfg = TrainConfig(T=noise.pairwise(0.3, 10), epochs=1, stage2_epochs=1, train_fraction=0.3,
                      arms="all", keep="target:0.9", progress=False, device="cpu")  # fmt: skip
    prep = prepare(cfg, load(cfg), 0)
    prep.recipe = {"model": "mlp", "batch": 32, "stage2_epochs": 1}
    n = prep.clean.size
    rng = np.random.default_rng(0)
    masks = {a.mask: rng.random(n) < 0.5 for a in arms.REGISTRY if a.mask}
    L = rng.random((n, 2)).astype(np.float32)
    out = run.stage2(cfg, stages.Tensors.of(prep, torch.device("cpu")), prep, L, masks, 0.3,
                     run.Stages(False))  # fmt: skip
    assert list(out) == [a.name for a in arms.REGISTRY]
    for arm in arms.REGISTRY:
        row = out[arm.name]
        assert {"best_val", "best_epoch", "last", "train_size", "train_precision"} <= set(row)
        assert 0 <= row["last"] <= 1, arm.name
        if arm.mask and arm.networks == 1:
            assert row["train_size"] == masks[arm.mask].sum(), arm.name


def test_stage_2_trains_on_analyses_masks_with_the_runs_threads(tmp_path, monkeypatch):
    seen, analysed, threads = {}, {}, {}
    original_analyse, original_on_selection = run._analyse, stages.on_selection

    def capture_analyse(*a, **k):
        analysis, masks = original_analyse(*a, **k)
        analysed.update(masks)
        for name in ("select_global", "select_per_class"):  # no selection after analyse
            monkeypatch.setattr(rules, name, lambda *a, **k: pytest.fail("selected again"))
        return analysis, masks

    def capture_on_selection(arm, ctx):
        seen[arm.name] = ctx.sets[arm.name]
        threads[arm.name] = torch.get_num_threads()
        return original_on_selection(arm, ctx)

    monkeypatch.setattr(run, "_analyse", capture_analyse)
    monkeypatch.setattr(stages, "on_selection", capture_on_selection)
    cfg = TrainConfig(T=noise.pairwise(0.3, 10), epochs=2, stage2_epochs=1, cv=0, bootstrap=0,
                      arms="all", keep="target:0.8", progress=False, out=str(tmp_path),
                      threads=1)  # fmt: skip
    r = run.run_training(cfg)
    assert set(threads.values()) == {1}  # the run's threads, whatever analyse left behind
    n = r["n_train"]
    assert {"global_selected", "rsl_selected", "rsl_weighted", "ce_all"} <= set(seen)
    for name, (mask, weights) in seen.items():
        arm = arms.BY_NAME[name]
        want = analysed[arm.mask][:n] if arm.mask else np.ones(n, bool)
        assert np.array_equal(mask, want), name
        assert (weights is not None) == arm.weighted, name


def test_one_seed_prints_the_keys_of_its_record_file(capsys, tmp_path):
    assert main([*PAIRWISE, "--out", str(tmp_path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads((tmp_path / "record.json").read_text())
    assert set(printed) == set(saved)
    assert printed["schema"] == saved["schema"] == 2 and printed["seeds"] == [0]
    assert set(printed["test_accuracy"]) == set(arms.DEFAULT)
    for a in printed["test_accuracy"].values():
        assert {"mean", "early_stopped", "seeds"} <= set(a)
    assert {"prepare", "stage 1", "analyse"} <= set(printed["stage_seconds"])
    assert [run_["seed"] for run_ in printed["runs"]] == [0]
