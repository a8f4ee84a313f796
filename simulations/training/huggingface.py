"""The ``Recorder`` under Hugging Face's ``Trainer``: ``RecordingTrainer`` (or
``RecordingMixin`` over a ``Trainer`` subclass of your own) records every training sample's
loss and logits in ``compute_loss``, and ``SmallLossTrainerCallback`` ends the recorder's
epochs and writes the run file ``smallloss analyse`` reads.

A ``TrainerCallback`` never sees the model's outputs, so the recording is in ``compute_loss``:
it takes the batch's sample indices out of the inputs (the column ``index_key``, default
``"idx"``: each row's position in ``train_dataset``, 0..n-1), calls the parent's
``compute_loss`` (your loss, label smoothing and all, untouched), and hands the outputs'
logits and the batch's ``labels`` to ``Recorder.update`` (the loss recorded is the plain
cross-entropy of those logits, on the device: no host sync per batch).

The index column survives ``remove_unused_columns`` (the default, which drops every column
that the model's ``forward`` does not take, from a ``datasets.Dataset`` and from dict rows
alike): the mixin adds ``index_key`` to the columns the Trainer keeps, and takes it out of the
inputs before the model sees them. With a Trainer that does not use the mixin, pass
``TrainingArguments(remove_unused_columns=False)`` and pop the column yourself.

Classification with one label per row (logits (b, c)); single process (under several
processes each would see a share of the samples, which the callback refuses).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from transformers import Trainer, TrainerCallback

from simulations.training.recorder import Recorder, labels_to_save
from theory.errors import InputError


class SampleRecording:
    """A ``Recorder`` made at the first batch (its classes and device from the logits), and
    the label each sample was trained on, which ``save`` writes as ``noisy``.

    ``update(index, logits, labels)`` is what a ``compute_loss`` of your own calls."""

    def __init__(self, n: int | None = None, logits: bool = True):
        self.n, self.keep_logits = n, logits
        self.recorder: Recorder | None = None
        self._labels: torch.Tensor | None = None

    def update(self, index, logits: torch.Tensor, labels: torch.Tensor, loss=None) -> None:
        if self.n is None:
            raise InputError("the training set's size is unknown: pass n=...")
        if logits.ndim != 2:
            raise InputError(
                f"logits of shape {tuple(logits.shape)}: the recording takes one label per row, "
                "logits (batch, classes)"
            )
        if self.recorder is None:
            self.recorder = Recorder(
                self.n, logits.shape[-1], device=logits.device, logits=self.keep_logits
            )
            self._labels = torch.full((self.n,), -1, dtype=torch.long, device=logits.device)
        index = torch.as_tensor(index, device=self.recorder.device)
        labels = torch.as_tensor(labels, device=self._labels.device).long()
        self.recorder.update(index, logits, labels, loss)
        self._labels[index] = labels

    def end_epoch(self) -> None:
        if self.recorder is not None:
            self.recorder.end_epoch()

    def save(self, path, noisy=None, **arrays) -> None:
        """The run file: the recorded losses (and logits), ``noisy`` (default: the labels the
        batches carried; where given, a sample trained on another label is an error) and
        any other key of the run format (``probe``, ``clean``, ``T``, ...)."""
        if self.recorder is None:
            raise InputError("nothing was recorded: train with RecordingTrainer first")
        noisy = labels_to_save(
            self._labels.cpu().numpy(),
            noisy,
            "(is the index column each row's position in train_dataset?)",
        )
        self.recorder.save(path, noisy=noisy, **arrays)


class SmallLossTrainerCallback(TrainerCallback):
    """Ends the recording's epoch at each epoch's end and, where ``path`` is given, writes
    the run file when training ends (``**arrays``: other keys of the run format)."""

    def __init__(self, recording: SampleRecording, path=None, **arrays):
        self.recording, self.path, self.arrays = recording, path, arrays

    def on_train_begin(self, args, state, control, **kwargs):
        if args.world_size > 1:
            raise InputError(
                f"the small-loss recording runs in one process; this run has {args.world_size}"
            )
        self.recording.recorder, self.recording._labels = None, None  # a new run afresh

    def on_epoch_end(self, args, state, control, **kwargs):
        self.recording.end_epoch()

    def on_train_end(self, args, state, control, **kwargs):
        if self.path is not None and state.is_world_process_zero:
            self.recording.save(self.path, **self.arrays)


class RecordingMixin:
    """``compute_loss`` that records each training batch; put it before a ``Trainer`` class:
    ``class MyTrainer(RecordingMixin, MyOwnTrainer)``.

    Keywords (the others go to the Trainer): ``run_path`` (the run file, written when
    training ends; else ``save_run(path)``), ``index_key`` (the sample-index column, default
    ``"idx"``), ``n`` (default ``len(train_dataset)``), ``record_logits`` (default True),
    ``run_arrays`` (a dict of other run keys written with it)."""

    def __init__(
        self,
        *args,
        run_path=None,
        index_key: str = "idx",
        n: int | None = None,
        record_logits: bool = True,
        run_arrays: dict | None = None,
        **kwargs,
    ):
        self.index_key = index_key  # before the Trainer's set-up, which may read the columns
        super().__init__(*args, **kwargs)
        if n is None and self.train_dataset is not None and hasattr(self.train_dataset, "__len__"):
            n = len(self.train_dataset)
        self.recording = SampleRecording(n, logits=record_logits)
        self.add_callback(SmallLossTrainerCallback(self.recording, run_path, **(run_arrays or {})))

    def _set_signature_columns_if_needed(self):
        # the columns remove_unused_columns keeps: the model's arguments, the labels, and ours
        super()._set_signature_columns_if_needed()
        if self.index_key not in self._signature_columns:
            self._signature_columns.append(self.index_key)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        index = inputs.pop(self.index_key, None)
        labels = inputs.get("labels")
        loss, outputs = super().compute_loss(
            model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
        )
        if model.training:
            if index is None:
                raise InputError(
                    f"the training batch has no column {self.index_key!r} (each row's position "
                    f"in train_dataset); its keys: {sorted(inputs)}"
                )
            if labels is None:
                raise InputError("the training batch has no 'labels' to record the loss of")
            logits = outputs["logits"] if isinstance(outputs, Mapping) else outputs[1]
            self.recording.update(index, logits, labels)
        return (loss, outputs) if return_outputs else loss

    def prediction_step(self, model, inputs, *args, **kwargs):
        # evaluation batches keep the index column too: the model must not see it
        inputs = {k: v for k, v in inputs.items() if k != self.index_key}
        return super().prediction_step(model, inputs, *args, **kwargs)

    def save_run(self, path, noisy=None, **arrays) -> None:
        """Write the run file now (``SampleRecording.save``)."""
        self.recording.save(path, noisy=noisy, **arrays)


class RecordingTrainer(RecordingMixin, Trainer):
    """Hugging Face's ``Trainer`` with every training sample's loss and logits recorded each
    epoch (``RecordingMixin``'s keywords: ``run_path``, ``index_key``, ``n``, ...)."""
