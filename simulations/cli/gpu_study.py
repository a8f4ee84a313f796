"""`smallloss gpu-study`: device parity, the ResNet epoch's speed and claim C10 where
cross-entropy memorises, in one call for a bare CUDA machine (``training.gpu_study``)."""

from __future__ import annotations

import sys
from pathlib import Path

from simulations.cli._args import unit_interval

HELP = "parity, speed and C10 at memorisation on a GPU machine, in one call"
PARTS = ("parity", "speed", "c10")


def configure(p) -> None:
    p.add_argument("--data", required=True, help="folder of Fashion-MNIST's idx files")
    p.add_argument("--out", required=True, help="folder for study.json and the CSVs")
    p.add_argument("--device", default="cuda", choices=("cpu", "cuda"))
    p.add_argument("--quick", action="store_true", help="tiny sizes: seconds on a CPU")
    p.add_argument(
        "--budget-seconds",
        type=float,
        default=420.0,
        help="C10 starts no further seed once the last seed's time would pass this total",
    )
    p.add_argument(
        "--fraction",
        type=unit_interval,
        default=0.1852,
        help="share of Fashion-MNIST's training split in C10 (0.1852: 10,000 images)",
    )
    p.add_argument("--epochs", type=int, default=100, help="C10's epochs per network")
    p.add_argument("--seeds", type=int, default=3, help="C10's seeds at most")
    p.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    p.add_argument("--json", action="store_true", help="print the study as JSON")


def run(args) -> tuple[dict, str]:
    # every input checked before torch is imported, the device woken or a folder made
    from simulations.training.gpu_study import check_data
    from theory.errors import InputError
    from theory.validation import check_int

    if "c10" in args.parts:
        check_data(args.data)
    if args.fraction == 0:
        raise InputError("--fraction must be above 0")
    epochs = check_int(args.epochs, "--epochs", low=1)
    seeds = check_int(args.seeds, "--seeds", low=1)
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise InputError(f"--out {args.out} is an existing file")
    # torch is the optional extra smallloss[train]: imported when the study runs
    from simulations.training.gpu_study import run_study
    from simulations.training.loop import resolve_device

    resolve_device(args.device)
    study = run_study(
        args.data,
        args.out,
        device=args.device,
        quick=args.quick,
        budget_seconds=args.budget_seconds,
        fraction=args.fraction,
        epochs=epochs,
        seeds=seeds,
        parts=tuple(args.parts),
        say=lambda line: print(line, file=sys.stderr, flush=True),
    )
    return study, render(study)


def _table(rows: list[dict], keys: tuple[str, ...]) -> str:
    def cell(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    width = max(len(k) for k in keys) + 1
    lines = ["".join(f"{k:>{width}}" for k in keys)]
    lines += ["".join(f"{cell(row.get(k)):>{width}}" for k in keys) for row in rows]
    return "\n".join(lines)


def render(study: dict) -> str:
    device = study["settings"]["device"]
    lines = []
    if "parity" in study:
        diffs = [abs(r["difference"]) for r in study["parity"] if r["difference"] is not None]
        lines.append(
            f"parity: largest |{device} - cpu| over seeds and quantities "
            f"{max(diffs, default=0.0):.4f}"
        )
    if "speed" in study:
        card = study["speed"][0]["card"]
        lines += [
            f"speed ({card}):",
            _table(
                study["speed"],
                ("mode", "recording", "samples_per_s", "record_share", "peak_memory_gib"),
            ),
        ]
    if "c10" in study:
        from simulations.training.arms import CE, REFERENCE, REGISTRY

        # cross-entropy read both ways, RSL, and the two-network arms
        families = ("derived", "two_networks")
        arms = [a.name for a in REGISTRY if a.family in families or a.name in (CE, REFERENCE)]
        lines += [
            "c10, test accuracy at the last epoch:",
            _table(study["c10"], ("noise", "seed", *(f"test_{a}_last" for a in arms))),
        ]
    lines.append(f"files in {study['settings'].get('out', '')}".rstrip())
    return "\n".join(lines)
