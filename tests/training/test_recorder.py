"""The recorder and the probe helper from a training loop that is not smallloss's: the run
file they write is what ``analyse`` reads, AUM agrees with the ``aum`` package, and on digits
the probe counts predict each loss criterion's precision on the training set."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from simulations.selection import analyse, runfile  # noqa: E402
from simulations.selection.scores import aum, margins  # noqa: E402
from simulations.training.probes import make_probes  # noqa: E402
from simulations.training.recorder import Recorder  # noqa: E402
from theory import noise  # noqa: E402
from theory.errors import InputError  # noqa: E402


def test_the_recorder_keeps_every_sample_every_epoch():
    rec = Recorder(n=6, classes=3, logits=True)
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 6, 3, generator=g)
    targets = torch.tensor([0, 1, 2, 0, 1, 2])
    for epoch in range(2):
        for idx in (torch.tensor([4, 0, 2]), torch.tensor([1, 5, 3])):
            rec.update(idx, logits[epoch, idx], targets[idx])
        rec.end_epoch()
    assert rec.losses.shape == (6, 2) and rec.logits.shape == (6, 2, 3)
    want = (
        torch.nn.functional.cross_entropy(
            logits.reshape(-1, 3), targets.repeat(2), reduction="none"
        )
        .reshape(2, 6)
        .T
    )
    assert np.allclose(rec.losses, want.numpy(), atol=1e-6)
    assert np.array_equal(rec.logits, logits.permute(1, 0, 2).numpy())


def test_a_sample_missed_in_an_epoch_is_named(tmp_path):
    rec = Recorder(n=4, classes=2)
    rec.update(torch.tensor([0, 1, 2]), torch.zeros(3, 2), torch.tensor([0, 1, 0]))
    rec.end_epoch()
    with pytest.raises(InputError, match="not recorded in every epoch"):
        rec.save(tmp_path / "run.npz", noisy=np.array([0, 1, 0, 1]))
    assert not (tmp_path / "run.npz").exists()


def test_the_recorder_reads_the_device_once_an_epoch(monkeypatch):
    rec = Recorder(n=8, classes=2)
    reads = []
    real = torch.Tensor.cpu

    def counted(self, *args, **kwargs):
        reads.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "cpu", counted)
    for k in range(4):
        idx = torch.tensor([2 * k, 2 * k + 1])
        rec.update(idx, torch.zeros(2, 2), torch.tensor([0, 1]))
    assert reads == []  # no host read inside the epoch
    rec.end_epoch()
    assert len(reads) == 2  # the losses and the logits, once


def test_probes_keep_their_own_labels_or_draw_them_from_T():
    rng = np.random.default_rng(0)
    val_clean = rng.integers(0, 4, 200)
    val_noisy = np.where(rng.random(200) < 0.3, (val_clean + 1) % 4, val_clean)
    p = make_probes(val_clean, 0.4, seed=3, val_noisy=val_noisy)
    assert p.index.size == 80 and p.keep.size == 120
    assert np.intersect1d(p.index, p.keep).size == 0
    assert np.array_equal(np.sort(np.concatenate([p.index, p.keep])), np.arange(200))
    assert np.array_equal(p.noisy, val_noisy[p.index]) and np.array_equal(
        p.clean, val_clean[p.index]
    )
    drawn = make_probes(val_clean, 0.4, seed=3, T=noise.pairwise(0.3, 4))
    assert np.array_equal(drawn.index, p.index)  # the same items move
    flipped = drawn.noisy != drawn.clean
    assert np.all(drawn.noisy[flipped] == (drawn.clean[flipped] + 1) % 4)
    with pytest.raises(InputError, match="val_noisy or T"):
        make_probes(val_clean, 0.4, seed=3)
    with pytest.raises(InputError, match="probes"):
        make_probes(val_clean, 1.0, seed=3, T=noise.pairwise(0.3, 4))


def test_aum_agrees_with_the_aum_package(tmp_path):
    aum_package = pytest.importorskip("aum")
    g = torch.Generator().manual_seed(1)
    logits = (3 * torch.randn(50, 7, 5, generator=g)).float()
    labels = torch.randint(0, 5, (50,), generator=g)
    calc = aum_package.AUMCalculator(str(tmp_path), compressed=True)
    for epoch in range(7):
        calc.update(logits[:, epoch], labels, list(range(50)))
    theirs = np.array([calc.sums[i] / calc.counts[i] for i in range(50)])
    ours = aum(logits.numpy(), labels.numpy())
    assert np.max(np.abs(ours - theirs)) <= 1e-6
    assert margins(logits.numpy(), labels.numpy()).shape == (50, 7)


# a loop that learns before it memorises: Adam at 1e-3 for 10 epochs; 40% of digits held out
# as annotated validation items, three quarters of them probes (about 540, 160 mislabelled)
EPOCHS, LR, VAL, PROBES = 10, 1e-3, 0.4, 0.75


def _digits_run(seed: int, path):
    """A plain torch loop (Adam, a tanh MLP: not one of smallloss's networks) on digits with
    pairwise 30% noise and probes from the validation items, recorded each epoch."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from simulations.synthetic.generate import noisy_labels

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    tr, va = train_test_split(np.arange(y.size), test_size=VAL, stratify=y, random_state=seed)
    T = noise.pairwise(0.3, 10)
    noisy = noisy_labels(y[tr], T, seed).astype(np.int64)
    probes = make_probes(y[va], PROBES, seed=seed, T=T)
    X_all = np.concatenate([X[tr], X[va][probes.index]])
    labels = np.concatenate([noisy, probes.noisy])
    clean = np.concatenate([y[tr], probes.clean])
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(64, 512), torch.nn.Tanh(), torch.nn.Linear(512, 10))
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    Xt, yt = torch.as_tensor(X_all), torch.as_tensor(labels)
    rec = Recorder(n=len(labels), classes=10)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(EPOCHS):
        for idx in torch.randperm(len(labels), generator=gen).split(64):
            out = net(Xt[idx])
            loss = torch.nn.functional.cross_entropy(out, yt[idx], reduction="none")
            rec.update(idx, out, yt[idx], loss)
            opt.zero_grad()
            loss.mean().backward()
            opt.step()
        rec.end_epoch()
    probe = np.arange(len(labels)) >= noisy.size
    rec.save(path, noisy=labels, probe=probe, clean=clean, T=T)
    return path


@pytest.mark.slow
def test_a_run_made_outside_the_package_is_predicted_by_its_probes(tmp_path):
    diffs = {name: [] for name in ("global", "classwise", "rsl")}
    reached, kept = 0, 0
    for seed in range(8):
        run = runfile.read(_digits_run(seed, tmp_path / f"run-{seed}.npz"))
        record, _ = analyse.analyse(run, keep="target:0.95", confidence=0.9, bootstrap=0)
        for name in diffs:
            c = record["criteria"][name]
            diffs[name].append(c["predicted_precision_counts"] - c["observed_precision"])
            t = record["target"][name]
            if t["selected"]:
                kept += 1
                reached += t["observed_precision"] >= 0.95
    for name, d in diffs.items():
        assert abs(np.mean(d)) <= 0.02, (name, d)
    assert kept >= 6 and reached >= 0.9 * kept, (reached, kept)
