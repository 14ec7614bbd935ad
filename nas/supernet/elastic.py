"""Once-for-All's elastic MobileNetV3 as one torch module.

Parameter names and shapes are those of OFA's released ``OFAMobileNetV3`` checkpoints
(``blocks.N.mobile_inverted_conv.depth_conv.conv.conv.weight``, ``...depth_conv.conv.7to5_matrix``,
``...bn.bn.running_mean``, ``classifier.linear.weight``, ...), so their files load as they are.
A subnet is chosen with :meth:`ElasticMobileNetV3.set_active`; the forward pass then slices the
largest weights the way OFA does: the first ``mid`` channels of each expanded layer (sorted by importance
with :meth:`ElasticMobileNetV3.sort_channels` when the expand ratio becomes elastic), the centre
of the 7x7 depthwise kernel passed through the learned kernel-transformation matrices, the first
``d`` blocks of each stage.
"""

from __future__ import annotations

import functools
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from searchspaces.mobilenet import make_divisible
from searchspaces.ofa_mbv3 import EXPANDS, KERNELS, N_BLOCKS, OFAMobileNetV3Space

ACTIVATIONS = {"relu": nn.ReLU, "h_swish": nn.Hardswish}

# A channel permutation to apply: (tensor, dimension, new order of its indices along that dimension)
Permutation = tuple[torch.Tensor, int, torch.Tensor]


def importance_order(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """Indices along ``dim`` by the L1 norm of ``weight``'s slices, largest first (OFA's importance)."""
    return weight.abs().sum([d for d in range(weight.ndim) if d != dim]).argsort(descending=True, stable=True)


def batch_norm_permutations(bn: nn.BatchNorm2d, order: torch.Tensor) -> list[Permutation]:
    return [(t, 0, order) for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var)]


