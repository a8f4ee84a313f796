"""``SmallLossCallback``: the ``Recorder`` as a PyTorch Lightning callback, so that a
LightningModule's training run writes the run file ``smallloss analyse`` reads.

The conventions (the callback reads nothing else):

- **the batch carries each sample's index**, its position in the training set (0..n-1, the
  row it gets in the run file): a tuple batch ``(x, y, idx)`` (labels at ``label_key=1``,
  indices at ``index_key=-1``, the last), or a dict batch ``{"x": ..., "y": ..., "idx":
  ...}`` (``label_key="y"``, ``index_key="idx"``); both keys are settable, an ``int`` for a
  tuple batch, a ``str`` for a dict batch;
- **``training_step`` returns a dict** with ``"loss"`` (what Lightning steps on, as usual),
  ``"logits"`` (b, c), the network's outputs before the softmax, and optionally
  ``"loss_per_sample"`` (b,), the loss with ``reduction="none"``; without it the callback
  takes the cross-entropy of the logits and the batch's labels. (``self.log`` takes scalars
  only, so the per-sample values travel in the returned dict.)

``on_train_batch_end`` hands the batch to ``Recorder.update``, which keeps it on the device
(no host sync per batch); ``on_train_epoch_end`` ends the recorder's epoch (one copy to the
host); ``on_train_end`` writes the run file where ``path`` was given, else call ``save``.
The labels are taken from the batches, so ``noisy`` need not be passed; where it is, a
sample trained on another label is an error (indices that are not the samples' positions).

Single process only: under DDP each rank sees a share of the samples, which ``setup``
refuses. The recorded epochs are not in Lightning's checkpoints: a resumed run starts the
recording again.
"""

from __future__ import annotations

from collections.abc import Mapping

import lightning.pytorch as pl
import torch

from simulations.training.recorder import Recorder, labels_to_save
from theory.errors import InputError


def _pick(batch, key, what: str):
    """The batch's entry ``key``: a dict key or a tuple position."""
    if isinstance(batch, Mapping):
        if not isinstance(key, str) or key not in batch:
            raise InputError(
                f"the batch is a dict with keys {sorted(map(str, batch))}; its {what} key "
                f"{key!r} is not one of them (pass {what}_key=...)"
            )
        return batch[key]
    if isinstance(batch, list | tuple):
        if not isinstance(key, int) or not -len(batch) <= key < len(batch):
            raise InputError(
                f"the batch is a sequence of {len(batch)}; its {what} position {key!r} is not "
                f"in it (pass {what}_key=<int>, e.g. -1 for the last of (x, y, idx))"
            )
        return batch[key]
    raise InputError(
        f"the batch is a {type(batch).__name__}: expected a tuple (x, y, idx) or a dict "
        "with the samples' indices"
    )


class SmallLossCallback(pl.Callback):
    """Every training sample's loss (and logits) each epoch, saved as a run file.

    Parameters
    ----------
    path : str or Path, optional
        Where ``on_train_end`` writes the run file; without it, call ``save(path)``.
    n : int, optional
        Samples in the training set; default ``len(trainer.train_dataloader.dataset)``.
    index_key, label_key : int or str, optional
        Where the batch holds the samples' indices and labels: defaults ``-1`` and ``1`` for
        a tuple batch, ``"idx"`` and ``"y"`` for a dict batch.
    logits : bool
        Also keep the logits (AUM; losses recomputable from them), (n, E, c) floats.
    **arrays
        Other keys of the run format saved with the run (``probe``, ``clean``, ``T``, ...).
    """

    def __init__(
        self,
        path=None,
        *,
        n: int | None = None,
        index_key: int | str | None = None,
        label_key: int | str | None = None,
        logits: bool = True,
        **arrays,
    ):
        super().__init__()
        self.path, self.n = path, n
        self.index_key, self.label_key = index_key, label_key
        self.keep_logits, self.arrays = logits, arrays
        self.recorder: Recorder | None = None
        self._labels: torch.Tensor | None = None  # (n,) the label each sample trained on

    def _keys(self, batch) -> tuple:
        mapping = isinstance(batch, Mapping)
        index = self.index_key if self.index_key is not None else ("idx" if mapping else -1)
        label = self.label_key if self.label_key is not None else ("y" if mapping else 1)
        return index, label

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage == "fit" and trainer.world_size > 1:
            raise InputError(
                f"SmallLossCallback records in one process; this trainer runs {trainer.world_size}"
                " (each would see a share of the samples)"
            )

    def on_train_start(self, trainer, pl_module) -> None:
        if self.n is None:
            dataset = getattr(trainer.train_dataloader, "dataset", None)
            if dataset is None or not hasattr(dataset, "__len__"):
                raise InputError(
                    "the training set's size is unknown: pass SmallLossCallback(n=...)"
                )
            self.n = len(dataset)
        self.recorder, self._labels = None, None  # a new fit records afresh

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not isinstance(outputs, Mapping) or "logits" not in outputs:
            got = sorted(outputs) if isinstance(outputs, Mapping) else type(outputs).__name__
            raise InputError(
                "training_step must return a dict with 'loss' and 'logits' (b, c), and "
                f"optionally 'loss_per_sample' (b,), for SmallLossCallback; it returned {got}"
            )
        index_key, label_key = self._keys(batch)
        index, labels = _pick(batch, index_key, "index"), _pick(batch, label_key, "label")
        logits = outputs["logits"]
        if self.recorder is None:
            self.recorder = Recorder(
                self.n, logits.shape[-1], device=logits.device, logits=self.keep_logits
            )
            self._labels = torch.full((self.n,), -1, dtype=torch.long, device=logits.device)
        index = torch.as_tensor(index, device=self.recorder.device)
        self.recorder.update(index, logits, labels, outputs.get("loss_per_sample"))
        self._labels[index] = torch.as_tensor(labels, device=self._labels.device).long()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.recorder is not None:
            self.recorder.end_epoch()

    def on_train_end(self, trainer, pl_module) -> None:
        if self.path is not None and trainer.is_global_zero:
            self.save(self.path)

    def save(self, path, noisy=None, **arrays) -> None:
        """Write the run file: the recorded losses (and logits), ``noisy`` (default: the
        labels the batches carried) and any other key of the run format."""
        if self.recorder is None:
            raise InputError("SmallLossCallback recorded nothing: was it in Trainer(callbacks=)?")
        noisy = labels_to_save(
            self._labels.cpu().numpy(),
            noisy,
            "(are the batch's indices the samples' positions in the training set?)",
        )
        self.recorder.save(path, noisy=noisy, **{**self.arrays, **arrays})
