"""The adapters over the one ``Recorder``: a Lightning callback, a Hugging Face Trainer that
records in ``compute_loss``, and the bridge from cleanlab's ``pred_probs``. Each run on a tiny
network built here (nothing downloaded) writes a run file that ``runfile.read`` and
``analyse`` take, and its last epoch's losses are the cross-entropy of the logits the network
gave each sample in that epoch, matched to the sample by its input (not by the index the
adapter read) and scored against the data set's own labels."""

import numpy as np
import pytest

from simulations.selection import analyse, runfile
from simulations.selection.cleanlab_bridge import label_losses, run_from_pred_probs, write_run
from theory import noise
from theory.errors import InputError

N, FEATURES, CLASSES, EPOCHS = 96, 6, 3, 3


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, FEATURES)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5)  # 3 classes, learnable
    flip = rng.random(N) < 0.2
    y[flip] = (y[flip] + 1) % CLASSES  # noisy labels
    return X, y


T = noise.pairwise(0.2, CLASSES)  # the noise _data draws, saved with each run for analyse


def _check_last_epoch(losses, seen, key_of, labels):
    """``seen``: (input, logits) per training batch of the last epoch, in order; ``key_of``
    maps an input row to its sample's position in the data set."""
    import torch

    want = np.full(N, np.nan)
    for inputs, logits in seen:
        pos = np.array([key_of[row.tobytes()] for row in inputs.numpy()])
        ce = torch.nn.functional.cross_entropy(
            logits.float(), torch.as_tensor(labels[pos]), reduction="none"
        )
        want[pos] = ce.numpy()
    assert not np.isnan(want).any()
    assert np.allclose(losses[:, -1], want, atol=1e-5)


def _analysable(path, noisy):
    run = runfile.read(path)
    assert run.n == N and run.epochs == EPOCHS and run.classes == CLASSES
    assert np.array_equal(run.noisy, noisy)
    record, masks = analyse.analyse(run, bootstrap=0)
    assert record["n"] == N and record["epochs"] == EPOCHS
    return run


# ---------------------------------------------------------------- Lightning


def _lightning_fit(tmp_path, dict_batch: bool, per_sample: bool):
    torch = pytest.importorskip("torch")
    pl = pytest.importorskip("lightning.pytorch")
    from simulations.training.lightning import SmallLossCallback

    X, y = _data()

    class Rows(torch.utils.data.Dataset):
        def __len__(self):
            return N

        def __getitem__(self, i):
            if dict_batch:
                return {"features": X[i], "target": y[i], "sample": i}
            return X[i], y[i], i

    seen = []

    class MLP(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(
                torch.nn.Linear(FEATURES, 16), torch.nn.ReLU(), torch.nn.Linear(16, CLASSES)
            )

        def training_step(self, batch, batch_idx):
            x, t = (batch["features"], batch["target"]) if dict_batch else batch[:2]
            logits = self.net(x)
            if self.current_epoch == EPOCHS - 1:
                seen.append((x.detach().clone(), logits.detach().clone()))
            loss = torch.nn.functional.cross_entropy(logits, t, reduction="none")
            out = {"loss": loss.mean(), "logits": logits}
            if per_sample:
                out["loss_per_sample"] = loss
            return out

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=0.05)

    keys = {"index_key": "sample", "label_key": "target"} if dict_batch else {}
    cb = SmallLossCallback(tmp_path / "run.npz", T=T, **keys)
    torch.manual_seed(0)
    trainer = pl.Trainer(
        max_epochs=EPOCHS,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=[cb],
    )
    loader = torch.utils.data.DataLoader(Rows(), batch_size=20, shuffle=True)  # last batch 16
    trainer.fit(MLP(), loader)
    return cb, seen, X, y