class DynamicConv(nn.Module):
    """A 1x1 convolution whose output channels are the first ``active_out`` of the largest."""

    def __init__(self, max_in: int, max_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(max_in, max_out, 1, bias=False)
        self.active_out = max_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pointwise(x, self.conv.weight[:self.active_out, :x.shape[1]])


class DynamicDepthwise(nn.Module):
    """A depthwise convolution of any kernel in ``KERNELS``, cut from the centre of the largest.

    Going one kernel size down crops the centre and multiplies it by a learned
    ``(k*k, k*k)`` matrix (OFA's ``7to5_matrix``, ``5to3_matrix``; identity at initialization).
    """

    def __init__(self, max_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv2d(max_channels, max_channels, max(KERNELS), stride, groups=max_channels, bias=False)
        for large, small in zip(KERNELS[:0:-1], KERNELS[-2::-1]):
            self.register_parameter(f"{large}to{small}_matrix", nn.Parameter(torch.eye(small * small)))
        self.active_kernel = max(KERNELS)

    def active_filter(self, channels: int, kernel: int) -> torch.Tensor:
        weight = self.conv.weight[:channels]
        size = weight.shape[-1]
        while size > kernel:
            smaller = size - 2
            cropped = weight[:, :, 1:-1, 1:-1].reshape(channels, smaller * smaller)
            matrix = self._parameters[f"{size}to{smaller}_matrix"]
            weight = F.linear(cropped, matrix).view(channels, 1, smaller, smaller)
            size = smaller
        return weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels, kernel = x.shape[1], self.active_kernel
        weight = self.active_filter(channels, kernel)
        if x.device.type == "cpu" and x.shape[-2] * x.shape[-1] <= SMALL_MAP:
            return depthwise_as_matmul(x, weight, self.stride)
        return F.conv2d(x, weight, None, self.stride, kernel // 2, 1, channels)


# CPU convolution kernels are slow on the tiny maps of small-image supernets (CIFAR's 4x4 and 2x2:
# 175 ms for forward and backward of a 7x7 depthwise layer of 960 channels on a 2x2 batch of 128),
# where the same convolution written as one small matrix per channel takes 20 ms. GPUs keep cuDNN.
SMALL_MAP = 16


@functools.lru_cache(maxsize=64)
def _tap_index(height: int, width: int, kernel: int, stride: int) -> torch.Tensor:
    """For each (output, input) position pair, the kernel tap joining them, or ``kernel**2`` (no tap)."""
    pad = kernel // 2
    out_y = torch.arange(0, height, stride)[:, None, None, None]
    out_x = torch.arange(0, width, stride)[None, :, None, None]
    in_y = torch.arange(height)[None, None, :, None]
    in_x = torch.arange(width)[None, None, None, :]
    ky, kx = in_y - out_y + pad, in_x - out_x + pad
    inside = (ky >= 0) & (ky < kernel) & (kx >= 0) & (kx < kernel)
    index = torch.where(inside, ky * kernel + kx, kernel * kernel)
    return index.reshape(out_y.shape[0] * out_x.shape[1], height * width)


def depthwise_as_matmul(x: torch.Tensor, weight: torch.Tensor, stride: int) -> torch.Tensor:
    """``F.conv2d(x, weight, stride=stride, padding=k // 2, groups=C)`` with one matrix per channel."""
    n, channels, height, width = x.shape
    kernel = weight.shape[-1]
    taps = torch.cat([weight.reshape(channels, kernel * kernel), weight.new_zeros(channels, 1)], 1)
    matrix = taps[:, _tap_index(height, width, kernel, stride)]  # (C, out positions, in positions)
    if height * width <= 4:  # a broadcast product beats a batch of 2x2 matrix products
        out = (x.reshape(n, channels, 1, height * width) * matrix).sum(-1)
    else:
        columns = x.reshape(n, channels, height * width).transpose(0, 1).contiguous()
        out = torch.bmm(columns, matrix.transpose(1, 2)).transpose(0, 1)
    return out.reshape(n, channels, -(-height // stride), -(-width // stride))


def pointwise(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.conv2d(x, weight, bias)`` for a 1x1 ``weight``. On a CPU, maps of up to 2x2 go through a
    matrix product over channels-last pixels: CPU convolution's backward is 1.4-3x slower there
    (squeeze-excite, the 1x1 head and CIFAR's last stages); from 4x4 up the convolution is as fast or faster."""
    if x.device.type != "cpu" or x.shape[-2] * x.shape[-1] > 4:
        return F.conv2d(x, weight, bias)
    return F.linear(x.permute(0, 2, 3, 1), weight.flatten(1), bias).permute(0, 3, 1, 2)


class PointwiseConv(nn.Conv2d):
    """A 1x1 ``nn.Conv2d`` (same parameters) computed by :func:`pointwise`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pointwise(x, self.weight, self.bias)


class DynamicBatchNorm(nn.Module):
    """Batch norm over the first channels of the largest layer (running statistics shared)."""

    def __init__(self, max_channels: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(max_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bn, channels = self.bn, x.shape[1]
        if channels == bn.num_features:
            return bn(x)
        factor = 0.0
        if bn.training:
            bn.num_batches_tracked += 1
            factor = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
        return F.batch_norm(x, bn.running_mean[:channels], bn.running_var[:channels], bn.weight[:channels],
                            bn.bias[:channels], bn.training, factor, bn.eps)


class DynamicSqueezeExcite(nn.Module):
    """Squeeze-excite whose hidden width follows the active channel count (``channels // 4``)."""

    def __init__(self, max_channels: int) -> None:
        super().__init__()
        mid = make_divisible(max_channels // 4)
        self.fc = nn.Module()
        self.fc.reduce = nn.Conv2d(max_channels, mid, 1)
        self.fc.expand = nn.Conv2d(mid, max_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        mid = make_divisible(channels // 4)
        reduce, expand = self.fc.reduce, self.fc.expand
        scale = F.relu(pointwise(x.mean((2, 3), keepdim=True), reduce.weight[:mid, :channels], reduce.bias[:mid]))
        scale = F.hardsigmoid(pointwise(scale, expand.weight[:channels, :mid], expand.bias[:channels]))
        return x * scale


class DynamicMBConv(nn.Module):
    """OFA's ``DynamicMBConvLayer``: elastic kernel and expand ratio."""

    def __init__(self, in_ch: int, out_ch: int, max_mid: int, stride: int, act: str, se: bool) -> None:
        super().__init__()
        self.in_ch = in_ch
        self.inverted_bottleneck = nn.Sequential(OrderedDict(
            conv=DynamicConv(in_ch, max_mid), bn=DynamicBatchNorm(max_mid), act=ACTIVATIONS[act]()))
        depth = OrderedDict(
            conv=DynamicDepthwise(max_mid, stride), bn=DynamicBatchNorm(max_mid), act=ACTIVATIONS[act]())
        if se:
            depth["se"] = DynamicSqueezeExcite(max_mid)
        self.depth_conv = nn.Sequential(depth)
        self.point_linear = nn.Sequential(OrderedDict(conv=DynamicConv(max_mid, out_ch), bn=DynamicBatchNorm(out_ch)))

    def set_active(self, kernel: int, expand: int) -> None:
        self.inverted_bottleneck.conv.active_out = make_divisible(round(self.in_ch * expand))
        self.depth_conv.conv.active_kernel = kernel

    def channel_permutations(self) -> list[Permutation]:
        """OFA's re-organization of the expanded channels: squeeze-excite's hidden units, then the
        expanded channels, each ordered by the L1 norm of the weights that read them, largest first,
        so a smaller expand ratio keeps the most important ones. The largest subnet computes the same
        function before and after."""
        point, inner = self.point_linear.conv.conv.weight, self.inverted_bottleneck
        depth = self.depth_conv
        permutations: list[Permutation] = []
        order = importance_order(point, 1)
        if "se" in depth._modules:
            reduce, expand = depth.se.fc.reduce, depth.se.fc.expand
            hidden = importance_order(expand.weight, 1)
            permutations += [(reduce.weight, 0, hidden), (reduce.bias, 0, hidden), (expand.weight, 1, hidden),
                             (reduce.weight, 1, order), (expand.weight, 0, order), (expand.bias, 0, order)]
        permutations += [(point, 1, order), (inner.conv.conv.weight, 0, order), (depth.conv.conv.weight, 0, order),
                         *batch_norm_permutations(inner.bn.bn, order), *batch_norm_permutations(depth.bn.bn, order)]
        return permutations

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.point_linear(self.depth_conv(self.inverted_bottleneck(x)))


class StaticMBConv(nn.Module):
    """OFA's first block (``MBConvLayer`` with expand ratio 1): depthwise 3x3, then projection."""

    def __init__(self, in_ch: int, out_ch: int, act: str) -> None:
        super().__init__()
        self.depth_conv = conv_layer(in_ch, in_ch, 3, groups=in_ch, act=act)
        self.point_linear = conv_layer(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.point_linear(self.depth_conv(x))


class Block(nn.Module):
    """OFA's ``ResidualBlock``: the layer plus an identity shortcut where shapes allow."""

    def __init__(self, layer: nn.Module, residual: bool) -> None:
        super().__init__()
        self.mobile_inverted_conv = layer
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.mobile_inverted_conv(x)
        return out + x if self.residual else out


class Classifier(nn.Module):
    def __init__(self, in_features: int, n_classes: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_features, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.dropout(x))


def conv_layer(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, bn: bool = True,
               act: str | None = None) -> nn.Sequential:
    """OFA's ``ConvLayer``: ``conv``, then ``bn`` and ``act`` where present."""
    conv = PointwiseConv(c_in, c_out, 1, bias=False) if kernel == stride == groups == 1 else nn.Conv2d(
        c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False)
    layers: OrderedDict[str, nn.Module] = OrderedDict(conv=conv)
    if bn:
        layers["bn"] = nn.BatchNorm2d(c_out)
    if act:
        layers["act"] = ACTIVATIONS[act]()
    return nn.Sequential(layers)


class ElasticMobileNetV3(nn.Module):
    """The weight-sharing supernet of an :class:`OFAMobileNetV3Space`."""

    def __init__(self, space: OFAMobileNetV3Space, dropout: float = 0.1) -> None:
        super().__init__()
        self.space = space
        parts = space.stem_and_head()
        stem, pre_pool, post_pool = parts["stem"][0], parts["pre_pool"][0], parts["post_pool"][0]
        self.first_conv = conv_layer(3, stem.out_ch, 3, stem.stride, act=stem.act)
        first = space.first_block()
        blocks = [Block(StaticMBConv(first.in_ch, first.out_ch, first.act), first.residual)]
        for slot in range(N_BLOCKS):
            largest = space.block(slot, max(KERNELS), max(EXPANDS))
            layer = DynamicMBConv(largest.in_ch, largest.out_ch, largest.mid_ch, largest.stride, largest.act,
                                  largest.se)
            blocks.append(Block(layer, largest.residual))
        self.blocks = nn.ModuleList(blocks)
        self.final_expand_layer = conv_layer(pre_pool.in_ch, pre_pool.out_ch, 1, act=pre_pool.act)
        self.feature_mix_layer = conv_layer(post_pool.in_ch, post_pool.out_ch, 1, bn=False, act=post_pool.act)
        self.classifier = Classifier(post_pool.out_ch, parts["classifier"].out_features, dropout)
        self.active_slots: list[int] = []
        self.set_active(space.gene_sizes - 1)

    def set_active(self, genes: np.ndarray) -> None:
        """Make the subnet of one gene row (the space's encoding) the one ``forward`` runs."""
        genes = np.asarray(genes).reshape(1, -1)
        ks, e, d, _ = self.space.split(genes)
        active = self.space.active_blocks(d)[0]
        self.active_slots = [slot for slot in range(N_BLOCKS) if active[slot]]
        for slot in self.active_slots:
            self.blocks[slot + 1].mobile_inverted_conv.set_active(KERNELS[ks[0, slot]], EXPANDS[e[0, slot]])

    @torch.no_grad()
    def sort_channels(self) -> list[Permutation]:
        """Sort every elastic block's expanded channels by importance, in place; the permutations
        applied, so an optimizer's per-parameter state can follow them."""
        permutations = [p for block in self.blocks if isinstance(block.mobile_inverted_conv, DynamicMBConv)
                        for p in block.mobile_inverted_conv.channel_permutations()]
        for tensor, dim, order in permutations:
            tensor.copy_(tensor.index_select(dim, order))
        return permutations

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks[0](self.first_conv(x))
        for slot in self.active_slots:
            x = self.blocks[slot + 1](x)
        x = self.final_expand_layer(x).mean((2, 3), keepdim=True)
        return self.classifier(torch.flatten(self.feature_mix_layer(x), 1))

