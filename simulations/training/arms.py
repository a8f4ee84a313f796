"""The stage-2 arms, in one registry: what each trains on, how, and how figures draw it.

An arm is added here, one line in ``REGISTRY``. ``runner`` names the function that trains it
as ``module:function`` (imported only when the arm runs, so that this module imports without
torch); every runner takes ``(arm, ctx)`` (``simulations.training.stages.ArmContext``) and
returns the arm's row of ``test_accuracy``. An arm without a runner reads another arm's fit
(``derived_from``).
"""

from __future__ import annotations

from dataclasses import dataclass

from simulations.selection.registry import EQUAL_SIZE_GLOBAL, LOSS_CRITERIA, RSL

SINGLE = "simulations.training.stages:on_selection"
TWO_NETWORKS = "simulations.training.two_networks"


@dataclass(frozen=True)
class Arm:
    name: str
    label: str  # in a figure's legend
    short: str  # in a crowded figure's tick labels
    colour: str
    family: str  # baseline, reformalised (RSL's), two_networks, ceiling, derived or target
    runner: str | None = SINGLE
    # the ``analyse`` mask of the samples it trains on ("" every training sample)
    mask: str = ""
    weighted: bool = False  # RSL's weights from the mean loss over the selection
    labels: str = "noisy"  # or "clean": the ceiling, where every clean label is known
    networks: int = 1
    # trained only when asked for by name (or "all"): the cost of two networks each
    costly: bool = False
    seed: str = "stage2"  # the run's seed stream (``Prepared.seeds``) it draws from
    derived_from: str | None = None  # reads this arm's fit at its best validation epoch
    needs_keep: bool = False  # exists only with ``keep`` target:P, where its mask is not empty


REGISTRY = (
    Arm("ce_all", "CE, all noisy data", "CE", "#7f7f7f", "baseline"),
    Arm(
        "ce_early_stopped",
        "CE, early stopped",
        "CE early stopped",
        "#bcbd22",
        "derived",
        runner=None,
        derived_from="ce_all",
    ),
    Arm(
        "global_selected",
        "global selection",
        "global selection",
        "#d62728",
        "baseline",
        mask=EQUAL_SIZE_GLOBAL,  # at RSL's total: the like-for-like baseline of RSL's arms
    ),
    Arm("rsl_selected", "RSL", "RSL", "#2ca02c", "reformalised", mask=RSL.name),
    Arm(
        "rsl_weighted",
        "RSL, weighted",
        "RSL weighted",
        "#98df8a",
        "reformalised",
        mask=RSL.name,
        weighted=True,
    ),
    Arm(
        "coteaching",
        "Co-teaching",
        "Co-teaching",
        "#17becf",
        "two_networks",
        runner=f"{TWO_NETWORKS}:coteaching_arm",
        networks=2,
        costly=True,
        seed="coteaching",
    ),
    Arm(
        "jocor",
        "JoCoR",
        "JoCoR",
        "#ff7f0e",
        "two_networks",
        runner=f"{TWO_NETWORKS}:jocor_arm",
        networks=2,
        costly=True,
        seed="coteaching",
    ),
    Arm(
        "ce_clean",
        "CE, clean labels (ceiling)",
        "CE clean (ceiling)",
        "#1f1f1f",
        "ceiling",
        labels="clean",
    ),
    *(
        Arm(
            f"target_{c}",
            f"{c}, target precision",
            f"{c} target",
            colour,
            "target",
            mask=f"target_{c}",
            needs_keep=True,
        )
        # each loss criterion's target selection, in the registry's order
        for c, colour in zip(LOSS_CRITERIA, ("#ff9896", "#9467bd", "#8c564b"))
    ),
)
BY_NAME = {arm.name: arm for arm in REGISTRY}
# the arm the figures measure every other against: RSL's selection, unweighted
REFERENCE = next(a.name for a in REGISTRY if a.family == "reformalised" and not a.weighted)
# the arm trained on all noisy data whose best validation epoch another arm reads
CE = next(a.derived_from for a in REGISTRY if a.derived_from)
# the arms every run may train (the target arms come with ``keep`` alone)
NAMES = tuple(a.name for a in REGISTRY if not a.needs_keep)
DEFAULT = tuple(a.name for a in REGISTRY if not a.needs_keep and not a.costly)
TARGET_CRITERIA = tuple(a.mask.removeprefix("target_") for a in REGISTRY if a.needs_keep)


def parse(spec) -> tuple[str, ...]:
    """The arm names of ``spec``: a comma-separated string or a sequence of names, where
    ``all`` is every arm of ``NAMES``, ``default`` those of ``DEFAULT`` and ``none`` no arm;
    in registry order. Raises ``ValueError`` naming the unknown ones."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    chosen: set[str] = set()
    for raw in names:
        name = raw.strip()
        if name in ("", "none"):
            continue
        group = {"all": NAMES, "default": DEFAULT}.get(name, (name,))
        unknown = [g for g in group if g not in NAMES]
        if unknown:
            raise ValueError(
                f"unknown arm {name!r}: choose from all, default, none, {', '.join(NAMES)}"
            )
        chosen.update(group)
    derived = {BY_NAME[n].derived_from for n in chosen if BY_NAME[n].derived_from}
    return tuple(a.name for a in REGISTRY if a.name in chosen | derived)


def chosen(names, keep: bool) -> tuple[Arm, ...]:
    """The arms a run trains: ``names`` (already parsed), the arms they are derived from
    first, and with ``keep`` the target arms."""
    return tuple(a for a in REGISTRY if a.name in names or (keep and a.needs_keep))
