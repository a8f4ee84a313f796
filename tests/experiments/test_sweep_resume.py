"""A sweep killed midway resumes to the uninterrupted table; a lost Dask worker loses no cell;
two sweeps into one folder at once are refused (``results.lock``), a killed sweep's lock is
taken over.

Each test compares a results table with the one an uninterrupted run writes, as records
sorted by key, timing columns left out: the same keys and values, no row lost, none twice.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from simulations.cli import main
from simulations.experiments import sweep
from simulations.io import read_commented_csv

# 20 cheap cells (about 0.1 s each); the second grid adds settings columns that the first
# grid's rows lack, so a resumed table widens its header
CONFIG = """
name = "resume"
kind = "simulate"
seeds = [0, 1, 2, 3]

[base]
n = 2000
keep = "oracle"
classes = 4

[[grid]]
noise = ["symmetric", "pairwise"]
rate = [0.2, 0.4]

[[grid]]
noise = ["pairwise"]
rate = [0.3]
model = ["perturbed"]
epsilon = [0.1]
"""
CELLS = 20
# columns that a run may fill differently (wall clock, seconds): none in simulate rows today
TIMING = re.compile(r"time|seconds|wall|clock|elapsed|duration")
WAIT_S = 60


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    p = tmp_path_factory.mktemp("config") / "resume.toml"
    p.write_text(CONFIG)
    assert len(sweep.cells(sweep.load_config(p))) == CELLS
    return p


@pytest.fixture(scope="module")
def reference(config, tmp_path_factory):
    """The records of an uninterrupted run."""
    out = tmp_path_factory.mktemp("reference")
    sweep.run_sweep(sweep.load_config(config), out, workers=1, progress=False)
    recs = records(out)
    assert len(recs) == CELLS
    return recs


def records(out) -> list[dict]:
    """The rows of ``out/results.csv`` sorted by key, timing columns dropped; no key twice."""
    rows, _ = read_commented_csv(out / sweep.RESULTS)
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)), "a cell has two rows"
    return sorted(
        ({k: v for k, v in r.items() if not TIMING.search(k)} for r in rows),
        key=lambda r: r["key"],
    )


def finished_rows(out) -> int:
    """Complete rows in ``out/results.csv`` now (lines ended by a newline, less the header)."""
    try:
        text = (out / sweep.RESULTS).read_bytes()
    except FileNotFoundError:
        return 0
    return max(0, text.count(b"\n") - 1)


def start(config, out, *extra) -> subprocess.Popen:
    """``python -m simulations.cli sweep`` in a process group of its own (its pool with it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "simulations.cli", "sweep", str(config), "--out", str(out)]
        + ["--no-progress", *extra],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_rows(proc, out, at_least: int) -> int:
    """Poll until ``out`` holds ``at_least`` rows (the sweep still running); the row count."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        n = finished_rows(out)
        if proc.poll() is not None:
            pytest.fail(f"the sweep ended (rc {proc.returncode}) before the kill: {n} rows")
        if n >= at_least:
            return n
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail(f"no {at_least} rows in {WAIT_S} s")


def kill_group(proc):
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=WAIT_S)


def test_a_sweep_killed_midway_resumes_to_the_uninterrupted_table(
    config, reference, tmp_path, capsys
):
    out = tmp_path / "killed"
    proc = start(config, out, "--workers", "2")
    try:
        wait_for_rows(proc, out, at_least=4)
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its worker processes
    finally:
        kill_group(proc)
    assert proc.returncode == -signal.SIGKILL
    before = records(out)
    assert 4 <= len(before) < CELLS
    # every row the killed run finished is a row of the uninterrupted table
    by_key = {r["key"]: r for r in reference}
    for r in before:
        assert {k: v for k, v in by_key[r["key"]].items() if k in r} == r
    assert (out / sweep.LOCK).exists()  # left by the kill: stale, taken over below

    assert main(["sweep", str(config), "--out", str(out), "--workers", "1", "--json"]) == 0
    summary = capsys.readouterr().out
    assert f'"skipped": {len(before)}' in summary and f'"ran": {CELLS - len(before)}' in summary
    assert records(out) == reference
    assert not (out / sweep.LOCK).exists()


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_sweep_killed_alone_leaves_no_worker_behind(config, tmp_path):
    """``kill -9`` of the sweep's process only (not its group, as the OOM killer does): its
    pool workers and their forkserver exit too, rather than wait for work forever."""
    out = tmp_path / "alone"
    proc = start(config, out, "--workers", "2")
    try:
        wait_for_rows(proc, out, at_least=1)
        proc.kill()
        proc.wait(timeout=WAIT_S)
        deadline = time.monotonic() + 15
        while group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not group_alive(proc.pid), "the killed sweep's workers are still running"
    finally:
        if group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)


def test_a_dask_worker_lost_midway_loses_no_cell(config, reference, tmp_path):
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "dask"
    cfg = sweep.load_config(config)
    killed = {}

    def kill_a_worker(cluster, done: threading.Event):
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and not done.is_set():
            n = finished_rows(out)
            if n >= 4:
                nanny = next(iter(cluster.workers.values()))
                pid = nanny.process.process.pid
                os.kill(pid, signal.SIGKILL)
                killed.update(pid=pid, rows=n)
                return
            time.sleep(0.01)

    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        done = threading.Event()
        killer = threading.Thread(target=kill_a_worker, args=(cluster, done), daemon=True)
        killer.start()
        try:
            result = sweep.run_sweep(cfg, out, scheduler=cluster.scheduler_address, progress=False)
        finally:
            done.set()
            killer.join(WAIT_S)
    assert killed, "no worker was killed: the sweep ended first"
    assert 4 <= killed["rows"] < CELLS
    with pytest.raises(ProcessLookupError):
        os.kill(killed["pid"], 0)
    assert result["ran"] == CELLS and len(result["rows"]) == CELLS
    assert records(out) == reference
    assert not (out / sweep.LOCK).exists()


def test_a_second_sweep_into_a_busy_folder_is_refused(config, reference, tmp_path):
    out = tmp_path / "busy"
    first = start(config, out, "--workers", "1")
    try:
        wait_for_rows(first, out, at_least=2)
        os.killpg(first.pid, signal.SIGSTOP)  # held still: it keeps its lock, writes nothing
        held = (out / sweep.RESULTS).read_bytes()
        lock = (out / sweep.LOCK).read_text()
        assert lock.split() == [str(first.pid), socket.gethostname()]
        second = subprocess.run(
            [sys.executable, "-m", "simulations.cli", "sweep", str(config), "--out", str(out)]
            + ["--workers", "1", "--no-progress"],
            capture_output=True,
            text=True,
            timeout=WAIT_S,
        )
        assert second.returncode == 2
        assert second.stdout == ""
        lines = second.stderr.splitlines()
        assert len(lines) == 1 and "in use by another sweep" in lines[0], second.stderr
        assert f"pid {first.pid}" in lines[0]
        # the refused sweep touched nothing
        assert (out / sweep.RESULTS).read_bytes() == held
        assert (out / sweep.LOCK).read_text() == lock
        os.killpg(first.pid, signal.SIGCONT)
        _, err = first.communicate(timeout=WAIT_S)
        assert first.returncode == 0, err
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGCONT)
            kill_group(first)
    assert records(out) == reference
    assert not (out / sweep.LOCK).exists()


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_stale_lock_is_taken_over_and_a_live_or_foreign_one_is_not(
    config, reference, tmp_path, capsys
):
    out = tmp_path / "stale"
    out.mkdir()
    lock = out / sweep.LOCK
    args = ["sweep", str(config), "--out", str(out), "--workers", "1", "--no-progress"]
    for holder in (f"{os.getppid()} {socket.gethostname()}\n", f"{dead_pid()} elsewhere\n"):
        lock.write_text(holder)  # a live sweep here, or any sweep on another host
        assert main(args) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and "in use by another sweep" in err
        assert lock.read_text() == holder and not (out / sweep.RESULTS).exists()
    lock.write_text(f"{dead_pid()} {socket.gethostname()}\n")  # a killed sweep's
    assert main(args) == 0
    assert records(out) == reference
    assert not lock.exists()


def test_the_lock_is_released_when_a_cell_fails(config, tmp_path, monkeypatch):
    def broken(*a):
        raise RuntimeError("a cell failed")

    monkeypatch.setattr(sweep, "run_cell", broken)
    out = tmp_path / "failed"
    with pytest.raises(RuntimeError):
        sweep.run_sweep(sweep.load_config(config), out, workers=1, progress=False)
    assert not (out / sweep.LOCK).exists()
