"""Device latency of OFA MobileNetV3 subnets from OFA's per-layer lookup tables, vectorized.

A table is one YAML file per input resolution, ``<R>_lookup_table.yaml``, mapping a layer key to
its measured ``mean`` (ms), e.g.
``expanded_conv-input:112x112x24-output:56x56x32-expand:144-kernel:3-stride:2-idskip:0-se:0-hs:0``,
plus ``Conv`` (stem), ``Conv_1`` (final expand), ``AvgPool2D``, ``Conv_2`` (feature mix) and
``Logits``. A subnet's latency is the sum over its layers. Resolutions between the tables' are
scaled from the nearest table below by the pixel ratio (latency grows with the pixels a layer sees);
below the smallest table, from the smallest.

NSGANetV2's Intel i7-8700K table is one file for every resolution with OFA's module names
(``first_conv``, ``MBConv-...-expand:<ratio>-...``, ``final_expand_layer``, ``feature_mix_layer``,
``classifier``; no pooling entry); :class:`SingleFileLUTLatency` reads it. Tables built on this
machine (``nas latency build-lut``) live in ``$NAS_LUT_DIR/<device>/`` and are devices by that name.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

import numpy as np
import yaml

from nas.errors import NasError
from predictors.base import CostModel
from searchspaces.mobilenet import Conv, Linear, MBConv, NetSpec
from searchspaces.ofa_mbv3 import OFAMobileNetV3Space

TABLE_NAME = "{resolution}_lookup_table.yaml"


class LUTError(NasError):
    """A lookup table is missing, unreadable, or lacks a layer of the space."""


def read_table(path: Path) -> dict[str, float]:
    """Layer key -> mean latency (ms) of one OFA lookup-table file."""
    try:
        raw = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
    except OSError as exc:
        raise LUTError(f"cannot read lookup table {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise LUTError(f"{path} is not YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict) or not all(isinstance(v, dict) and "mean" in v for v in raw.values()):
        raise LUTError(f"{path} is not an OFA lookup table (layer key -> {{mean, std, count}})")
    return {key: float(value["mean"]) for key, value in raw.items()}


def block_key(block: MBConv, size: int) -> str:
    out = -(-size // block.stride)
    return (f"expanded_conv-input:{size}x{size}x{block.in_ch}-output:{out}x{out}x{block.out_ch}"
            f"-expand:{block.mid_ch}-kernel:{block.kernel}-stride:{block.stride}-idskip:{int(block.residual)}"
            f"-se:{int(block.se)}-hs:{int(block.act == 'h_swish')}")


class OFAKeys:
    """Layer names of OFA's per-resolution tables (Note10, and the tables ``build-lut`` writes)."""

    block = staticmethod(block_key)

    @staticmethod
    def stem(stem: Conv, resolution: int, size: int) -> str:
        return f"Conv-input:{resolution}x{resolution}x{stem.in_ch}-output:{size}x{size}x{stem.out_ch}"

    @staticmethod
    def head(expand: Conv, mix: Conv, classifier: Linear, size: int) -> list[str]:
        return [
            f"Conv_1-input:{size}x{size}x{expand.in_ch}-output:{size}x{size}x{expand.out_ch}",
            f"AvgPool2D-input:{size}x{size}x{expand.out_ch}-output:1x1x{expand.out_ch}",
            f"Conv_2-input:1x1x{mix.in_ch}-output:1x1x{mix.out_ch}",
            f"Logits-input:1x1x{mix.out_ch}-output:{classifier.out_features}",
        ]


