"""The READMEs keep their promises: every Python example runs as a doctest, the top README
stays a landing page that carries CI's test command, every command and option they write
exists, the gallery shows every figure, and every Markdown file a document names is there."""

import doctest
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
READMES = ("README.md", "theory/README.md", "simulations/README.md", "figures/README.md")
READMES += ("tests/README.md",)
LANDING_LINES = 200
PYCON = re.compile(r"^```pycon\n(.*?)^```$", re.S | re.M)
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)


def text(name: str) -> str:
    return (ROOT / name).read_text()


def examples():
    """(README, line of the block, the block) for every ```pycon block of every README."""
    for name in READMES:
        s = text(name)
        for m in PYCON.finditer(s):
            line = s.count("\n", 0, m.start()) + 1
            yield pytest.param(name, line, m.group(1), id=f"{name}:{line}")


@pytest.mark.parametrize(("name", "line", "block"), list(examples()))
def test_every_python_example_runs(name, line, block):
    if re.search(r"^>>> (import|from) .*\btorch\b", block, flags=re.M):
        pytest.importorskip("torch")
    test = doctest.DocTestParser().get_doctest(block, {}, f"{name}:{line}", name, line)
    out = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test, out=out.append)
    assert runner.failures == 0, "".join(out)


@pytest.mark.parametrize("name", READMES)
def test_no_example_escapes_the_doctests(name):
    rest = PYCON.sub("", text(name))
    assert not re.search(r"^\s*>>> ", rest, flags=re.M), f"{name}: a >>> outside a ```pycon block"


def test_the_readme_is_a_landing_page():
    lines = text("README.md").count("\n")
    assert lines <= LANDING_LINES, f"README.md has {lines} lines, at most {LANDING_LINES}"


def test_the_readme_carries_the_command_ci_runs():
    ci = [line.strip() for line in text(".ci/run").splitlines() if "python -m pytest" in line]
    assert len(ci) == 1, ci
    readme = [line.strip() for line in text("README.md").splitlines()]
    assert ci[0] in readme, f"README.md lacks .ci/run's command: {ci[0]}"
    assert "ruff check . && ruff format --check . && lint-imports && python -m pytest" in ci[0]


def code_pieces(s: str):
    """Every line of every fenced block, then every inline code span outside them."""
    for m in FENCE.finditer(s):
        yield from m.group(2).splitlines()
    yield from spans(FENCE.sub("", s))


def spans(s: str) -> list[str]:
    """Inline code spans, each on one line (a span may wrap; none crosses a paragraph)."""
    return [" ".join(m.split()) for m in re.findall(r"`([^`]+)`", s) if "\n\n" not in m]


def options_of():
    from simulations.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return {name: set(p._option_string_actions) for name, p in sub.choices.items()}


def command_in(piece: str, commands) -> tuple[str, str] | None:
    """(command, the rest) of a piece written as ``smallloss CMD ...`` or ``CMD --...``."""
    m = re.match(r"\s*(?:smallloss )?([a-z][\w-]*)( .*)?$", piece)
    if not m or m.group(1) not in commands:
        return None
    rest = m.group(2) or ""
    if not piece.lstrip().startswith("smallloss ") and not rest.lstrip().startswith("--"):
        return None
    return m.group(1), rest


def invocations(piece: str, commands):
    """(command, its arguments) of each ``smallloss CMD ...`` in a piece (up to ``&&``, ``|``
    or ``;``), or of the whole piece where it opens with ``CMD --...``."""
    for m in re.finditer(r"smallloss ([a-z][\w-]*)([^&|;]*)", piece):
        yield m.group(1), m.group(2)
    found = command_in(piece, commands)
    if found and not piece.lstrip().startswith("smallloss "):
        yield found


def test_every_command_and_option_the_readmes_write_exists():
    from simulations.figures import ORDER

    commands = options_of()
    bad = []
    for name in READMES:
        for piece in code_pieces(text(name)):
            for cmd, rest in invocations(piece, commands):
                if cmd not in commands:
                    bad.append(f"{name}: smallloss {cmd}")
                    continue
                options = re.findall(r"--[a-z][\w-]*", rest)
                bad += [f"{name}: {cmd} {o}" for o in options if o not in commands[cmd]]
                only = re.search(r"--only ((?:[a-z0-9_]+ ?)+)", rest) if cmd == "figures" else None
                figures = only.group(1).split() if only else []
                bad += [f"{name}: figure {f}" for f in figures if f not in ORDER]
    assert not bad, bad


