"""Read Once-for-All's published network JSON (``net.config``) into a :class:`NetSpec`.

Both layouts OFA publishes are understood: ``MobileNetV3`` (``first_conv``, ``blocks``,
``final_expand_layer`` before pooling, ``feature_mix_layer`` after it, ``classifier``) and
``ProxylessNASNets`` (``feature_mix_layer`` before pooling, no final expand layer).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from searchspaces.mobilenet import Conv, Linear, MBConv, NetSpec

BLOCK_NAMES = {"MobileInvertedResidualBlock", "ResidualBlock"}
MBCONV_NAMES = {"MBInvertedConvLayer", "MBConvLayer"}
SKIP_NAMES = {"ZeroLayer"}


def load_net_config(path: str | Path) -> NetSpec:
    """Parse a ``net.config`` file; raise ``ValueError`` with a one-line reason if it is not one."""
    try:
        config = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from None
    try:
        return parse_net_config(config)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path} is not an OFA MobileNetV3/ProxylessNASNets net.config (bad field {exc})") from None


def parse_net_config(config: dict[str, Any]) -> NetSpec:
    name = config.get("name")
    if name not in ("MobileNetV3", "ProxylessNASNets"):
        raise ValueError(f"unsupported network {name!r}: expected MobileNetV3 or ProxylessNASNets")
    blocks = tuple(b for b in (_block(raw) for raw in config["blocks"]) if b is not None)
    stem = (_conv(config["first_conv"]),)
    if name == "MobileNetV3":
        pre_pool = (_conv(config["final_expand_layer"]),)
        post_pool = (_conv(config["feature_mix_layer"]),)
    else:
        mix = config.get("feature_mix_layer")
        pre_pool, post_pool = ((_conv(mix),) if mix else ()), ()
    return NetSpec(stem, blocks, pre_pool, post_pool, _linear(config["classifier"]))


def _conv(raw: dict[str, Any]) -> Conv:
    if raw.get("name") != "ConvLayer":
        raise ValueError(f"expected a ConvLayer, found {raw.get('name')!r}")
    return Conv(
        in_ch=raw["in_channels"], out_ch=raw["out_channels"], kernel=raw["kernel_size"],
        stride=raw.get("stride", 1), groups=raw.get("groups") or 1, bias=bool(raw.get("bias", False)),
        bn=bool(raw.get("use_bn", True)), act=raw.get("act_func"),
    )


def _linear(raw: dict[str, Any]) -> Linear:
    if raw.get("name") != "LinearLayer":
        raise ValueError(f"expected a LinearLayer classifier, found {raw.get('name')!r}")
    return Linear(raw["in_features"], raw["out_features"], bias=bool(raw.get("bias", True)))


def _block(raw: dict[str, Any]) -> MBConv | None:
    if raw.get("name") not in BLOCK_NAMES:
        raise ValueError(f"unsupported block {raw.get('name')!r}")
    conv = raw.get("mobile_inverted_conv") or raw.get("conv")
    if conv["name"] in SKIP_NAMES:
        return None  # a skipped ProxylessNAS block: only its identity shortcut remains
    if conv["name"] not in MBCONV_NAMES:
        raise ValueError(f"unsupported layer {conv['name']!r} in a block")
    expand_ratio = conv["expand_ratio"]
    mid = conv.get("mid_channels") or round(conv["in_channels"] * expand_ratio)
    return MBConv(
        in_ch=conv["in_channels"], out_ch=conv["out_channels"], kernel=conv["kernel_size"],
        stride=conv["stride"], mid_ch=mid, act=conv.get("act_func") or "relu6",
        se=bool(conv.get("use_se", False)), residual=raw.get("shortcut") is not None,
        expand=expand_ratio != 1,
    )


def load_run_config_resolution(net_config: str | Path) -> int | None:
    """The ``image_size`` of the ``run.config`` beside a ``net.config``, if there is one."""
    run_config = Path(net_config).with_name("run.config")
    if not run_config.is_file():
        return None
    size = json.loads(run_config.read_text()).get("image_size")
    return size[-1] if isinstance(size, list) else size
