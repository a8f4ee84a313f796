"""`smallloss sweep CONFIG.toml`: a grid of settings x seeds, locally or on a Dask cluster.

A config names the ``kind`` of cell (``simulate``, ``train``, ``coverage`` or
``certificate``: see ``simulations.experiments.cells`` and ``certificate``), ``seeds``,
``[base]`` settings shared by every cell, and one or more ``[[grid]]`` tables; each grid table is a
cross product of its lists, and the cells are the union over tables. Every finished cell
is appended (and flushed) as one row of ``results.csv`` under ``--out``, keyed by its
settings and seed, so a killed sweep resumes with only the unfinished cells. Rows are
sorted by key when the sweep ends, so a local and a Dask run of one config give the same
table. One sweep at a time writes a folder: ``results.lock`` there holds the running sweep's
pid and host, and a second sweep into that folder is refused; a lock left by a killed sweep
(its pid dead on this host) is taken over.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import multiprocessing as mp
import os
import socket
import sys
import threading
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path

from tqdm.auto import tqdm

from simulations.experiments import cells as cells_module
from simulations.experiments import certificate
from simulations.io import (
    atomic_path,
    csv_cell,
    ensure_dir,
    provenance,
    read_commented_csv,
    write_commented_csv,
)
from theory.errors import InputError

CELL_KINDS = ("simulate", "train", "coverage", "certificate")
RESULTS = "results.csv"
LOCK = "results.lock"


def load_config(path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"sweep config not found: {p}")
    try:
        cfg = tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{p} is not valid TOML: {exc}") from None
    kind = cfg.get("kind", "simulate")
    if kind not in CELL_KINDS:
        raise InputError(f"{p}: kind {kind!r} is not one of {', '.join(CELL_KINDS)}")
    grids = cfg.get("grid", [{}])
    if isinstance(grids, dict):
        grids = [grids]
    for g in grids:
        for k, v in g.items():
            if not isinstance(v, list) or not v:
                raise InputError(f"{p}: grid entry {k!r} must be a non-empty list")
    seeds = cfg.get("seeds", [0])
    if not isinstance(seeds, list) or not all(isinstance(s, int) for s in seeds):
        raise InputError(f"{p}: seeds must be a list of integers")
    return {
        "name": cfg.get("name", p.stem),
        "kind": kind,
        "base": cfg.get("base", {}),
        "grid": grids,
        "seeds": seeds,
    }


def cells(cfg: dict) -> list[dict]:
    """Every (settings, seed) cell, in config order, without duplicates."""
    out, seen = [], set()
    for g in cfg["grid"]:
        keys = list(g)
        for values in itertools.product(*(g[k] for k in keys)):
            settings = {**cfg["base"], **dict(zip(keys, values))}
            for seed in cfg["seeds"]:
                key = cell_key(settings, seed)
                if key not in seen:
                    seen.add(key)
                    out.append({"key": key, "settings": settings, "seed": seed})
    return out


def cell_key(settings: dict, seed: int) -> str:
    text = json.dumps({"settings": settings, "seed": seed}, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def validate(cfg: dict) -> list[dict]:
    """Every cell, each checked as it will check itself when it runs (``cells.check_cell``:
    the same checks, without the work), so that a bad setting in any cell is refused before
    the first cell runs or anything is written; the one-line error names the cell."""
    todo = cells(cfg)
    checked = set()
    for c in todo:
        text = json.dumps(c["settings"], sort_keys=True, default=str)
        if text in checked:  # a cell's seed changes no check
            continue
        checked.add(text)
        try:
            cells_module.check_cell(cfg["kind"], c["settings"], c["seed"])
        except InputError as exc:
            where = ", ".join(f"{k} = {v!r}" for k, v in c["settings"].items())
            raise InputError(f"{cfg['name']}: cell ({where}): {exc}") from None
    return todo


def run_cell(kind: str, settings: dict, seed: int) -> dict:
    """One cell's row: its settings, its seed, and flat metrics. Runs in a worker process."""
    fn = {
        "simulate": cells_module.simulate_cell,
        "train": cells_module.train_cell,
        "coverage": cells_module.coverage_cell,
        "certificate": certificate.certificate_cell,
    }[kind]
    return {
        "seed": seed,
        **{f"setting_{k}": v for k, v in sorted(settings.items())},
        **fn(settings, seed),
    }


def _read_done(path: Path) -> tuple[list[dict], list[str]]:
    """Finished rows and the header; a row cut short by a kill is dropped (and redone)."""
    if not path.exists():
        return [], []
    return read_commented_csv(path, complete_rows=True)


class _Table:
    """Appends rows to results.csv, widening the header when a new column appears."""

    def __init__(self, path: Path, rows: list[dict], header: list[str]):
        self.path, self.rows, self.header = path, rows, header
        if rows:
            self._rewrite()

    def _rewrite(self):
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.header, extrasaction="ignore", restval="")
            w.writeheader()
            w.writerows(self.rows)

    def add(self, row: dict):
        row = {k: csv_cell(v) for k, v in row.items()}
        self.rows.append(row)
        new = [k for k in row if k not in self.header]
        if new or not self.path.exists():
            self.header += new
            self._rewrite()
            return
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.header, extrasaction="ignore", restval="").writerow(
                row
            )
            f.flush()
            os.fsync(f.fileno())

    def finish(self):
        self.rows.sort(key=lambda r: r["key"])
        self._rewrite()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return time.time()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


