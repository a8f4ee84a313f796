"""Real data and the torch trainer (the only room that imports torch).

- ``data``: real data sets from local files (digits, npz, CIFAR-10, MNIST), splits, scaling;
- ``models``: the networks: an MLP, a small CNN, a ResNet-14, and ``build_model``;
- ``loop``: the training loop with every sample's loss recorded each epoch, the device, the
  recipe;
- ``stages``: the training stages of the pipeline: stage 1, the clean-trained model,
  out-of-fold probabilities, the stage-2 arms, Co-teaching;
- ``two_networks``: two networks trained together on each batch's small-loss share (Co-teaching);
- ``pipeline``: the real-data loop in stages (numpy only at import), several seeds;
- ``bench_trainer``: the trainer's timings for ``smallloss bench``.
"""

from simulations import lazy_modules

__all__ = ["data", "models", "loop", "two_networks", "stages", "pipeline", "bench_trainer"]

__getattr__ = lazy_modules(__name__, __all__)
