"""Estimating T from labels alone: Dawid-Skene, derived label sets, probabilities, intervals."""

import json
from pathlib import Path

import numpy as np
import pytest
from annotators import annotate, pairs_T, random_T, write_npz

from simulations.cli import main
from simulations.estimation import dawid_skene
from simulations.estimation import transition as est
from theory.conditions import row_dominant

rng0 = np.random.default_rng
CIFAR10N_LABELS = Path(__file__).resolve().parents[2] / "theory/data/cifar10n/labels.npz"


def _itemwise_ds(labels, c, iters):
    """Dawid-Skene item by item, written from the 1979 paper: the reference for the patterns."""
    n, A = labels.shape
    post = np.zeros((n, c))
    for a in range(A):
        post[np.arange(n), labels[:, a]] += 1.0 / A
    for _ in range(iters):
        prior = post.mean(0)
        conf = np.zeros((A, c, c))
        for a in range(A):
            for i in range(n):
                conf[a, :, labels[i, a]] += post[i]
        conf /= conf.sum(2, keepdims=True)
        for i in range(n):
            p = prior.copy()
            for a in range(A):
                p *= conf[a, :, labels[i, a]]
            post[i] = p / p.sum()
    return prior, conf, post


def test_patterns_give_the_itemwise_fixed_point():
    rng = rng0(1)
    truth = rng.integers(0, 3, 300)
    labels = annotate(rng, truth, [random_T(rng, 3) for _ in range(3)])
    pat, inv, cnt = dawid_skene.label_patterns(labels)
    assert len(pat) < len(labels)
    fit = dawid_skene.dawid_skene(pat, cnt, 3, max_iter=25, tol=0.0)
    prior, conf, post = _itemwise_ds(labels, 3, 25)
    np.testing.assert_allclose(fit.prior, prior, atol=1e-9)
    np.testing.assert_allclose(fit.confusions, conf, atol=1e-9)
    np.testing.assert_allclose(fit.posterior[inv], post, atol=1e-9)


@pytest.mark.parametrize("c", [3, 6])
def test_ds_recovers_independent_annotators(c):
    rng = rng0(c)
    truth = rng.integers(0, c, 30_000)
    Ts = [random_T(rng, c, 0.6) for _ in range(3)]
    labels = annotate(rng, truth, Ts)
    e = est.from_annotators(labels, ["a", "b", "c"], c)
    for key, T in zip("abc", Ts, strict=True):
        truth_T = pairs_T(truth, labels[:, "abc".index(key)], c)
        assert np.abs(e.annotators[key] - truth_T).max() < 0.02
        assert np.abs(truth_T - T).max() < 0.03  # the simulation is what it says
    assert abs(e.noise_rate - np.mean(labels[:, 0] != truth)) < 0.01


def _worst(labels, truth, rng):
    """A wrong annotation whenever one exists (chosen at random), else the agreed label."""
    out = labels[:, 0].copy()
    for i in range(len(truth)):
        wrong = labels[i][labels[i] != truth[i]]
        out[i] = rng.choice(wrong) if len(wrong) else truth[i]
    return out


def test_worst_rule_recovers_the_worst_label_set_and_observed_does_not():
    rng = rng0(7)
    c = 4
    truth = rng.integers(0, c, 20_000)
    labels = annotate(rng, truth, [random_T(rng, c, 0.75) for _ in range(3)])
    worst = _worst(labels, truth, rng)
    true_T = pairs_T(truth, worst, c)
    assert dawid_skene.infer_rule(labels, worst) == "worst"
    good = est.from_annotators(labels, list("abc"), c, worst, "worst")
    naive = est.from_annotators(labels, list("abc"), c, worst, "observed")
    err = np.abs(good.T - true_T).sum() / c * 100
    assert err < 2.0
    assert np.abs(naive.T - true_T).sum() / c * 100 > 3 * err
    assert abs(good.noise_rate - np.mean(worst != truth)) < 0.01


def test_infer_rule_tells_votes_from_worst_labels():
    rng = rng0(3)
    truth = rng.integers(0, 3, 3000)
    labels = annotate(rng, truth, [random_T(rng, 3) for _ in range(3)])
    votes = np.stack([(labels == k).sum(1) for k in range(3)], 1)
    majority = votes.argmax(1)
    assert dawid_skene.infer_rule(labels, majority) == "observed"
    assert dawid_skene.infer_rule(labels, labels[:, 1]) == "observed"
    assert dawid_skene.infer_rule(labels, _worst(labels, truth, rng)) == "worst"
    assert dawid_skene.infer_rule(labels, (labels[:, 0] + 1) % 3) == "observed"  # not an annotation


