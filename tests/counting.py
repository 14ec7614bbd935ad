"""An independent MAC/parameter counter on materialized torch modules (forward hooks).

Convention: a ``Conv2d`` costs ``in_channels / groups * kh * kw`` per output element, a ``Linear``
``in_features * out_features`` per output row; everything else is free. Batch size 1.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def hook_macs(model: nn.Module, resolution: int) -> tuple[int, torch.Tensor]:
    """MACs of one forward pass on a ``1x3xRxR`` input, and the output it produced.

    The input is made on the device of the model's parameters, so a model built under
    ``torch.device("meta")`` is counted from shapes alone, without computing anything.
    """
    total = 0

    def on_conv(module: nn.Conv2d, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        total += module.in_channels // module.groups * kh * kw * output.numel()

    def on_linear(module: nn.Linear, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        total += module.in_features * module.out_features * (output.numel() // module.out_features)

    device = next(model.parameters()).device
    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(on_conv))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(on_linear))
    try:
        with torch.no_grad():
            output = model.eval()(torch.randn(1, 3, resolution, resolution, device=device))
    finally:
        for handle in handles:
            handle.remove()
    return total, output


def build_on_meta(build: Callable[[], nn.Module]) -> nn.Module:
    """A module built without allocating or initializing weights (for counting only)."""
    with torch.device("meta"):
        return build()


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
