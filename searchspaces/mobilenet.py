"""Static MobileNet-style networks: a layer-level description, exact MAC/parameter counts, torch build.

The counting convention is the one OFA and torchvision report: a convolution costs
``in_channels / groups * k * k`` multiply-accumulates per output element, a linear layer
``in_features * out_features``; batch norm, activations, pooling and residual adds are free.
Parameters are every learnable tensor of the built module (batch-norm affine weights included).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

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


def _activation(name: str | None) -> nn.Module:
    table = {None: nn.Identity, "relu": nn.ReLU, "relu6": nn.ReLU6, "h_swish": nn.Hardswish}
    if name not in table:
        raise ValueError(f"unknown activation {name!r}")
    return table[name]()


def _conv_module(conv: Conv) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(conv.in_ch, conv.out_ch, conv.kernel, conv.stride, conv.kernel // 2,
                  groups=conv.groups, bias=conv.bias)
    ]
    if conv.bn:
        layers.append(nn.BatchNorm2d(conv.out_ch))
    layers.append(_activation(conv.act))
    return nn.Sequential(*layers)


class _SEModule(nn.Module):
    def __init__(self, se: SqueezeExcite) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(se.channels, se.mid, 1, bias=True)
        self.expand = nn.Conv2d(se.mid, se.channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3), keepdim=True)
        scale = nn.functional.hardsigmoid(self.expand(nn.functional.relu(self.reduce(scale))))
        return x * scale


class _MBConvModule(nn.Module):
    def __init__(self, block: MBConv) -> None:
        super().__init__()
        expand, depthwise, se, project = block.layers
        layers = [_conv_module(expand)] if expand else []
        layers.append(_conv_module(depthwise))
        layers += [_SEModule(se)] if se else []
        layers.append(_conv_module(project))
        self.body = nn.Sequential(*layers)
        self.residual = block.residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return out + x if self.residual else out


class MobileNet(nn.Module):
    """The torch module a :class:`NetSpec` describes (random weights; for counting and export)."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        self.features = nn.Sequential(
            *(_conv_module(c) for c in spec.stem),
            *(_MBConvModule(b) for b in spec.blocks),
            *(_conv_module(c) for c in spec.pre_pool),
        )
        self.head = nn.Sequential(*(_conv_module(c) for c in spec.post_pool))
        self.classifier = nn.Linear(spec.classifier.in_features, spec.classifier.out_features,
                                    bias=spec.classifier.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.features(x).mean((2, 3), keepdim=True))
        return self.classifier(torch.flatten(x, 1))
