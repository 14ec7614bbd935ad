"""Once-for-All's elastic MobileNetV3 space (``ofa-mbv3-w1.0`` and ``ofa-mbv3-w1.2``).

Channel widths, strides, activations and squeeze-excite placement follow OFA's
``OFAMobileNetV3`` supernet; an arch is OFA's dict ``{"ks": [20], "e": [20], "d": [5], "r": R}``.
Genes: 20 kernel indices, 20 expand-ratio indices, 5 depth indices, 1 resolution index.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

from searchspaces.base import GENE_DTYPE, Arch, SearchSpace
from searchspaces.mobilenet import Conv, Linear, MBConv, NetSpec, make_divisible

KERNELS = (3, 5, 7)
EXPANDS = (3, 4, 6)
DEPTHS = (2, 3, 4)
N_STAGES, MAX_DEPTH = 5, 4
N_BLOCKS = N_STAGES * MAX_DEPTH
BASE_WIDTHS = (16, 16, 24, 40, 80, 112, 160, 960, 1280)
STAGE_STRIDES = (2, 2, 2, 1, 2)
STAGE_ACTS = ("relu", "relu", "h_swish", "h_swish", "h_swish")
STAGE_SE = (False, True, False, True, True)
N_CLASSES = 1000


class OFAMobileNetV3Space(SearchSpace):
    """Resolutions and ``n_classes`` other than OFA's give small-image variants; ``stage_strides`` other
    layouts (``W10_CIFAR10`` uses one; why, in its comment)."""

    def __init__(self, name: str, width_mult: float, resolutions: range | tuple[int, ...],
                 stage_strides: tuple[int, ...] = STAGE_STRIDES, n_classes: int = N_CLASSES) -> None:
        self.name = name
        self.width_mult = width_mult
        self.resolutions = tuple(resolutions)
        self.stage_strides = stage_strides
        self.n_classes = n_classes
        self.widths = [make_divisible(w * width_mult) for w in BASE_WIDTHS[:-2]]
        self.final_expand = make_divisible(BASE_WIDTHS[-2] * width_mult)
        self.last_channel = make_divisible(BASE_WIDTHS[-1] * width_mult)
        sizes = [3] * (2 * N_BLOCKS) + [3] * N_STAGES + [len(self.resolutions)]
        self.gene_sizes = np.array(sizes, dtype=np.int64)

    # -- genes <-> OFA dict -------------------------------------------------------------------
    @staticmethod
    def split(genes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Kernel, expand, depth and resolution index columns of a batch."""
        return genes[:, :N_BLOCKS], genes[:, N_BLOCKS:2 * N_BLOCKS], genes[:, 2 * N_BLOCKS:-1], genes[:, -1]

    @staticmethod
    def stage_columns(stage: int) -> list[int]:
        """The gene columns of one stage: its four kernels, four expand ratios and its depth."""
        slots = range(stage * MAX_DEPTH, (stage + 1) * MAX_DEPTH)
        return [*slots, *(N_BLOCKS + i for i in slots), 2 * N_BLOCKS + stage]

    @staticmethod
    def active_blocks(depth_idx: np.ndarray) -> np.ndarray:
        """Boolean ``(n, 20)``: which of the 20 block slots a batch of depth indices uses."""
        depth = np.asarray(DEPTHS)[depth_idx]
        return (np.arange(MAX_DEPTH) < depth[:, :, None]).reshape(len(depth), N_BLOCKS)

    def canonical(self, genes: np.ndarray) -> np.ndarray:
        """Unused block slots get the first kernel and expand choice (they do not change the net)."""
        out = genes.copy()
        inactive = ~self.active_blocks(out[:, 2 * N_BLOCKS:-1])
        out[:, :N_BLOCKS][inactive] = 0
        out[:, N_BLOCKS:2 * N_BLOCKS][inactive] = 0
        return out

    def to_json(self, arch: Arch) -> dict[str, Any]:
        return self.to_json_batch(np.array([arch.genes]))[0]

    def to_json_batch(self, genes: np.ndarray) -> list[dict[str, Any]]:
        ks, e, d, r = self.split(genes)
        columns = (np.take(KERNELS, ks).tolist(), np.take(EXPANDS, e).tolist(), np.take(DEPTHS, d).tolist(),
                   np.take(self.resolutions, r).tolist())
        return [{"ks": k, "e": x, "d": y, "r": z} for k, x, y, z in zip(*columns)]

    def from_json(self, value: Any) -> Arch:
        if not isinstance(value, dict) or not {"ks", "e", "d", "r"} <= value.keys():
            raise ValueError(f"{self.name} arch must be an object with keys ks, e, d, r")
        r = value["r"]
        r = r[0] if isinstance(r, list) and len(r) == 1 else r
        row = [
            *_indices(value["ks"], KERNELS, N_BLOCKS, "ks"),
            *_indices(value["e"], EXPANDS, N_BLOCKS, "e"),
            *_indices(value["d"], DEPTHS, N_STAGES, "d"),
            *_indices([r], self.resolutions, 1, "r"),
        ]
        return self.to_arch(self.canonical(np.array([row], dtype=GENE_DTYPE))[0])

    # -- networks and exact costs --------------------------------------------------------------
    def net_spec(self, arch: Arch) -> NetSpec:
        ks, e, d, _ = self.split(np.array([arch.genes]))
        active = self.active_blocks(d)[0]
        blocks = [self.first_block()]
        blocks += [self.block(i, KERNELS[ks[0, i]], EXPANDS[e[0, i]]) for i in range(N_BLOCKS) if active[i]]
        return NetSpec(blocks=tuple(blocks), **self.stem_and_head())

    def resolution(self, arch: Arch) -> int:
        return self.resolutions[arch.genes[-1]]

    def build(self, arch: Arch) -> torch.nn.Module:
        from searchspaces.mobilenet_torch import MobileNet

        return MobileNet(self.net_spec(arch))

    def macs(self, genes: np.ndarray) -> np.ndarray:
        return self._fixed_macs[genes[:, -1]] + self.sum_slots(self._block_macs, genes, with_resolution=True)

    def params(self, genes: np.ndarray) -> np.ndarray:
        return self._fixed_params + self.sum_slots(self._block_params, genes, with_resolution=False)

    def shrink_step(self, genes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Move one random gene per row one choice down; every choice list is ordered by cost, so
        no cost grows. Rows already at the smallest arch stay as they are."""
        out = self.canonical(genes)
        weights = (out > 0) * rng.random(out.shape)
        column = weights.argmax(1)
        rows = np.arange(len(out))
        out[rows, column] -= (weights[rows, column] > 0).astype(out.dtype)
        return self.canonical(out)

    def sum_slots(self, table: np.ndarray, genes: np.ndarray, with_resolution: bool) -> np.ndarray:
        """Sum over the 20 slots of ``table[(r,) slot, depth, k, e]`` (zero for unused slots)."""
        return self.slot_values(table, genes, with_resolution).sum(1)

    def slot_values(self, table: np.ndarray, genes: np.ndarray, with_resolution: bool) -> np.ndarray:
        """``table[(r,) slot, depth, k, e]`` of each of the 20 slots, shape (n, 20); 0 for unused slots."""
        ks, e, d, r = (part.astype(np.int32) for part in self.split(genes))
        index = (self._slot_offsets + np.repeat(d, MAX_DEPTH, axis=1) * 9 + ks * 3 + e)
        if with_resolution:
            index += r[:, None] * (N_BLOCKS * 27)
        return np.take(table, index)

    def slot_macs(self, genes: np.ndarray) -> np.ndarray:
        """MACs of each slot's block at the arch's resolution, shape (n, 20); 0 for unused slots."""
        return self.slot_values(self._block_macs, genes, with_resolution=True)

    def stem_and_head(self) -> dict[str, Any]:
        return {
            "stem": (Conv(3, self.widths[0], 3, 2, act="h_swish"),),
            "pre_pool": (Conv(self.widths[-1], self.final_expand, act="h_swish"),),
            "post_pool": (Conv(self.final_expand, self.last_channel, bn=False, act="h_swish"),),
            "classifier": Linear(self.last_channel, self.n_classes),
        }

    def first_block(self) -> MBConv:
        w_in, w_out = self.widths[0], self.widths[1]
        return MBConv(w_in, w_out, 3, 1, w_in, "relu", se=False, residual=w_in == w_out, expand=False)

    def block(self, slot: int, kernel: int, expand: int) -> MBConv:
        stage, j = divmod(slot, MAX_DEPTH)
        w_in = self.widths[stage + 1] if j == 0 else self.widths[stage + 2]
        w_out = self.widths[stage + 2]
        stride = self.stage_strides[stage] if j == 0 else 1
        mid = make_divisible(round(w_in * expand))
        return MBConv(w_in, w_out, kernel, stride, mid, STAGE_ACTS[stage], STAGE_SE[stage],
                      residual=stride == 1 and w_in == w_out)

    def block_input_sizes(self, resolution: int) -> list[int]:
        """Spatial size entering each of the 20 slots (a stage's first slot sees the previous stride)."""
        size = -(-resolution // 2)
        sizes = []
        for stage in range(N_STAGES):
            sizes.append(size)
            size = -(-size // self.stage_strides[stage])
            sizes += [size] * (MAX_DEPTH - 1)
        return sizes

    _slot_offsets = np.arange(N_BLOCKS, dtype=np.int32) * 27

    @cached_property
    def _block_macs(self) -> np.ndarray:
        """Flat table over (resolution, slot, depth, kernel, expand) of one slot's MACs."""
        tables = [self.slot_table(lambda block, size: block.macs(size), res) for res in self.resolutions]
        return np.stack(tables).ravel()

    @cached_property
    def _block_params(self) -> np.ndarray:
        return self.slot_table(lambda block, size: block.params(), self.resolutions[-1]).ravel()

    def slot_table(self, count: Callable[[MBConv, int], float], resolution: int, dtype: type = np.int64) -> np.ndarray:
        """``count(block, input size)`` of every (slot, depth, kernel, expand) choice; 0 for unused slots."""
        table = np.zeros((N_BLOCKS, len(DEPTHS), len(KERNELS), len(EXPANDS)), dtype=dtype)
        for slot, size in enumerate(self.block_input_sizes(resolution)):
            for di, depth in enumerate(DEPTHS):
                if slot % MAX_DEPTH >= depth:
                    continue
                for ki, k in enumerate(KERNELS):
                    for ei, e in enumerate(EXPANDS):
                        table[slot, di, ki, ei] = count(self.block(slot, k, e), size)
        return table

    @cached_property
    def _fixed_macs(self) -> np.ndarray:
        """MACs of everything but the 20 elastic slots, per resolution index."""
        parts = self.stem_and_head()
        first = self.first_block()
        return np.array([
            parts["stem"][0].macs(res) + first.macs(-(-res // 2)) + parts["pre_pool"][0].macs(self.final_size(res))
            + parts["post_pool"][0].macs(1) + parts["classifier"].macs()
            for res in self.resolutions
        ], dtype=np.int64)

    def final_size(self, resolution: int) -> int:
        size = -(-resolution // 2)
        for stride in self.stage_strides:
            size = -(-size // stride)
        return size

    @cached_property
    def _fixed_params(self) -> int:
        return NetSpec(blocks=(self.first_block(),), **self.stem_and_head()).params()


def _indices(values: Any, choices: tuple[int, ...], length: int, key: str) -> list[int]:
    if not isinstance(values, list) or len(values) != length:
        raise ValueError(f"'{key}' must be a list of {length} values from {list(choices)}")
    bad = [v for v in values if v not in choices]
    if bad:
        raise ValueError(f"'{key}' has {bad[0]!r}; allowed: {list(choices)}")
    return [choices.index(v) for v in values]


W10 = OFAMobileNetV3Space("ofa-mbv3-w1.0", 1.0, range(128, 225, 4))
W12 = OFAMobileNetV3Space("ofa-mbv3-w1.2", 1.2, range(160, 225, 4))
# CIFAR-10 at 32 px: a stride-2 stem, then every stage halves the map, so maps go 16, 8, 4, 2, 1 and 1
# (OFA's strides 2, 2, 2, 1, 2 put stage 3 on 2x2 maps). Subnet accuracy follows the early stages'
# width, and on 1x1 maps stage 3's MACs shrink 4x, so less of the MACs spread is width that buys
# nothing; it is also 13.1M MACs at the largest instead of 15.2M and steps 1.1-1.3x faster. Measured
# on one 2-core CPU in runs of about an hour, Kendall tau of 50 random subnets against MACs: 0.322 and
# 0.254 in two 19-epoch runs of this layout (seeds 0 and 1), and on slower days 0.093, 0.237 and 0.170
# in 9, 10 and 13 epochs (seeds 0, 2 and 3); 0.135 in 13 epochs with weight decay 5e-4 (seed 4: 3 points
# more accurate throughout, but stage 4's MACs on 1x1 maps ranked against accuracy, tau -0.16); 0.142
# in 11 epochs (seed 5), where the MACs of stages 0-2 alone ranked at 0.381 and those of stages 3-4,
# both on 1x1 maps and 48 % of the MACs' variance, at -0.200; 0.282 in 13 epochs (seed 6, stages 3-4
# neutral at +0.05 and +0.03); with the smaller subnets on halves of each batch (--student-split 2),
# 17-19 epochs fit: 0.382 (seed 7; stage 0's MACs +0.546), 0.252 (seed 8; +0.374), 0.366 (seed 9,
# 19 epochs; stages 0-2 +0.374, +0.270, +0.227, stages 3-4 +0.023, +0.034) and 0.162 (seed 10, 17
# epochs; stage 0 +0.409, stages 3-4 -0.116, -0.077); all these
# against 0.17-0.26 in six 11-14-epoch runs of OFA's strides and 0.03-0.13 in five with stages 2 and 3
# swapped, where MACs varied most in stage 2 on 4x4 maps, whose width bought no accuracy. Strides
# 1, 2, 2, 2, 2 put half the MACs in the first two stages and stepped 2x slower (tau 0.125 in 5 epochs).
# (A full-resolution stem trains 2-3x slower on a CPU.)
# Resolution is elastic, 24, 28 or 32 px, as OFA's spaces take 128-224 px: resolution is the one
# choice whose MACs buy accuracy in every stage at once, so it spreads the MACs along the axis that
# ranks. With it, over 50 random subnets after an hour (split 2): tau 0.352 (seed 11, 17 epochs;
# resolution 30 % of the MACs' variance, +0.334 against accuracy), 0.322 (seed 12, 16 epochs; 24 %,
# +0.600) and 0.278 (seed 13, 17 epochs; 17 %, +0.539, with stage 4 on 1x1 maps 33 % of the variance
# at -0.167), mean 0.32, against a mean of 0.29 in the four split runs at a fixed 32 px above.
W10_CIFAR10 = OFAMobileNetV3Space("ofa-mbv3-w1.0-cifar10", 1.0, (24, 28, 32), stage_strides=(2, 2, 2, 2, 2),
                                  n_classes=10)
