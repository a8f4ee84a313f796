"""A recorder for any PyTorch training loop: every sample's loss (and logits) each epoch, kept
on the device during the epoch and copied to the host once at its end, then saved in the run
format (``simulations.selection.runfile``) that ``smallloss analyse`` reads.

>>> import torch
>>> rec = Recorder(n=4, classes=3)
>>> for epoch in range(2):
...     for idx in (torch.tensor([0, 1]), torch.tensor([2, 3])):
...         logits = torch.zeros(2, 3)
...         rec.update(idx, logits, torch.tensor([0, 1]))
...     rec.end_epoch()
>>> rec.losses.shape, rec.logits.shape
((4, 2), (4, 2, 3))
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from simulations.selection import runfile
from theory.errors import InputError


class Recorder:
    """Per-sample losses and logits of one training run, epoch by epoch.

    Parameters
    ----------
    n : int
        Samples in the training set (probes included); ``update`` takes their indices.
    classes : int
        Outputs of the network.
    device : str or torch.device
        Where the epoch's buffers live (the training device): ``update`` never syncs.
    logits : bool
        Also keep the logits (needed for AUM and for losses recomputed from outputs).
    """

    def __init__(self, n: int, classes: int, device="cpu", logits: bool = True):
        self.n, self.classes = int(n), int(classes)
        self.device = torch.device(device)
        self._loss = torch.full((self.n,), float("nan"), device=self.device)
        self._logits = (
            torch.full((self.n, self.classes), float("nan"), device=self.device) if logits else None
        )
        self._epochs_loss: list[np.ndarray] = []
        self._epochs_logits: list[np.ndarray] = []

    def update(self, index, logits: torch.Tensor, targets: torch.Tensor, loss=None) -> None:
        """Record a batch: ``index`` (b,) the samples' positions, ``logits`` (b, c) the
        network's outputs, ``targets`` (b,) the labels trained on; ``loss`` (b,), the
        per-sample loss where the loop computed it already (``reduction='none'``)."""
        with torch.no_grad():
            index = torch.as_tensor(index, device=self.device)
            if loss is None:
                loss = F.cross_entropy(logits.detach().float(), targets, reduction="none")
            self._loss[index] = loss.detach().to(self._loss.dtype)
            if self._logits is not None:
                self._logits[index] = logits.detach().to(self._logits.dtype)

    def end_epoch(self) -> None:
        """Copy the epoch's losses (and logits) to the host, once, and start the next epoch."""
        self._epochs_loss.append(self._loss.cpu().numpy().copy())
        self._loss.fill_(float("nan"))
        if self._logits is not None:
            self._epochs_logits.append(self._logits.cpu().numpy().copy())
            self._logits.fill_(float("nan"))

    @property
    def epochs(self) -> int:
        return len(self._epochs_loss)

    @property
    def losses(self) -> np.ndarray:
        """(n, E) float32: every sample's loss at each finished epoch."""
        if not self._epochs_loss:
            return np.zeros((self.n, 0), np.float32)
        return np.stack(self._epochs_loss, axis=1).astype(np.float32, copy=False)

    @property
    def logits(self) -> np.ndarray | None:
        """(n, E, c) float32, or None when the recorder keeps no logits."""
        if self._logits is None:
            return None
        if not self._epochs_logits:
            return np.zeros((self.n, 0, self.classes), np.float32)
        return np.stack(self._epochs_logits, axis=1).astype(np.float32, copy=False)

    def save(self, path, noisy, **arrays) -> None:
        """Write the run file: ``noisy`` (n,) the training labels, the recorded losses (and
        logits), and any other key of the run format (``probe``, ``clean``, ``probs``,
        ``val_logits``, ``val_clean``, ``T``, ``prior``, ...). It is checked as ``analyse``
        will read it before anything is written."""
        if self.epochs == 0:
            raise InputError("the recorder has no finished epoch: call end_epoch() each epoch")
        missing = np.isnan(self.losses)
        if missing.any():
            rows = int(missing.any(axis=1).sum())
            raise InputError(
                f"{rows} sample(s) were not recorded in every epoch (a DataLoader with "
                "drop_last, or indices that are not the samples' positions?)"
            )
        full = {"noisy": np.asarray(noisy), "losses": self.losses, "logits": self.logits}
        full.update(arrays)
        full = {k: v for k, v in full.items() if v is not None}
        runfile.from_arrays(full)  # the same checks analyse makes: fail here, not there
        runfile.write(path, full)


def labels_to_save(seen: np.ndarray, noisy=None, hint: str = "") -> np.ndarray:
    """The ``noisy`` key an adapter saves: the labels its batches carried (``seen``, -1 where a
    sample never came), or the user's ``noisy``, which must agree with them wherever a sample
    came (a disagreement means the batches' indices are not the samples' positions)."""
    if noisy is None:
        return seen
    noisy = np.asarray(noisy)
    if noisy.shape != seen.shape:
        raise InputError(f"noisy: {noisy.size} labels for {seen.size} samples")
    other = (seen >= 0) & (seen != noisy)
    if other.any():
        raise InputError(
            f"{int(other.sum())} sample(s) were trained on labels other than noisy's {hint}"
        )
    return noisy
