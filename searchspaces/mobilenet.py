"""Static MobileNet-style networks: a layer-level description and its exact MAC/parameter counts.

The counting convention is the one OFA and torchvision report: a convolution costs
``in_channels / groups * k * k`` multiply-accumulates per output element, a linear layer
``in_features * out_features``; batch norm, activations, pooling and residual adds are free.
Parameters are every learnable tensor of the built module (batch-norm affine weights included).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CHANNEL_DIVISOR = 8


def make_divisible(value: float, divisor: int = CHANNEL_DIVISOR) -> int:
    """Round a channel count to a multiple of ``divisor`` without losing more than 10 %."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


@dataclass(frozen=True)
class Conv:
    in_ch: int
    out_ch: int
    kernel: int = 1
    stride: int = 1
    groups: int = 1
    bias: bool = False
    bn: bool = True
    act: str | None = None

    def out_size(self, size: int) -> int:
        return math.ceil(size / self.stride)

    def macs(self, size: int) -> int:
        return self.out_size(size) ** 2 * self.out_ch * self.in_ch // self.groups * self.kernel**2

    def params(self) -> int:
        weights = self.out_ch * self.in_ch // self.groups * self.kernel**2
        return weights + self.out_ch * (int(self.bias) + 2 * int(self.bn))


@dataclass(frozen=True)
class SqueezeExcite:
    channels: int
    reduction: int = 4

    @property
    def mid(self) -> int:
        return make_divisible(self.channels // self.reduction)

    def macs(self) -> int:
        return 2 * self.channels * self.mid

    def params(self) -> int:
        return 2 * self.channels * self.mid + self.mid + self.channels


@dataclass(frozen=True)
class MBConv:
    """Inverted residual block: optional 1x1 expansion, depthwise conv, optional SE, 1x1 projection."""

    in_ch: int
    out_ch: int
    kernel: int
    stride: int
    mid_ch: int
    act: str
    se: bool
    residual: bool
    expand: bool = True  # False for expand ratio 1: no 1x1 expansion conv at all

    @property
    def layers(self) -> tuple[Conv | None, Conv, SqueezeExcite | None, Conv]:
        expand = Conv(self.in_ch, self.mid_ch, act=self.act) if self.expand else None
        depthwise = Conv(self.mid_ch, self.mid_ch, self.kernel, self.stride, self.mid_ch, act=self.act)
        se = SqueezeExcite(self.mid_ch) if self.se else None
        return expand, depthwise, se, Conv(self.mid_ch, self.out_ch)

    def out_size(self, size: int) -> int:
        return math.ceil(size / self.stride)

    def macs(self, size: int) -> int:
        expand, depthwise, se, project = self.layers
        out = self.out_size(size)
        total = depthwise.macs(size) + project.macs(out)
        total += expand.macs(size) if expand else 0
        return total + (se.macs() if se else 0)

    def params(self) -> int:
        return sum(layer.params() for layer in self.layers if layer is not None)


@dataclass(frozen=True)
class Linear:
    in_features: int
    out_features: int
    bias: bool = True

    def macs(self) -> int:
        return self.in_features * self.out_features

    def params(self) -> int:
        return self.in_features * self.out_features + self.out_features * int(self.bias)


@dataclass(frozen=True)
class NetSpec:
    """A whole network: convs on the image, blocks, convs before pooling, convs after it, classifier."""

    stem: tuple[Conv, ...]
    blocks: tuple[MBConv, ...]
    pre_pool: tuple[Conv, ...]
    post_pool: tuple[Conv, ...]
    classifier: Linear

    def macs(self, resolution: int) -> int:
        size, total = resolution, 0
        for layer in (*self.stem, *self.blocks, *self.pre_pool):
            total += layer.macs(size)
            size = layer.out_size(size)
        total += sum(layer.macs(1) for layer in self.post_pool)
        return total + self.classifier.macs()

    def params(self) -> int:
        layers = (*self.stem, *self.blocks, *self.pre_pool, *self.post_pool, self.classifier)
        return sum(layer.params() for layer in layers)
