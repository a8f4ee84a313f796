"""The GPU study in one command, for a bare machine with a CUDA card: device parity, the
ResNet epoch's speed, and claim C10 where cross-entropy memorises.

    PYTHONPATH=. python3 -m simulations.cli gpu-study --data data/fashion-mnist \\
        --out runs/gpu_study --device cuda --budget-seconds 420

(``smallloss gpu-study`` where the package is installed.)
It needs torch, numpy, scipy, scikit-learn and tqdm only: the training loop runs with ``cv``
0, so neither cleanlab nor the out-of-fold criteria are used (the summary says so). Three
parts, in order, each written as soon as it ends:

- ``parity``: digits under pairwise 40% noise, 3 seeds, the same runs on the CPU and on
  ``--device``: each criterion's observed precision and each arm's test accuracy, per seed,
  and their difference;
- ``speed``: epochs of the ResNet on 45,000 random 3x32x32 tensors with loss recording in the
  pass and off, in fp32, channels-last, and bf16 autocast with channels-last: samples a
  second, the recording's share of an epoch, peak GPU memory, the card's name;
- ``c10``: the memorisation recipe (``simulations/sweeps/memorise_fashion.toml``: the MLP,
  100 epochs, batch 128, every stage-2 arm at its last and its best-validation epoch) on
  Fashion-MNIST at ``--fraction`` of the training split, symmetric 50%, pairwise 40% and
  structured 40%, seed after seed while the budget lasts (a seed is started only if the last
  one's time still fits).

``--quick`` shrinks every part to seconds (3 epochs, 600 images, one seed of C10) to check the
command and its files on a CPU. Output: ``study.json`` (everything, with settings and
versions) and ``parity.csv``, ``speed.csv``, ``c10.csv`` in ``--out``; a summary on stdout.
"""

from __future__ import annotations

import contextlib
import csv
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from simulations.io import atomic_path, ensure_dir, provenance, write_json
from simulations.training.config import TrainConfig
from simulations.training.run import run_training
from theory import noise
from theory.errors import InputError

if TYPE_CHECKING:  # torch is imported by the parts that run: checking the input needs none
    import torch

SETTINGS = (("symmetric", 0.5), ("pairwise", 0.4), ("structured", 0.4))
SPEED_MODES = ("fp32", "channels_last", "bf16_channels_last")
PARTS = ("parity", "speed", "c10")
PARITY = ("pairwise", 0.4)  # digits' noise in the parity runs


def check_data(data) -> Path:
    """``data`` as the folder of Fashion-MNIST's four idx files (``train-images-idx3-ubyte``
    ..., each plain or .gz) that C10 reads, or the one-line error that names ``--data``."""
    from simulations.training.data import MNIST_FILES

    folder = Path(data)
    if not folder.exists():
        raise InputError(f"--data: no folder {folder}")
    if not folder.is_dir():
        raise InputError(f"--data {folder} is a file, not a folder of Fashion-MNIST's idx files")
    missing = [
        stem
        for stem in MNIST_FILES.values()
        if not any((folder / name).is_file() for name in (stem, stem + ".gz"))
    ]
    if missing:
        raise InputError(
            f"--data {folder} lacks Fashion-MNIST's {', '.join(missing)} (plain or .gz)"
        )
    return folder


