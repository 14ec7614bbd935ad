"""The torch module a :class:`~searchspaces.mobilenet.NetSpec` describes (kept apart so counting needs no torch)."""

from __future__ import annotations

import torch
from torch import nn

from searchspaces.mobilenet import Conv, MBConv, NetSpec, SqueezeExcite


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
