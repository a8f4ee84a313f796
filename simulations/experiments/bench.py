"""`smallloss bench`: each kernel against its baseline, timed in the same run, as ratios.

Timings are the best of ``--repeat`` runs after a warm-up call (so compilation is not
timed); the first call in a fresh process is timed separately to show the on-disk cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.linalg import solve_triangular

from simulations import machine
from simulations.estimation import dawid_skene, transition
from simulations.experiments import bench_size
from simulations.experiments.certificate import bench_rows as bench_certificate_rows
from simulations.io import versions
from simulations.selection import rules
from simulations.synthetic import generate, instance_draw, instance_noise
from theory import noise
from theory.losses import overlap_posterior


def best_of(fn, repeat: int) -> float:
    fn()  # warm-up: compilation and page faults are not what is measured
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def numpy_noisy_labels(clean, T, rng):
    """The numpy way: per clean class, uniforms through ``searchsorted`` on the row's CDF."""
    out = np.empty(clean.size, dtype=np.int64)
    cdf = np.cumsum(T, axis=1)
    for k in range(len(T)):
        idx = np.flatnonzero(clean == k)
        out[idx] = np.minimum(
            np.searchsorted(cdf[k], rng.random(idx.size), side="right"), len(T) - 1
        )
    return out


def numpy_per_class_select(losses, labels, counts):
    out = np.zeros(losses.size, dtype=bool)
    for k, m in enumerate(counts):
        idx = np.flatnonzero(labels == k)
        if 0 < m < idx.size:
            out[idx[np.argpartition(losses[idx], m - 1)[:m]]] = True
        elif m >= idx.size:
            out[idx] = True
    return out


FIRST_CALL = """
import time, numpy as np
t = time.perf_counter()
from simulations.selection import rules
from simulations.synthetic import generate
y = generate.clean_labels(1000, np.full(10, 0.1), 0)
z = generate.noisy_labels(y, np.full((10, 10), 0.1), 1)
rules.select_per_class(np.random.default_rng(0).random(1000), z, np.full(10, 50))
print(time.perf_counter() - t)
"""


def first_call_seconds() -> dict:
    """Import plus first calls in two fresh interpreters sharing a new, empty Numba cache:
    the first compiles and writes the cache, the second only loads it."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        times = []
        for _ in range(2):
            out = subprocess.run(
                [sys.executable, "-c", FIRST_CALL],
                capture_output=True,
                text=True,
                check=True,
                env=env,
            )
            times.append(float(out.stdout.strip().splitlines()[-1]))
    return {"compile_s": times[0], "cached_s": times[1]}


def bench_dawid_skene(repeat: int, n: int = 50_000, c: int = 10, seed: int = 0):
    """Dawid-Skene on CIFAR-10N-sized data (n items, 3 annotators) against crowd-kit's."""
    try:
        import pandas as pd
        from crowdkit.aggregation import DawidSkene
    except ImportError:
        return None
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, c, n)
    T = noise.symmetric(0.2, c)
    labels = np.column_stack([generate.noisy_labels(truth, T, seed + a) for a in range(3)])
    frame = pd.concat(
        [pd.DataFrame({"task": np.arange(n), "worker": a, "label": labels[:, a]}) for a in range(3)]
    )

    def ours():
        pat, _, cnt = dawid_skene.label_patterns(labels)
        dawid_skene.dawid_skene(pat, cnt, c)

    base = best_of(lambda: DawidSkene(n_iter=100).fit(frame), max(1, repeat - 1))
    return "Dawid-Skene n=50000 A=3 c=10", best_of(ours, repeat), base, "crowd-kit DawidSkene", 2.0


def bench_instance(repeat: int, n: int = 1_000_000, c: int = 10, seed: int = 0) -> list:
    """The instance-noise generators against the NumPy ports of their recipes that the tests
    keep (``tests/instance_reference.py``; skipped outside a source checkout)."""
    tests = Path(__file__).resolve().parents[2] / "tests"
    if not (tests / "instance_reference.py").exists():
        return []
    sys.path.insert(0, str(tests))
    import instance_reference as ref

    prior = np.full(c, 1.0 / c)
    clean = generate.clean_labels(n, prior, seed)
    X = instance_draw.overlap_features(clean, c, 3.0, seed + 1)
    q = overlap_posterior(X, 3.0, prior)
    W = instance_noise.part_dependent_weights(c, c, seed)
    factor = instance_noise.pmd(q, clean, 1, 0.3, seed).params["factor"]
    rng = np.random.default_rng(seed)
    cases = [
        (
            "part-dependent",
            lambda: instance_noise.part_dependent(X, clean, 0.3, seed, c),
            lambda: ref.part_dependent(X, clean, 0.3, W, rng),
        ),
        (
            "pmd-1",
            lambda: instance_noise.pmd(q, clean, 1, 0.3, seed),
            lambda: ref.pmd(q, 1, factor, rng),
        ),
        ("margin", lambda: instance_noise.margin(q, clean, 0.3), lambda: ref.margin(q, clean, 0.3)),
    ]
    return [
        (
            f"{name} noise n={n} c={c}",
            best_of(ours, repeat),
            best_of(port, max(1, repeat - 1)),
            "NumPy port of the recipe",
            10.0,
        )
        for name, ours, port in cases
    ]


