"""No host synchronisation inside a training epoch: on a GPU, ``.item()``, ``.cpu()``,
``.numpy()``, ``.tolist()`` or a Python number made of a tensor inside the batch loop stalls
the card every batch. Checked on the source, so that it holds without a GPU here: every loop
that steps an optimiser, and what it calls per batch (the recorder's update)."""

import ast
import inspect
import textwrap

from simulations.training import loop, recorder, two_networks

SYNCING_METHODS = {"item", "cpu", "numpy", "tolist"}
SYNCING_BUILTINS = {"float", "int", "bool"}


def _syncs(node: ast.AST) -> list[str]:
    found = []
    for sub in ast.walk(node):
        if not isinstance(sub, ast.Call):
            continue
        f = sub.func
        if isinstance(f, ast.Attribute) and f.attr in SYNCING_METHODS:
            found.append(f"line {sub.lineno}: .{f.attr}()")
        if isinstance(f, ast.Name) and f.id in SYNCING_BUILTINS:
            found.append(f"line {sub.lineno}: {f.id}()")
    return found


def _batch_loops(fn) -> list[ast.For]:
    tree = ast.parse(_dedent(fn))
    loops = []
    for node in ast.walk(tree):
        if isinstance(node, ast.For) and any(
            isinstance(s, ast.Attribute) and s.attr == "backward" for s in ast.walk(node)
        ):
            inner = [n for n in ast.walk(node) if isinstance(n, ast.For) and n is not node]
            if not any(
                isinstance(s, ast.Attribute) and s.attr == "backward"
                for n in inner
                for s in ast.walk(n)
            ):
                loops.append(node)  # the innermost loop that steps: the batch loop
    return loops


def _dedent(fn) -> str:
    return textwrap.dedent(inspect.getsource(fn))


def test_the_batch_loops_never_wait_for_the_device():
    fns = [loop.fit, two_networks.coteaching, two_networks.jocor]
    for fn in fns:
        loops = _batch_loops(fn)
        assert loops, f"{fn.__name__}: no batch loop found"
        for node in loops:
            assert not _syncs(node), (fn.__name__, _syncs(node))


def test_the_recorder_update_never_waits_for_the_device():
    tree = ast.parse(_dedent(recorder.Recorder.update))
    assert not _syncs(tree), _syncs(tree)


def test_the_check_finds_a_sync_where_there_is_one():
    tree = ast.parse("for b in batches:\n    loss.backward()\n    total += loss.item()\n")
    (node,) = [n for n in ast.walk(tree) if isinstance(n, ast.For)]
    assert _syncs(node) == ["line 3: .item()"]
