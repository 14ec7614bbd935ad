"""OFA compatibility: an OFA-named state dict loads, and every subnet computes what OFA's layer
definitions compute from the same weights (a functional re-implementation written from OFA's
parameter layout, independent of the module under test)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nas.errors import NasError
from nas.supernet.checkpoint import load_supernet
from nas.supernet.elastic import ElasticMobileNetV3, depthwise_as_matmul, pointwise
from nas.supernet.extract import extract_subnet
from searchspaces import get_space
from searchspaces.ofa_mbv3 import N_BLOCKS

OFA_STRIDES = (2, 2, 2, 1, 2)  # first block of each elastic stage
OFA_ACTS = (F.relu, F.relu, F.hardswish, F.hardswish, F.hardswish)


def make_divisible(value: float, divisor: int = 8) -> int:
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def random_ofa_state_dict(space_name: str, seed: int) -> dict[str, torch.Tensor]:
    """Every tensor of an OFA checkpoint's layout, random (kernel matrices far from identity)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in ElasticMobileNetV3(get_space(space_name)).state_dict().items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            state[key] = torch.rand(value.shape, generator=generator) + 0.5
        elif key.endswith("_matrix"):
            state[key] = torch.eye(value.shape[0]) + 0.3 * torch.randn(value.shape, generator=generator)
        else:
            state[key] = 0.2 * torch.randn(value.shape, generator=generator)
    return state


