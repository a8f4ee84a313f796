"""`smallloss simulate`: one synthetic setting, every criterion, predicted beside observed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from simulations.io import versions
from simulations.selection import rules
from simulations.selection.budgets import coteaching_rule
from simulations.selection.keep import RSL_KEEP, Target, parse_keep
from simulations.selection.registry import (
    CLEANLAB,
    CONFIDENT,
    LOSS_CRITERIA,
    REGISTRY,
    Scores,
)
from simulations.synthetic import generate, instance_draw, instance_noise
from theory import precision
from theory.budgets import share_count, target_budgets
from theory.conditions import report
from theory.errors import InputError
from theory.losses import cell_laws, epoch_sd
from theory.noise import class_noise_rates, noise_rate
from theory.validation import (
    check_float,
    check_int,
    check_prior,
    check_transition,
    check_unit,
)

CLEANLAB_MAX_N = 200_000  # cleanlab needs every output in memory


@dataclass
class Setting:
    T: np.ndarray
    prior: np.ndarray | None = None
    n: int = 100_000
    model: str = "bayes"
    epsilon: float = 0.0
    separation: float = 3.0
    alpha: float = 1.0
    keep: str | float = "oracle"
    epochs: int = 1
    sigma: float = 0.0
    rho: float = 0.0
    exact: bool = False
    cleanlab: bool = True
    seed: int = 0
    source: str = ""
    # an instance-dependent recipe (simulations.synthetic.instance_noise.NOISES); "" is T's noise
    noise: str = ""
    rate: float = 0.0  # its mean flip rate
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.T = check_transition(self.T)
        self.prior = check_prior(self.prior, len(self.T))
        self.n = check_int(self.n, "n", low=1)
        generate.check_model(self.model, self.epsilon, self.separation, self.alpha)
        self.keep = parse_keep(self.keep)
        self.epochs = check_int(self.epochs, "epochs", low=1)
        self.sigma = check_float(self.sigma, "sigma", 0.0)
        self.rho = check_unit(self.rho, "rho")
        if self.noise:
            instance_noise.check_noise(self.noise)
            self.rate = check_unit(self.rate, "--rate")
            if self.model != "overlap" or self.separation <= 0:
                raise InputError(
                    f"{self.noise} noise needs --model overlap with --separation > 0: "
                    "it depends on the features, which only that model has"
                )

    def echo(self) -> dict:
        d = asdict(self)
        d["T"], d["prior"] = self.T.tolist(), self.prior.tolist()
        d["noise_rate"] = noise_rate(self.T, self.prior)
        if not self.noise:
            del d["noise"], d["rate"]
        d.update(d.pop("extra"))
        return d


def budgets(keep, clean, noisy, T, prior) -> np.ndarray:
    """Per observed class, how many the loss criteria keep at ``keep``.

    Parameters
    ----------
    keep : {"oracle", "rsl"} or float
        A parsed ``--keep`` other than a target: the realised clean count of each observed
        class (a simulation knows every clean label), RSL's budgets, or a share of each class.
    clean, noisy : numpy.ndarray
        ``(n,)`` int64 clean and noisy labels.
    T : numpy.ndarray
        ``(c, c)`` float64 transition matrix.
    prior : numpy.ndarray
        ``(c,)`` float64 clean class prior.

    Returns
    -------
    numpy.ndarray
        ``(c,)`` int64 budgets.
    """
    c = len(T)
    sizes = np.bincount(noisy, minlength=c)
    if keep == "oracle":
        return np.bincount(noisy[clean == noisy], minlength=c)
    if keep == RSL_KEEP:
        return rules.rsl_budgets(sizes, class_noise_rates(T, prior), prior)
    return share_count(keep, sizes)


def target_of(keep) -> float | None:
    """P of a parsed ``--keep target:P``, or None.

    Parameters
    ----------
    keep : str, float or simulations.selection.keep.Target
        A value ``parse_keep`` returned.

    Returns
    -------
    float or None
        The target precision, or None when ``keep`` is no target.
    """
    return keep.precision if isinstance(keep, Target) else None


def budget_fractions(keep, T, prior) -> np.ndarray:
    if keep == "oracle" or target_of(keep) is not None:  # a target's budgets replace these later
        return precision.oracle_fractions(T, prior)
    if keep == RSL_KEEP:
        return precision.rsl_fractions(T, prior)
    return np.full(len(T), float(keep))


def _probability_criteria(model, clean, noisy, seed, c, with_cleanlab=True) -> dict:
    """Confident learning and cleanlab on the model outputs, regenerated chunk by chunk from
    ``seed``: the very outputs whose losses the loss criteria rank.

    ``confident``: two passes (thresholds, then the decision per sample), any n. ``cleanlab``
    needs every output in memory, so it runs up to ``CLEANLAB_MAX_N`` samples. Each one's
    agreement with cleanlab is measured on outputs drawn again in a separate pass, which
    checks both the rule and that every pass saw the same draw.
    """
    sums, n_j = np.zeros(c), np.bincount(noisy, minlength=c)
    for sl, probs in model.chunks(clean, seed):
        np.add.at(sums, noisy[sl], probs[np.arange(probs.shape[0]), noisy[sl]])
    t = np.where(n_j > 0, sums / np.maximum(n_j, 1), np.inf)
    confident = np.empty(clean.size, dtype=bool)
    for sl, probs in model.chunks(clean, seed):
        confident[sl] = rules.select_confident(probs, noisy[sl], t)
    out = {CONFIDENT.name: (confident, None), CLEANLAB.name: (None, None)}
    if not with_cleanlab or clean.size > CLEANLAB_MAX_N:
        return out
    probs = np.concatenate([p for _, p in model.chunks(clean, seed)])
    kept = rules.cleanlab_keep(probs, noisy)
    if kept is None:
        return out
    again = np.concatenate([p for _, p in model.chunks(clean, seed)])
    by_rule, by_default = rules.agreements_with_cleanlab(again, noisy, confident, kept)
    return {CONFIDENT.name: (confident, by_rule), CLEANLAB.name: (kept, by_default)}


def simulate(s: Setting) -> dict:
    c = len(s.T)
    ss_clean, ss_noisy, ss_model, ss_epoch, ss_gmm = np.random.SeedSequence(s.seed).spawn(5)
    single_sd = s.sigma if s.sigma > 0 else 0.0
    mean_sd = epoch_sd(s.sigma, s.rho, s.epochs) if s.sigma > 0 else 0.0
    if s.noise:
        d = instance_draw.draw(s.noise, s.n, s.rate, s.separation, s.prior, ss_noisy)
        clean, noisy, model = d.clean, d.noisy, instance_draw.FixedOutputs(d.probs)
        base = generate.cross_entropy(d.probs, noisy)
        predicted, laws, mean_laws = instance_draw.predictions(
            s.noise,
            d.noise.params,
            classes=c,
            separation=s.separation,
            prior=s.prior,
            sd=single_sd,
            mean_sd=mean_sd,
            n=s.n,
            fractions_of=lambda T_bar: budget_fractions(s.keep, T_bar, s.prior),
            cleanlab=s.cleanlab and s.n <= CLEANLAB_MAX_N,
        )
        law_set = (laws.laws, mean_laws.laws, laws.T_bar)
        s.T = d.noise.T_bar  # budgets and the echo use the realised class-level matrix
        s.extra |= {
            "T_bar": d.noise.T_bar.tolist(),
            "realised_noise_rate": d.noise.realised_noise_rate,
            "T_bar_predicted": laws.T_bar.tolist(),
            "T_bar_conditions": report(d.noise.T_bar, s.prior).verdicts(),
            "non_dominant_share": d.non_dominant_share,
            "non_dominant_share_predicted": laws.non_dominant_share,
            "noise_params": {k: v for k, v in d.noise.params.items() if k != "W"},
        }
    else:
        clean = generate.clean_labels(s.n, s.prior, ss_clean)
        noisy = generate.noisy_labels(clean, s.T, ss_noisy, exact=s.exact)
        model = generate.Model(
            s.model, s.T, epsilon=s.epsilon, separation=s.separation, alpha=s.alpha, prior=s.prior
        )
        base = generate.observed_losses(model, clean, noisy, ss_model)
        law_set = None
        if target_of(s.keep) is not None:
            kw = {
                "epsilon": s.epsilon,
                "separation": s.separation,
                "alpha": s.alpha,
                "prior": s.prior,
            }
            laws = cell_laws(s.T, s.model, sd=single_sd, **kw)
            mean_laws = laws if mean_sd == single_sd else cell_laws(s.T, s.model, sd=mean_sd, **kw)
            law_set = (laws, mean_laws, s.T)
        predicted = precision.predict_all(
            s.T,
            s.prior,
            s.model,
            fractions=budget_fractions(s.keep, s.T, s.prior),
            n=s.n,
            epsilon=s.epsilon,
            separation=s.separation,
            alpha=s.alpha,
            sigma=s.sigma,
            rho=s.rho,
            epochs=s.epochs,
            cleanlab=s.cleanlab and s.n <= CLEANLAB_MAX_N,
        )
    if s.sigma > 0:
        last, mean = generate.epoch_losses(base, s.epochs, s.sigma, s.rho, ss_epoch)
    else:
        last = mean = base

    tb = None
    if target_of(s.keep) is not None:
        laws, mean_laws, T_laws = law_set
        tb = target_budgets(laws, mean_laws, T_laws, s.prior, target_of(s.keep))
        k, k_global, k_rsl = tb.counts(np.bincount(noisy, minlength=c))
        predicted |= precision.predict_from_laws(
            laws,
            mean_laws,
            T_laws,
            s.prior,
            fractions=tb.classwise,
            n=s.n,
            global_total=tb.global_fraction,
            rsl_fractions=tb.rsl,
        )
    else:
        k = budgets(s.keep, clean, noisy, s.T, s.prior)
        k_global = int(k.sum())
        k_rsl = budgets(RSL_KEEP, clean, noisy, s.T, s.prior)
    by_probs = _probability_criteria(model, clean, noisy, ss_model, c, s.cleanlab)
    gmm_seed = int(ss_gmm.generate_state(1)[0])
    inputs = {
        variant: Scores(
            variant=variant,
            noisy=noisy,
            p_noisy=np.zeros(0, np.int64),
            classes=c,
            total=k_global,
            classwise=k,
            rsl=k_rsl,
            loss=loss,
            p_loss=np.zeros(0, np.float32),
            seed=gmm_seed,
        )
        for variant, loss in (("single", last), ("mean", mean))
    }
    simulated = [c.name for c in REGISTRY.values() if c.simulated]
    masks = {name: mask for name, (mask, _) in by_probs.items()}
    for name in simulated:
        crit = REGISTRY[name]
        if crit.needs != "probabilities":
            masks[name] = crit.select(inputs[crit.headline])[0]
    criteria = {}
    for name in simulated:
        if masks[name] is None:  # cleanlab: not installed, switched off, or n too large
            criteria[name] = {
                "predicted_precision": None,
                "observed_precision": None,
                "observed_recall": None,
                "selected": None,
                "difference": None,
                "agreement_with_cleanlab": None,
            }
            continue
        m = rules.metrics(masks[name], clean, noisy, c)
        pred = predicted.get(name)
        row = {
            "predicted_precision": pred.precision if pred else None,
            "predicted_recall": pred.recall if pred else None,
            **m,
        }
        if REGISTRY[name].law:
            kept = REGISTRY[name].budget(inputs["single"])
            row["budgets"] = kept if np.ndim(kept) == 0 else kept.tolist()
        row["difference"] = (
            None
            if row["predicted_precision"] is None or m["observed_precision"] is None
            else m["observed_precision"] - row["predicted_precision"]
        )
        if name in by_probs:
            row["agreement_with_cleanlab"] = by_probs[name][1]
        criteria[name] = row
    if tb is not None:
        for name in LOSS_CRITERIA:
            obs = criteria[name]["observed_precision"]
            criteria[name]["coteaching_kept_at_equal_precision"] = (
                None if obs is None else rules.kept_at_precision(last, clean == noisy, obs)
            )
        criteria["coteaching_rule"] = _beside_target(last, laws, T_laws, s.prior, clean, noisy)
    return {"setting": s.echo(), "criteria": criteria, "versions": versions()}


def _beside_target(last, laws, T, prior, clean, noisy) -> dict:
    """Co-teaching's forget rate on the same losses, the baseline a target's budgets face."""
    mask, total, pred = coteaching_rule(last, laws, T, prior)
    m = rules.metrics(mask, clean, noisy, len(T))
    diff = None if m["observed_precision"] is None else m["observed_precision"] - pred.precision
    return {
        "predicted_precision": pred.precision,
        "predicted_recall": pred.recall,
        **m,
        "budgets": total,
        "difference": diff,
    }