def test_each_command_bullet_names_only_its_own_options():
    """In simulations/README.md's Commands section, a bullet's bare ``--option`` spans belong
    to the command the bullet opens with (a span that names another command is its own)."""
    commands = options_of()
    s = text("simulations/README.md")
    section = s.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    bad, seen = [], set()
    for bullet in re.split(r"\n- ", section)[1:]:
        cmd = re.match(r"`smallloss ([a-z][\w-]*)", bullet).group(1)
        seen.add(cmd)
        for span in spans(bullet):
            if command_in(span, commands):
                continue
            bad += [
                f"{cmd} {o}" for o in re.findall(r"--[a-z][\w-]*", span) if o not in commands[cmd]
            ]
    assert not bad, bad
    assert seen | {"gpu-study"} >= set(commands), f"no bullet for {set(commands) - seen}"


def test_the_gallery_shows_every_figure_and_figures_readme_has_each():
    from simulations.figures import ORDER

    shown = re.findall(r"!\[[^\]]*\]\(figures/(\w+)\.png\)", text("README.md"))
    assert shown == list(ORDER), "the gallery's figures, in the order `smallloss figures` makes"
    sections = re.findall(r"!\[[^\]]*\]\((\w+)\.png\)", text("figures/README.md"))
    assert sections == list(ORDER), "figures/README.md: one section per figure, in order"


SKIP_DIRS = {".git", ".venv", "runs", "__pycache__", "node_modules"}


def documents():
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        for f in files:
            if f.endswith((".md", ".py", ".toml")):
                yield Path(folder) / f


def test_every_markdown_file_a_document_names_exists():
    bad = []
    for path in documents():
        for ref in set(re.findall(r"[\w./-]*\w\.md\b", path.read_text(errors="replace"))):
            ref = ref.lstrip("./")
            if not ((ROOT / ref).is_file() or (path.parent / ref).is_file()):
                bad.append(f"{path.relative_to(ROOT)}: {ref}")
    assert not bad, bad


def test_the_readmes_quote_the_published_full_runs_total_and_its_machine():
    """The time a user is promised for `smallloss figures` is the one figures/TIMES-published.csv
    records (the full run that `--publish-times` made the quoted one), with that machine's
    reference seconds beside it. A plain full run rewrites TIMES.csv only, so running the
    README's first command cannot make its second fail here."""
    from simulations.figures import PUBLISHED_TIMES, read_meta
    from simulations.io import read_commented_csv

    path = ROOT / "figures" / PUBLISHED_TIMES
    rows, header = read_commented_csv(path)
    assert header == ["figure", "seconds"] and rows[-1]["figure"] == "total"
    total = float(rows[-1]["seconds"])
    assert total == pytest.approx(sum(float(r["seconds"]) for r in rows[:-1]), abs=0.05)
    meta = read_meta(path)
    assert [r["figure"] for r in rows[:-1]] == meta["settings"]["figures"]
    reference = meta["machine"]["reference_s"]
    for name in ("README.md", "figures/README.md"):
        assert f"{round(total):,} s" in text(name), name
    assert f"reference workload {reference:g} s" in text("figures/README.md")


def test_only_a_published_run_changes_what_the_readmes_quote(tmp_path, monkeypatch, capsys):
    """A full run writes TIMES.csv and leaves TIMES-published.csv alone; `--publish-times`
    writes both, alike; it is refused where the run is not a full one."""
    from simulations import figures, machine
    from simulations.cli import main

    def make(name, out, quick, seed):
        return {"name": name, "seconds": 1.5, "png": str(out / f"{name}.png")}

    monkeypatch.setattr(figures, "make", make)
    monkeypatch.setattr(machine, "reference_seconds", lambda repeat=3: 0.1)
    published = tmp_path / figures.PUBLISHED_TIMES
    published.write_text("kept\n")
    assert main(["figures", "--out", str(tmp_path), "--quiet"]) == 0
    assert (tmp_path / figures.TIMES).is_file() and published.read_text() == "kept\n"
    assert main(["figures", "--out", str(tmp_path), "--quiet", "--publish-times"]) == 0
    assert published.read_text() == (tmp_path / figures.TIMES).read_text()
    assert "published timings" in capsys.readouterr().out
    for extra in (["--quick"], ["--only", "conditions"], ["--redraw"]):
        assert main(["figures", "--out", str(tmp_path), "--publish-times", *extra]) == 2
        assert "--publish-times" in capsys.readouterr().err
