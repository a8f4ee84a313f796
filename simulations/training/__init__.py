"""Real data and the torch trainer (the only room that imports torch).

- ``data``: real data sets from local files (digits, npz, CIFAR-10, MNIST), splits, scaling,
  and a data set's own noisy labels;
- ``models``: the networks: an MLP, a small CNN, a ResNet-14, and ``build_model``;
- ``recorder``: ``Recorder``, per-sample losses and logits from any PyTorch loop, saved in the
  run format ``smallloss analyse`` reads;
- ``probes``: ``make_probes``, annotated validation items to train on as probes;
- ``loop``: the training loop with every sample's loss recorded each epoch, the device, the
  recipe;
- ``two_networks``: two networks trained together on each batch's small-loss share
  (Co-teaching, JoCoR);
- ``stages``: the torch stages: stage 1, the clean-trained fold models, out-of-fold
  probabilities, the stage-2 arms;
- ``arms``: the stage-2 arms' registry: what each trains on, how, and how figures draw it;
- ``config``: ``TrainConfig``, one loop's settings, each declared once (default, help, range)
  and checked by parameter name;
- ``prepare``: stage 0, the split, scaling, noisy labels and probes;
- ``report``: a training run's record, and several seeds' records in one;
- ``run``: the real-data loop (numpy only at import): stage 1, the run file, ``analyse``,
  stage 2, several seeds;
- ``bench_trainer``: the trainer's timings for ``smallloss bench``.
"""

import lazy_loader

__all__ = [
    "data",
    "models",
    "recorder",
    "probes",
    "loop",
    "two_networks",
    "stages",
    "arms",
    "config",
    "prepare",
    "report",
    "run",
    "bench_trainer",
]

__getattr__, __dir__, _ = lazy_loader.attach(__name__, submodules=__all__)
