"""``analyse``: every criterion on a recorded run (``simulations.selection.runfile``), what
each keeps and how clean the theory, the validation split and the probes say it is. It is
the selection stage of ``smallloss train`` and the whole of ``smallloss analyse RUN.npz``.

What a prediction may read: the noisy labels, the recorded losses, outputs and
probabilities of every sample, the probes' clean labels, the clean validation split, and T
(given, or estimated from what the run holds). The clean labels of the samples a criterion
scores are read by the ``observed_*`` fields alone, and only when every scored sample has
one; ``tests/selection/test_analyse.py`` permutes them and checks that nothing else moves.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
from scipy.stats import chi2_contingency

from simulations.estimation import transition
from simulations.estimation.methods import PROBS_METHODS
from simulations.selection import bounds, conformal, predict, rules
from simulations.selection.budgets import (
    RSL_RULES,
    Budgets,
    coteaching_selection,
    for_keep,
    target_selections,
)
from simulations.selection.criteria import threshold
from simulations.selection.keep import Target, parse_keep
from simulations.selection.registry import (
    EQUAL_SIZE_GLOBAL,
    GLOBAL,
    LOSS_CRITERIA,
    REGISTRY,
    Scores,
)
from simulations.selection.runfile import Run, check_every_class_observed
from simulations.selection.scores import epoch_summaries, margins
from theory import precision
from theory.conditions import report
from theory.errors import InputError
from theory.noise import noise_rate
from theory.validation import check_float, check_int, check_prior, check_transition, check_unit

LEVEL = 0.9  # of every prediction's interval
BOOTSTRAP = 200  # resamples behind each law prediction's interval
FEW_PROBES = 30  # mislabelled probes below which a count prediction is flagged
PROBE_MISMATCH_P = 1e-3  # a chi-square p-value this small: probes unlike the training samples
SINGLE_LABEL = PROBS_METHODS  # T from one label and probabilities
ESTIMATES = ("pairs", *SINGLE_LABEL)
# the record field suffix of each variant (criteria.VARIANTS)
FIELD_TAIL = {"single": "single_epoch", "mean": "mean_loss"}


@dataclass
class Noise:
    """The T and prior that every budget and prediction uses, and where they came from."""

    T: np.ndarray
    prior: np.ndarray
    source: str  # "given" (the run's T), "matrix" (--matrix) or "estimated"
    estimate: transition.Estimate | None = None
    # the probes whose clean labels estimated T (None: no probe label shaped T or the prior);
    # the count predictions at T's budgets never count them
    shaping: np.ndarray | None = None

    @property
    def reads_probe_labels(self) -> bool:
        return self.shaping is not None


def resolve_noise(run: Run, matrix=None, estimate: str | None = None, seed: int = 0) -> Noise:
    """T from ``matrix``, from ``estimate`` (``pairs``: the probes' and any annotated
    validation items' (clean, noisy) pairs; ``confident|anchor|mixture``: the run's ``probs``),
    from the run's own ``T``, or else from the probes' pairs. The prior is the run's, else the
    estimate's, else the clean validation split's, else the one T maps onto the observed
    labels' shares.

    T estimated from the probes' pairs reads the labels the count predictions count with: it
    is then estimated from a random half of the probes (``shaping``, drawn from ``seed``),
    and the other half counts (``counted_run``)."""
    est, shaping = None, None
    if matrix is not None:
        T = check_transition(matrix, name="`matrix`")
        if len(T) != run.classes:
            raise InputError(f"`matrix` has {len(T)} classes, the run {run.classes}")
        source = "matrix"
    elif estimate is not None or run.T is None:
        method = estimate or "pairs"
        if method == "pairs" and run.probe is not None:
            if int(run.probes.sum()) < 2:
                raise InputError(
                    "T from the probes' pairs needs at least 2 probes (half estimate T, half "
                    "are counted): give `matrix` FILE, T in the run, or more probes"
                )
            shaping = _half_of_the_probes(run, seed)
        est = estimate_from_run(run, method, explicit=estimate is not None, probes=shaping)
        T, source = est.T, "estimated"
    else:
        T, source = run.T, "given"
    prior = run.prior
    if prior is None:
        prior = est.prior if est is not None else _prior_without_probes(run, T)
    return Noise(T, prior, source, est, shaping)


def _half_of_the_probes(run: Run, seed: int) -> np.ndarray:
    """(n,) bool: half of the probes (rounded down), at random. Not stratified by class: given
    a plain random half, the other half is a random part of what remains, as the counts need;
    halving each class apart ties which classes T keeps to how many probes they hold (measured:
    intervals at 100 classes covered 0.82 at a nominal 0.9)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 37]))
    idx = np.flatnonzero(run.probes)
    out = np.zeros(run.n, bool)
    out[rng.permutation(idx)[: idx.size // 2]] = True
    return out


def counted_run(run: Run, noise: Noise) -> Run:
    """``run`` without the probes that estimated T: what the count predictions read."""
    if noise.shaping is None:
        return run
    keep = ~noise.shaping
    per_sample = {
        k: getattr(run, k)[keep]
        for k in ("noisy", "losses", "logits", "probs", "probe", "clean")
        if getattr(run, k) is not None
    }
    return replace(run, **per_sample)


def estimate_from_run(
    run: Run, method: str, explicit: bool = True, probes: np.ndarray | None = None
) -> transition.Estimate:
    """``transition``'s estimate of T by ``method`` from what ``run`` holds (``pairs``: from
    the probes ``probes`` marks, (n,) bool, all of them by default)."""
    if method not in ESTIMATES:
        raise InputError(f"`estimate` {method!r}: choose {', '.join(ESTIMATES)}")
    if method == "pairs":
        clean, noisy = _pairs(run, probes)
        if clean.size == 0:
            why = "`estimate` pairs needs" if explicit else "the run holds no T, and no"
            raise InputError(
                f"{why} probes or annotated validation items (val_noisy) to estimate it from: "
                "give `matrix` FILE, or `estimate` confident|anchor|mixture with 'probs'"
            )
        return transition.from_pairs(clean, noisy, run.classes)
    if run.probs is None:
        raise InputError(f"`estimate` {method} needs out-of-sample probabilities: run key 'probs'")
    # every item, probes too: their probabilities and observed labels carry no clean label,
    # and an estimate from the training samples alone would depend on which items are probes
    return transition.from_probs(run.noisy, run.probs, run.classes, method)


def _pairs(run: Run, probes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    probes = run.probes if probes is None else probes
    clean, noisy = [run.clean[probes]] if run.probe is not None else [], []
    if run.probe is not None:
        noisy.append(run.noisy[probes])
    if run.val_noisy is not None:
        clean.append(run.val_clean)
        noisy.append(run.val_noisy)
    if not clean:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(clean).astype(np.int64), np.concatenate(noisy).astype(np.int64)


def _prior_without_probes(run: Run, T: np.ndarray) -> np.ndarray:
    """The clean validation split's class shares; else the prior that T maps onto the
    observed labels' shares (least squares, clipped at 0): never the probes' clean labels,
    which the count predictions count with."""
    c = run.classes
    if run.val_clean is not None and run.val_clean.size:
        shares = np.bincount(run.val_clean, minlength=c) / run.val_clean.size
        if shares.min() > 0:
            return shares
    observed = np.bincount(run.noisy, minlength=c) / run.n
    prior = np.clip(np.linalg.lstsq(T.T, observed, rcond=None)[0], 0.0, None)
    if prior.sum() <= 0:
        return np.full(c, 1.0 / c)
    return prior / prior.sum()


@dataclass
class _Data:
    """The run split into what the criteria score and the probes that count for them."""

    losses_all: np.ndarray  # (n_all, E) the run's losses, mapped where its file allows
    rows: np.ndarray  # (n_all,) bool: the scored samples
    summary: dict  # scores.epoch_summaries of the scored samples
    p_summary: dict  # and of the probes
    noisy: np.ndarray
    clean: np.ndarray | None  # None unless every scored sample has one
    probs: np.ndarray | None
    aum: np.ndarray | None  # (n,) AUM, where the run has logits
    margins_last: np.ndarray | None
    p_clean: np.ndarray
    p_noisy: np.ndarray
    p_probs: np.ndarray | None
    p_aum: np.ndarray | None
    p_margins_last: np.ndarray | None
    c: int

    @cached_property
    def L(self) -> np.ndarray:
        """(n, E) losses of the scored samples: a copy, made only where every epoch is read
        (the per-epoch rows, a target from laws)."""
        return self.losses_all[self.rows]

    @cached_property
    def PL(self) -> np.ndarray:
        """(R, E) the probes' losses."""
        return self.losses_all[~self.rows]

    @property
    def R(self) -> int:
        return int(self.p_clean.size)

    @property
    def bad_probes(self) -> int:
        return int((self.p_clean != self.p_noisy).sum())


def _split(run: Run) -> _Data:
    s, p = run.scored, run.probes
    clean = None
    if run.clean is not None and (run.clean[s] >= 0).all():
        clean = run.clean[s]
    scores = last = p_scores = p_last = None
    if run.logits is not None:
        m = margins(run.logits, run.noisy)
        scores, last = m.mean(axis=1), m[:, -1]
        scores, p_scores = scores[s], scores[p]
        last, p_last = last[s], last[p]
    probs = run.probs
    empty = np.zeros(0, np.int64)
    summary = epoch_summaries(run.losses)  # one pass: a mapped matrix is never copied whole
    return _Data(
        losses_all=run.losses,
        rows=s,
        summary={k: v[s] for k, v in summary.items()},
        p_summary={k: v[p] for k, v in summary.items()},
        noisy=run.noisy[s],
        clean=clean,
        probs=None if probs is None else probs[s],
        aum=scores,
        margins_last=last,
        p_clean=run.clean[p] if run.probe is not None else empty,
        p_noisy=run.noisy[p] if run.probe is not None else empty,
        p_probs=None if probs is None or run.probe is None else probs[p],
        p_aum=p_scores,
        p_margins_last=p_last,
        c=run.classes,
    )


def _scores(d: _Data, variant: str) -> tuple[np.ndarray, np.ndarray]:
    """(training, probes) scores of the loss criteria: the last epoch's loss or the mean."""
    key = "last" if variant == "single" else "mean"
    return d.summary[key], d.p_summary[key]


def _confidence(summary: dict, variant: str) -> np.ndarray:
    """The mean probability of the label over the variant's epochs (Cartography's)."""
    if variant == "single":
        return np.exp(-summary["last"].astype(np.float64))
    return summary["confidence"]


def _inputs(d: _Data, b: Budgets, variant: str, seed: int) -> Scores:
    """What every criterion reads on one variant (``criteria.Scores``)."""
    loss, p_loss = _scores(d, variant)
    margin = p_margin = None
    if d.aum is not None:
        margin, p_margin = (
            (d.margins_last, d.p_margins_last) if variant == "single" else (d.aum, d.p_aum)
        )
    return Scores(
        variant=variant,
        noisy=d.noisy,
        p_noisy=d.p_noisy,
        classes=d.c,
        total=b.total,
        classwise=b.classwise,
        rsl=b.rsl,
        loss=loss,
        p_loss=p_loss,
        confidence=_confidence(d.summary, variant),
        p_confidence=_confidence(d.p_summary, variant),
        margin=margin,
        p_margin=p_margin,
        probs=d.probs,
        p_probs=d.p_probs if d.R else None,
        seed=seed,
    )


def _selections(d: _Data, b: Budgets, seed: int) -> dict[str, dict[str, tuple] | None]:
    """Each criterion's (training mask, probes' mask) on each of its variants (one entry,
    keyed "single", for a rule on probabilities); None where the run lacks its input. The
    probes' masks apply the same rule: the same thresholds, the same fitted mixture."""
    inputs = {v: _inputs(d, b, v, seed) for v in FIELD_TAIL}
    out = {}
    for crit in REGISTRY.values():
        variants = crit.variants or ("single",)
        got = {v: crit.select(inputs[v]) for v in variants}
        out[crit.name] = None if any(g is None for g in got.values()) else got
    return out


def _count(d: _Data, mask, p_mask, level, confidence) -> bounds.CountPrediction | None:
    if not d.R or p_mask is None or mask is None:
        return None
    y = int((p_mask & (d.p_clean != d.p_noisy)).sum())
    return bounds.predict(int(mask.sum()), y, d.noisy.size, d.R, d.bad_probes, level, confidence)


def _observed(mask, d: _Data) -> dict:
    if d.clean is None or mask is None:
        return {"observed_precision": None, "observed_recall": None}
    m = rules.metrics(mask, d.clean, d.noisy, d.c)
    return {k: m[k] for k in ("observed_precision", "observed_recall")}


def _put(row: dict, field: str, per_variant: dict, headline: str, suffixes=("",)) -> None:
    """``field``, ``field_single_epoch`` and ``field_mean_loss`` (and each with ``suffixes``)
    from ``per_variant[variant][suffix]``; the bare field is the criterion's headline."""
    for suffix in suffixes:
        for variant, tail in FIELD_TAIL.items():
            row[f"{field}_{tail}{suffix}"] = per_variant.get(variant, {}).get(suffix)
        row[f"{field}{suffix}"] = row[f"{field}_{FIELD_TAIL[headline]}{suffix}"]


def _law_values(pred: dict, name: str) -> dict:
    """``{variant: {"" | "_low" | "_high": value}}`` of one criterion in a law prediction."""
    return {
        v: {
            "": pred["point"][v].get(name),
            "_low": pred["low"].get(v, {}).get(name),
            "_high": pred["high"].get(v, {}).get(name),
        }
        for v in FIELD_TAIL
    }


def _global_at_rsl_total(d: _Data, b: Budgets) -> np.ndarray:
    """The smallest last-epoch losses of all scored samples, as many as RSL keeps."""
    last, _ = _scores(d, GLOBAL.headline)
    return rules.select_global(last, int(b.rsl.sum()))


def _ranked_row(crit, sel, d: _Data, b: Budgets, level, confidence, val, probe, atoms):
    """A criterion read at both variants: its record row and its masks (the headline
    variant's under its bare name, the other's as ``<name>_<variant's tail>``)."""
    row, counts, masks = {}, {}, {}
    for variant, tail in FIELD_TAIL.items():
        mask, p_mask = sel[variant]
        obs = _observed(mask, d)
        row[f"observed_precision_{tail}"] = obs["observed_precision"]
        row[f"observed_recall_{tail}"] = obs["observed_recall"]
        row[f"selected_{tail}"] = int(mask.sum())
        counts[variant] = _count(d, mask, p_mask, level, confidence)
        masks[crit.name if variant == crit.headline else f"{crit.name}_{tail}"] = mask
    for f in ("observed_precision", "observed_recall", "selected"):
        row[f] = row[f"{f}_{FIELD_TAIL[crit.headline]}"]
    if crit.law:
        kept = crit.budget(b)
        row["budgets"] = kept if np.ndim(kept) == 0 else kept.tolist()
    for field, pred in (("validation", val), ("probes", probe)):
        if pred is not None:
            _put(
                row,
                f"predicted_precision_{field}",
                _law_values(pred, crit.name),
                crit.headline,
                ("", "_low", "_high"),
            )
    row["predicted_precision_bayes"] = atoms.get(crit.name)
    if d.R:
        _put_counts(row, counts, crit.headline, confidence)
    return row, masks


def _probability_row(crit, sel, d: _Data, level, confidence):
    """A rule on probabilities, one decision per run: its row (with its agreement with
    cleanlab's own call) and its mask; a row of None where the run has no probabilities."""
    mask, p_mask = (None, None) if sel is None else sel["single"]
    agreement = None if mask is None else crit.agreement(d.probs, d.noisy, mask)
    row = {
        **_observed(mask, d),
        "selected": None if mask is None else int(mask.sum()),
        "agreement_with_cleanlab": agreement,
    }
    count = _count(d, mask, p_mask, level, confidence)
    if count is not None:
        _put_counts(row, {"single": count, "mean": count}, "single", confidence, variants=False)
    _put_headline(row, "counts" if count is not None else None)
    return row, {} if mask is None else {crit.name: mask}


def analyse(
    run: Run,
    *,
    matrix=None,
    estimate: str | None = None,
    keep="oracle",
    confidence: float | None = None,
    level: float = LEVEL,
    rsl_rule: str = "balanced",
    bootstrap: int = BOOTSTRAP,
    seed: int = 0,
    per_epoch: bool = True,
    progress=None,
    fdr: bool = False,
    envelope: str = "design",
    per_class: bool = False,
) -> tuple[dict, dict]:
    """Every criterion on ``run``, and its predictions.

    Parameters
    ----------
    run : Run
        A checked run (``runfile.read`` or ``runfile.from_arrays``).
    matrix : (c, c) float, optional
        T to use instead of the run's (``T_source = "matrix"``).
    estimate : str, optional
        Estimate T from the run instead: ``pairs`` (the probes' (clean, noisy) pairs),
        ``confident``, ``anchor`` or ``mixture`` (from ``probs``).
    keep : str or float
        ``oracle`` (the clean count T expects in each class; RSL at its own budgets), ``rsl``,
        a share, or ``target:P`` (also the budgets for precision P: the ``target`` record).
    confidence : float, optional
        Lower bounds on every count prediction at this level; with ``target:P``, the budgets
        whose precision is at least P with this confidence (needs probes).
    level : float
        Of every prediction's interval (two-sided).
    rsl_rule : {"balanced", "authors"}
    bootstrap : int
        Resamples behind the law predictions' intervals (0: no intervals for them).
    seed : int
        Of the bootstraps (the GMM criterion is seeded by the epoch count, as ``train`` seeds
        it; the half of the probes that estimates T from their pairs is ``resolve_noise``'s
        default, the same for every analysis of a run).
    per_epoch : bool
        Also score every criterion at every epoch (when ``clean`` covers the scored samples).
    progress : callable, optional
        ``progress(step, total)``: a context manager whose value is called with the number
        of units of ``step`` just done (the long steps: the bootstraps and the epochs).
    fdr : bool
        With ``target:P``: also the kept sets whose expected clean share is at least P
        (``conformal``; the ``target_fdr`` record), needs probes.
    envelope : {"design", "band"}
        The target search's envelope (``bounds``).
    per_class : bool
        With ``target:P`` and ``confidence``: also a kept set per observed class, each empty
        or >= P, all of them together with probability ``confidence`` (``per_class_targets``).

    Returns
    -------
    (record, masks): the record (see the README's run-format section for its keys) and each
    criterion's kept mask, (n,) bool in the run's order (probes never kept), keyed by
    criterion, ``<criterion>_mean_loss`` for the other variant, and ``target_<criterion>``.
    """
    keep = parse_keep(keep)
    level = check_float(level, "`level`", 0.0, 1.0, low_open=True, high_open=True)
    bootstrap = check_int(bootstrap, "`bootstrap`", low=0)
    if rsl_rule not in RSL_RULES:
        raise InputError(f"`rsl_rule` {rsl_rule!r}: choose {', '.join(RSL_RULES)}")
    if confidence is not None:
        confidence = check_float(
            confidence, "`confidence`", 0.0, 1.0, low_open=True, high_open=True
        )
        if run.probe is None:
            raise InputError(
                "`confidence` bounds precision by the probes' counts: the run marks no probes"
            )
    _check_options(run, keep, confidence, fdr, per_class, envelope)
    noise = resolve_noise(run, matrix, estimate)  # the probes' split is the run's own
    # checked once here: the predictions' inner loops take them as they are
    T = check_transition(noise.T)
    prior = check_prior(noise.prior, len(T))
    d_all = _split(run)
    d = d_all if noise.shaping is None else _split(counted_run(run, noise))
    b = for_keep(keep, d.noisy, prior, T, rsl_rule)
    epochs = run.epochs
    laws_from = "probes" if d.R else "validation" if run.val_logits is not None else "atoms"

    # the law predictions at the budgets, each with its interval
    atoms = predict.atom_predictions(d.noisy, prior, T, b)
    step = progress or _no_progress
    val = None
    if run.val_logits is not None:
        with step("validation bootstrap", bootstrap) as tick:
            val = predict.validation_predictions(
                run.val_logits, run.val_clean, d.noisy, prior, T, b, bootstrap, level, seed, tick
            )
    probe = None
    if d.R:
        fill = predict.validation_laws(run.val_logits, run.val_clean, T) if val else _no_laws(T)
        with step("probe bootstrap", bootstrap) as tick:
            probe = predict.probe_predictions(
                d.PL,
                d.p_clean,
                d.p_noisy,
                fill,
                d.noisy,
                prior,
                T,
                b,
                bootstrap,
                level,
                seed + 1,
                tick,
            )

    masks, criteria = {}, {}
    selected = _selections(d, b, seed=epochs - 1)
    for crit in REGISTRY.values():
        sel = selected[crit.name]
        if crit.variants:
            if sel is None:  # the run lacks what it reads (AUM: no logits)
                continue
            row, masks_of = _ranked_row(crit, sel, d, b, level, confidence, val, probe, atoms)
            source = "counts" if d.R else laws_from if crit.law else None
            _put_headline(row, "validation" if source == "probes" else source)
        else:
            row, masks_of = _probability_row(crit, sel, d, level, confidence)
        masks.update(masks_of)
        criteria[crit.name] = row
    masks[EQUAL_SIZE_GLOBAL] = _global_at_rsl_total(d, b)

    record = {
        "n": int(d.noisy.size),
        "classes": d.c,
        "epochs": epochs,
        "probes": d.R,
        "mislabelled_probes": d.bad_probes,
        "T": T.tolist(),
        "T_source": noise.source,
        "prior": np.asarray(prior).tolist(),
        "noise_rate": noise_rate(T, prior),
        "conditions": report(T, prior).to_dict(),
        "keep": str(keep),
        "level": level,
        "confidence": confidence,
        "predicted_from": "probe counts"
        if d.R
        else _NOTHING
        if laws_from == "atoms"
        else laws_from,
        "budgets": {
            **{n: REGISTRY[n].budget(b).tolist() for n in LOSS_CRITERIA if REGISTRY[n].per_class},
            "rsl_rule": b.rsl_rule,
        },
        "criteria": criteria,
        "warnings": _warnings(d) + _what_cannot_be_said(d, run, noise, confidence),
        "certificate": _certificate_record(d, d_all, noise),
    }
    if noise.estimate is not None:
        record["estimate"] = {
            "method": noise.estimate.method,
            "T": noise.estimate.T.tolist(),
            "prior": noise.estimate.prior.tolist(),
            "noise_rate": noise.estimate.noise_rate,
        }
    if probe is not None:
        record["probe_cells"] = probe["counts"]
    if d.clean is not None:
        if per_epoch:
            with step("epochs", epochs) as tick:
                record["per_epoch"] = per_epoch_rows(d, b, run, tick)
        record["observed_noise_rate"] = float((d.clean != d.noisy).mean())
    shares = _certified_shares(noise, d_all)
    counts = _counts(d_all) if confidence is not None else None  # built once: its mixture too
    if isinstance(keep, Target):
        target, target_masks = _target(
            d, keep.precision, confidence, T, prior, val, probe, counts, shares, envelope, level
        )
        record["target"] = target
        masks.update({f"target_{k}": v for k, v in target_masks.items()})
        if per_class:
            rows, class_masks = per_class_targets(d_all, keep.precision, confidence, envelope)
            record["target_per_class"] = rows
            masks.update({f"target_per_class_{k}": v for k, v in class_masks.items()})
        if fdr:
            target_fdr, fdr_masks = _target_fdr(d_all, keep.precision)
            record["target_fdr"] = target_fdr
            masks.update({f"fdr_{k}": v for k, v in fdr_masks.items()})
    if confidence is not None:  # the precision each criterion can certify, whatever --keep
        asked = keep.precision if isinstance(keep, Target) else None
        record["certifiable"] = reachable(counts, asked, confidence, shares, envelope)
    return record, {k: _in_run_order(v, run) for k, v in masks.items()}


def _no_laws(T):
    return [[None] * len(T) for _ in T], [[None] * len(T) for _ in T]


def _put_counts(row, counts: dict, headline: str, confidence, variants: bool = True) -> None:
    """The probe-count prediction (``predicted_precision_counts`` with its interval), the
    bound at ``confidence`` and the mislabelled probes it rests on."""
    values = {
        v: {
            "": c.point,
            "_low": c.low,
            "_high": c.high,
            "bound": c.bound,
            "kept": c.kept_bad_probes,
        }
        if c is not None
        else {}
        for v, c in counts.items()
    }
    if variants:
        _put(row, "predicted_precision_counts", values, headline, ("", "_low", "_high"))
        if confidence is not None:
            bounds_of = {v: {"": x.get("bound")} for v, x in values.items()}
            _put(row, "precision_bound", bounds_of, headline)
    else:
        for suffix in ("", "_low", "_high"):
            row[f"predicted_precision_counts{suffix}"] = values["single"].get(suffix)
        if confidence is not None:
            row["precision_bound"] = values["single"].get("bound")
    row["mislabelled_probes_kept"] = values[headline if variants else "single"].get("kept")


HEADLINE_SOURCES = {
    "counts": "predicted_precision_counts",
    "probes": "predicted_precision_probes",
    "validation": "predicted_precision_validation",
}


def _put_headline(row: dict, source: str | None) -> None:
    """``predicted_precision`` (with its interval, and its single-epoch and mean-loss
    variants) copied from ``source``: ``counts``, ``probes`` or ``validation``; None
    otherwise. The precision of an ideal network (g*, ``predicted_precision_bayes``) is never
    copied: it is not this network's."""
    for tail in ("", "_single_epoch", "_mean_loss"):
        for suffix in ("", "_low", "_high"):
            if source in HEADLINE_SOURCES:
                value = row.get(f"{HEADLINE_SOURCES[source]}{tail}{suffix}")
            else:
                value = None
            row[f"predicted_precision{tail}{suffix}"] = value


def _warnings(d: _Data) -> list[str]:
    out = []
    if d.R and d.bad_probes < FEW_PROBES:
        out.append(
            f"the count predictions rest on {d.bad_probes} mislabelled probes (fewer than "
            f"{FEW_PROBES}): read their intervals, not their points"
        )
    p = probe_label_mismatch(d.noisy, d.p_noisy, d.c) if d.R else 1.0
    if p < PROBE_MISMATCH_P:
        out.append(
            f"the probes' observed labels are distributed unlike the training samples' "
            f"(chi-square p = {p:.1e}): the counts assume probes drawn like the training "
            "samples, with their class prior; draw the probes by a stratified split"
        )
    return out


def probe_label_mismatch(noisy: np.ndarray, p_noisy: np.ndarray, c: int) -> float:
    """The p-value of a chi-square test that the probes' observed labels and the training
    samples' come from one distribution (what exchangeable probes imply; both are observed)."""
    table = np.stack([np.bincount(noisy, minlength=c), np.bincount(p_noisy, minlength=c)])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 1.0
    return float(chi2_contingency(table).pvalue)


def per_epoch_rows(d: _Data, b: Budgets, run: Run, tick=None) -> list[dict]:
    """Each epoch: every criterion that reads losses alone, its observed precision on that
    epoch's loss and on the mean loss so far (and the accuracies the run recorded, where it
    did); ``tick`` is called with 1 as each epoch is scored. The mixture is seeded by the
    epoch."""
    E = run.epochs
    accuracies = {}
    for key in ("val_acc", "test_acc"):
        got = run.extra.get(key)
        accuracies[key] = list(np.asarray(got, float)) if got is not None else [None] * E
    on_losses = [c for c in REGISTRY.values() if c.needs in ("losses", "loss_matrix")]
    L = d.L
    total_loss = np.zeros(L.shape[0])  # running sums: each epoch adds one column
    total_confidence = np.zeros(L.shape[0])
    empty = np.zeros(0, np.float32)
    rows = []
    for e in range(E):
        row = {
            "epoch": e,
            "test_accuracy": accuracies["test_acc"][e],
            "val_accuracy": accuracies["val_acc"][e],
        }
        loss_e = L[:, e]
        total_loss += loss_e
        confidence_e = np.exp(-loss_e.astype(np.float64))
        total_confidence += confidence_e
        mean_e = (total_loss / (e + 1)).astype(np.float32)
        for variant, loss, confidence in (
            ("single", loss_e, confidence_e),
            ("mean", mean_e, total_confidence / (e + 1)),
        ):
            s = Scores(
                variant=variant,
                noisy=d.noisy,
                p_noisy=np.zeros(0, np.int64),
                classes=d.c,
                total=b.total,
                classwise=b.classwise,
                rsl=b.rsl,
                loss=loss,
                p_loss=empty,
                confidence=confidence,
                p_confidence=np.zeros(0),
                seed=e,
            )
            for crit in on_losses:
                mask, _ = crit.select(s)
                row[f"{crit.name}_{variant}"] = rules.metrics(mask, d.clean, d.noisy, d.c)[
                    "observed_precision"
                ]
        rows.append(row)
        if tick is not None:
            tick(1)
    return rows


@contextmanager
def _no_progress(step: str, total: int):
    yield None


def _target(
    d: _Data, P: float, confidence, T, prior, val, probe, counts, shares, how: str, level: float
) -> tuple[dict, dict]:
    """``--keep target:P``: each loss criterion's budgets for precision P, from the probes'
    laws (else the validation split's) or, with ``confidence``, the largest whose precision
    the probes' counts bound at >= P at once over every budget searched (``counts``: the
    last epoch's and the mean loss's ``bounds.Counts`` over every probe; the per-class
    families take ``shares``, which read no probe label); and Co-teaching's forget rate
    beside them."""
    P = check_unit(P, "`keep` target precision")
    if confidence is None:
        source = "probes" if probe is not None else "validation"
        laws = (probe if probe is not None else val)["laws"]
        chosen = target_selections(d.L, *laws, d.noisy, prior, T, P)
    else:
        chosen = _certified(counts, shares, P, confidence, how)
        # its budget is T's: counted by the probes that did not estimate T
        last, p_last = _scores(d, "single")
        mask, kept = coteaching_selection(last, T, prior)
        _, p_mask = threshold(last, d.noisy, p_last, d.p_noisy, kept, d.c)
        c = _count(d, mask, p_mask, level, confidence)
        chosen["coteaching_rule"] = {
            "mask": mask,
            "budgets": kept,
            "predicted_precision": c.point if c else None,
            "precision_bound": c.bound if c else None,
        }
        source = "probe counts"
    out, masks = {}, {}
    for name, row in chosen.items():
        out[name] = {
            "P": P,
            "level": confidence,
            "laws": source,
            "selected": int(row["mask"].sum()),
            "budgets": row["budgets"],
            "predicted_precision": row["predicted_precision"],
            **({"precision_bound": row["precision_bound"]} if "precision_bound" in row else {}),
            **({"envelope": row["envelope"]} if "envelope" in row else {}),
            **_observed(row["mask"], d),
        }
        masks[name] = row["mask"]
    return out, masks


def _in_run_order(mask: np.ndarray, run: Run) -> np.ndarray:
    """A mask over the scored samples as n booleans in the run's order (probes: False)."""
    out = np.zeros(run.n, bool)
    out[run.scored] = mask
    return out


_NOTHING = "nothing (no probes, no validation split)"
REACHABLE = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.925, 0.95, 0.975, 0.99)  # precisions tried


def _check_options(
    run: Run, keep, confidence, fdr: bool, per_class: bool = False, envelope: str = "design"
) -> None:
    """What the options need from the run, checked before any fit."""
    if envelope not in bounds.ENVELOPES:
        raise InputError(f"`envelope` {envelope!r}: choose {', '.join(bounds.ENVELOPES)}")
    target = isinstance(keep, Target)
    if per_class and (not target or confidence is None):
        raise InputError("`per_class` certifies a target: give `keep` target:P `confidence` L")
    if target and confidence is None and run.probe is None and run.val_logits is None:
        raise InputError(
            "`keep` target:P predicts precision from cell laws: the run needs probes, or "
            "val_logits and val_clean"
        )
    if fdr and not target:
        raise InputError("`fdr` selects for a target: give `keep` target:P")
    if fdr and run.probe is None:
        raise InputError("`fdr` counts mislabelled probes: the run marks no probes")
    if target:
        check_every_class_observed(run)


def _certified_shares(noise: Noise, d: _Data) -> Budgets:
    """The per-class and RSL shares the certified families scale: T's, unless T or the prior
    read the probes' labels (the certificate would count the labels that shaped what it
    certifies: measured, its level then fails); then one share for every class."""
    if noise.reads_probe_labels:
        return Budgets(np.ones(d.c), np.ones(d.c), "one share")
    p = np.asarray(noise.prior)
    T = noise.T
    return Budgets(precision.oracle_fractions(T, p), precision.rsl_fractions(T, p), "T's")


def _certificate_record(d: _Data, d_all: _Data, noise: Noise) -> dict:
    """What the count predictions and the target search read, and what they assume."""
    return {
        "probes_counted": d.R,
        "probes_counted_by_target": d_all.R,
        "probes_estimating_T": 0 if noise.shaping is None else int(noise.shaping.sum()),
        "family_shares": "one share for every class" if noise.reads_probe_labels else "T's budgets",
        "assumes": "probes a uniformly random part of the training pool (a stratified draw), "
        "labelled by the same noise process and trained on like the others; the level is over "
        "the draw of the probes",
    }


def _what_cannot_be_said(d: _Data, run: Run, noise: Noise, confidence) -> list[str]:
    out = []
    if not d.R and run.val_logits is None:
        out.append(
            "no probes and no clean validation split: this run's precision can be neither "
            "predicted nor certified (predicted_precision_bayes is an ideal network's, g*, not "
            "this one's); annotate a few hundred random training items, mark them 'probe' "
            "(smallloss probes plan / pick / merge), and analyse again"
        )
    elif not d.R and noise.source == "estimated":
        out.append(
            "no probes: the predictions come from the validation split's laws and an estimated "
            "T, and carry no guarantee; --confidence needs probes"
        )
    if noise.shaping is not None:
        out.append(
            f"T was estimated from {int(noise.shaping.sum())} of the probes, so the count "
            f"predictions at its budgets count the other {d.R}"
        )
    return out


def _counts(d: _Data) -> tuple[bounds.Counts, bounds.Counts]:
    """The probes' counts on the last epoch's loss and on the epoch-mean loss."""
    (last, p_last), (mean, p_mean) = _scores(d, "single"), _scores(d, "mean")
    return (
        bounds.Counts(last, d.noisy, p_last, d.p_clean, d.p_noisy, d.c),
        bounds.Counts(mean, d.noisy, p_mean, d.p_clean, d.p_noisy, d.c),
    )


def _certified(counts, shares: Budgets, P: float, confidence: float, how: str) -> dict:
    """For each loss criterion, the largest selection of its family whose precision is at
    least P with confidence L by the probes' counts (``bounds.Counts``): one ranking, or per
    class at its budgets' ``shares`` (which read no probe label), on the variant it ranks."""
    last, mean = counts
    out = {}
    for name in LOSS_CRITERIA:
        crit = REGISTRY[name]
        c = last if crit.headline == "single" else mean
        if crit.per_class:
            out[name] = c.largest_scaled(np.asarray(crit.budget(shares)), P, confidence, how)
        else:
            out[name] = c.largest_global(P, confidence, how)
    return out


def reachable(counts, asked, confidence: float, shares, how: str = "design") -> dict:
    """Per loss criterion, the kept size its certified search reaches at each precision of
    ``REACHABLE`` (and the one asked, where not None) at ``confidence``, and the highest that
    keeps something.
    Each point is a certificate on its own; a precision picked after reading the curve is not
    covered by the level."""
    curves = {name: [] for name in LOSS_CRITERIA}
    for P in sorted({*REACHABLE, *([] if asked is None else [float(asked)])}):
        rows = _certified(counts, shares, P, confidence, how)
        for name in curves:
            curves[name].append([P, int(rows[name]["mask"].sum())])
    return {
        name: {
            "highest_precision": max((P for P, k in curve if k > 0), default=None),
            "kept_at_precision": curve,
        }
        for name, curve in curves.items()
    }


def _target_fdr(d: _Data, P: float) -> tuple[dict, dict]:
    """``--fdr``: each loss criterion's kept set whose expected clean share is at least P
    (``conformal``), with every probe counted."""
    bad = d.p_clean != d.p_noisy
    kept = {}
    for name in LOSS_CRITERIA:
        crit = REGISTRY[name]
        x, p = _scores(d, crit.headline)
        groups = (d.noisy, d.p_noisy[bad]) if crit.per_class else ()
        kept[name] = conformal.select(x, p[bad], P, *groups)
    out = {
        name: {
            "P": P,
            "guarantee": "expected clean share >= P over the probes' draw (FDR <= 1 - P)",
            "selected": int(mask.sum()),
            **_observed(mask, d),
        }
        for name, mask in kept.items()
    }
    return out, kept


def per_class_targets(d: _Data, P: float, confidence: float, how: str = "design"):
    """Each observed class's own certified target: the smallest scores of class j, its
    search over the class's training samples and probes alone (given how many probes fell in
    the class, they are a random part of its pool), each at level ``1 - (1 - L) / m`` for the
    m classes with probes (Bonferroni), so that with probability at least L every class's kept
    set is empty or reaches P. On the last epoch's loss (``classwise``) and the epoch-mean
    loss (``rsl``)."""
    live = [j for j in range(d.c) if (d.noisy == j).any() and (d.p_noisy == j).any()]
    level = 1.0 - (1.0 - confidence) / max(len(live), 1)
    rows, masks = {}, {}
    for name in (n for n in LOSS_CRITERIA if REGISTRY[n].per_class):
        scores, p_scores = _scores(d, REGISTRY[name].headline)
        mask = np.zeros(d.noisy.size, bool)
        classes = {}
        for j in live:
            at, p_at = d.noisy == j, d.p_noisy == j
            zeros = np.zeros(int(at.sum()), np.int64)
            p_zeros = np.zeros(int(p_at.sum()), np.int64)
            bad = (d.p_clean[p_at] != j).astype(np.int64)
            row = bounds.Counts(scores[at], zeros, p_scores[p_at], bad, p_zeros, 1)
            got = row.largest_global(P, level, how)
            mask[np.flatnonzero(at)[got["mask"]]] = True
            classes[str(j)] = {
                "selected": int(got["mask"].sum()),
                "precision_bound": got["precision_bound"],
                "envelope": got["envelope"],
            }
        rows[name] = {
            "P": P,
            "level": confidence,
            "level_per_class": level,
            "selected": int(mask.sum()),
            "classes": classes,
            "classes_without_probes": [j for j in range(d.c) if j not in live],
            **_observed(mask, d),
        }
        masks[name] = mask
    return rows, masks