def test_missing_annotations_are_skipped_not_counted():
    rng = rng0(5)
    truth = rng.integers(0, 3, 20_000)
    Ts = [random_T(rng, 3, 0.7) for _ in range(3)]
    labels = annotate(rng, truth, Ts)
    gappy = labels.copy()
    gappy[rng.random(gappy.shape) < 0.3] = dawid_skene.MISSING
    gappy[(gappy == dawid_skene.MISSING).all(1), 0] = labels[
        (gappy == dawid_skene.MISSING).all(1), 0
    ]
    e = est.from_annotators(gappy, list("abc"), 3)
    seen = gappy[:, 1] >= 0
    truth_T = pairs_T(truth[seen], gappy[seen, 1], 3)
    assert np.abs(e.annotators["b"] - truth_T).max() < 0.03


@pytest.mark.filterwarnings("ignore")  # crowd-kit uses pandas features pandas has deprecated
@pytest.mark.parametrize("key", ["random1", "random2", "random3", "worse"])
def test_cifar10n_no_worse_than_crowdkit(key):
    """Same labels, no clean label used: our Dawid-Skene's T error is at most crowd-kit's
    (+0.05: the same model and fixed point); with easy items it is below crowd-kit's."""
    pd = pytest.importorskip("pandas")
    aggregation = pytest.importorskip("crowdkit.aggregation")
    z = np.load(CIFAR10N_LABELS)
    keys = ["random1", "random2", "random3"]
    labels = np.column_stack([z[k].astype(int) for k in keys])
    clean, noisy = z["clean"].astype(int), z[key].astype(int)
    truth_T = pairs_T(clean, noisy, 10)
    target = None if key == "random1" else noisy
    ours = est.from_annotators(labels, keys, 10, target)
    easy = est.from_annotators(labels, keys, 10, target, model="ds-easy")
    frame = pd.concat(
        [
            pd.DataFrame({"task": np.arange(len(clean)), "worker": k, "label": z[k].astype(int)})
            for k in keys
        ]
    )
    post = aggregation.DawidSkene(n_iter=100).fit(frame).probas_.sort_index()[list(range(10))]
    theirs = post.to_numpy().T @ np.eye(10)[noisy]
    theirs /= theirs.sum(1, keepdims=True)
    fits = (("ours", ours.T), ("easy", easy.T), ("ck", theirs))
    err = {n: np.abs(T - truth_T).sum() / 10 * 100 for n, T in fits}
    assert err["ours"] <= err["ck"] + 0.05
    assert err["easy"] < err["ck"], err
    if key == "worse":  # modelling how 'worse' was made removes most of the error
        assert err["ours"] < 0.5 * err["ck"]
        assert abs(ours.noise_rate - np.mean(noisy != clean)) < 0.01


def _coverage(c, n, rng, level=0.9):
    T = random_T(rng, c, rng.uniform(0.4, 0.8))
    clean = rng.integers(0, c, n)
    noisy = annotate(rng, clean, [T])[:, 0]
    e = est.from_pairs(clean, noisy, c)
    Ts, priors, _ = est.draws(e, 400, int(rng.integers(1 << 30)))
    s = est.summarise(e, Ts, priors, level)
    inside = (np.array(s["T_low"]) <= T) & (np.array(s["T_high"]) >= T)
    return inside.ravel(), bool(row_dominant(T)), s["bootstrap_share"]["row_dominant"]


def test_pairs_intervals_cover_at_their_level():
    rng = rng0(11)
    hits = []
    for _ in range(200):
        c = int(rng.choice([2, 4, 10]))
        n = int(rng.choice([100, 500, 2000]))
        hits.append(_coverage(c, n, rng)[0])
    rate = np.concatenate(hits).mean()
    assert 0.85 <= rate <= 0.95, rate


def test_row_dominance_probability_is_calibrated():
    rng = rng0(12)
    truth, said = [], []
    for _ in range(300):
        c = int(rng.choice([2, 3, 4]))
        T = rng.dirichlet(np.ones(c) * 2, size=c)  # near the boundary often
        clean = rng.integers(0, c, int(rng.choice([60, 200])))
        noisy = annotate(rng, clean, [T])[:, 0]
        e = est.from_pairs(clean, noisy, c)
        Ts, priors, _ = est.draws(e, 200, int(rng.integers(1 << 30)))
        said.append(est.summarise(e, Ts, priors, 0.9)["bootstrap_share"]["row_dominant"])
        truth.append(row_dominant(T))
    said, truth = np.array(said), np.array(truth)
    assert 0.05 < truth.mean() < 0.95  # both outcomes occur: the check can fail
    for lo, hi in ((0.0, 0.2), (0.2, 0.8), (0.8, 1.01)):
        sel = (said >= lo) & (said < hi)
        assert sel.sum() >= 20
        assert abs(truth[sel].mean() - said[sel].mean()) < 0.1, (lo, hi)