def ofa_reference(state: dict[str, torch.Tensor], arch: dict, x: torch.Tensor) -> torch.Tensor:
    def bn(y: torch.Tensor, prefix: str) -> torch.Tensor:
        c = y.shape[1]
        return F.batch_norm(y, state[f"{prefix}.running_mean"][:c], state[f"{prefix}.running_var"][:c],
                            state[f"{prefix}.weight"][:c], state[f"{prefix}.bias"][:c], False, 0.0, 1e-5)

    x = F.hardswish(bn(F.conv2d(x, state["first_conv.conv.weight"], stride=2, padding=1), "first_conv.bn"))
    p = "blocks.0.mobile_inverted_conv"
    y = F.conv2d(x, state[f"{p}.depth_conv.conv.weight"], padding=1, groups=x.shape[1])
    y = F.relu(bn(y, f"{p}.depth_conv.bn"))
    y = bn(F.conv2d(y, state[f"{p}.point_linear.conv.weight"]), f"{p}.point_linear.bn")
    x = x + y if y.shape == x.shape else y
    for stage, depth in enumerate(arch["d"]):
        for j in range(depth):
            i = 4 * stage + j
            p, act = f"blocks.{i + 1}.mobile_inverted_conv", OFA_ACTS[stage]
            c_in = x.shape[1]
            mid = make_divisible(round(c_in * arch["e"][i]))
            y = act(bn(F.conv2d(x, state[f"{p}.inverted_bottleneck.conv.conv.weight"][:mid, :c_in]),
                       f"{p}.inverted_bottleneck.bn.bn"))
            kernel, weight = 7, state[f"{p}.depth_conv.conv.conv.weight"][:mid]
            while kernel > arch["ks"][i]:
                matrix = state[f"{p}.depth_conv.conv.{kernel}to{kernel - 2}_matrix"]
                kernel -= 2
                weight = (weight[:, :, 1:-1, 1:-1].reshape(mid, -1) @ matrix.T).reshape(mid, 1, kernel, kernel)
            stride = OFA_STRIDES[stage] if j == 0 else 1
            y = act(bn(F.conv2d(y, weight, stride=stride, padding=kernel // 2, groups=mid), f"{p}.depth_conv.bn.bn"))
            if f"{p}.depth_conv.se.fc.reduce.weight" in state:
                se_mid = make_divisible(mid // 4)
                s = y.mean((2, 3), keepdim=True)
                s = F.relu(F.conv2d(s, state[f"{p}.depth_conv.se.fc.reduce.weight"][:se_mid, :mid],
                                    state[f"{p}.depth_conv.se.fc.reduce.bias"][:se_mid]))
                s = F.conv2d(s, state[f"{p}.depth_conv.se.fc.expand.weight"][:mid, :se_mid],
                             state[f"{p}.depth_conv.se.fc.expand.bias"][:mid])
                y = y * F.relu6(s + 3) / 6
            y = bn(F.conv2d(y, state[f"{p}.point_linear.conv.conv.weight"][:, :mid]), f"{p}.point_linear.bn.bn")
            x = x + y if stride == 1 and y.shape == x.shape else y
    x = F.hardswish(bn(F.conv2d(x, state["final_expand_layer.conv.weight"]), "final_expand_layer.bn"))
    x = F.hardswish(F.conv2d(x.mean((2, 3), keepdim=True), state["feature_mix_layer.conv.weight"]))
    return F.linear(x.flatten(1), state["classifier.linear.weight"], state["classifier.linear.bias"])


@pytest.fixture(scope="module")
def ofa_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor]]:
    state = random_ofa_state_dict("ofa-mbv3-w1.0", seed=0)
    path = tmp_path_factory.mktemp("ofa") / "ofa_mbv3_d234_e346_k357_w1.0"
    torch.save({"state_dict": state, "epoch": 180}, path)  # the layout OFA distributes
    return path, state


def test_twenty_random_subnets_match_the_ofa_reference(ofa_file: tuple[Path, dict[str, torch.Tensor]]) -> None:
    path, state = ofa_file
    supernet, _ = load_supernet(path, "ofa-mbv3-w1.0")
    space = supernet.space
    rng = np.random.default_rng(0)
    worst = 0.0
    for genes in space.sample(20, rng):
        arch = space.to_json(space.to_arch(genes))
        x = torch.randn(2, 3, 128, 128, generator=torch.Generator().manual_seed(int(genes.sum())))
        with torch.no_grad():
            expected = ofa_reference(state, arch, x)
            supernet.set_active(genes)
            active = supernet(x)
            extracted = extract_subnet(supernet, genes)(x)
        assert expected.abs().max() > 0.1  # a real signal, not a collapsed net
        worst = max(worst, (active - expected).abs().max().item(), (extracted - expected).abs().max().item())
    assert worst <= 1e-4


def test_newer_ofa_key_names_and_data_parallel_prefix_load(tmp_path: Path,
                                                           ofa_file: tuple[Path, dict[str, torch.Tensor]]) -> None:
    _, state = ofa_file
    renamed = {"module." + k.replace(".mobile_inverted_conv.", ".conv."): v for k, v in state.items()}
    torch.save({"state_dict": renamed}, tmp_path / "new.pth")
    supernet, _ = load_supernet(tmp_path / "new.pth", "ofa-mbv3-w1.0")
    loaded = supernet.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())


def test_a_checkpoint_of_another_width_is_refused_with_the_tensor_named(
        ofa_file: tuple[Path, dict[str, torch.Tensor]]) -> None:
    path, _ = ofa_file
    with pytest.raises(NasError, match=r"does not fit ofa-mbv3-w1.2: first_conv.conv.weight has shape"):
        load_supernet(path, "ofa-mbv3-w1.2")


def test_a_checkpoint_without_its_space_needs_one(ofa_file: tuple[Path, dict[str, torch.Tensor]]) -> None:
    with pytest.raises(NasError, match="does not record its search space"):
        load_supernet(ofa_file[0])


def test_missing_tensors_are_reported(tmp_path: Path, ofa_file: tuple[Path, dict[str, torch.Tensor]]) -> None:
    state = dict(ofa_file[1])
    del state["blocks.3.mobile_inverted_conv.depth_conv.conv.7to5_matrix"]
    torch.save({"state_dict": state}, tmp_path / "cut.pth")
    with pytest.raises(NasError, match=r"1 missing .*7to5_matrix"):
        load_supernet(tmp_path / "cut.pth", "ofa-mbv3-w1.0")


def test_the_cifar_variant_extracts_exactly() -> None:
    space = get_space("ofa-mbv3-w1.0-cifar10")
    supernet = ElasticMobileNetV3(space).eval()
    supernet.load_state_dict(random_ofa_state_dict(space.name, seed=1))
    for genes in space.sample(3, np.random.default_rng(1)):
        size = space.resolutions[genes[-1]]
        x = torch.randn(4, 3, size, size)
        with torch.no_grad():
            supernet.set_active(genes)
            assert (supernet(x) - extract_subnet(supernet, genes)(x)).abs().max() <= 1e-5
        assert extract_subnet(supernet, genes).classifier.out_features == 10


@pytest.mark.parametrize(("size", "kernel", "stride"),
                         [(1, 3, 1), (2, 7, 1), (2, 5, 2), (4, 7, 1), (4, 5, 2), (3, 3, 2)])
def test_depthwise_on_small_maps_equals_the_convolution(size: int, kernel: int, stride: int) -> None:
    generator = torch.Generator().manual_seed(size * kernel * stride)
    x = torch.randn(3, 5, size, size, dtype=torch.float64, generator=generator, requires_grad=True)
    weight = torch.randn(5, 1, kernel, kernel, dtype=torch.float64, generator=generator, requires_grad=True)
    expected = F.conv2d(x, weight, None, stride, kernel // 2, 1, 5)
    actual = depthwise_as_matmul(x, weight, stride)
    assert actual.shape == expected.shape
    assert torch.allclose(actual, expected, atol=1e-12)
    for got, want in zip(torch.autograd.grad((actual ** 2).sum(), (x, weight)),
                         torch.autograd.grad((expected ** 2).sum(), (x, weight))):
        assert torch.allclose(got, want, atol=1e-10)


@pytest.mark.parametrize(("size", "bias", "channels_last"),
                         [(1, True, False), (1, False, True), (2, True, True), (2, False, False), (4, True, True)])
def test_pointwise_on_small_maps_equals_the_convolution(size: int, bias: bool, channels_last: bool) -> None:
    generator = torch.Generator().manual_seed(size)
    x = torch.randn(3, 6, size, size, dtype=torch.float64, generator=generator)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    x.requires_grad_()
    weight = torch.randn(4, 6, 1, 1, dtype=torch.float64, generator=generator, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, generator=generator, requires_grad=True) if bias else None
    inputs = (x, weight, b) if bias else (x, weight)
    expected = F.conv2d(x, weight, b)
    actual = pointwise(x, weight, b)
    assert actual.shape == expected.shape
    assert torch.allclose(actual, expected, atol=1e-12)
    for got, want in zip(torch.autograd.grad((actual ** 2).sum(), inputs),
                         torch.autograd.grad((expected ** 2).sum(), inputs)):
        assert torch.allclose(got, want, atol=1e-10)


def test_sorting_channels_keeps_the_largest_subnet_and_puts_important_channels_first() -> None:
    space = get_space("ofa-mbv3-w1.0-cifar10")
    net = ElasticMobileNetV3(space).eval()
    net.load_state_dict(random_ofa_state_dict(space.name, seed=4))
    images = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    smaller = space.gene_sizes - 1
    smaller[N_BLOCKS:2 * N_BLOCKS] = 0  # expand 3 everywhere

    def logits(genes: np.ndarray) -> torch.Tensor:
        net.set_active(genes)
        with torch.no_grad():
            return net(images)

    largest_before, smaller_before = logits(space.gene_sizes - 1), logits(smaller)
    net.sort_channels()
    torch.testing.assert_close(logits(space.gene_sizes - 1), largest_before, atol=1e-4, rtol=1e-4)
    assert (logits(smaller) - smaller_before).abs().max() > 1e-2  # expand 3 now keeps other channels
    for block in net.blocks[1:]:
        layer = block.mobile_inverted_conv
        importance = layer.point_linear.conv.conv.weight.abs().sum((0, 2, 3))
        assert (importance[:-1] >= importance[1:]).all()
        if "se" in layer.depth_conv._modules:
            hidden = layer.depth_conv.se.fc.expand.weight.abs().sum((0, 2, 3))
            assert (hidden[:-1] >= hidden[1:]).all()
