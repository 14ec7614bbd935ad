"""Analytic MAC/parameter counts of NetSpec layers against hook counts on the built torch module."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from searchspaces.mobilenet import (
    Conv,
    Linear,
    MBConv,
    NetSpec,
    SqueezeExcite,
    make_divisible,
)
from searchspaces.mobilenet_torch import MobileNet
from tests.counting import hook_macs, param_count

ACTS = ("relu", "relu6", "h_swish")


def tiny_spec(blocks: tuple[MBConv, ...], post_pool: bool = True, n_classes: int = 10) -> NetSpec:
    first = blocks[0].in_ch if blocks else 8
    last = blocks[-1].out_ch if blocks else 8
    return NetSpec(
        stem=(Conv(3, first, 3, 2, act="h_swish"),),
        blocks=blocks,
        pre_pool=(Conv(last, 32, act="h_swish"),),
        post_pool=(Conv(32, 48, bn=False, bias=True, act="relu"),) if post_pool else (),
        classifier=Linear(48 if post_pool else 32, n_classes),
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [(16 * 1.2, 24), (24 * 1.2, 32), (40 * 1.2, 48), (112 * 1.2, 136), (960 * 1.2, 1152), (1280 * 1.2, 1536),
     (3, 8), (16, 16), (100, 104)],
)
def test_make_divisible(value: float, expected: int) -> None:
    assert make_divisible(value) == expected


def test_conv_counts_by_hand() -> None:
    conv = Conv(16, 32, kernel=3, stride=2)
    assert conv.out_size(15) == 8
    assert conv.macs(15) == 8 * 8 * 32 * 16 * 9
    assert conv.params() == 32 * 16 * 9 + 2 * 32  # weights + batch-norm affine


def test_depthwise_conv_counts_by_hand() -> None:
    conv = Conv(48, 48, kernel=5, stride=1, groups=48, bn=False, bias=True)
    assert conv.macs(7) == 7 * 7 * 48 * 25
    assert conv.params() == 48 * 25 + 48


def test_squeeze_excite_counts() -> None:
    se = SqueezeExcite(96)
    assert se.mid == 24
    assert se.macs() == 2 * 96 * 24
    assert se.params() == 2 * 96 * 24 + 24 + 96


def test_mbconv_without_expansion_has_no_expand_layer() -> None:
    block = MBConv(16, 16, 3, 1, 16, "relu", se=False, residual=True, expand=False)
    assert block.layers[0] is None
    assert block.macs(10) == 10 * 10 * 16 * 9 + 10 * 10 * 16 * 16


def test_linear_counts() -> None:
    assert Linear(1280, 1000).macs() == 1_280_000
    assert Linear(1280, 1000).params() == 1_281_000
    assert Linear(64, 10, bias=False).params() == 640


@st.composite
def mbconvs(draw: st.DrawFn) -> tuple[MBConv, ...]:
    blocks, width = [], draw(st.sampled_from((8, 16)))
    for _ in range(draw(st.integers(1, 3))):
        stride = draw(st.sampled_from((1, 2)))
        out = draw(st.sampled_from((8, 16, 24)))
        expand = draw(st.booleans())
        mid = make_divisible(width * draw(st.sampled_from((3, 4, 6)))) if expand else width
        blocks.append(MBConv(width, out, draw(st.sampled_from((3, 5, 7))), stride, mid,
                             draw(st.sampled_from(ACTS)), se=draw(st.booleans()),
                             residual=stride == 1 and width == out, expand=expand))
        width = out
    return tuple(blocks)


@settings(max_examples=25, deadline=None)
@given(blocks=mbconvs(), resolution=st.integers(9, 40), post_pool=st.booleans())
def test_random_netspec_counts_match_hooks(blocks: tuple[MBConv, ...], resolution: int, post_pool: bool) -> None:
    spec = tiny_spec(blocks, post_pool)
    model = MobileNet(spec)
    macs, logits = hook_macs(model, resolution)
    assert spec.macs(resolution) == macs
    assert spec.params() == param_count(model)
    assert logits.shape == (1, 10)


def test_residual_block_adds_its_input() -> None:
    block = MBConv(8, 8, 3, 1, 24, "relu", se=True, residual=True)
    model = MobileNet(tiny_spec((block,)))
    body = model.features[1]
    x = torch.randn(1, 8, 5, 5)
    with torch.no_grad():
        assert torch.allclose(body.eval()(x), body.body(x) + x)


@pytest.mark.parametrize("act", ["relu", "relu6", "h_swish"])
def test_activation_modules(act: str) -> None:
    kind = {"relu": nn.ReLU, "relu6": nn.ReLU6, "h_swish": nn.Hardswish}[act]
    block = MBConv(8, 8, 3, 1, 24, act, se=False, residual=True)
    model = MobileNet(tiny_spec((block,)))
    assert any(isinstance(m, kind) for m in model.features[1].modules())


def test_unknown_activation_raises() -> None:
    block = MBConv(8, 8, 3, 1, 24, "gelu", se=False, residual=True)
    with pytest.raises(ValueError, match="gelu"):
        MobileNet(tiny_spec((block,)))


def test_odd_resolution_rounds_up() -> None:
    spec = tiny_spec((MBConv(8, 16, 3, 2, 24, "relu", se=False, residual=False),))
    macs, _ = hook_macs(MobileNet(spec), 33)
    assert spec.macs(33) == macs
