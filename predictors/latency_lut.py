"""Device latency of OFA MobileNetV3 subnets from OFA's per-layer lookup tables, vectorized.

A table is one YAML file per input resolution, ``<R>_lookup_table.yaml``, mapping a layer key to
its measured ``mean`` (ms), e.g.
``expanded_conv-input:112x112x24-output:56x56x32-expand:144-kernel:3-stride:2-idskip:0-se:0-hs:0``,
plus ``Conv`` (stem), ``Conv_1`` (final expand), ``AvgPool2D``, ``Conv_2`` (feature mix) and
``Logits``. A subnet's latency is the sum over its layers. Resolutions between the tables' are
scaled from the nearest table below by the pixel ratio (latency grows with the pixels a layer sees);
below the smallest table, from the smallest.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path

import numpy as np
import yaml

from nas.errors import NasError
from predictors.base import CostModel
from searchspaces.mobilenet import MBConv, NetSpec
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


def net_keys(spec: NetSpec, resolution: int, final_size: int | None = None) -> list[str]:
    """The table keys of every layer of a MobileNetV3 network at ``resolution`` (``final_size``: the
    head's input size when ``spec`` lists only some blocks)."""
    if not (len(spec.stem) == len(spec.pre_pool) == len(spec.post_pool) == 1):
        raise LUTError("lookup tables time MobileNetV3 networks (stem, blocks, final expand, feature mix)")
    stem, expand, mix = spec.stem[0], spec.pre_pool[0], spec.post_pool[0]
    size = -(-resolution // stem.stride)
    keys = [f"Conv-input:{resolution}x{resolution}x{stem.in_ch}-output:{size}x{size}x{stem.out_ch}"]
    for block in spec.blocks:
        keys.append(block_key(block, size))
        size = -(-size // block.stride)
    size = final_size or size
    return [
        *keys,
        f"Conv_1-input:{size}x{size}x{expand.in_ch}-output:{size}x{size}x{expand.out_ch}",
        f"AvgPool2D-input:{size}x{size}x{expand.out_ch}-output:1x1x{expand.out_ch}",
        f"Conv_2-input:1x1x{mix.in_ch}-output:1x1x{mix.out_ch}",
        f"Logits-input:1x1x{mix.out_ch}-output:{spec.classifier.out_features}",
    ]


class LUTLatency(CostModel):
    """``latency@<device>`` (ms) of OFA MobileNetV3 archs from a folder of per-resolution tables."""

    def __init__(self, space: OFAMobileNetV3Space, device: str, folder: Path) -> None:
        if not isinstance(space, OFAMobileNetV3Space):
            raise LUTError(f"lookup-table latency reads OFA MobileNetV3 archs, not {space.name}")
        self.space, self.device, self.folder = space, device, Path(folder)
        self.metric = f"latency@{device}"
        self.table_resolutions = sorted(int(p.name.split("_")[0]) for p in self.folder.glob(TABLE_NAME.format(
            resolution="[0-9]*")))
        if not self.table_resolutions:
            raise LUTError(f"no lookup tables ({TABLE_NAME.format(resolution='<R>')}) in {self.folder}")

    def cost(self, genes: np.ndarray) -> np.ndarray:
        return self.space.sum_slots(self._slots, genes, with_resolution=True) + self._fixed[genes[:, -1]]

    def net_latency(self, spec: NetSpec, resolution: int) -> float:
        """Latency (ms) of any MobileNetV3 network, e.g. an OFA ``net.config``, at ``resolution``."""
        source = self._table_for(resolution)
        look_up = self._look_up(source)
        return sum(look_up(key) for key in net_keys(spec, source)) * (resolution / source) ** 2

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

    def _look_up(self, resolution: int) -> Callable[[str], float]:
        path = self.folder / TABLE_NAME.format(resolution=resolution)
        table = read_table(path)

        def look_up(key: str) -> float:
            if key not in table:
                raise LUTError(f"{path} has no layer {key!r}: the table does not time this network")
            return table[key]

        return look_up

    def _from_table(self, resolution: int) -> tuple[np.ndarray, float]:
        look_up, space = self._look_up(resolution), self.space
        slots = space.slot_table(lambda block, size: look_up(block_key(block, size)), resolution, np.float64)
        fixed_layers = NetSpec(blocks=(space.first_block(),), **space.stem_and_head())
        keys = net_keys(fixed_layers, resolution, space.final_size(resolution))
        return slots, sum(look_up(key) for key in keys)