@contextmanager
def _locked(out: Path):
    """Hold ``out/results.lock`` (created with O_CREAT|O_EXCL, holding "pid host") while the
    block runs. Refused while another live sweep holds it; a lock whose pid is dead on this
    host (a killed sweep's) is taken over. A lock from another host is never taken over."""
    lock = out / LOCK
    mine = f"{os.getpid()} {socket.gethostname()}\n"
    for _ in range(5):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                held = lock.read_text()
            except FileNotFoundError:  # released meanwhile: try again
                continue
            words = held.split()
            pid = int(words[0]) if words and words[0].isdigit() else None
            host = words[1] if len(words) > 1 else None
            if pid is None and time.time() - _mtime(lock) > 10:
                pass  # empty for 10 s: its sweep died between creating and writing it
            elif pid is None or host != socket.gethostname() or _alive(pid):
                who = f"pid {pid} on {host}" if pid is not None else "a sweep starting"
                raise InputError(
                    f"{out} is in use by another sweep ({who}); if none runs, remove {lock}"
                ) from None
            # stale: remove it if it is still the one read, then try again
            try:
                if lock.read_text() == held:
                    lock.unlink()
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w") as f:
            f.write(mine)
        break
    else:
        raise InputError(f"cannot take the lock {lock}: other sweeps keep taking it")
    try:
        yield
    finally:
        try:
            if lock.read_text() == mine:
                lock.unlink()
        except FileNotFoundError:
            pass


def run_sweep(
    cfg: dict,
    out: Path,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    limit: int | None = None,
) -> dict:
    """Run every unfinished cell; ``limit`` stops after that many new cells (for tests).
    Every cell's settings are checked first (``validate``): a bad one writes nothing."""
    every = validate(cfg)
    ensure_dir(out)
    with _locked(out):
        return _run_sweep(cfg, out, every, workers, scheduler, progress, limit)


def _run_sweep(cfg, out, every, workers, scheduler, progress, limit) -> dict:
    rows, header = _read_done(out / RESULTS)
    done = {r["key"] for r in rows}
    todo = [c for c in every if c["key"] not in done]
    if limit is not None:
        todo = todo[:limit]
    table = _Table(out / RESULTS, rows, header or ["key"])
    # cells done of all (a resumed sweep starts at what it finds), with the time left at
    # this run's pace, on stderr
    bar = tqdm(
        total=len(done) + len(todo),
        initial=len(done),
        disable=not progress,
        desc=f"{cfg['name']} cells",
        unit="cell",
        file=sys.stderr,
    )
    if scheduler:
        results = _dask(cfg["kind"], todo, scheduler)
    else:
        results = _local(cfg["kind"], todo, workers or os.cpu_count() or 1)
    for cell, row in results:
        table.add({"key": cell["key"], **row})
        bar.update()
    bar.close()
    table.finish()
    return {
        "config": cfg["name"],
        "out": str(out / RESULTS),
        "cells": len(every),
        "ran": len(todo),
        "skipped": len(done),
        "rows": table.rows,
    }


def publish(cfg: dict, config_path, result: dict, dest: Path, seconds: float) -> Path:
    """Write a finished sweep's rows as ``dest/<name>.csv``, the committed rows that figures
    read, with the config, the command that makes them, the machine and the wall clock in its
    ``#`` line. Refused while cells are missing: a figure must not read a partial sweep."""
    from simulations import machine

    missing = result["cells"] - len(result["rows"])
    if missing:
        raise InputError(f"--publish: {missing} of {result['cells']} cells are not done yet")
    settings = {
        "command": f"smallloss sweep {config_path} --publish",
        "config": str(config_path),
        "settings": cfg,
        "sweep": cfg["name"],
        "machine": machine.describe(),
        "wall_clock_s": round(seconds, 1),
    }
    path = ensure_dir(dest) / f"{cfg['name']}.csv"
    write_commented_csv(path, result["rows"], provenance(settings))
    return path


def _local(kind, todo, workers):
    if workers == 1 or len(todo) <= 1:
        for c in todo:
            yield c, run_cell(kind, c["settings"], c["seed"])
        return
    # fork() after torch or numba started their thread pools can deadlock the child
    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=mp.get_context(method),
        initializer=_exit_with,
        initargs=(os.getpid(),),
    ) as ex:
        futures = {ex.submit(run_cell, kind, c["settings"], c["seed"]): c for c in todo}
        for f in as_completed(futures):
            yield futures[f], f.result()


def _exit_with(sweep_pid: int) -> None:
    """A pool worker's initializer: the worker exits once the sweep that started it is gone.
    A sweep killed alone (``kill -9``, the OOM killer) would otherwise leave its workers, and
    the forkserver they keep alive, waiting for work forever: the forkserver's children are
    not the sweep's, and no pipe closes for them."""

    def watch():
        while _alive(sweep_pid):
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-with-sweep").start()


def _dask(kind, todo, address):
    try:  # dask is an optional extra (smallloss[sweep]), imported only when asked for
        from dask.distributed import Client
        from dask.distributed import as_completed as dask_completed
    except ImportError:
        raise InputError(
            "--scheduler needs dask[distributed]: pip install 'smallloss[sweep]'"
        ) from None
    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise InputError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        futures = {
            client.submit(
                run_cell, kind, c["settings"], c["seed"], key=f"cell-{c['key']}", pure=False
            ): c
            for c in todo
        }
        for f in dask_completed(list(futures)):
            yield futures[f], f.result()
    finally:
        client.close()
