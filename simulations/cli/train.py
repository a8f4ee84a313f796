"""`smallloss train`: the real-data loop from the command line."""

from __future__ import annotations

from simulations.cli._args import add_common, add_source, matrix_from_args
from simulations.criteria import CRITERIA
from simulations.io import fmt
from simulations.pipeline import TrainConfig, run_training

HELP = "real data: stage 1 with loss recording, selection, stage 2"


def configure(p) -> None:
    p.add_argument("--dataset", default="digits", help="digits, npz:PATH, cifar10:DIR or mnist:DIR")
    add_source(p, labels=False)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument(
        "--stage2-epochs",
        type=int,
        default=None,
        help="epochs of each stage-2 model (default: --epochs)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--out", default="runs/train", help="folder for the loss matrix and the record")
    p.add_argument(
        "--train-fraction",
        type=float,
        default=1.0,
        help="share of the training split to use, in (0, 1]",
    )
    p.add_argument("--model", default="auto", help="auto, mlp, cnn or resnet")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_common(p)


def run(args) -> tuple[dict, str]:
    T, _, source = matrix_from_args(args)
    cfg = TrainConfig(
        T=T,
        dataset=args.dataset,
        source=source,
        epochs=args.epochs,
        stage2_epochs=args.stage2_epochs,
        device=args.device,
        out=args.out,
        train_fraction=args.train_fraction,
        model=args.model,
        seed=args.seed,
        progress=not args.no_progress and not args.json,
    )
    record = run_training(cfg)
    return record, render(record, source)


def render(r: dict, source: str) -> str:
    lines = [
        f"{r['dataset']} on {r['device']}: {source}, {r['n_train']} training samples, "
        f"noise rate {r['realised_noise_rate']:.4f}, {r['epochs']} epochs",
        "criterion  observed: single-epoch  mean-loss | predicted: validation  g* atoms",
    ]
    for name in CRITERIA:
        c = r["criteria"][name]
        lines.append(
            f"{name:10s} {fmt(c['observed_precision_single_epoch']):>19} "
            f"{fmt(c['observed_precision_mean_loss']):>10} | "
            f"{fmt(c['predicted_precision']):>20} {fmt(c['predicted_precision_bayes']):>8}"
        )
    if r["test_accuracy"]:
        lines.append("test accuracy (best on clean validation / last):")
        for name, a in r["test_accuracy"].items():
            lines.append(
                f"  {name:16s} {a['best_val']:.4f} / {a['last']:.4f}  trained on "
                f"{a['train_size']} samples, {a['train_precision']:.3f} clean"
            )
    for clean_cells, label in ((True, "clean"), (False, "noisy")):
        cells = [c for c in r["cells"] if (c["clean"] == c["noisy"]) == clean_cells]
        if cells:
            w = [c["count"] for c in cells]
            first = sum(c["mean_loss_by_epoch"][0] * k for c, k in zip(cells, w)) / sum(w)
            last = sum(c["mean_loss_by_epoch"][-1] * k for c, k in zip(cells, w)) / sum(w)
            atom = sum(c["atom"] * k for c, k in zip(cells, w)) / sum(w)
            lines.append(
                f"{label} cells: mean training loss {first:.3f} after epoch 1, {last:.3f} at "
                f"the end (their atoms -log T_ij average {atom:.3f})"
            )
    t = r["timing"]
    lines.append(
        f"epoch {t['epoch_s'] * 1e3:.1f} ms, loss recording {t['record_s'] * 1e3:.1f} ms, "
        f"whole run {t['total_s']:.1f} s; loss matrix: {r['loss_matrix']}"
    )
    return "\n".join(lines)