def test_ds_bootstrap_intervals_cover():
    rng = rng0(13)
    hits = []
    for _ in range(40):
        c = 3
        truth = rng.integers(0, c, 1500)
        Ts = [random_T(rng, c, 0.65) for _ in range(3)]
        labels = annotate(rng, truth, Ts)
        e = est.from_annotators(labels, list("abc"), c)
        draws, priors, ann = est.draws(e, 200, int(rng.integers(1 << 30)))
        lo, hi = np.quantile(ann["a"], [0.05, 0.95], axis=0)
        hits.append(((lo <= Ts[0]) & (Ts[0] <= hi)).ravel())
    rate = np.concatenate(hits).mean()
    assert 0.85 <= rate <= 0.97, rate


def test_anchor_points_recover_T_from_exact_noisy_posteriors():
    rng = rng0(17)
    c = 4
    T = random_T(rng, c, 0.7)
    clean = rng.integers(0, c, 4000)
    noisy = annotate(rng, clean, [T])[:, 0]
    e = est.from_probs(noisy, T[clean], c, "anchor")
    np.testing.assert_allclose(e.T, T, atol=1e-12)
    assert np.abs(e.prior - np.bincount(clean) / len(clean)).max() < 0.03


def test_confident_joint_reads_rows_as_true_class():
    pytest.importorskip("cleanlab")
    rng = rng0(19)
    c = 3
    T = np.array([[0.8, 0.2, 0.0], [0.0, 0.9, 0.1], [0.0, 0.0, 1.0]])
    clean = rng.integers(0, c, 6000)
    noisy = annotate(rng, clean, [T])[:, 0]
    probs = np.eye(c)[clean] * 0.9 + 0.1 / c  # confident and right about the truth
    e = est.from_probs(noisy, probs, c, "confident")
    assert np.abs(e.T - pairs_T(clean, noisy, c)).max() < 0.02