# --- estimate with intervals: the command's work, against the same work before it was stacked


def mixture_input(separation: float, n: int = 5_000, c: int = 10, seed: int = 0):
    """A reproducible input for ``estimate --method mixture``: labels from pairwise 0.3 noise
    and, as out-of-fold probabilities, the overlap model's noisy-class posterior at
    ``separation`` (1: weakly informative, EM crawls; 3: informative)."""
    T = noise.named("pairwise", 0.3, c)
    clean = generate.clean_labels(n, np.full(c, 1.0 / c), seed)
    noisy = generate.noisy_labels(clean, T, seed + 1)
    model = generate.Model("overlap", T, separation=separation)
    probs = model.probs(clean.astype(np.int32), np.random.default_rng(seed + 2))
    probs = probs.astype(np.float64)
    return noisy, probs / probs.sum(1, keepdims=True)


LOGIT_SIGNAL = 1.8  # logit of the clean class over the rest: top-1 accuracy about 0.61 at c = 10


def logit_noise_input(
    signal: float = LOGIT_SIGNAL, rate: float = 0.35, n: int = 5_000, c: int = 10, seed: int = 0
):
    """A weak input for ``estimate --method mixture`` as a user's classifier gives one:
    logits ``signal * onehot(clean)`` plus standard Gaussian noise, softmaxed (top-1
    accuracy on the clean labels about 0.61 at 1.8, 0.68 at 2), labels from pairwise
    ``rate`` noise. Weaker than ``mixture_input`` at separation 1 for EM: the refits take
    more steps."""
    rng = np.random.default_rng(seed)
    clean = rng.integers(0, c, n)
    noisy = generate.noisy_labels(clean, noise.named("pairwise", rate, c), seed + 1)
    logits = signal * np.eye(c)[clean] + rng.standard_normal((n, c))
    probs = np.exp(logits - logits.max(1, keepdims=True))
    return noisy, probs / probs.sum(1, keepdims=True)


def _log_density_before(z, resp, mass):
    """``loss_mixture``'s class densities as they were: one Cholesky solve per class."""
    n, d = z.shape
    out = np.empty((n, resp.shape[1]))
    for i in range(resp.shape[1]):
        mean = resp[:, i] @ z / mass[i]
        dev = z - mean
        cov = (resp[:, i, None] * dev).T @ dev / mass[i] + transition.RIDGE * np.eye(d)
        chol = np.linalg.cholesky(cov)
        w = solve_triangular(chol, dev.T, lower=True)
        out[:, i] = -0.5 * (w * w).sum(0) - np.log(np.diag(chol)).sum()
    return out - 0.5 * d * np.log(2 * np.pi)


def loss_mixture_before(noisy, probs, classes: int, max_iter: int = 300, tol: float = 1e-8):
    """The baseline: ``loss_mixture``'s EM on the rows it is given, as it was before the
    stacked fits (same start, same rule, the same T and prior to 1e-11)."""
    z = np.log(np.clip(probs, 1e-6, 1.0))
    z -= z.mean(1, keepdims=True)
    onehot = np.eye(classes)[noisy]
    resp = 0.9 * np.eye(classes)[probs.argmax(1)] + 0.1 / classes
    previous = -np.inf
    for _ in range(max_iter):
        mass = resp.sum(0) + 1e-12
        prior = mass / mass.sum()
        counts = resp.T @ onehot + 1e-12
        T = counts / counts.sum(1, keepdims=True)
        log_joint = np.log(prior)[None] + np.log(T[:, noisy]).T + _log_density_before(z, resp, mass)
        resp, log_evidence = dawid_skene.normalise_log(log_joint)
        ll = float(log_evidence.sum())
        if ll - previous <= tol * abs(ll):
            break
        previous = ll
    return T, prior


