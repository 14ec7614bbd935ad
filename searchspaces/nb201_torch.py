"""The NAS-Bench-201 CIFAR network as a torch module (built by ``NB201Space.build``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def relu_conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(c_in, c_out, kernel, stride, padding=(kernel - 1) // 2, bias=False),
        nn.BatchNorm2d(c_out),
    )


class Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def cell_op(op: str, channels: int) -> nn.Module:
    if op == "none":
        return Zero()
    if op == "skip_connect":
        return nn.Identity()
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    if op in ("nor_conv_1x1", "nor_conv_3x3"):
        return relu_conv_bn(channels, channels, int(op[-1]))
    raise ValueError(f"unknown NAS-Bench-201 operation {op!r}")


class Cell(nn.Module):
    """Node ``i`` is the sum of ``ops[e](node[source])`` over the edges ``e`` into it; the last node is the output."""

    def __init__(self, ops: Sequence[str], edges: Sequence[tuple[int, int]], channels: int) -> None:
        super().__init__()
        self.edges = tuple(edges)
        self.ops = nn.ModuleList(cell_op(op, channels) for op in ops)
        self.n_nodes = 1 + max(target for target, _ in self.edges)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for node in range(1, self.n_nodes):
            inputs = [op(nodes[source]) for op, (target, source) in zip(self.ops, self.edges) if target == node]
            nodes.append(torch.stack(inputs).sum(0))
        return nodes[-1]


class ReductionBlock(nn.Module):
    """ResNet basic block with stride 2; the shortcut is a 2x2 average pool and a 1x1 conv."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = relu_conv_bn(c_in, c_out, 3, stride=2)
        self.conv_b = relu_conv_bn(c_out, c_out, 3)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    def __init__(self, ops: Sequence[str], edges: Sequence[tuple[int, int]], channels: Sequence[int],
                 cells_per_stage: int, n_classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, channels[0], 3, padding=1, bias=False), nn.BatchNorm2d(channels[0]))
        layers: list[nn.Module] = []
        for stage, width in enumerate(channels):
            if stage:
                layers.append(ReductionBlock(channels[stage - 1], width))
            layers += [Cell(ops, edges, width) for _ in range(cells_per_stage)]
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(channels[-1]), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels[-1], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.lastact(self.cells(self.stem(x)))
        return self.classifier(self.global_pooling(features).flatten(1))
