"""`smallloss simulate`: one synthetic setting, every criterion, predicted beside observed."""

from __future__ import annotations

from simulations.cli._args import add_common, add_source, instance_from_args, matrix_from_args

HELP = "one synthetic setting: predicted vs observed precision"


def configure(p) -> None:
    add_source(p, labels=False)
    p.add_argument("--n", type=int, default=100_000, help="number of samples")
    p.add_argument("--model", default="bayes", help="bayes, perturbed or overlap")
    p.add_argument(
        "--epsilon", type=float, default=0.1, help="sup-norm distance from g* (perturbed)"
    )
    p.add_argument(
        "--separation", type=float, default=3.0, help="distance of class means / sqrt 2 (overlap)"
    )
    p.add_argument(
        "--keep",
        default="oracle",
        help="oracle, rsl, a fraction in [0, 1], or target:P (the largest budgets whose "
        "predicted precision is P)",
    )
    p.add_argument(
        "--prior", default="uniform", help="'uniform' or a file with the clean class prior"
    )
    p.add_argument(
        "--epochs", type=int, default=1, help="epochs of loss to average (fluctuation model)"
    )
    p.add_argument(
        "--sigma", type=float, default=0.0, help="spread of the per-epoch loss fluctuation"
    )
    p.add_argument(
        "--rho", type=float, default=0.0, help="correlation of the fluctuation between epochs"
    )
    p.add_argument(
        "--exact", action="store_true", help="exact per-cell counts instead of i.i.d. noisy labels"
    )
    add_common(p)


def run(args) -> tuple[dict, str]:
    import numpy as np

    from simulations.io import read_prior
    from simulations.synthetic.simulate import Setting, simulate
    from theory.errors import InputError
    from theory.validation import check_classes

    name = instance_from_args(args)
    if name:
        if args.classes is None:
            raise InputError(f"noise {name!r} needs a number of classes")
        prior = None if args.prior in (None, "uniform") else read_prior(args.prior)
        T, source = np.eye(check_classes(args.classes)), f"noise {name} rate {args.rate:g}"
    else:
        T, prior, source = matrix_from_args(args)
    s = Setting(
        noise=name or "",
        rate=args.rate if name else 0.0,
        T=T,
        prior=prior,
        n=args.n,
        model=args.model,
        epsilon=args.epsilon,
        separation=args.separation,
        keep=args.keep,
        epochs=args.epochs,
        sigma=args.sigma,
        rho=args.rho,
        exact=args.exact,
        seed=args.seed,
        source=source,
    )
    out = simulate(s)
    return out, render(out)


def render(out: dict) -> str:
    from simulations.io import fmt

    s = out["setting"]
    head = (
        f"{s['source']}, model {s['model']}, n {s['n']}, keep {s['keep']}, "
        f"noise rate {s.get('realised_noise_rate', s['noise_rate']):.4f}"
    )
    lines = [head, "criterion       predicted observed    diff   recall  selected  agreement"]
    for name, r in out["criteria"].items():
        diff = "     -" if r["difference"] is None else f"{r['difference']:+.4f}"
        kept = "-" if r["selected"] is None else str(r["selected"])
        agree = r.get("agreement_with_cleanlab")
        lines.append(
            f"{name:15s} {fmt(r['predicted_precision']):>9} {fmt(r['observed_precision']):>8} "
            f"{diff:>7} {fmt(r['observed_recall']):>8} {kept:>9}  "
            + ("" if agree is None else f"{agree:9.4f}")
        )
    lines.append("agreement: the share of samples on which the criterion and cleanlab decide alike")
    return "\n".join(lines)