def draws_before(est, draws: int, seed: int):
    """The bootstrap as it was: one refit per resample, from the same random stream (ds:
    ``dawid_skene`` from the full fit's posterior; ds-easy: L-BFGS-B on the NumPy objective;
    mixture: the plain EM above on the resampled rows, each from the predicted class)."""
    rng = np.random.default_rng(seed)
    c = len(est.T)
    Ts, priors = [], []
    if est.method in transition.CROWD_METHODS:
        data, fit = est.details["data"], est.details["fit"]
        n = int(data.counts.sum())
        ann = data.patterns[:, :-1]
        for _ in range(draws):
            counts = rng.multinomial(n, data.counts / n).astype(float)
            if est.method == "ds":
                refit = dawid_skene.dawid_skene(ann, counts, c, start=fit.posterior)
            else:
                refit = dawid_skene.easy_items(ann, counts, c, params=fit.params, ftol=1e-8)
            T, _ = transition._crowd_transitions(data, c, counts, refit.posterior)
            Ts.append(T)
            priors.append(refit.prior)
        return np.array(Ts), np.array(priors)
    noisy, probs = est.details["noisy"], est.details["probs"]
    for _ in range(draws):
        idx = rng.integers(0, len(noisy), len(noisy))
        T, prior = loss_mixture_before(noisy[idx], probs[idx], c)
        Ts.append(T)
        priors.append(prior)
    return np.array(Ts), np.array(priors)


def _plain_em_estimate(noisy, probs, draws: int, seed: int) -> None:
    """``estimate --method mixture`` with ``draws`` resamples as it ran before SQUAREM: the
    same stacked fits, plain EM steps, every refit from the predicted class."""
    data = transition._MixtureData(noisy, probs, 10)
    n = len(noisy)
    transition.mixture_fits(data, np.ones((1, n)), accelerate=False)
    rng = np.random.default_rng(seed)
    W = np.array([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(draws)], float)
    transition.mixture_fits(data, W, accelerate=False)


def _crowdkit_draws(labels: np.ndarray, draws: int, seed: int) -> float | None:
    """Seconds for crowd-kit's DawidSkene refitted on ``draws`` resamples of the items (the
    peer's bootstrap: the first annotator's T from its posteriors), or None without it."""
    try:
        import pandas as pd
        from crowdkit.aggregation import DawidSkene
    except ImportError:
        return None
    rng = np.random.default_rng(seed)
    n, A = labels.shape
    c = int(labels.max()) + 1
    t = time.perf_counter()
    for _ in range(draws):
        sample = labels[rng.integers(0, n, n)]
        frame = pd.DataFrame(
            {
                "task": np.repeat(np.arange(n), A),
                "worker": np.tile(np.arange(A), n),
                "label": sample.ravel(),
            }
        )
        post = DawidSkene(n_iter=100).fit(frame).probas_.sort_index()
        post = post.reindex(columns=range(c), fill_value=0.0).to_numpy()
        mass = post.T @ np.eye(c)[sample[:, 0]]
        _ = mass / np.maximum(mass.sum(1, keepdims=True), 1e-300)
    return time.perf_counter() - t


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def easy_fits_before(ann: np.ndarray, classes: int) -> None:
    """``from_annotators(..., model="ds-easy", independence=True)``'s two L-BFGS-B fits as
    they ran before: the NumPy objective, with its sparse counts, at every evaluation."""
    patterns, _, counts = dawid_skene.label_patterns(ann)
    start = dawid_skene.dawid_skene(patterns, counts, classes)
    args = (
        np.asarray(counts, dtype=float),
        patterns,
        dawid_skene._indicators(patterns, classes),
        dawid_skene._unanimous(patterns, classes),
    )
    for independent in (False, True):
        params = dawid_skene.start_params(start, classes, independent)
        dawid_skene._lbfgsb(dawid_skene._easy_objective, args, params, classes, independent, 1e-12)


