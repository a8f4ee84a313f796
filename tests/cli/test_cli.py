"""Every command: bad output folders and degenerate sizes end in one line, never a traceback."""

import pytest

from simulations.cli import main


@pytest.mark.parametrize(
    "argv",
    [
        ["figures", "--only", "theorem2", "--out", "{file}"],
        ["sweep", "{config}", "--out", "{file}"],
        [
            "train",
            "--noise",
            "symmetric",
            "--rate",
            "0.2",
            "--classes",
            "10",
            "--epochs",
            "1",
            "--out",
            "{file}",
        ],
    ],
)
def test_output_folder_that_is_a_file(tmp_path, capsys, argv):
    blocker = tmp_path / "taken"
    blocker.write_text("")
    config = tmp_path / "c.toml"
    config.write_text("[[grid]]\nnoise = ['symmetric']\nrate = [0.1]\nclasses = [3]\nn = [100]\n")
    argv = [a.format(file=blocker, config=config) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is an existing file" in err[0]


@pytest.mark.parametrize("n", ["1", "2", "7"])
def test_tiny_simulations_run(capsys, n):
    assert (
        main(
            [
                "simulate",
                "--noise",
                "symmetric",
                "--rate",
                "0.2",
                "--classes",
                "3",
                "--n",
                n,
                "--json",
            ]
        )
        == 0
    )


def test_no_command(capsys):
    assert main([]) == 2
    assert "required: command" in capsys.readouterr().err
