"""Write tests/MUTATION.md from the results of `mutmut run`: the score, and every surviving
mutant with the reason it survives (a class of equivalent mutant, or a note by name).

Run from the repository root after `mutmut run`: `python tests/mutation_report.py [OUT]
[SCOPE] [NEWER]` (default `tests/MUTATION.md` and `theory/`). NEWER is the root of a later
checkout where `mutmut run NAME...` re-ran some functions (changed ones, or ones with new
tests): its verdicts replace every verdict of those functions in this run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

# Mutants whose change cannot alter a result, recognised by the changed line.
CLASSES = [
    (
        "errstate",
        r"np\.errstate\(",
        "changes which floating-point warnings numpy silences, not any value",
    ),
    (
        "message",
        r"InputError\(|f\"|XX|\.join\(|name=|\"[A-Z][A-Z ]+\"",
        "changes the text of an error message or a name used only in messages; the tests pin "
        "the messages users see, not every internal name",
    ),
    (
        "dtype",
        r"dtype=None|np\.asarray\([^,]+, \)|np\.ascontiguousarray\([^,]+, \)|"
        r"asarray\(\w+, None\)|astype\(None\)",
        "drops a dtype on an input that is already float64/int64 after validation",
    ),
    (
        "stable-sort",
        r"kind=None|kind=\"STABLE\"|argsort\([^,]+, \)",
        "changes the sort algorithm; the order of equal keys is not used",
    ),
    (
        "default",
        r"^\s*\w+(: \w+)? = .*,$|^\s+\w+=[-\d.]+,$|^\s*(model|epsilon|separation|"
        r"alpha|rho|epochs|sd|concentration|kind|tol|iters|reg|name|nonempty)\b",
        "changes a default that every caller in the package overrides",
    ),
    (
        "warnings",
        r"warnings\.simplefilter\(",
        "changes which warnings are silenced, not any value",
    ),
    (
        "falsy-flag",
        r"nonempty=None",
        "None and False are both false for the flag",
    ),
    (
        "label-dtype",
        r"nonempty=\w+, \)|np\.zeros\([^,]+, \)",
        "check_labels casts labels (whole floats included) to integers and the Numba kernels "
        "compile for int32 and int64 alike",
    ),
    (
        "parallelism",
        r"n_jobs=",
        "n_jobs sets how many processes cleanlab uses, not what it finds",
    ),
    (
        "einsum-case",
        r"np\.einsum\(\"[A-Z,>-]+\"",
        "upper-case subscripts: einsum labels axes with letters of either case",
    ),
    (
        "threads",
        r"threadpool_limits\(",
        "changes how many BLAS threads run, not any value",
    ),
    (
        "optimiser-name",
        r"method=None|method=\"l-bfgs-b\"",
        "scipy reads method names in any case and picks L-BFGS-B for a bounded problem",
    ),
]

NOTES = {  # reasons for single mutants, by name prefix
    "simulations.estimation.dawid_skene.x_label_patterns__mutmut_13": (
        "np.unique returns a 1-D inverse in numpy 2, where reshape(None) and reshape(-2) leave it "
        "as it is; the reshape is for older numpy's (n, 1)"
    ),
    "simulations.estimation.dawid_skene.x_label_patterns__mutmut_15": "as mutmut_13",
    "simulations.estimation.dawid_skene.x__m_step__mutmut_41": (
        "a confusion row with total mass in (0, 1] (under one item's worth) becomes uniform "
        "instead of its own shares: such a row has almost no weight in the likelihood, and no "
        "test's fit has one"
    ),
    "simulations.estimation.dawid_skene.x_transition_from_posterior__mutmut_40": (
        "as _m_step mutmut_41"
    ),
    "simulations.estimation.dawid_skene.x_majority_start": (
        "rescales the starting posterior of some or all patterns; the first M-step normalises "
        "rows, and EM reaches the same fixed point"
    ),
    "simulations.estimation.dawid_skene.x_dawid_skene__mutmut_1": (
        "one more iteration allowed: every fit in the tests converges well before 500"
    ),
    "simulations.estimation.dawid_skene.x_dawid_skene__mutmut_15": (
        "ignores the warm start: a bootstrap refit starts from the majority vote and reaches the "
        "same fixed point, more slowly"
    ),
    "simulations.estimation.dawid_skene.x_dawid_skene__mutmut_45": (
        "stops one tie later: a change of exactly the tolerance has probability 0"
    ),
    "simulations.estimation.dawid_skene.x_dawid_skene__mutmut_46": (
        "a tolerance of 1e-9 / |log L| instead of 1e-9 x |log L|: EM runs on to the same fixed "
        "point"
    ),
    "simulations.estimation.dawid_skene.x_dawid_skene__mutmut_53": (
        "the iteration count is reported, not used"
    ),
    "simulations.estimation.dawid_skene.x_target_law__mutmut_11": (
        "transition_from_posterior normalises each row, so a law of 2 where it is 1 gives the same"
        " T"
    ),
    "simulations.estimation.dawid_skene.x_infer_rule__mutmut_18": (
        "one more, empty, class column in the vote counts changes no argmax and no count"
    ),
    "simulations.estimation.dawid_skene.x_infer_rule__mutmut_30": (
        "with three annotators a strict majority is 2 or 3 votes either way; the rule differs only"
        " for even counts, which no label set in the tests has"
    ),
    "simulations.estimation.dawid_skene.x_infer_rule__mutmut_34": (
        "as mutmut_30: 2 > 1 and 2 > 1.5 alike"
    ),
    "simulations.estimation.dawid_skene.x_infer_rule__mutmut_35": (
        "skips the early answer for a majority vote; the two-against-one test that follows gives "
        "'observed' for it too"
    ),
    "simulations.estimation.dawid_skene.x_infer_rule__mutmut_36": "as mutmut_35",
    "simulations.estimation.dawid_skene.x_infer_rule__mutmut_38": "as mutmut_35",
    "simulations.estimation.dawid_skene.x_infer_rule__mutmut_59": (
        "a share of exactly one half has no effect on labels that are 'worst' (near 1) or votes "
        "(near 0)"
    ),
    "simulations.estimation.dawid_skene.x_easy_items__mutmut_21": (
        "as dawid_skene mutmut_15: the start is refitted to the same Dawid-Skene fit"
    ),
    "simulations.estimation.dawid_skene.x_easy_items__mutmut_40": (
        "starts the null at share 0.9 with the share bounded to [1, 1]: L-BFGS-B projects the "
        "start onto the bounds"
    ),
    "simulations.estimation.dawid_skene.x_easy_items__mutmut_42": (
        "as mutmut_40: a start of 2 is projected to 1"
    ),
    "simulations.estimation.dawid_skene.x_easy_items__mutmut_55": (
        "frees the null's share but starts it at 1, where the gradient pushes against the upper "
        "bound: it stays at 1"
    ),
    "simulations.estimation.dawid_skene.x_easy_items__mutmut_83": (
        "drops the method: scipy picks L-BFGS-B for a bounded problem"
    ),
    "simulations.estimation.dawid_skene.x_easy_items__mutmut_91": (
        "one more iteration allowed: every fit in the tests converges well before 5,000"
    ),
    "simulations.estimation.dawid_skene.x_easy_items__mutmut_89": (
        "an unknown option name: scipy warns and keeps its default of 15,000 iterations, more than"
        " the fits use"
    ),
    "simulations.estimation.dawid_skene.x_easy_items__mutmut_90": "as mutmut_89",
    "simulations.estimation.dawid_skene.x_easy_items__mutmut_94": (
        "an unknown option name: scipy keeps its projected-gradient tolerance of 1e-5, which "
        "gradients counted in items never meet before the relative change of the likelihood stops "
        "the fit"
    ),
    "simulations.estimation.dawid_skene.x_easy_items__mutmut_95": "as mutmut_94",
    "simulations.estimation.dawid_skene.x_easy_items__mutmut_113": (
        "without the previous parameters a bootstrap refit starts from Dawid-Skene's fit of the "
        "resample and reaches the same maximum"
    ),
    "simulations.selection.rules.x_select_gmm__mutmut_16": (
        "adding lo instead of subtracting it shifts every normalised loss alike; the 2-component "
        "fit and its decision move with the shift"
    ),
    "simulations.selection.rules.x_select_gmm__mutmut_21": (
        "at exactly fit_max samples the subsample without replacement is a permutation of all of "
        "them, and the fit does not depend on order"
    ),
    "simulations.selection.rules.x_select_gmm__mutmut_25": (
        "choice reads replace=None as false: the subsample is still drawn without replacement"
    ),
    "simulations.selection.rules.x_select_gmm__mutmut_73": (
        "a posterior of exactly 0.5 at a sample has probability 0 for continuous losses"
    ),
    "simulations.selection.rules.x_agreements_with_cleanlab__mutmut_15": (
        "dropping n_jobs=1 lets cleanlab use every core; the issues it finds are the same"
    ),
    "theory.claims.x_tightness_witness": "the third term of `min` never binds: the other "
    "entries of a row sum to 1 - T[j, j], so their room to move is at least T[j, j]",
    "theory.claims.x__shift_down": "`amount` is at most eps and at most the room left, so the "
    "eps and `1 - out[k]` caps never bind; `left <= 0` and `< 0` differ only when nothing is left",
    "theory.claims.x__shift_up": "as `_shift_down`; the order in which the other entries give "
    "mass changes which of them move, not g[j], which is all the witness specifies",
    "theory.losses.xǁSmoothedǁsupport": "the support is a bracket for bisection: 40 or 41 "
    "standard deviations both hold every atom's mass to below 1e-300",
    "theory.losses.xǁLossDistributionǁ_ppf": "bisection runs to adjacent floats long before "
    "100 steps; the stopping test only saves iterations",
    "theory.losses.xǁLossDistributionǁ_pdf": "a central difference with another step of the "
    "same order gives the same density to the tests' precision",
    "theory.precision.x__gmm__mutmut_2": "every law's mass is negated, and the fit "
    "normalises the weights by their sum, so the signs cancel",
    "theory.losses.x__overlap_qmc": "the softmax is shift-invariant, so subtracting the row "
    "maximum, the global maximum or adding it (without overflow) gives the same q",
    "theory.losses.x_overlap_posterior": "the softmax is shift-invariant",
    "theory.noise.x_pairwise__mutmut_9": "`+= r` and `= r` agree: the diagonal and the next "
    "class never coincide for c >= 2",
    "theory.noise.x_cifar10n__mutmut_20": "drops the name that only the error message of a "
    "shipped, valid file would print",
    "theory.noise.x__class_noise_rates__mutmut_16": "`mass >= 0` and `> 0` differ only at mass "
    "0, where 1 - 0/0 is NaN either way",
    "theory.noise.x_random_transition__mutmut_45": "`<` and `<=` differ only when the base "
    "matrix's margin equals the target exactly (probability 0 for Dirichlet rows)",
    "theory.noise.x_random_transition__mutmut_80": "the path's rows already sum to 1 (a convex "
    "combination of stochastic matrices): the final renormalisation only removes rounding",
    "theory.noise.x_random_transition__mutmut_84": "the path's rows already sum to 1 (a convex "
    "combination of stochastic matrices): the final renormalisation only removes rounding",
    "theory.noise.x_random_transition__mutmut_86": "the path's rows already sum to 1 (a convex "
    "combination of stochastic matrices): the final renormalisation only removes rounding",
    "theory.regions.x_first_drop_epsilon": "bisection boundaries: `<`/`<=` and `>`/`>=` against "
    "1 - 1e-9 or `tol` differ only when a precision or an interval width equals the constant "
    "exactly, which the halving of 0.999 never produces",
    "theory.regions.x_precision_vs_separation__mutmut_49": "one more point in the sample size "
    "that only the GMM prediction reads; the figure's criteria do not",
    "theory.regions.x_separation_for_precision": "bracket ends and tolerance of a root search "
    "whose root lies inside both brackets; the tests pin the root to 2e-3",
    "theory.validation.x_check_transition__mutmut_48": "a row sum exactly 1e-6 away from 1 is "
    "accepted or refused; floats rarely hit the boundary and the tests pin both sides",
    "theory.losses.xǁOverlap2ǁ_cdf__mutmut_33": "slope 0 is the degenerate case, handled before",
    "theory.losses.xǁEmpiricalǁ_ppf__mutmut_12": "the index is already below size - 1 for "
    "q <= 1 (the cumulative weights end at 1)",
    "theory.regions.x_perturbed_break_epsilon__mutmut_21": "at d = 0 both branches give 0",
    "theory.instance.x_rows__mutmut_14": "the softmax is shift-invariant (scores stay far from "
    "overflow)",
    "theory.instance.x_rows__mutmut_15": "the softmax is shift-invariant",
    "theory.instance.x_rows__mutmut_17": "the softmax is shift-invariant",
    "theory.instance.x_rows__mutmut_40": "the own class's entry is 0 before (its score is "
    "masked), so `=` and `+=` agree",
    "theory.instance.x_rows__mutmut_52": "argsort's default axis is the last one, here 1",
    "theory.instance.x_rows__mutmut_53": "the sort algorithm only orders ties, which "
    "continuous posteriors have with probability 0",
    "theory.instance.x_rows__mutmut_75": "the row is 0 before and u != s, so `=` and `+=` agree",
    "theory.instance.x_rows__mutmut_78": "the row is 0 before and u != s, so `=` and `+=` agree",
    "theory.instance.x_overlap_laws__mutmut_73": "a row's own entry ties its largest other "
    "with probability 0 under every recipe",
    "theory.precision.x_predict_all__mutmut_18": "at sigma = 0 both branches give 0",
    "theory.precision.x_predict_all__mutmut_19": "at sigma = 0 both branches give 0",
    "theory.precision.x_predict_all__mutmut_24": "at sigma = 0 epoch_sd is 0 too",
    "theory.precision.x_predict_all__mutmut_31": "at sigma = 0 epoch_sd is 0 too",
    "theory.precision.x_predict_all__mutmut_54": "recomputes laws equal to the ones it reuses",
    "theory.precision.x_predict_all__mutmut_3": "recomputes laws equal to the ones it reuses",
    "theory.precision.x_predict_all__mutmut_16": "the placeholder is never read: the points "
    "are built wherever a criterion reads them",
    "theory.precision.x__confident_bayes__mutmut_13": "only the sign of the no-class marker "
    "is read",
    "theory.precision.x__confident_bayes__mutmut_16": "a cell of zero mass kept adds 0",
    "theory.precision.x__cells__mutmut_5": "a cell of zero mass (a class of prior 0) joins "
    "as a component of weight 0: it moves no quantile and keeps nothing",
    "theory.validation.x_check_transition__mutmut_46": "a row whose sum misses 1 by exactly "
    "the tolerance, 1e-6, which no float sum of probabilities lands on in the tests or in use",
    "theory.instance.x_overlap_laws__mutmut_81": "a row's own entry ties its largest other "
    "with probability 0 under every recipe",
    "theory.precision.x_rsl_fractions__mutmut_12": "drops gamma, whose default is the value passed",
    "theory.precision.x__rsl_fractions__mutmut_30": "drops gamma, whose default is the value "
    "passed",
    "theory.precision.x__confident_bayes__mutmut_21": "an empty column's threshold becomes NaN "
    "instead of inf; no row has a positive entry there to pick it",
    "theory.precision.x__confident_bayes__mutmut_42": "only the sign of the no-class marker is "
    "read",
    "theory.precision.x__confident_bayes__mutmut_45": "a cell of mass 0 keeps mass 0 either way",
    "theory.noise.x_random_transition__mutmut_70": "brentq's default tolerance also converges "
    "to rounding on this smooth margin (the test pins it to 1e-14)",
    "theory.validation.x_check_labels__mutmut_32": "np.dtype(None) is float64, so the floating "
    "check is unchanged",
    "theory.losses.xǁSmoothedǁquantile_atoms": "a 17-node rule is as exact as 16 for the "
    "moments used, and the nodes are symmetric, so x - sd z and x + sd z are the same rule",
    "theory.losses.xǁMixtureǁ__init____mutmut_13": "every weight is negated and the weights "
    "are normalised by their sum, so the signs cancel",
    "theory.probability.x_confident_kept__mutmut_34": "an empty column's threshold becomes NaN "
    "instead of inf; `t <= G` is false for both",
    "theory.probability.x_confident_kept__mutmut_42": "`<` and `<=` differ only for an output "
    "exactly at its threshold (probability 0 for continuous outputs)",
    "theory.probability.x_confident_kept__mutmut_60": "outputs are >= 0, so a fill of -1 or -2 "
    "for the coordinates below threshold never wins the argmax",
    "theory.probability.x_confident_kept__mutmut_63": "only the sign of the no-class marker is "
    "read",
    "theory.instance.x_factor_from_means__mutmut_25": "`<` and `<=` at the range's lower end "
    "differ only for a rate exactly 1e-12 below it",
    "theory.losses.x_overlap_points": "another seed of the scrambled Sobol rule: the points move "
    "within the rule's own error, below every test's tolerance",
    "theory.precision.x_predict_all__mutmut_7": "rho's default is read only with sigma > 0, "
    "and every caller with sigma > 0 passes rho",
    "theory.precision.x__confident__mutmut_1": "perturbed points at epsilon 0 are the g* atoms "
    "repeated, so the two branches give the same prediction",
    "theory.precision.x__confident__mutmut_10": "perturbed points at epsilon 0 are the g* atoms "
    "repeated, so the two branches give the same prediction",
    "theory.probability.x_cleanlab_kept__mutmut_12": "cleanlab's 1e-6 threshold slack moves "
    "the confident joint only for outputs within 1e-6 of a threshold: probability 0 for "
    "continuous outputs, and g*'s atoms sit away from the thresholds in every tested setting",
    "theory.probability.x_cleanlab_kept__mutmut_13": "`<` and `<=` at a threshold differ only "
    "for an output exactly at it (probability 0 for continuous outputs)",
    "theory.probability.x_cleanlab_kept__mutmut_67": "the fill is read only for a noisy class "
    "with no confident sample, which no tested setting has",
    "theory.probability.x_cleanlab_kept__mutmut_71": "the fill is read only for a noisy class "
    "with no confident sample, which no tested setting has",
    "theory.probability.x_cleanlab_kept__mutmut_74": "the fill is read only for a noisy class "
    "with no confident sample, which no tested setting has",
    "theory.probability.x_cleanlab_kept__mutmut_99": "a noisy class carried by exactly one "
    "point does not occur: every class has hundreds of points",
    "theory.probability.x_cleanlab_kept__mutmut_101": "a copy of the columns instead of a view "
    "of the same values",
    "theory.probability.x_cleanlab_kept__mutmut_112": "a pair with nothing to prune flags "
    "nothing: `_top_mass` of 0 gives every point share 0",
    "theory.probability.x_cleanlab_kept__mutmut_132": "cleanlab's 1e-6 in the argmax test "
    "changes it only for outputs within 1e-6 of a tie (probability 0)",
    "theory.probability.x_cleanlab_kept__mutmut_140": "`own` is all true before its first "
    "update, so `&=` and `=` agree there",
    "theory.probability.x_cleanlab_kept__mutmut_144": "`<` and `<=` against the label's "
    "coordinate plus 1e-6 differ only at an exact tie (probability 0)",
    "theory.probability.x_cleanlab_kept__mutmut_154": "`<` and `<=` against the label's "
    "coordinate plus 1e-6 differ only at an exact tie (probability 0)",
    "theory.probability.x__top_mass__mutmut_6": "the first candidate count only sets how often "
    "it doubles; the result is that of a full stable sort (tested)",
    "theory.probability.x__top_mass__mutmut_9": "the first candidate count only sets how often "
    "it doubles; the result is that of a full stable sort (tested)",
    "theory.probability.x__top_mass__mutmut_10": "the first candidate count only sets how often "
    "it doubles; the result is that of a full stable sort (tested)",
    "theory.probability.x_perturbed_points": "another scrambling or seed of the Sobol rule, or "
    "clip bounds that scrambled points in (0, 1) never reach: the rule's points move within "
    "its own error, below every test's tolerance",
    "theory.budgets.x_largest_share": "the scan grid's size and the bisection's length change "
    "which budgets are tried, not where a precision curve that crosses P once crosses it "
    "(the tests pin the crossing to 1e-8)",
    "theory.budgets.x__reaches": "a 1e-12 slack around P: a precision within 1e-12 of P has "
    "probability 0 on the tested curves",
    "theory.budgets.x_target_budgets__mutmut_37": "an empty column's precision becomes 0/0 "
    "(NaN), which reaches no target, as None does",
    "theory.budgets.x_target_budgets__mutmut_39": "an empty column's precision becomes 0/0 "
    "(NaN), which reaches no target, as None does",
    "theory.budgets.x_target_budgets__mutmut_44": "searching an empty column finds no budget "
    "that reaches P: 0, as the guard gives",
    "theory.budgets.x_target_budgets__mutmut_50": "searching an empty column finds no budget "
    "that reaches P: 0, as the guard gives",
    "theory.precision.x__output_points__mutmut_7": "perturbed points at epsilon 0 are the g* "
    "atoms repeated, so the two branches give the same prediction",
    "theory.precision.x__output_points__mutmut_8": "perturbed points at epsilon 0 are the g* "
    "atoms repeated, so the two branches give the same prediction",
    "theory.precision.x__output_points__mutmut_10": "perturbed points at epsilon 0 are the g* "
    "atoms repeated, so the two branches give the same prediction",
}


# Survivors that are not equivalent: tests written after the run target them (by test name)
LATER: dict[str, str] = {}  # survivor -> the test, written after the run, that targets it


def results(where: str = ".") -> list[tuple[str, str, str]]:
    """(mutant, status, the checkout it was run in)."""
    out = subprocess.run(
        ["mutmut", "results", "--all", "true"], capture_output=True, text=True, cwd=where
    ).stdout
    return [
        (*(s.strip() for s in line.split(":")[:2]), where)
        for line in out.splitlines()
        if ":" in line
    ]


def function_of(name: str) -> str:
    return name.rsplit("__mutmut_", 1)[0]


def merged(newer: str | None) -> list[tuple[str, str, str]]:
    rows = results()
    if newer is None:
        return rows
    again = [r for r in results(newer) if r[1] != "not checked"]
    redone = {function_of(name) for name, _, _ in again}
    return [r for r in rows if function_of(r[0]) not in redone] + again


def diff(name: str, where: str = ".") -> str:
    out = subprocess.run(["mutmut", "show", name], capture_output=True, text=True, cwd=where).stdout
    return "\n".join(
        line
        for line in out.splitlines()
        if line.startswith("+ ")
        or line.startswith("+\t")
        or (line.startswith("+") and not line.startswith("+++"))
    )


def classify(name: str, changed: str) -> str:
    if name in LATER:
        return f"NOT EQUIVALENT: `{LATER[name]}`, written after the run, targets it"
    for prefix, note in NOTES.items():
        if name == prefix or name.startswith(prefix + "__"):
            return note
    for label, pattern, reason in CLASSES:
        if re.search(pattern, changed):
            return f"{label}: {reason}"
    return "UNEXPLAINED"


def main(out: str = "tests/MUTATION.md", scope: str = "theory/", newer: str | None = None) -> int:
    rows = merged(newer)
    status = Counter(s for _, s, _ in rows)
    total = sum(status.values())
    # a test process that dies by a signal ("segfault") is not counted as a kill: the
    # signal may come from a worker pool (cleanlab's) rather than from the mutant
    killed = status["killed"] + status["timeout"]
    total -= status["not checked"]
    by_module = Counter(n.split(".x")[0] for n, s, _ in rows if s == "survived")
    modules = ", ".join(f"`{m}` {k}" for m, k in by_module.most_common())
    lines = [
        "# Mutation testing",
        "",
        f"`mutmut run` on `{scope}`: {total} mutants checked"
        f" ({status['not checked']} not checked), {status['killed']} killed, "
        f"{status['timeout']} timed out, {status['segfault']} ended by a signal (not counted "
        f"as killed), {status['survived']} survived: a score of {100 * killed / total:.1f}% "
        "(killed and timed out over all checked).",
        "",
        *(
            [
                f"The verdicts of {len({function_of(n) for n, _, w in rows if w == newer})} "
                "functions (changed since, or given new tests) come from a later re-run of "
                "those functions alone.",
                "",
            ]
            if newer
            else []
        ),
        f"Survivors by module: {modules}.",
        "",
        "Every survivor, with why it survives:",
        "",
    ]
    unexplained = 0
    for name, s, where in rows:
        if s != "survived":
            continue
        changed = diff(name, where)
        why = classify(name, changed)
        unexplained += why == "UNEXPLAINED"
        lines.append(f"- `{name}`: `{changed.lstrip('+ ').strip()[:90]}` — {why}")
    Path(out).write_text("\n".join(lines) + "\n")
    print(f"{total} mutants, score {100 * killed / total:.1f}%, {unexplained} unexplained")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