def bench_easy_fit(repeat: int, seed: int = 0) -> list[tuple]:
    """ds-easy's full-data fits (the easy-items fit and its independence null), compiled
    objective against the NumPy one: on CIFAR-10N (903 label patterns) and on figure 10's
    coverage world at 4 classes (64 patterns, where the NumPy objective is all overhead)."""
    z = noise.cifar10n_labels()
    cifar = np.column_stack([z[k] for k in ("random1", "random2", "random3")])
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, 10_000)
    easy = rng.random(truth.size) < 0.3
    small = np.column_stack(
        [
            np.where(easy, truth, generate.noisy_labels(truth, noise.symmetric(0.4, 4), seed + a))
            for a in range(3)
        ]
    )
    rows, keys = [], ["a", "b", "c"]
    for name, ann, c, target in (
        ("CIFAR-10N", cifar, 10, 1.2),
        ("10000 items x 4 classes", small, 4, 2.0),
    ):
        ours = best_of(
            lambda ann=ann, c=c: transition.from_annotators(
                ann, keys, c, model="ds-easy", independence=True
            ),
            repeat,
        )
        base = best_of(lambda ann=ann, c=c: easy_fits_before(ann, c), repeat)
        rows.append((f"ds-easy fit + independence, {name}", ours, base, "NumPy objective", target))
    return rows


def bench_estimate(
    draws: int = 200,
    baseline_draws: int = 20,
    seed: int = 0,
    peer: bool = True,
    mixture_items: int = 5_000,
) -> list[dict]:
    """``estimate`` with ``draws`` bootstrap intervals, fit included, as the command runs it:
    ds and ds-easy (with the independence test) on CIFAR-10N's three annotators, the mixture
    on ``mixture_input`` at separations 3 and 1 and on ``logit_noise_input`` (a weak
    classifier's probabilities, as users bring them). The baselines are the same fits and the
    per-resample loops of ``draws_before``, timed in the same run; a baseline slower than
    ours is timed on ``baseline_draws`` resamples and scaled to ``draws`` (each resample
    costs the same in expectation), as is crowd-kit's DawidSkene refitted per resample."""
    z = noise.cifar10n_labels()
    keys = ["random1", "random2", "random3"]
    ann = np.column_stack([z[k] for k in keys])
    cases = [
        (f"estimate ds, CIFAR-10N, {draws} draws", "ds", None, 3.0),
        (f"estimate ds-easy, CIFAR-10N, {draws} draws", "ds-easy", None, 3.0),
        (f"estimate mixture {mixture_items}x10 sep 3, {draws} draws", "mixture", 3.0, 5.0),
        (f"estimate mixture {mixture_items}x10 sep 1, {draws} draws", "mixture", 1.0, 5.0),
        (
            f"estimate mixture {mixture_items}x10 logit noise {LOGIT_SIGNAL:g}, {draws} draws",
            "mixture",
            "logit",
            5.0,
        ),
    ]
    # compile and load once: the command pays it once too, and it is not what is measured
    warm = transition.from_annotators(ann[:2000], keys, 10, model="ds-easy")
    transition.draws(warm, 2, seed)
    rows = []
    for name, method, separation, target in cases:
        if separation is None:

            def fit(method=method):
                return transition.from_annotators(ann, keys, 10, None, "auto", method, True)

        else:
            noisy, probs = (
                logit_noise_input(n=mixture_items, seed=seed)
                if separation == "logit"
                else mixture_input(separation, n=mixture_items, seed=seed)
            )

            def fit(noisy=noisy, probs=probs):
                return transition.from_probs(noisy, probs, 10, "mixture")

        e0 = fit()
        fit_s = _timed(fit)
        draws_s = _timed(lambda e0=e0: transition.draws(e0, draws, seed))
        k = draws if method in transition.CROWD_METHODS else min(draws, baseline_draws)
        before_s = _timed(lambda e0=e0, k=k: draws_before(e0, k, seed)) * draws / k
        rows.append(
            {
                "kernel": name,
                "ours_s": fit_s + draws_s,
                "baseline": "one refit per resample, as before"
                + ("" if k == draws else f" ({k} resamples timed, x{draws / k:g})"),
                "baseline_s": fit_s + before_s,
                "target": target,
            }
        )
        if method == "mixture":
            rows.append(
                {
                    "kernel": name,
                    "ours_s": fit_s + draws_s,
                    "baseline": "stacked plain EM from the predicted class, as before SQUAREM",
                    "baseline_s": _timed(
                        lambda n=noisy, p=probs: _plain_em_estimate(n, p, draws, seed)
                    ),
                    "target": 2.0,
                }
            )
        if method == "ds" and peer:
            peer_s = _crowdkit_draws(ann, min(draws, baseline_draws), seed)
            if peer_s is not None:
                k = min(draws, baseline_draws)
                rows.append(
                    {
                        "kernel": name,
                        "ours_s": fit_s + draws_s,
                        "baseline": f"crowd-kit DawidSkene per resample ({k} timed, "
                        f"x{draws / k:g})",
                        "baseline_s": peer_s * draws / k,
                        "target": 2.0,
                    }
                )
    return rows


