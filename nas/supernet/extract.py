"""Cut the active subnet out of an :class:`ElasticMobileNetV3` as a standalone static network."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from nas.supernet.elastic import DynamicMBConv, ElasticMobileNetV3, StaticMBConv
from searchspaces.mobilenet_torch import MobileNet


@torch.no_grad()
def extract_subnet(supernet: ElasticMobileNetV3, genes: np.ndarray) -> MobileNet:
    """A :class:`MobileNet` of the subnet ``genes`` holding the supernet's weights (sliced and
    kernel-transformed), in eval mode; the supernet's own active subnet is left as ``genes``."""
    space = supernet.space
    supernet.set_active(genes)
    net = space.build(space.to_arch(np.asarray(genes)))
    stem, first, *blocks, pre_pool = net.features
    _copy_conv(stem, supernet.first_conv.conv.weight, supernet.first_conv.bn)
    _copy_static_block(first.body, supernet.blocks[0].mobile_inverted_conv)
    for block, slot in zip(blocks, supernet.active_slots, strict=True):
        _copy_dynamic_block(block.body, supernet.blocks[slot + 1].mobile_inverted_conv)
    _copy_conv(pre_pool, supernet.final_expand_layer.conv.weight, supernet.final_expand_layer.bn)
    _copy_conv(net.head[0], supernet.feature_mix_layer.conv.weight, None)
    net.classifier.load_state_dict(supernet.classifier.linear.state_dict())
    return net.eval()


def _copy_static_block(body: nn.Sequential, layer: StaticMBConv) -> None:
    depthwise, project = body
    _copy_conv(depthwise, layer.depth_conv.conv.weight, layer.depth_conv.bn)
    _copy_conv(project, layer.point_linear.conv.weight, layer.point_linear.bn)


def _copy_dynamic_block(body: nn.Sequential, layer: DynamicMBConv) -> None:
    expand, depthwise, *se, project = body
    mid, c_in = expand[0].weight.shape[:2]
    _copy_conv(expand, layer.inverted_bottleneck.conv.conv.weight[:mid, :c_in], layer.inverted_bottleneck.bn.bn)
    dw = layer.depth_conv.conv
    _copy_conv(depthwise, dw.active_filter(mid, dw.active_kernel), layer.depth_conv.bn.bn)
    if se:
        source = layer.depth_conv.se.fc
        for target, weights in ((se[0].reduce, source.reduce), (se[0].expand, source.expand)):
            out_ch, in_ch = target.weight.shape[:2]
            target.weight.copy_(weights.weight[:out_ch, :in_ch])
            target.bias.copy_(weights.bias[:out_ch])
    _copy_conv(project, layer.point_linear.conv.conv.weight[:, :mid], layer.point_linear.bn.bn)


def _copy_conv(target: nn.Sequential, weight: torch.Tensor, bn: nn.BatchNorm2d | None) -> None:
    """Fill a static conv(-bn) sequence with the first channels of the supernet's tensors."""
    conv = target[0]
    conv.weight.copy_(weight[:conv.out_channels, :conv.weight.shape[1]])
    if bn is None:
        return
    static_bn, channels = target[1], conv.out_channels
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(static_bn, name).copy_(getattr(bn, name)[:channels])
    static_bn.num_batches_tracked.copy_(bn.num_batches_tracked)
