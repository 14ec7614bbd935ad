"""Reading OFA's published ``net.config`` files (MobileNetV3 and ProxylessNASNets layouts)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from torch import nn

from searchspaces.mobilenet import Conv
from searchspaces.mobilenet_torch import MobileNet
from searchspaces.ofa_net_config import load_net_config, load_run_config_resolution, parse_net_config
from tests.counting import build_on_meta, hook_macs, param_count

# published MACs (millions) of OFA's specialized ImageNet subnets, from their folder names
SPECIALIZED = {
    "flops-595M_top1-80.0_finetune-75": 595.2,
    "flops-482M_top1-79.6_finetune-75": 482.4,
    "flops-389M_top1-79.1_finetune-75": 389.5,
}


def specialized_config(data_dir: Path, name: str) -> Path:
    path = data_dir / "ofa" / "specialized" / name / "net.config"
    if not path.is_file():
        pytest.fail(f"published net.config missing at {path}", pytrace=False)
    return path


@pytest.mark.parametrize("name", sorted(SPECIALIZED))
def test_specialized_net_matches_published_macs(data_dir: Path, name: str) -> None:
    path = specialized_config(data_dir, name)
    resolution = load_run_config_resolution(path)
    assert resolution in (224, 236)
    macs = load_net_config(path).macs(resolution)
    assert macs / 1e6 == pytest.approx(SPECIALIZED[name], rel=1e-3)


@pytest.mark.parametrize("name", sorted(SPECIALIZED))
def test_specialized_net_counts_match_hook_count(data_dir: Path, name: str) -> None:
    path = specialized_config(data_dir, name)
    resolution = load_run_config_resolution(path)
    spec = load_net_config(path)
    model = build_on_meta(lambda: MobileNet(spec))
    macs, logits = hook_macs(model, resolution)
    assert logits.shape == (1, 1000)
    assert spec.macs(resolution) == macs
    assert spec.params() == param_count(model)


def test_specialized_net_layout(data_dir: Path) -> None:
    spec = load_net_config(specialized_config(data_dir, "flops-595M_top1-80.0_finetune-75"))
    assert spec.stem[0] == Conv(3, 24, 3, 2, act="h_swish")
    assert spec.pre_pool == (Conv(192, 1152, act="h_swish"),)
    assert spec.post_pool == (Conv(1152, 1536, bn=False, act="h_swish"),)
    assert (spec.classifier.in_features, spec.classifier.out_features) == (1536, 1000)
    assert spec.blocks[0].expand is False and spec.blocks[0].residual is True
    assert spec.blocks[1].stride == 2 and spec.blocks[1].residual is False


def test_run_config_resolution(data_dir: Path, tmp_path: Path) -> None:
    path = specialized_config(data_dir, "flops-595M_top1-80.0_finetune-75")
    assert load_run_config_resolution(path) == 236
    assert load_run_config_resolution(tmp_path / "net.config") is None
    (tmp_path / "run.config").write_text(json.dumps({"image_size": [128, 160, 192]}))
    assert load_run_config_resolution(tmp_path / "net.config") == 192


# -- a synthetic ProxylessNAS network --------------------------------------------------------------
def conv_layer(n_in: int, n_out: int, kernel: int, stride: int = 1, **extra: Any) -> dict[str, Any]:
    return {"name": "ConvLayer", "in_channels": n_in, "out_channels": n_out, "kernel_size": kernel,
            "stride": stride, "dilation": 1, "groups": 1, "bias": False, "has_shuffle": False,
            "use_bn": True, "act_func": "relu6", "dropout_rate": 0, "ops_order": "weight_bn_act", **extra}


def identity(channels: int) -> dict[str, Any]:
    return {"name": "IdentityLayer", "in_channels": [channels], "out_channels": [channels], "use_bn": False,
            "act_func": None, "dropout_rate": 0, "ops_order": "weight_bn_act"}


def mb_layer(name: str, n_in: int, n_out: int, kernel: int, stride: int, expand: int) -> dict[str, Any]:
    return {"name": name, "in_channels": n_in, "out_channels": n_out, "kernel_size": kernel, "stride": stride,
            "expand_ratio": expand, "mid_channels": None}


def proxyless_config() -> dict[str, Any]:
    blocks = [
        {"name": "MobileInvertedResidualBlock",
         "mobile_inverted_conv": mb_layer("MBInvertedConvLayer", 16, 8, 3, 1, 1), "shortcut": None},
        {"name": "MobileInvertedResidualBlock",
         "mobile_inverted_conv": {"name": "ZeroLayer", "stride": 1}, "shortcut": identity(8)},
        {"name": "ResidualBlock", "conv": mb_layer("MBConvLayer", 8, 16, 5, 2, 6), "shortcut": None},
        {"name": "MobileInvertedResidualBlock",
         "mobile_inverted_conv": mb_layer("MBInvertedConvLayer", 16, 16, 7, 1, 3), "shortcut": identity(16)},
    ]
    return {
        "name": "ProxylessNASNets",
        "bn": {"momentum": 0.1, "eps": 1e-3},
        "first_conv": conv_layer(3, 16, 3, 2),
        "blocks": blocks,
        "feature_mix_layer": conv_layer(16, 64, 1),
        "classifier": {"name": "LinearLayer", "in_features": 64, "out_features": 10, "bias": True,
                       "use_bn": False, "act_func": None, "dropout_rate": 0, "ops_order": "weight_bn_act"},
    }


# MACs of proxyless_config() at 32 px, layer by layer
PROXYLESS_MACS_32 = (
    16 * 16 * 16 * 3 * 9  # first conv, 16x16 out
    + 16 * 16 * 16 * 9 + 16 * 16 * 8 * 16  # block 1: depthwise, project (expand ratio 1)
    + 0  # block 2: ZeroLayer
    + 16 * 16 * 48 * 8 + 8 * 8 * 48 * 25 + 8 * 8 * 16 * 48  # block 3: expand, depthwise 5x5 s2, project
    + 8 * 8 * 48 * 16 + 8 * 8 * 48 * 49 + 8 * 8 * 16 * 48  # block 4: expand, depthwise 7x7, project
    + 8 * 8 * 64 * 16  # feature mix, before pooling
    + 64 * 10  # classifier
)


def test_proxyless_config_parses(tmp_path: Path) -> None:
    path = tmp_path / "net.config"
    path.write_text(json.dumps(proxyless_config()))
    spec = load_net_config(path)
    assert len(spec.blocks) == 3  # the ZeroLayer block is skipped
    assert [b.kernel for b in spec.blocks] == [3, 5, 7]
    assert [b.mid_ch for b in spec.blocks] == [16, 48, 48]
    assert [b.expand for b in spec.blocks] == [False, True, True]
    assert [b.residual for b in spec.blocks] == [False, False, True]
    assert {b.act for b in spec.blocks} == {"relu6"}
    assert spec.pre_pool == (Conv(16, 64, act="relu6"),)  # ProxylessNAS mixes features before pooling
    assert spec.post_pool == ()
    assert spec.macs(32) == PROXYLESS_MACS_32


@pytest.mark.parametrize("resolution", [32, 33, 64])
def test_proxyless_counts_match_hook_count(resolution: int) -> None:
    spec = parse_net_config(proxyless_config())
    model = MobileNet(spec)
    macs, logits = hook_macs(model, resolution)
    assert logits.shape == (1, 10)
    assert spec.macs(resolution) == macs
    assert spec.params() == param_count(model)
    assert any(isinstance(m, nn.ReLU6) for m in model.modules())


def test_proxyless_without_feature_mix_layer() -> None:
    config = proxyless_config()
    config["feature_mix_layer"] = None
    config["classifier"]["in_features"] = 16
    spec = parse_net_config(config)
    assert spec.pre_pool == () and spec.post_pool == ()
    macs, _ = hook_macs(MobileNet(spec), 32)
    assert spec.macs(32) == macs


# -- bad files -----------------------------------------------------------------------------------
def write(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "net.config"
    path.write_text(content)
    return path


def without(config: dict[str, Any], *keys: str) -> dict[str, Any]:
    config = copy.deepcopy(config)
    target = config
    for key in keys[:-1]:
        target = target[key]
    del target[keys[-1]]
    return config


def test_not_json_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not JSON"):
        load_net_config(write(tmp_path, "{not json"))


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        load_net_config(tmp_path / "absent.config")


def test_wrong_network_name_raises(tmp_path: Path) -> None:
    config = {**proxyless_config(), "name": "ResNets"}
    with pytest.raises(ValueError, match="ResNets"):
        load_net_config(write(tmp_path, json.dumps(config)))


@pytest.mark.parametrize(
    "keys", [("classifier",), ("first_conv",), ("blocks",), ("first_conv", "in_channels")], ids=str
)
def test_missing_key_raises(tmp_path: Path, keys: tuple[str, ...]) -> None:
    path = write(tmp_path, json.dumps(without(proxyless_config(), *keys)))
    with pytest.raises(ValueError, match=r"net\.config"):
        load_net_config(path)


def test_missing_block_field_raises(tmp_path: Path) -> None:
    config = proxyless_config()
    del config["blocks"][2]["conv"]["kernel_size"]
    with pytest.raises(ValueError, match="kernel_size"):
        load_net_config(write(tmp_path, json.dumps(config)))


@pytest.mark.parametrize("layer", ["PoolingLayer", "MBSuperLayer"])
def test_unknown_block_layer_raises(tmp_path: Path, layer: str) -> None:
    config = proxyless_config()
    config["blocks"][0]["mobile_inverted_conv"]["name"] = layer
    with pytest.raises(ValueError, match=layer):
        load_net_config(write(tmp_path, json.dumps(config)))


def test_json_that_is_not_an_object_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        load_net_config(write(tmp_path, "[1, 2, 3]"))


def test_mobilenetv3_config_needs_final_expand_layer(data_dir: Path, tmp_path: Path) -> None:
    config = json.loads(specialized_config(data_dir, "flops-389M_top1-79.1_finetune-75").read_text())
    del config["final_expand_layer"]
    with pytest.raises(ValueError, match="final_expand_layer"):
        load_net_config(write(tmp_path, json.dumps(config)))
