"""The two-network arms, Co-teaching and JoCoR: reproducible, JoCoR's joint loss as written,
its exact reduction to two cross-entropy networks, each batch's kept share on the forget-rate
schedule, and no read back to the host inside the batch loop."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from simulations.training import data, two_networks  # noqa: E402
from simulations.training.loop import Recipe, accuracy_summary, fit, fresh_model  # noqa: E402
from simulations.training.stages import Tensors  # noqa: E402
from simulations.training.two_networks import (  # noqa: E402
    coteaching,
    forget_schedule,
    jocor,
    jocor_loss,
    small_loss,
)


class Prep:
    """The clean and noisy labels ``_summary`` scores the kept set with."""

    def __init__(self, clean, noisy):
        self.clean, self.noisy = clean, noisy


def noisy_digits(n=300, rate=0.3, seed=0):
    """Digits, the first ``n`` with ``rate`` of their labels redrawn uniformly; 100 clean
    validation and 100 test images after them."""
    d = data.load("digits")
    rng = np.random.default_rng(seed)
    noisy = d.y[:n].copy()
    flip = rng.random(n) < rate
    noisy[flip] = rng.integers(0, 10, int(flip.sum()))

    def split(a, b):
        return torch.as_tensor(d.X[a:b]), torch.as_tensor(d.y[a:b])

    t = Tensors(
        torch.as_tensor(d.X[:n]),
        torch.as_tensor(noisy),
        split(n, n + 100),
        split(n + 100, n + 200),
        (64,),
        10,
    )
    return t, Prep(d.y[:n], noisy)


def recording_fresh_models(monkeypatch) -> list:
    """The networks the two-network arms build, in order."""
    made = []
    original = two_networks.fresh_model

    def record(*args, **kwargs):
        made.append(original(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(two_networks, "fresh_model", record)
    return made


def test_forget_schedule_rises_linearly_over_the_ramp_then_holds():
    np.testing.assert_allclose(forget_schedule(0.5, 3, 5), [0.0, 0.25, 0.5, 0.5, 0.5])
    np.testing.assert_array_equal(forget_schedule(0.4, 0, 3), [0.4, 0.4, 0.4])
    np.testing.assert_array_equal(forget_schedule(0.4, 1, 2), [0.0, 0.4])
    np.testing.assert_allclose(forget_schedule(0.3, 10, 2), [0.0, 0.3 / 9])


def test_small_loss_keeps_the_smallest_share_and_at_least_one():
    loss = torch.tensor([0.5, 0.1, 0.9, 0.3, 0.7])
    assert small_loss(loss, 0.4).tolist() == [1, 3, 0]  # int(0.6 * 5) = 3
    assert small_loss(loss, 0.0).tolist() == [1, 3, 0, 4, 2]
    assert small_loss(loss, 1.0).tolist() == [1]


def test_jocor_loss_is_the_authors_joint_loss_by_hand():
    logits1 = np.array([[2.0, -1.0, 0.5], [0.0, 0.3, -0.2]])
    logits2 = np.array([[1.0, 0.0, -1.5], [-0.4, 1.2, 0.1]])
    y = np.array([0, 2])
    lam = 0.9

    def log_softmax(z):
        return z - np.log(np.exp(z).sum(1, keepdims=True))

    l1, l2 = log_softmax(logits1), log_softmax(logits2)
    rows = np.arange(2)
    ce = -l1[rows, y] - l2[rows, y]
    kl_12 = (np.exp(l1) * (l1 - l2)).sum(1)  # KL(p1 || p2)
    kl_21 = (np.exp(l2) * (l2 - l1)).sum(1)
    want = (1 - lam) * ce + lam * (kl_12 + kl_21)

    def joint(a, b):
        a = torch.tensor(a, dtype=torch.float32)
        b = torch.tensor(b, dtype=torch.float32)
        return jocor_loss(a, b, torch.as_tensor(y), lam).numpy()

    np.testing.assert_allclose(joint(logits1, logits2), want, rtol=1e-6)
    np.testing.assert_allclose(joint(logits2, logits1), want, rtol=1e-6)  # symmetric
    same = torch.tensor(logits1, dtype=torch.float32)
    np.testing.assert_allclose(
        jocor_loss(same, same, torch.as_tensor(y), 1.0).numpy(), 0.0, atol=1e-7
    )


def test_the_co_regularisation_reaches_both_networks():
    a = torch.tensor([[2.0, -1.0, 0.5]], requires_grad=True)
    b = torch.tensor([[1.0, 0.0, -1.5]], requires_grad=True)
    jocor_loss(a, b, torch.tensor([0]), 1.0).sum().backward()  # the KL terms alone
    assert a.grad.abs().sum() > 0 and b.grad.abs().sum() > 0
    np.testing.assert_allclose(a.grad.sum(), 0.0, atol=1e-6)  # softmax gradients sum to 0


@pytest.mark.parametrize("arm", [jocor, coteaching])
def test_the_same_seed_gives_the_same_result(arm):
    t, prep = noisy_digits()
    runs = [
        arm("mlp", t, Recipe(epochs=3), seed=s, forget_rate=0.3, ramp=2, prep=prep, progress=False)
        for s in (4, 4, 5)
    ]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert set(runs[0]) == {
        "best_val",
        "best_epoch",
        "last",
        "train_size",
        "train_precision",
        "forget_rate",
    }


@pytest.mark.parametrize("arm", [jocor, coteaching])
def test_without_forgetting_each_network_is_a_cross_entropy_network(arm, monkeypatch):
    # forget rate 0 keeps every sample; with co_lambda 0 JoCoR's joint loss is CE_1 + CE_2,
    # whose gradient in network k's weights is that of CE_k alone, and one SGD over both
    # networks updates each parameter as its own SGD would: each network is bit for bit the
    # one fit() trains from its seed on the same batch order (Co-teaching's peer share is then
    # the whole batch)
    t, prep = noisy_digits()
    recipe = Recipe(epochs=3, batch=48)
    made = recording_fresh_models(monkeypatch)
    extra = {"co_lambda": 0.0} if arm is jocor else {}
    got = arm("mlp", t, recipe, seed=7, forget_rate=0.0, ramp=2, prep=prep, progress=False, **extra)
    assert got["train_size"] == 300 and got["train_precision"] == float(
        (prep.clean == prep.noisy).mean()
    )
    for k, net in enumerate(made):
        alone = fresh_model("mlp", (64,), 10, 7 + k, torch.device("cpu"))
        f = fit(alone, t.X_train, t.y_train, recipe, seed=7, val=t.val, test=t.test)
        for p, q in zip(net.parameters(), alone.parameters(), strict=True):
            assert torch.equal(p, q)
        if k == 0:  # the accuracies are the first network's
            assert {key: got[key] for key in ("best_val", "best_epoch", "last")} == (
                accuracy_summary(f)
            )


def test_jocor_with_co_regularisation_is_not_two_cross_entropy_networks(monkeypatch):
    t, prep = noisy_digits()
    recipe = Recipe(epochs=1)
    made = recording_fresh_models(monkeypatch)
    jocor("mlp", t, recipe, seed=7, forget_rate=0.0, ramp=1, prep=prep, progress=False)
    alone = fresh_model("mlp", (64,), 10, 7, torch.device("cpu"))
    fit(alone, t.X_train, t.y_train, recipe, seed=7)
    assert not torch.equal(made[0][1].weight, alone[1].weight)


@pytest.mark.parametrize("arm, per_batch", [(jocor, 1), (coteaching, 2)])
def test_each_batch_keeps_the_scheduled_share(arm, per_batch, monkeypatch):
    t, prep = noisy_digits(n=100)
    epochs, batch, rate, ramp = 4, 32, 0.5, 3
    calls = []
    original = two_networks.small_loss

    def record(loss, r):
        kept = original(loss, r)
        calls.append((r, loss.numel(), kept.numel()))
        return kept

    monkeypatch.setattr(two_networks, "small_loss", record)
    got = arm(
        "mlp",
        t,
        Recipe(epochs=epochs, batch=batch),
        seed=1,
        forget_rate=rate,
        ramp=ramp,
        prep=prep,
        progress=False,
    )
    sizes = [32, 32, 32, 4]
    schedule = [0.0, 0.25, 0.5, 0.5]
    want = [
        (r, b, max(1, int((1 - r) * b))) for r in schedule for b in sizes for _ in range(per_batch)
    ]
    assert calls == want
    assert [kept for *_, kept in want[-4 * per_batch :: per_batch]] == [16, 16, 16, 2]
    assert got["train_size"] == 16 + 16 + 16 + 2  # the batches of an epoch are disjoint


def count_host_reads(monkeypatch) -> list:
    """Count every way a tensor's values reach the host: item, cpu, numpy, tolist and the
    conversions to Python scalars, booleans and numpy arrays."""
    calls = []
    for name in ("item", "cpu", "numpy", "tolist", "__bool__", "__float__", "__int__", "__array__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, **kwargs):
            calls.append(1)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return calls


@pytest.mark.parametrize("arm", [jocor, coteaching])
def test_no_host_read_inside_the_batch_loop(arm, monkeypatch):
    # 16 batches an epoch or 4: the reads to the host are the same in number, so none of them
    # happens batch by batch
    t, prep = noisy_digits(n=256)
    counts = []
    for batch in (16, 64):
        with monkeypatch.context() as m:
            calls = count_host_reads(m)
            arm(
                "mlp",
                t,
                Recipe(epochs=2, batch=batch),
                seed=0,
                forget_rate=0.25,
                ramp=2,
                prep=prep,
                progress=False,
            )
        counts.append(len(calls))
    assert counts[0] == counts[1]
    assert counts[0] <= 4 * 2 + 1  # val and test accuracy each epoch, the kept set once
