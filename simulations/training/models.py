"""The networks the trainer fits: an MLP for vectors, a small CNN and a ResNet-14 for images."""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F
from torch import nn

from theory.errors import InputError


def mlp(inputs: int, classes: int, hidden: int = 256) -> nn.Module:
    """Two hidden layers; images are flattened first.

    Parameters
    ----------
    inputs : int
        Features of one flattened sample.
    classes : int
        Logits out.
    hidden : int
        Width of each hidden layer.

    Returns
    -------
    torch.nn.Module
        ``(batch, *shape)`` float32 in, ``(batch, classes)`` float32 logits out.
    """
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(inputs, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, classes),
    )


def conv_bn(cin: int, cout: int) -> nn.Sequential:
    """A 3 x 3 convolution (padding 1, no bias), batch norm and ReLU.

    Parameters
    ----------
    cin, cout : int
        Channels in and out.

    Returns
    -------
    torch.nn.Sequential
        ``(batch, cin, h, w)`` in, ``(batch, cout, h, w)`` out.
    """
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
    )


def small_cnn(channels: int, classes: int, width: int = 32) -> nn.Module:
    """Three ``conv_bn`` stages (``width``, 2 and 4 times it), max-pooled between, then global
    average pooling and a linear layer.

    Parameters
    ----------
    channels : int
        Image channels.
    classes : int
        Logits out.
    width : int
        Channels of the first stage.

    Returns
    -------
    torch.nn.Module
        ``(batch, channels, h, w)`` float32 in, ``(batch, classes)`` float32 logits out.
    """
    return nn.Sequential(
        conv_bn(channels, width),
        nn.MaxPool2d(2),
        conv_bn(width, 2 * width),
        nn.MaxPool2d(2),
        conv_bn(2 * width, 4 * width),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4 * width, classes),
    )


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.skip = (
            nn.Identity()
            if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )

    def forward(self, x):
        return F.relu(self.body(x) + self.skip(x))


def resnet(channels: int, classes: int, width: int = 32) -> nn.Module:
    """A ResNet-14-style network (three stages of two blocks) for CIFAR-10 on a GPU.

    Parameters
    ----------
    channels, classes : int
        Channels of the images in, logits out.
    width : int
        Channels of the first stage (doubled at each of the two later ones).

    Returns
    -------
    torch.nn.Module
        ``(batch, channels, h, w)`` float32 in, ``(batch, classes)`` float32 logits out.
    """
    w = [width, 2 * width, 4 * width]
    layers = [conv_bn(channels, w[0])]
    cin = w[0]
    for k, cout in enumerate(w):
        layers += [_Block(cin, cout, 1 if k == 0 else 2), _Block(cout, cout, 1)]
        cin = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes))


def build_model(kind: str, shape: tuple, classes: int) -> nn.Module:
    """The network ``--model`` names, sized for the data.

    Parameters
    ----------
    kind : str
        ``"auto"`` (a CNN on images, an MLP on vectors), ``"mlp"``, ``"cnn"`` or ``"resnet"``.
    shape : tuple of int
        One sample's shape: ``(features,)`` for vectors, ``(channels, height, width)`` for
        images.
    classes : int
        Outputs of the last layer (one logit per class).

    Returns
    -------
    torch.nn.Module
        An ``nn.Sequential`` whose last layer is an ``nn.Linear`` with ``classes`` outputs,
        freshly initialised from torch's global generator, on the CPU.

    Raises
    ------
    InputError
        For an unknown ``kind``, or an image model asked for on vector data.
    """
    image = len(shape) == 3
    if kind == "auto":
        kind = "cnn" if image else "mlp"
    if kind == "mlp":
        return mlp(int(np.prod(shape)), classes)
    if not image:
        raise InputError(f"model {kind!r} needs image data; this data set has vectors")
    if kind == "cnn":
        return small_cnn(shape[0], classes)
    if kind == "resnet":
        return resnet(shape[0], classes)
    raise InputError(f"unknown model {kind!r}; choose auto, mlp, cnn or resnet")
