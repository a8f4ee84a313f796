"""A sweep checks every cell's settings before it runs one, and writes nothing on refusal."""

import pytest

from simulations.cli import main
from simulations.experiments import sweep

GOOD_AND_BAD = """
name = "mixed"
kind = "{kind}"
seeds = [0, 1]

[base]
{base}

[[grid]]
{good}

[[grid]]
{bad}
"""

SIMULATE = {
    "kind": "simulate",
    "base": "n = 200",
    "good": "noise = ['symmetric']\nrate = [0.2]\nclasses = [3]",
}
CASES = [
    (SIMULATE, "noise = ['nosuch']\nrate = [0.2]\nclasses = [3]", "'nosuch'"),
    (SIMULATE, "noise = ['symmetric']\nrate = [1.7]\nclasses = [3]", "1.7"),
    (
        SIMULATE,
        "noise = ['symmetric']\nrate = [0.2]\nclasses = [3]\nmodel = ['nosuch']",
        "'nosuch'",
    ),
    (SIMULATE, "noise = ['symmetric']\nrate = [0.2]\nclasses = [3]\nwhat = [1]", "what"),
    (
        {
            "kind": "train",
            "base": "epochs = 1",
            "good": "noise = ['symmetric']\nrate = [0.2]\nclasses = [10]",
        },
        "noise = ['symmetric']\nrate = [0.2]\nclasses = [10]\nmodel = ['transformer']",
        "'transformer'",
    ),
    (
        {
            "kind": "train",
            "base": "epochs = 1",
            "good": "noise = ['symmetric']\nrate = [0.2]\nclasses = [10]",
        },
        "noise = ['symmetric']\nrate = [0.2]\nclasses = [10]\nrecord = ['nosuch']",
        "'nosuch'",
    ),
    (
        {"kind": "coverage", "base": "n = 100", "good": "classes = [3]"},
        "classes = [1]",
        "classes >= 2",
    ),
]


@pytest.mark.parametrize(("kind", "bad", "named"), CASES)
def test_a_bad_cell_is_refused_before_any_cell_runs(
    tmp_path, capsys, monkeypatch, kind, bad, named
):
    config = tmp_path / "mixed.toml"
    config.write_text(GOOD_AND_BAD.format(**kind, bad=bad))
    ran = []
    monkeypatch.setattr(sweep, "run_cell", lambda *a: ran.append(a) or {})
    out = tmp_path / "out"
    assert main(["sweep", str(config), "--out", str(out), "--workers", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and named in err[0] and "mixed: cell (" in err[0], err
    assert not ran
    assert not out.exists()


def test_validate_passes_good_cells_and_returns_them(tmp_path):
    config = tmp_path / "good.toml"
    config.write_text(
        GOOD_AND_BAD.format(**SIMULATE, bad="noise = ['pairwise']\nrate = [0.3]\nclasses = [3]")
    )
    cfg = sweep.load_config(config)
    assert sweep.validate(cfg) == sweep.cells(cfg)
