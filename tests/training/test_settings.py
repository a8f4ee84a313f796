"""Each setting of the real-data loop is declared once (``TrainConfig``): the command line's
flags and a sweep cell's settings are built from it, with its defaults."""

from dataclasses import MISSING, fields

import pytest

from simulations.cli import build_parser
from simulations.experiments import cells
from simulations.selection import analyse
from simulations.training import config
from simulations.training.config import TrainConfig
from theory.errors import InputError


def _train_actions():
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["train"]
    return [a for a in sub._actions if a.option_strings]


def test_every_field_has_one_flag_with_its_default():
    actions = _train_actions()
    for f in fields(TrainConfig):
        mine = [a for a in actions if a.dest == f.name]
        if not f.metadata["cli"]:  # set from the flags it names (the noise source)
            assert not mine or f.name in ("noise", "rate"), f.name
            for flag in f.metadata["flag"].replace(" or ", "/").split("/"):
                if flag.startswith("--"):
                    assert any(flag in a.option_strings for a in actions), (f.name, flag)
            continue
        assert len(mine) == 1, f.name
        assert mine[0].default == f.default, f.name
        expected = f.metadata["flag"] or "--" + ("no-" if f.metadata["negate"] else "") + (
            f.name.replace("_", "-")
        )
        assert mine[0].option_strings == [expected], f.name


def test_the_copies_of_the_analysis_constants_are_its_own():
    assert config.LEVEL == analyse.LEVEL and config.BOOTSTRAP == analyse.BOOTSTRAP
    assert config.SINGLE_LABEL == analyse.SINGLE_LABEL


def test_a_cell_takes_the_declared_defaults_but_its_own():
    cfg, _ = cells.train_config({"noise": "pairwise", "rate": 0.4, "classes": 10}, 3, "/x")
    own = {"device": "cpu", "threads": 1, "arms": ",".join(config.ARMS), "out": "/x"}
    for f in fields(TrainConfig):
        if f.metadata["cell"] is None:
            continue
        want = own.get(f.name, f.metadata["cell"])
        want = f.default if want is MISSING else want
        assert getattr(cfg, f.name) == want, f.name
    assert cfg.seed == 3 and cfg.progress is False


def test_a_cell_rejects_an_unknown_setting_in_one_line():
    with pytest.raises(InputError) as exc:
        cells.check_cell("train", {"noise": "pairwise", "rate": 0.4, "classes": 10, "epoch": 3}, 0)
    assert str(exc.value) == "unknown train settings: epoch"


@pytest.mark.parametrize(
    "kw, needle",
    [
        ({"epochs": 0}, "`epochs`"),
        ({"train_fraction": 0.0}, "`train_fraction`"),
        ({"record": "both"}, "`record`"),
        ({"device": "tpu"}, "unknown device"),
        ({"arms": "ce_all,nosuch"}, "`arms`"),
        ({"level": 1.0}, "`level`"),
    ],
)
def test_each_bad_setting_is_named(kw, needle):
    with pytest.raises(InputError) as exc:
        TrainConfig(T=None, **kw)
    assert needle in str(exc.value) and "\n" not in str(exc.value)
    assert config.flags("`train_fraction`") == "--train-fraction"