class NSGANetV2Keys:
    """Layer names of NSGANetV2's i7-8700K table: OFA's module names, expand as a ratio."""

    @staticmethod
    def block(block: MBConv, size: int) -> str:
        out = -(-size // block.stride)
        return (f"MBConv-input:{size}x{size}x{block.in_ch}-output:{out}x{out}x{block.out_ch}"
                f"-expand:{block.mid_ch / block.in_ch:g}-kernel:{block.kernel}-stride:{block.stride}"
                f"-idskip:{int(block.residual)}-se:{int(block.se)}")

    @staticmethod
    def stem(stem: Conv, resolution: int, size: int) -> str:
        return f"first_conv-input:{resolution}x{resolution}x{stem.in_ch}-output:{size}x{size}x{stem.out_ch}"

    @staticmethod
    def head(expand: Conv, mix: Conv, classifier: Linear, size: int) -> list[str]:
        return [
            f"final_expand_layer-input:{size}x{size}x{expand.in_ch}-output:{size}x{size}x{expand.out_ch}",
            f"feature_mix_layer-input:1x1x{mix.in_ch}-output:1x1x{mix.out_ch}",
            f"classifier-input:{mix.out_ch}-output:{classifier.out_features}",
        ]


TableKeys = type[OFAKeys] | type[NSGANetV2Keys]


def net_keys(spec: NetSpec, resolution: int, final_size: int | None = None, keys: TableKeys = OFAKeys) -> list[str]:
    """The table keys of every layer of a MobileNetV3 network at ``resolution`` (``final_size``: the
    head's input size when ``spec`` lists only some blocks)."""
    if not (len(spec.stem) == len(spec.pre_pool) == len(spec.post_pool) == 1):
        raise LUTError("lookup tables time MobileNetV3 networks (stem, blocks, final expand, feature mix)")
    size = -(-resolution // spec.stem[0].stride)
    names = [keys.stem(spec.stem[0], resolution, size)]
    for block in spec.blocks:
        names.append(keys.block(block, size))
        size = -(-size // block.stride)
    return [*names, *keys.head(spec.pre_pool[0], spec.post_pool[0], spec.classifier, final_size or size)]


class LUTLatency(CostModel):
    """``latency@<device>`` (ms) of OFA MobileNetV3 archs from a folder of per-resolution tables."""

    keys: TableKeys = OFAKeys

    def __init__(self, space: OFAMobileNetV3Space, device: str, folder: Path) -> None:
        if not isinstance(space, OFAMobileNetV3Space):
            raise LUTError(f"lookup-table latency reads OFA MobileNetV3 archs, not {space.name}")
        self.space, self.device, self.folder = space, device, Path(folder)
        self.metric = f"latency@{device}"
        self.table_resolutions = self._find_resolutions()
        if not self.table_resolutions:
            raise LUTError(f"no lookup tables ({TABLE_NAME.format(resolution='<R>')}) in {self.folder}")

    def cost(self, genes: np.ndarray) -> np.ndarray:
        return self.space.sum_slots(self._slots, genes, with_resolution=True) + self._fixed[genes[:, -1]]

    def net_latency(self, spec: NetSpec, resolution: int) -> float:
        """Latency (ms) of any MobileNetV3 network, e.g. an OFA ``net.config``, at ``resolution``."""
        source = self._table_for(resolution)
        look_up = self._look_up(source)
        return sum(look_up(key) for key in net_keys(spec, source, keys=self.keys)) * (resolution / source) ** 2

    def _find_resolutions(self) -> list[int]:
        return sorted(int(p.name.split("_")[0]) for p in self.folder.glob(TABLE_NAME.format(resolution="[0-9]*")))

    def _table_path(self, resolution: int) -> Path:
        return self.folder / TABLE_NAME.format(resolution=resolution)

    def _table_for(self, resolution: int) -> int:
        below = [r for r in self.table_resolutions if r <= resolution]
        return below[-1] if below else self.table_resolutions[0]

    @cached_property
    def _per_resolution(self) -> list[tuple[np.ndarray, float]]:
        """(slot table, fixed layers) in ms for each of the space's resolutions."""
        tables: dict[int, tuple[np.ndarray, float]] = {}
        out = []
        for resolution in self.space.resolutions:
            source = self._table_for(resolution)
            if source not in tables:
                tables[source] = self._from_table(source)
            slots, fixed = tables[source]
            scale = (resolution / source) ** 2
            out.append((slots * scale, fixed * scale))
        return out

    @cached_property
    def _slots(self) -> np.ndarray:
        return np.stack([slots for slots, _ in self._per_resolution]).ravel()

    @cached_property
    def _fixed(self) -> np.ndarray:
        return np.array([fixed for _, fixed in self._per_resolution])

    def _read(self, path: Path) -> dict[str, float]:
        return read_table(path)

    def _look_up(self, resolution: int) -> Callable[[str], float]:
        path = self._table_path(resolution)
        table = self._read(path)

        def look_up(key: str) -> float:
            if key not in table:
                raise LUTError(f"{path} has no layer {key!r}: the table does not time this network")
            return table[key]

        return look_up

    def _from_table(self, resolution: int) -> tuple[np.ndarray, float]:
        look_up, space = self._look_up(resolution), self.space
        slots = space.slot_table(lambda block, size: look_up(self.keys.block(block, size)), resolution, np.float64)
        fixed_layers = NetSpec(blocks=(space.first_block(),), **space.stem_and_head())
        keys = net_keys(fixed_layers, resolution, space.final_size(resolution), self.keys)
        return slots, sum(look_up(key) for key in keys)


class SingleFileLUTLatency(LUTLatency):
    """One YAML file timing every resolution, in NSGANetV2's layer names (the i7-8700K table); its
    resolutions are those of its ``first_conv`` entries."""

    keys = NSGANetV2Keys

    def _find_resolutions(self) -> list[int]:
        stems = [key for key in self._read(self.folder) if key.startswith("first_conv-input:")]
        return sorted({int(key.split(":")[1].split("x")[0]) for key in stems})

    def _table_path(self, resolution: int) -> Path:
        return self.folder

    def _read(self, path: Path) -> dict[str, float]:
        return self._table

    @cached_property
    def _table(self) -> dict[str, float]:  # one parse serves every resolution
        return read_table(self.folder)


def open_tables(space: OFAMobileNetV3Space, device: str, path: Path) -> LUTLatency:
    """Latency from ``path``: a folder of OFA per-resolution tables or one NSGANetV2-style file."""
    return (SingleFileLUTLatency if Path(path).is_file() else LUTLatency)(space, device, path)


# -- tables built on this machine -----------------------------------------------------------------
BUILD_INFO = "lut.json"  # beside the tables: the space they time and how they were measured


def local_lut_root() -> Path:
    """Where built tables live: ``$NAS_LUT_DIR``, else ``$NAS_CACHE_DIR/lut`` (``~/.cache/nas/lut``)."""
    from nas.artifacts import cache_dir

    return Path(os.environ["NAS_LUT_DIR"]).expanduser() if os.environ.get("NAS_LUT_DIR") else cache_dir() / "lut"


def local_devices() -> dict[str, tuple[Path, str]]:
    """Device name -> (its folder, the space it times) for every completely built table under the root."""
    devices = {}
    for info in sorted(local_lut_root().glob(f"*/{BUILD_INFO}")):
        try:
            document = json.loads(info.read_text())
            if document["complete"]:  # a build still running or killed is not a device yet
                devices[info.parent.name] = (info.parent, str(document["space"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a foreign folder is not a device
    return devices