def test_cli_contract_and_out_file(tmp_path, capsys):
    rng = rng0(23)
    truth = rng.integers(0, 3, 3000)
    labels = annotate(rng, truth, [random_T(rng, 3) for _ in range(3)])
    f = write_npz(tmp_path, a=labels[:, 0], b=labels[:, 1], c=labels[:, 2], clean=truth)
    out = tmp_path / "T.csv"
    argv = [
        "estimate",
        "--labels",
        f,
        "--noisy",
        "a",
        "b",
        "c",
        "--bootstrap",
        "20",
        "--out",
        str(out),
        "--json",
    ]
    assert main(argv) == 0
    d = json.loads(capsys.readouterr().out)
    contract = (
        "method classes T T_low T_high prior noise_rate noise_rate_low noise_rate_high "
        "conditions seconds annotators"
    )
    assert set(contract.split()) <= set(d)
    assert d["method"] == "ds" and d["classes"] == 3
    assert set(d["conditions"]["bootstrap_share"]) == set(est.CONDITIONS)
    assert np.all(np.array(d["T_low"]) <= np.array(d["T"]) + 1e-12)
    assert d["noise_rate_low"] <= d["noise_rate"] <= d["noise_rate_high"]
    np.testing.assert_allclose(np.loadtxt(out, delimiter=",", comments="#"), d["T"], atol=1e-15)
    assert main(["check", "--matrix", str(out), "--prior", str(out.with_suffix(".prior.csv"))]) == 0
    capsys.readouterr()
    assert main(["check", "--labels", f, "--clean", "clean", "--noisy", "a", "--ci", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert set(d["probabilities"]) == set(est.CONDITIONS)
    assert d["epsilon_star_low"] <= d["epsilon_star"] <= d["epsilon_star_high"]
    assert d["row_margin_low"] <= d["row_margin"] <= d["row_margin_high"]


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--noisy", "a"], "needs --probs"),
        (["--noisy", "a", "zz"], "no array 'zz'"),
        (["--noisy", "a", "--probs", "P"], "shape"),
        (["--noisy", "a", "b", "--level", "1.5"], "--level"),
        (["--noisy", "a", "--method", "pairs"], "--clean"),
    ],
)
def test_cli_bad_input_is_one_line(tmp_path, capsys, extra, needle):
    f = write_npz(tmp_path, a=np.array([0, 1, 2, 1]), b=np.array([0, 1, 1, 1]))
    np.save(tmp_path / "P.npy", np.full((3, 3), 1 / 3))
    extra = [str(tmp_path / "P.npy") if x == "P" else x for x in extra]
    assert main(["estimate", "--labels", f, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err


def test_loss_mixture_recovers_T_when_classes_separate_in_logit_space():
    rng = rng0(29)
    c, n = 5, 6000
    T = random_T(rng, c, 0.6)
    clean = rng.integers(0, c, n)
    noisy = annotate(rng, clean, [T])[:, 0]
    centres = 3.0 * np.eye(c) + rng.normal(0, 0.5, (c, c))  # class i scores highest on i
    logits = centres[clean] + rng.normal(0, 1.0, (n, c))
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    e = est.from_probs(noisy, probs, c, "mixture")
    truth = pairs_T(clean, noisy, c)
    err = np.abs(e.T - truth).sum() / c * 100
    assert err < 3.0, err
    # the probabilities here know the clean class, not the noisy one: anchors read T off the
    # probability rows and so miss it; the mixture reads T off the labels
    assert np.abs(est.from_probs(noisy, probs, c, "anchor").T - truth).sum() / c * 100 > 3 * err


def test_a_class_no_one_labels_gets_uniform_rows_not_nan():
    """Three classes declared, the third never given: its confusion rows and its row of T
    have no mass, and fall back to uniform instead of dividing by zero."""
    rng = rng0(31)
    truth = rng.integers(0, 2, 2000)
    labels = annotate(rng, truth, [random_T(rng, 2, 0.8) for _ in range(3)])
    pat, _, cnt = dawid_skene.label_patterns(labels)
    fit = dawid_skene.dawid_skene(pat, cnt, 3)
    assert fit.prior[2] < 1e-9
    np.testing.assert_allclose(fit.confusions[:, 2, :], 1 / 3)
    law = dawid_skene.target_law(pat, pat[:, 0], 3, "observed")
    T = dawid_skene.transition_from_posterior(fit.posterior, cnt, law)
    np.testing.assert_allclose(T[2], 1 / 3)
    assert np.isfinite(T).all() and T[:2, 2].max() == 0


def test_a_label_outside_the_annotations_on_one_item_is_observed():
    """One item whose derived label none of its annotators gave: the label set cannot be
    CIFAR-N's 'worse' (always one of the annotations), however 'worst' the rest looks."""
    rng = rng0(37)
    truth = rng.integers(0, 3, 3000)
    labels = annotate(rng, truth, [random_T(rng, 3) for _ in range(3)])
    worst = _worst(labels, truth, rng)
    assert dawid_skene.infer_rule(labels, worst) == "worst"
    k = int(np.flatnonzero((labels == labels[:, :1]).all(1))[0])  # a unanimous item
    worst[k] = (labels[k, 0] + 1) % 3
    assert dawid_skene.infer_rule(labels, worst) == "observed"


def test_normalise_log_is_stable_row_by_row():
    rows = np.array([[-1000.0, -1001.0], [0.0, -1.0]])
    post, evidence = dawid_skene.normalise_log(rows)
    expect = np.exp([0.0, -1.0]) / np.exp([0.0, -1.0]).sum()
    np.testing.assert_allclose(post, [expect, expect])
    np.testing.assert_allclose(evidence, [-1000 + np.log1p(np.exp(-1)), np.log1p(np.exp(-1))])


def test_stacked_dawid_skene_refits_are_the_one_at_a_time_refits():
    """The bootstrap's stack of EMs: each refit stops by its own rule and gives what
    ``dawid_skene`` gives on its counts."""
    rng = rng0(41)
    truth = rng.integers(0, 4, 2000)
    labels = annotate(rng, truth, [random_T(rng, 4, 0.6) for _ in range(3)])
    pat, _, cnt = dawid_skene.label_patterns(labels)
    full = dawid_skene.dawid_skene(pat, cnt, 4)
    W = np.array([rng.multinomial(cnt.sum(), cnt / cnt.sum()) for _ in range(7)], float)
    prior, conf, post, iters = dawid_skene.dawid_skene_batch(pat, W, 4, start=full.posterior)
    assert len(set(iters.tolist())) > 1  # they stop at different iterations
    for b, w in enumerate(W):
        one = dawid_skene.dawid_skene(pat, w, 4, start=full.posterior)
        assert one.iterations == iters[b]
        np.testing.assert_allclose(prior[b], one.prior, atol=1e-12)
        np.testing.assert_allclose(conf[b], one.confusions, atol=1e-12)
        np.testing.assert_allclose(post[b], one.posterior, atol=1e-12)


@pytest.mark.parametrize("warm", [False, True])
def test_stacked_mixture_refits_are_fits_on_the_resampled_rows(warm):
    """A resample is a weighting of the items: the stack of weighted EMs gives what
    ``loss_mixture`` gives on the resampled rows (duplicates and all), from the predicted
    class or, as the bootstrap starts them, from the full fit's responsibilities of those
    rows."""
    rng = rng0(43)
    c, n = 4, 800
    T = random_T(rng, c, 0.7)
    clean = rng.integers(0, c, n)
    noisy = annotate(rng, clean, [T])[:, 0]
    logits = 2.0 * np.eye(c)[clean] + rng.normal(0, 1.0, (n, c))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    e = est.from_probs(noisy, probs, c, "mixture")
    post = e.details["posterior"] if warm else None
    idx = [rng.integers(0, n, n) for _ in range(5)]
    W = np.array([np.bincount(i, minlength=n) for i in idx], float)
    Ts, priors, iters = est.mixture_fits(e.details["mixture"], W, start=post)
    for b, i in enumerate(idx):
        one = est.loss_mixture(noisy[i], probs[i], c, start=None if post is None else post[:, i])
        np.testing.assert_allclose(Ts[b], one.T, atol=1e-9)
        np.testing.assert_allclose(priors[b], one.prior, atol=1e-9)
    Ts2, _, _ = est.draws(e, 12, 5)
    assert Ts2.shape == (12, c, c) and np.isfinite(Ts2).all()


@pytest.mark.parametrize("separation", [2.0, 1.0])
def test_the_accelerated_mixture_stops_at_em_s_fixed_point_where_plain_em_would_crawl(separation):
    """SQUAREM's fit is within 0.005 of where 3,000 plain EM steps end, after no more than
    300 steps' work; plain EM after as many steps as SQUAREM spent is further away (on weakly
    informative probabilities, far: it crawls)."""
    rng = rng0(47)
    c, n = 4, 1500
    T = random_T(rng, c, 0.7)
    clean = rng.integers(0, c, n)
    noisy = annotate(rng, clean, [T])[:, 0]
    logits = separation * np.eye(c)[clean] + rng.normal(0, 1.0, (n, c))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    e = est.loss_mixture(noisy, probs, c)
    data, w = e.details["mixture"], np.ones((1, n))
    steps = int(est.mixture_fits(data, w)[2][0])
    assert steps < 300
    resp, path = np.broadcast_to(data.start, (1, c, n)).copy(), []
    for _ in range(3000):
        resp, _, _, T_em = est._em_map(data, resp, w)
        path.append(T_em[0])
    fixed = path[-1]
    assert np.abs(e.T - fixed).max() < 0.005
    assert np.abs(path[steps - 1] - fixed).max() > np.abs(e.T - fixed).max()


def test_the_mixture_fits_centred_log_probabilities_where_they_lie():
    """``_MixtureData`` writes the centred log-probabilities in the c - 1 directions
    orthogonal to the ones: its E-step gives the responsibilities and log likelihood of the
    c-dimensional Gaussians (each covariance plus the ridge) that the fit is defined by."""
    from scipy.stats import multivariate_normal

    rng = rng0(53)
    c, n = 6, 700
    clean = rng.integers(0, c, n)
    noisy = np.where(rng.random(n) < 0.35, (clean + 1) % c, clean)
    logits = 1.8 * np.eye(c)[clean] + rng.normal(0, 1.0, (n, c))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    data = est._MixtureData(noisy, probs, c)
    assert data.d == c - 1
    resp = rng.dirichlet(np.ones(c), n).T[None]
    w = rng.integers(0, 3, n).astype(float)[None]
    prior, T, _, _ = est._mixture_m_step(data, resp, w)
    post, ll = est._mixture_e_step(data, *est._mixture_m_step(data, resp, w), w)
    z = np.log(probs)
    z -= z.mean(1, keepdims=True)
    joint = np.empty((n, c))
    for i in range(c):
        r = resp[0, i] * w[0]
        mean = r @ z / r.sum()
        cov = (r[:, None] * (z - mean)).T @ (z - mean) / r.sum() + est.RIDGE * np.eye(c)
        joint[:, i] = (
            np.log(prior[0, i]) + np.log(T[0, i, noisy]) + multivariate_normal(mean, cov).logpdf(z)
        )
    total = np.logaddexp.reduce(joint, axis=1)
    np.testing.assert_allclose(post[0].T, np.exp(joint - total[:, None]), atol=1e-6)
    np.testing.assert_allclose(ll[0], (w[0] * total).sum(), rtol=1e-9)
