"""`smallloss bench`: the project's kernels against their baselines, ratios from one run."""

from __future__ import annotations

from simulations.cli._args import add_common

HELP = "kernels against their baselines, ratios from one run"


def configure(p) -> None:
    p.add_argument("--n", type=int, default=10_000_000)
    p.add_argument("--repeat", type=int, default=3, help="best of this many timings")
    p.add_argument("--no-cleanlab", action="store_true", help="skip the cleanlab baseline")
    p.add_argument("--no-train", action="store_true", help="skip the trainer timings (torch)")
    p.add_argument(
        "--no-estimate", action="store_true", help="skip estimate with intervals (about 3 min)"
    )
    p.add_argument("--only-estimate", action="store_true", help="only estimate with intervals")
    p.add_argument(
        "--only-certificate",
        action="store_true",
        help="only the certified target search at n = 1,000,000 and 5,000 probes",
    )
    p.add_argument(
        "--only-size",
        action="store_true",
        help="only analyse at size: a CIFAR-sized run (50,000 x 200 epochs of logits) and "
        "1,000,000 samples x 100 epochs of losses (5,000 probes), time and peak memory against "
        "the path before, and cleanlab on 1,000,000 x 10 probabilities (about 3 min; the path "
        "before peaks near 6 GB)",
    )
    p.add_argument(
        "--no-certificate", action="store_true", help="skip the certified target search (~10 s)"
    )
    p.add_argument("--draws", type=int, default=200, help="estimate's bootstrap draws")
    p.add_argument(
        "--baseline-draws",
        type=int,
        default=20,
        help="resamples a slow baseline is timed on, scaled to --draws",
    )
    add_common(p)


def run(args) -> tuple[dict, str]:
    from simulations.experiments.bench import run_bench
    from theory.validation import check_int

    only_size = args.only_size
    out = run_bench(
        check_int(args.n, "--n", low=1),
        max(1, args.repeat),
        cleanlab=not args.no_cleanlab,
        seed=args.seed,
        trainer=not (args.no_train or args.only_estimate or args.only_certificate or only_size),
        estimate=not (args.no_estimate or args.only_certificate or only_size),
        draws=check_int(args.draws, "--draws", low=10),
        baseline_draws=check_int(args.baseline_draws, "--baseline-draws", low=1),
        kernels=not (args.only_estimate or args.only_certificate or only_size),
        certificate=not (args.no_certificate or args.only_estimate or only_size),
        size=only_size,
    )
    return out, render(out)


def render(out: dict) -> str:
    m = out["machine"]
    lines = [
        f"n = {out['n']:.0e}, best of {out['repeat']}; estimate: {out['draws']} draws, one "
        f"timing each; {m['cores']} cores, reference workload {m['reference_s']:.3f} s "
        f"(simulations.machine), load {m['load_1min']:.1f} at the end (other work "
        "on the machine slows every timing)",
    ]
    w = max([26] + [len(r["kernel"]) for r in out["rows"]])
    lines.append(
        f"{'kernel':{w}s} {'ours (s)':>9} {'baseline (s)':>12} {'ratio':>7} {'target':>7}  baseline"
    )
    for r in out["rows"]:
        lines.append(
            f"{r['kernel']:{w}s} {r['ours_s']:9.4f} {r['baseline_s']:12.4f} {r['ratio']:6.1f}x "
            f"{r['target']:6.1f}x  {r['baseline']}{'' if r['met'] else '  (below target)'}"
        )
    if out.get("size"):
        from simulations.experiments.bench_size import render as render_size

        lines.append(render_size(out["size"]))
    tr = out.get("trainer")
    if tr:
        epoch_ms, loader_ms = tr["epoch_s"] * 1e3, tr["dataloader_epoch_s"] * 1e3
        rows_ms, record_ms = tr["dataloader_numpy_epoch_s"] * 1e3, tr["record_s"] * 1e3
        lines.append(
            f"trainer on digits (CPU, {tr['torch_threads']} threads): epoch {epoch_ms:.1f} ms vs "
            f"DataLoader {loader_ms:.1f} ms over a TensorDataset ({tr['epoch_ratio']:.1f}x), "
            f"{rows_ms:.1f} ms over numpy rows ({tr['epoch_ratio_numpy']:.1f}x; target 2x); "
            f"loss recording {record_ms:.2f} ms = {100 * tr['record_share_of_epoch']:.1f}% "
            f"of an epoch (target <= 10%); whole run {tr['digits_run_s']:.1f} s "
            "(target <= 60 s)"
        )
        for what, p in tr.get("plain_loop", {}).items():
            if not isinstance(p, dict):  # its torch_threads
                continue
            lines.append(
                f"trainer epoch on {what} vs a plain PyTorch loop on the same model: "
                f"{p['epoch_s']:.3f} s vs {p['plain_epoch_s']:.3f} s (trainer / plain "
                f"{p['ratio']:.2f})"
            )
    big = out.get("trainer_large_images")
    if big:
        lines.append(
            f"trainer on Fashion-MNIST-shaped data ({big['n']:,} images 1x28x28, CPU, "
            f"{big['torch_threads']} threads, default model {big['model']}, batch {big['batch']}): "
            f"epoch {big['epoch_s']:.2f} s, {big['samples_per_s']:,.0f} samples/s; loss recording "
            f"{100 * big['record_share_pass']:.1f}% of an epoch in the training pass (target "
            f"<= 10%) vs {100 * big['record_share_eval']:.1f}% in an eval pass after it"
        )
    fc = out.get("first_call_in_fresh_process_s")
    if fc:
        lines.append(
            f"first call in a fresh process (import + 3 kernels): {fc['compile_s']:.2f} s "
            f"compiling, {fc['cached_s']:.2f} s from the disk cache "
            f"({fc['compile_s'] / fc['cached_s']:.1f}x)"
        )
    return "\n".join(lines)