@pytest.mark.parametrize(
    ("dict_batch", "per_sample"), [(False, False), (True, True)], ids=["tuple", "dict"]
)
def test_the_lightning_callback_records_every_sample_every_epoch(tmp_path, dict_batch, per_sample):
    cb, seen, X, y = _lightning_fit(tmp_path, dict_batch, per_sample)
    run = _analysable(tmp_path / "run.npz", y)  # noisy taken from the batches
    assert run.logits.shape == (N, EPOCHS, CLASSES)
    assert run.losses[:, 0].mean() > run.losses[:, -1].mean()  # it learned
    _check_last_epoch(run.losses, seen, {row.tobytes(): i for i, row in enumerate(X)}, y)
    cb.save(tmp_path / "again.npz", noisy=y, clean=y)  # explicit save, more keys
    assert np.array_equal(runfile.read(tmp_path / "again.npz").clean, y)
    with pytest.raises(InputError, match="trained on labels other than"):
        cb.save(tmp_path / "wrong.npz", noisy=(y + 1) % CLASSES)


def test_the_lightning_callback_names_a_missing_output_or_key():
    torch = pytest.importorskip("torch")
    pytest.importorskip("lightning")
    from simulations.training.lightning import SmallLossCallback

    cb = SmallLossCallback(n=4)
    batch = (torch.zeros(2, 3), torch.tensor([0, 1]), torch.tensor([0, 1]))
    with pytest.raises(InputError, match="must return a dict with 'loss' and 'logits'"):
        cb.on_train_batch_end(None, None, torch.tensor(1.0), batch, 0)
    with pytest.raises(InputError, match="index key 'idx'"):
        cb.on_train_batch_end(None, None, {"logits": torch.zeros(2, 2)}, {"y": batch[1]}, 0)


def test_the_lightning_callback_never_waits_for_the_device_in_a_batch(monkeypatch):
    torch = pytest.importorskip("torch")
    pytest.importorskip("lightning")
    from simulations.training.lightning import SmallLossCallback

    cb = SmallLossCallback(n=8)
    reads = []
    for name in ("cpu", "item", "tolist", "numpy", "__bool__", "__int__", "__float__"):
        real = getattr(torch.Tensor, name)

        def counted(self, *a, _real=real, _name=name, **k):
            reads.append(_name)
            return _real(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, counted)
    for k in range(4):
        idx = torch.tensor([2 * k, 2 * k + 1])
        batch = (torch.zeros(2, 3), torch.tensor([0, 1]), idx)
        cb.on_train_batch_end(None, None, {"loss": None, "logits": torch.zeros(2, 2)}, batch, k)
    assert reads == []
    cb.on_train_epoch_end(None, None)
    assert reads.count("cpu") == 2  # the recorder's one copy of losses and logits


# ---------------------------------------------------------------- Hugging Face


def test_the_recording_trainer_records_every_sample_every_epoch(tmp_path):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    from simulations.training.huggingface import RecordingTrainer

    rng = np.random.default_rng(1)
    seq, vocab = 6, N + 10
    ids = rng.integers(10, vocab, (N, seq))
    ids[:, 0] = 1 + np.arange(N)  # every row unique; 0 is the padding
    _, y = _data(1)

    class Rows(torch.utils.data.Dataset):  # dict rows with a column BERT's forward lacks
        def __len__(self):
            return N

        def __getitem__(self, i):
            return {"input_ids": ids[i], "attention_mask": np.ones(seq, np.int64), "label": y[i]}

    class Indexed(Rows):
        def __getitem__(self, i):
            return {**super().__getitem__(i), "idx": i}

    config = transformers.BertConfig(
        vocab_size=vocab,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=seq,
        num_labels=CLASSES,
        hidden_dropout_prob=0.0,  # the recomputation below sees the same network
        attention_probs_dropout_prob=0.0,
    )
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config)
    seen, epoch = [], {"now": 0}

    def hook(module, args, kwargs, output):
        if module.training and epoch["now"] == EPOCHS - 1:
            seen.append((kwargs["input_ids"].detach().clone(), output.logits.detach().clone()))

    model.register_forward_hook(hook, with_kwargs=True)

    class Epochs(transformers.TrainerCallback):
        def on_epoch_end(self, args, state, control, **kwargs):
            epoch["now"] += 1

    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "hf"),
        num_train_epochs=EPOCHS,
        per_device_train_batch_size=20,  # the last batch 16
        learning_rate=5e-3,
        report_to=[],
        save_strategy="no",
        logging_strategy="no",
        use_cpu=True,
        seed=0,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    assert args.remove_unused_columns  # the default: "idx" must survive it
    trainer = RecordingTrainer(
        model=model,
        args=args,
        train_dataset=Indexed(),
        callbacks=[Epochs()],
        run_path=tmp_path / "run.npz",
        run_arrays={"clean": y, "T": T},
    )
    trainer.train()
    run = _analysable(tmp_path / "run.npz", y)
    assert np.array_equal(run.clean, y)
    assert run.logits.shape == (N, EPOCHS, CLASSES)
    _check_last_epoch(run.losses, seen, {row.tobytes(): i for i, row in enumerate(ids)}, y)
    # evaluation batches carry the column too, and are not recorded
    metrics = trainer.evaluate(Indexed())
    assert np.isfinite(metrics["eval_loss"]) and trainer.recording.recorder.epochs == EPOCHS
    # without the index column the trainer says what is missing
    bare = RecordingTrainer(model=model, args=args, train_dataset=Rows())
    with pytest.raises(InputError, match="no column 'idx'"):
        bare.train()