def run_bench(
    n: int,
    repeat: int = 3,
    cleanlab: bool = True,
    seed: int = 0,
    trainer: bool = True,
    estimate: bool = True,
    draws: int = 200,
    baseline_draws: int = 20,
    kernels: bool = True,
    certificate: bool = True,
    size: bool = False,
) -> dict:
    rng = np.random.default_rng(seed)
    rows = []

    def row(name, ours, base, baseline, target):
        rows.append(
            {
                "kernel": name,
                "ours_s": ours,
                "baseline": baseline,
                "baseline_s": base,
                "ratio": base / ours,
                "target": target,
                "met": base / ours >= target,
            }
        )

    if kernels:
        for c, target in ((10, 5.0), (100, 8.0)):
            T = noise.symmetric(0.4, c)
            clean = generate.clean_labels(n, np.full(c, 1.0 / c), seed)
            ours = best_of(lambda clean=clean, T=T: generate.noisy_labels(clean, T, 1), repeat)
            base = best_of(
                lambda clean=clean, T=T: numpy_noisy_labels(clean, T, np.random.default_rng(1)),
                repeat,
            )
            row(f"noisy labels c={c}", ours, base, "numpy searchsorted", target)
            if c == 10 and cleanlab:
                try:  # cleanlab is the optional extra smallloss[test]: a baseline only
                    from cleanlab.benchmarking.noise_generation import generate_noisy_labels
                except ImportError:
                    pass
                else:
                    # cleanlab's noise_matrix is P(noisy | true) with columns summing to 1: our T
                    # transposed
                    base = best_of(
                        lambda clean=clean, T=T: generate_noisy_labels(clean, T.T),
                        max(1, repeat - 1),
                    )
                    row("noisy labels c=10", ours, base, "cleanlab generate_noisy_labels", 15.0)

        c = 10
        labels = rng.integers(0, c, n).astype(np.int32)
        probs = rng.dirichlet(np.ones(c), size=n).astype(np.float32)
        out = np.empty(n, dtype=np.float32)
        ours = best_of(lambda: generate.cross_entropy(probs, labels, out), repeat)
        base = best_of(lambda: -np.log(probs[np.arange(n), labels]), repeat)
        row("cross-entropy loss c=10", ours, base, "numpy fancy indexing", 2.5)
        probs = None  # frees the (n, c) outputs before the next kernel

        losses = rng.random(n, dtype=np.float32) * 5
        counts = (np.bincount(labels, minlength=c) * 0.6).astype(np.int64)
        ours = best_of(lambda: rules.select_per_class(losses, labels, counts), repeat)
        base = best_of(lambda: numpy_per_class_select(losses, labels, counts), repeat)
        row("per-class selection c=10", ours, base, "numpy argpartition", 3.0)

        for args in bench_instance(repeat, n=min(n, 1_000_000)):
            row(*args)

        if cleanlab:  # the optional peers (smallloss[test]) run together
            ds_row = bench_dawid_skene(repeat)
            if ds_row is not None:
                row(*ds_row)

    if certificate:
        for args in bench_certificate_rows(seed=seed):
            row(*args)

    if estimate:
        for r in bench_estimate(draws, baseline_draws, seed, peer=cleanlab):
            row(r["kernel"], r["ours_s"], r["baseline_s"], r["baseline"], r["target"])
        for args in bench_easy_fit(repeat, seed):
            row(*args)

    sized = None
    if size:  # analyse at a CIFAR size and at a million samples, against the path before
        sized = bench_size.bench_size(seed=seed, cleanlab=cleanlab)
        for args in bench_size.bench_rows(sized):
            row(*args)

    out = {
        "n": n,
        "repeat": repeat,
        "draws": draws,
        "rows": rows,
        "machine": {**machine.describe(), "load_1min": os.getloadavg()[0]},
        "versions": versions(),
    }
    if sized is not None:
        out["size"] = sized
    if kernels:
        out["first_call_in_fresh_process_s"] = first_call_seconds()
    if trainer:
        try:
            # torch is the optional extra smallloss[train]: imported only when the trainer is
            # timed
            from simulations.training import bench_trainer

            out["trainer"] = bench_trainer.bench_trainer(seed)
            out["trainer_large_images"] = bench_trainer.bench_large_images(seed=seed)
        except ImportError:
            out["trainer"] = None  # torch not installed
    return out
