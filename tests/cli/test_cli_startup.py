"""Building the parser imports no heavy library (the proxy for a fast ``--help`` and a fast
bad-option error), and the constants the parser copies from the library stay equal to them."""

import subprocess
import sys
from pathlib import Path

import pytest

from simulations.cli import _args, build_parser, main

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("numba", "scipy", "sklearn", "matplotlib", "torch", "pandas")
PROBE = (
    "import simulations.cli, sys; simulations.cli.build_parser(); "
    "print(sorted(m for m in sys.modules if m.split('.')[0] in "
    f"{HEAVY!r}))"
)


def test_building_the_parser_imports_no_heavy_library():
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_help_and_a_bad_option_import_no_heavy_library():
    probe = (
        "import sys; from simulations.cli import main\n"
        "for argv in (['--help'], ['analyse', 'r.npz', '--nosuch'], ['train', '--help']):\n"
        "    try:\n"
        "        code = main(argv)\n"
        "    except SystemExit as exc:\n"
        "        code = exc.code\n"
        "    print(argv[0], code, file=sys.stderr)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY + ('theory',)!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stderr
    assert "analyse 2" in done.stderr and "--nosuch" in done.stderr


def test_a_bad_option_is_one_line_and_exit_2(capsys):
    assert main(["analyse", "run.npz", "--nosuch"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--nosuch" in err[0]


@pytest.mark.parametrize(
    ("copy", "module", "name"),
    [
        ("ESTIMATE_METHODS", "simulations.estimation.methods", "METHODS"),
        ("LEVEL", "simulations.selection.analyse", "LEVEL"),
        ("BOOTSTRAP", "simulations.selection.analyse", "BOOTSTRAP"),
        ("SINGLE_LABEL", "simulations.selection.analyse", "SINGLE_LABEL"),
        ("ESTIMATES", "simulations.selection.analyse", "ESTIMATES"),
        ("ANALYSE_RSL_RULES", "simulations.selection.budgets", "RSL_RULES"),
        ("TRAIN_RSL_RULES", "simulations.training.config", "RSL_RULES"),
        ("RECORD_MODES", "simulations.training.config", "RECORD_MODES"),
        ("LARGE_ON_CPU", "simulations.training.config", "LARGE_ON_CPU"),
        ("MODELS", "simulations.training.config", "MODELS"),
        ("SCALING_RULE", "simulations.training.data", "SCALING_RULE"),
    ],
)
def test_the_parsers_copies_equal_the_library(copy, module, name):
    import importlib

    assert getattr(_args, copy) == getattr(importlib.import_module(module), name)


def test_the_parsers_choices_are_the_librarys():
    from simulations.estimation import methods
    from simulations.selection import analyse, bounds, budgets
    from simulations.training import config

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices

    def action(command, flag):
        return sub[command]._option_string_actions[flag]

    assert tuple(action("estimate", "--method").choices) == methods.METHODS
    assert tuple(action("analyse", "--estimate").choices) == analyse.ESTIMATES
    assert tuple(action("analyse", "--envelope").choices) == bounds.ENVELOPES
    assert tuple(action("analyse", "--rsl-budget").choices) == budgets.RSL_RULES
    assert action("analyse", "--level").default == analyse.LEVEL
    assert action("analyse", "--bootstrap").default == analyse.BOOTSTRAP
    assert tuple(action("train", "--estimate").choices) == analyse.SINGLE_LABEL
    assert tuple(action("train", "--record").choices) == config.RECORD_MODES
    assert tuple(action("train", "--rsl-budget").choices) == config.RSL_RULES