def one_run(dataset: str, device: str, seed: int, kind: str, rate: float, **kw) -> dict:
    """One seed of the training loop (stage 1, analysis, stage 2) under ``kind`` noise at
    ``rate``, with no files kept."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(
            T=noise.named(kind, rate, 10),
            noise=kind,
            dataset=dataset,
            device=device,
            seed=seed,
            cv=0,
            out=tmp,
            progress=False,
            bootstrap=0,  # point values are compared: the intervals' resamples would dominate
            arms="all",  # C10 compares every arm, the two-network ones included
            **kw,
        )
        return run_training(cfg)


def summary_of(record: dict) -> dict:
    """Each criterion's observed precision and each arm's test accuracy (last, best epoch)."""
    row = {f"precision_{k}": v["observed_precision"] for k, v in record["criteria"].items()}
    for arm, v in record["test_accuracy"].items():
        row[f"test_{arm}_last"] = v["mean"]
        row[f"test_{arm}_best_val"] = v["early_stopped"]["mean"]
    return row


def parity(device: str, quick: bool) -> list[dict]:
    """The same digits runs on the CPU and on ``device`` (on the CPU twice: its
    reproducibility), per seed and quantity."""
    kw = {"epochs": 3, "stage2_epochs": 2} if quick else {"epochs": 30}
    rows = []
    for seed in range(1 if quick else 3):
        cpu = summary_of(one_run("digits", "cpu", seed, *PARITY, **kw))
        other = summary_of(one_run("digits", device, seed, *PARITY, **kw))
        for key, value in cpu.items():
            v = other.get(key)
            rows.append(
                {
                    "seed": seed,
                    "quantity": key,
                    "cpu": value,
                    "device": v,
                    "difference": None if v is None or value is None else v - value,
                }
            )
    return rows


@contextlib.contextmanager
def _mode(mode: str, device: torch.device):
    import torch

    if mode.startswith("bf16"):
        with torch.autocast(device.type, dtype=torch.bfloat16):
            yield
    else:
        yield


def speed(device_name: str, quick: bool, seed: int = 0) -> list[dict]:
    """ResNet epochs on CIFAR-shaped random tensors, recording in the pass and off, per mode."""
    import torch

    from simulations.training.loop import Recipe, fit, fresh_model, resolve_device

    device = resolve_device(device_name)
    n, epochs = (256, 1) if quick else (45_000, 3)
    gen = torch.Generator().manual_seed(seed)
    X0 = torch.randn((n, 3, 32, 32), generator=gen).to(device)
    y = torch.randint(0, 10, (n,), generator=gen).to(device)
    modes = SPEED_MODES[:1] if quick or device.type == "cpu" else SPEED_MODES
    rows = []
    for mode in modes:
        for record in ("pass", None):
            net = fresh_model("resnet", (3, 32, 32), 10, seed, device)
            X = X0
            if mode != "fp32":
                net = net.to(memory_format=torch.channels_last)
                X = X0.contiguous(memory_format=torch.channels_last)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            with _mode(mode, device):
                f = fit(net, X, y, Recipe(epochs=epochs, batch=128), seed=seed, record=record)
            epoch = float(np.median(f.epoch_s))
            rows.append(
                {
                    "mode": mode,
                    "recording": record or "off",
                    "n": n,
                    "epoch_s": epoch,
                    "samples_per_s": n / epoch,
                    "record_share": float(np.median(np.divide(f.record_s, f.epoch_s)))
                    if record
                    else 0.0,
                    "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30
                    if device.type == "cuda"
                    else None,
                    "card": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                }
            )
    return rows


def c10(
    data: str,
    device: str,
    fraction: float,
    epochs: int,
    budget: float,
    quick: bool,
    seeds: int,
    say=lambda line: None,
) -> list[dict]:
    """The memorisation recipe per setting and seed, seed after seed while ``budget`` lasts."""
    dataset = f"fashion-mnist:{data}"
    kw = {
        "epochs": epochs,
        "stage2_epochs": epochs,
        "batch": 128,
        "model": "mlp",
        "train_fraction": fraction,
    }
    rows, start, last = [], time.perf_counter(), 0.0
    for seed in range(seeds):
        if seed and time.perf_counter() - start + last > budget:
            break
        t0 = time.perf_counter()
        for kind, rate in SETTINGS[:1] if quick else SETTINGS:
            r = one_run(dataset, device, seed, kind, rate, **kw)
            rows.append({"noise": kind, "rate": rate, "seed": seed, **summary_of(r)})
            say(f"c10 {kind} {rate:g} seed {seed}: {time.perf_counter() - t0:.0f} s")
        last = time.perf_counter() - t0
    return rows


def write_rows(path: Path, rows: list[dict]) -> None:
    """Rows as CSV (the union of their keys), written then renamed."""
    keys = list(dict.fromkeys(k for row in rows for k in row))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, keys)
        w.writeheader()
        w.writerows(rows)


def run_study(
    data: str,
    out,
    device: str = "cuda",
    quick: bool = False,
    budget_seconds: float = 420.0,
    fraction: float = 0.1852,
    epochs: int = 100,
    seeds: int = 3,
    parts=PARTS,
    say=lambda line: None,
) -> dict:
    """The parts asked for, each written to ``out/<part>.csv`` as it ends, then
    ``out/study.json`` with everything, the settings and the versions.

    ``say`` receives one line of progress per run and per part."""
    settings = {
        "data": str(data),
        "out": str(out),
        "device": device,
        "quick": quick,
        "budget_seconds": budget_seconds,
        "fraction": fraction,
        "epochs": epochs,
        "seeds": seeds,
        "parts": list(parts),
    }
    if "c10" in parts:
        check_data(data)
    out = ensure_dir(out)
    start = time.perf_counter()
    if quick:  # seconds on a CPU: about 600 of the 54,000 images, 3 epochs, one seed
        fraction, epochs, seeds = 0.012, 3, 1
    jobs = {
        "parity": lambda: parity(device, quick),
        "speed": lambda: speed(device, quick),
        "c10": lambda: c10(
            data,
            device,
            fraction,
            epochs,
            budget_seconds - (time.perf_counter() - start),
            quick,
            seeds,
            say,
        ),
    }
    study = {"settings": settings, "cleanlab": "not used: cv 0 (in-sample probabilities)"}
    for name in parts:
        t0 = time.perf_counter()
        study[name] = jobs[name]()
        study[f"{name}_s"] = time.perf_counter() - t0
        write_rows(out / f"{name}.csv", study[name])
        say(f"{name}: {study[name + '_s']:.0f} s")
    write_json(out / "study.json", {**study, "provenance": provenance(settings)})
    return study