def test_the_recording_trainer_refuses_labels_not_trained_on(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from simulations.training.huggingface import SampleRecording

    rec = SampleRecording(n=4)
    rec.update(torch.tensor([2, 0, 1, 3]), torch.randn(4, 3), torch.tensor([1, 0, 2, 2]))
    rec.end_epoch()
    with pytest.raises(InputError, match="trained on labels other than"):
        rec.save(tmp_path / "run.npz", noisy=np.array([0, 1, 1, 2]))
    rec.save(tmp_path / "run.npz", noisy=np.array([0, 2, 1, 2]))  # position i's label
    assert np.array_equal(runfile.read(tmp_path / "run.npz").noisy, [0, 2, 1, 2])


# ---------------------------------------------------------------- cleanlab


def test_the_cleanlab_bridge_makes_a_run_that_analyse_reads(tmp_path):
    rng = np.random.default_rng(2)
    n, c = 2_000, 4
    clean = rng.integers(0, c, n)
    labels = np.where(rng.random(n) < 0.25, (clean + 1) % c, clean)
    logits = 2.5 * np.eye(c)[clean] + rng.normal(size=(n, c))
    pred_probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    pred_probs[0] = np.eye(c)[(labels[0] + 1) % c]  # a zero for the label: clipped, finite
    run = run_from_pred_probs(labels, pred_probs, clean=clean)
    assert run["losses"].shape == (n, 1) and run["losses"].dtype == np.float32
    want = -np.log(np.clip(pred_probs[np.arange(n), labels], 1e-12, 1))
    assert np.allclose(run["losses"][:, 0], want, rtol=1e-6)
    assert np.isclose(run["losses"][0, 0], -np.log(1e-12), rtol=1e-6)
    checked = runfile.from_arrays(run)
    assert checked.epochs == 1 and checked.probs.shape == (n, c)
    record, masks = analyse.analyse(checked, estimate="confident", bootstrap=0)
    # the small -log p(label) are mostly clean: every loss criterion beats the noise rate
    for name in ("global", "classwise"):
        assert record["criteria"][name]["observed_precision"] > 0.9, name
    np.savez(tmp_path / "run.npz", **run)  # what the README tells a cleanlab user to do
    assert runfile.read(tmp_path / "run.npz").n == n
    write_run(tmp_path / "written.npz", labels, pred_probs, losses=np.stack([want, want], 1))
    assert runfile.read(tmp_path / "written.npz").epochs == 2


def test_the_cleanlab_bridge_names_bad_inputs():
    p = np.array([[0.9, 0.1], [0.2, 0.8]])
    with pytest.raises(InputError, match="outside the 2 columns"):
        label_losses([0, 2], p)
    with pytest.raises(InputError, match="expected"):
        label_losses([0, 1, 1], p)
    with pytest.raises(InputError, match="probs"):
        run_from_pred_probs([0, 1], np.array([[0.9, 0.3], [0.2, 0.8]]))
