"""The NAS-Bench-201 cell space ``nb201`` (CIFAR-10 network).

A cell is a DAG on 4 nodes: node 0 is the cell input, node 3 its output, and every node ``i > 0``
sums one operation applied to each earlier node. The 6 edges are genes in the benchmark's string
order ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, i.e. (to, from) = (1,0), (2,0), (2,1), (3,0), (3,1),
(3,2); each gene indexes ``OPS``. An arch's public JSON form is that string.

Every gene row is a distinct entry of the benchmark (15,625 = 5**6), so ``canonical`` is the identity;
``isomorphism_keys`` recognizes rows that compute the same function (see its docstring).

Costs are those of the benchmark's CIFAR-10 network for 32x32 inputs: stem 3x3 conv 3->16 + BN; three
stages of 5 cells at 16, 32, 64 channels (32x32, 16x16, 8x8) with a residual reduction block between
stages (ReLU-conv3x3/2-BN, ReLU-conv3x3-BN; shortcut 2x2 avg pool + 1x1 conv); BN + ReLU, global average
pool, linear 64->10. Cell convolutions are ReLU-Conv-BN without bias; BNs are affine.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from searchspaces.base import GENE_DTYPE, Arch, SearchSpace

if TYPE_CHECKING:
    import torch

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to node, from node), string order
N_NODES = 4
N_ARCHS = len(OPS) ** len(EDGES)
STAGE_CHANNELS = (16, 32, 64)
STAGE_SIZES = (32, 16, 8)
CELLS_PER_STAGE = 5
STEM_CHANNELS_IN = 3
N_CLASSES = 10
_FORMAT = "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|"
_PLACE_VALUES = len(OPS) ** np.arange(len(EDGES) - 1, -1, -1, dtype=np.int64)


@dataclass(frozen=True)
class Counts:
    """Cost of a part of the network: ``macs`` (conv and linear multiply-accumulates), ``params``
    (every parameter, BN affine included), ``torchstat_flops`` (see :meth:`NB201Space.torchstat_flops`)."""

    macs: int = 0
    params: int = 0
    torchstat_flops: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.macs + other.macs, self.params + other.params,
                      self.torchstat_flops + other.torchstat_flops)

    def __mul__(self, factor: int) -> Counts:
        return Counts(self.macs * factor, self.params * factor, self.torchstat_flops * factor)


def conv(c_in: int, c_out: int, kernel: int, out_size: int) -> Counts:
    """A bias-free convolution producing ``c_out x out_size x out_size``."""
    macs = kernel * kernel * c_in * c_out * out_size * out_size
    return Counts(macs, kernel * kernel * c_in * c_out, macs)


def batch_norm(channels: int, size: int) -> Counts:
    return Counts(0, 2 * channels, 2 * channels * size * size)


def relu(channels: int, size: int) -> Counts:
    return Counts(0, 0, channels * size * size)


def relu_conv_bn(c_in: int, c_out: int, kernel: int, in_size: int, out_size: int) -> Counts:
    return relu(c_in, in_size) + conv(c_in, c_out, kernel, out_size) + batch_norm(c_out, out_size)


def avg_pool(channels: int, kernel: int, out_size: int) -> Counts:
    return Counts(0, 0, channels * kernel * kernel * out_size * out_size)


def cell_op(op: str, channels: int, size: int) -> Counts:
    """One cell edge (stride 1, as many channels in as out)."""
    if op in ("nor_conv_1x1", "nor_conv_3x3"):
        return relu_conv_bn(channels, channels, int(op[-1]), size, size)
    if op == "avg_pool_3x3":
        return avg_pool(channels, 3, size)
    return Counts()


def reduction_block(c_in: int, c_out: int, in_size: int) -> Counts:
    out_size = in_size // 2
    return (relu_conv_bn(c_in, c_out, 3, in_size, out_size) + relu_conv_bn(c_out, c_out, 3, out_size, out_size)
            + avg_pool(c_in, 2, out_size) + conv(c_in, c_out, 1, out_size))


def fixed_counts() -> Counts:
    """Everything but the cells' edges."""
    c, size = STAGE_CHANNELS, STAGE_SIZES
    stem = conv(STEM_CHANNELS_IN, c[0], 3, size[0]) + batch_norm(c[0], size[0])
    reductions = reduction_block(c[0], c[1], size[0]) + reduction_block(c[1], c[2], size[1])
    head = batch_norm(c[-1], size[-1]) + relu(c[-1], size[-1])
    # torchstat counts a global pool over s x s as (s + 1)**2 additions per channel
    pool = Counts(0, 0, c[-1] * (size[-1] + 1) ** 2)
    linear = Counts(c[-1] * N_CLASSES, c[-1] * N_CLASSES + N_CLASSES, c[-1] * N_CLASSES)
    return stem + reductions + head + pool + linear


def edge_counts() -> list[list[Counts]]:
    """``[edge][op]``: the cost of one op on one edge, summed over the 15 cells."""
    per_op = [sum((cell_op(op, c, s) for c, s in zip(STAGE_CHANNELS, STAGE_SIZES)), Counts()) * CELLS_PER_STAGE
              for op in OPS]
    return [per_op for _ in EDGES]


class NB201Space(SearchSpace):
    name = "nb201"

    def __init__(self) -> None:
        self.gene_sizes = np.full(len(EDGES), len(OPS), dtype=np.int64)

    # -- genes <-> strings and table indices ---------------------------------------------------
    def to_json(self, arch: Arch) -> str:
        return _FORMAT.format(*(OPS[g] for g in arch.genes))

    def to_json_batch(self, genes: np.ndarray) -> list[str]:
        return self._strings[self.arch_index(genes)].tolist()

    def from_json(self, value: Any) -> Arch:
        return self.to_arch(np.array(parse_arch_string(value), dtype=GENE_DTYPE))

    def genes_from_strings(self, strings: list[str]) -> np.ndarray:
        """Gene rows of many arch strings (a dict lookup each; a bad string raises ``from_json``'s error)."""
        index_of = self._index_of_string
        try:
            indices = np.fromiter((index_of[s] for s in strings), dtype=np.int64, count=len(strings))
        except (KeyError, TypeError):
            indices = None
        if indices is None:  # the index holds every valid string: parsing names what is wrong
            return np.array([parse_arch_string(s) for s in strings], dtype=GENE_DTYPE)
        return self.all_genes()[indices]

    @staticmethod
    def arch_index(genes: np.ndarray) -> np.ndarray:
        """Each row's position in the full enumeration: the genes read as a base-5 number."""
        return np.asarray(genes, dtype=np.int64) @ _PLACE_VALUES

    @staticmethod
    def all_genes() -> np.ndarray:
        """All 15,625 rows, row ``i`` having ``arch_index`` ``i``."""
        digits = np.indices((len(OPS),) * len(EDGES)).reshape(len(EDGES), -1).T
        return digits.astype(GENE_DTYPE)

    @cached_property
    def _strings(self) -> np.ndarray:
        return np.array([_FORMAT.format(*(OPS[g] for g in row)) for row in self.all_genes().tolist()], dtype=object)

    @cached_property
    def _index_of_string(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self._strings.tolist())}

    # -- equivalent cells ----------------------------------------------------------------------
    def isomorphism_keys(self, genes: np.ndarray) -> list[str]:
        """A key per row that is equal for rows computing the same function of the cell input.

        The output node is written as a sum of terms: ``x`` (the input) or ``op(<sum>)``, sums being
        sorted multisets of terms joined by ``+``. ``skip_connect`` passes its node's terms on, ``none``
        adds nothing, and so does any op whose input node is empty (a node with no path from the input;
        a conv on it would only add BN's constant bias). Nodes with no path to the output never appear.
        A cell whose output has no path from its input gets ``"zero"``.
        """
        return self._isomorphism_table[self.arch_index(genes)].tolist()

    @cached_property
    def _isomorphism_table(self) -> np.ndarray:
        return np.array([cell_key(row) for row in self.all_genes().tolist()], dtype=object)

    # -- costs ---------------------------------------------------------------------------------
    def macs(self, genes: np.ndarray) -> np.ndarray:
        """Multiply-accumulates of convolutions and the classifier (no bias terms), one 32x32 image."""
        return self._cost(genes, "macs")

    def params(self, genes: np.ndarray) -> np.ndarray:
        """Every parameter: conv weights, BN scale and shift, the classifier's weights and bias."""
        return self._cost(genes, "params")

    def torchstat_flops(self, genes: np.ndarray) -> np.ndarray:
        """FLOPs as tensorwatch's torchstat counts them (the ``flops`` of NASLib's NB201 zero-cost data):
        conv MACs, linear MACs without bias, 1 per ReLU input element, 2 per affine-BN input element,
        ``k*k`` per output element of an avg pool, ``(s+1)**2`` per channel for the global s x s pool."""
        return self._cost(genes, "torchstat_flops")

    def _cost(self, genes: np.ndarray, field: str) -> np.ndarray:
        fixed, table = self._cost_tables[field]
        edges = np.arange(len(EDGES))
        return fixed + table[edges, np.asarray(genes, dtype=np.int64)].sum(axis=1)

    @cached_property
    def _cost_tables(self) -> dict[str, tuple[int, np.ndarray]]:
        fixed, per_edge = fixed_counts(), edge_counts()
        return {
            field: (getattr(fixed, field),
                    np.array([[getattr(c, field) for c in row] for row in per_edge], dtype=np.int64))
            for field in ("macs", "params", "torchstat_flops")
        }

    # -- torch ---------------------------------------------------------------------------------
    def resolution(self, arch: Arch) -> int:
        """Input size of the benchmark's CIFAR network (every cell)."""
        return STAGE_SIZES[0]

    def build(self, arch: Arch) -> torch.nn.Module:
        from searchspaces.nb201_torch import NB201Network

        return NB201Network([OPS[g] for g in arch.genes], EDGES, STAGE_CHANNELS, CELLS_PER_STAGE, N_CLASSES)


def parse_arch_string(value: Any) -> list[int]:
    """Gene indices of an arch string; ``ValueError`` saying exactly what is wrong."""
    example = _FORMAT.format(*["nor_conv_3x3"] * len(EDGES))
    if not isinstance(value, str):
        raise ValueError(f"an nb201 arch is a string like {example!r}, not {type(value).__name__}")
    groups = value.split("+")
    if len(groups) != N_NODES - 1:
        raise ValueError(f"nb201 arch {value!r} must have {N_NODES - 1} nodes separated by '+', like {example!r}")
    genes: list[int] = []
    for node, group in enumerate(groups, start=1):
        genes += _parse_node(group, node, value)
    return genes


def _parse_node(group: str, node: int, value: str) -> list[int]:
    if len(group) < 2 or group[0] != "|" or group[-1] != "|":
        raise ValueError(f"node {node} of nb201 arch {value!r} must be written '|op~0|...|', got {group!r}")
    tokens = group[1:-1].split("|")
    if len(tokens) != node:
        raise ValueError(f"node {node} of nb201 arch {value!r} must have {node} input edge(s), got {len(tokens)}")
    genes = []
    for source, token in enumerate(tokens):
        op, sep, index = token.partition("~")
        if not sep or index != str(source):
            raise ValueError(f"edge {token!r} of node {node} in {value!r} must be written '<op>~{source}'")
        if op not in OPS:
            raise ValueError(f"unknown operation {op!r} in nb201 arch {value!r}; allowed: {', '.join(OPS)}")
        genes.append(OPS.index(op))
    return genes


def cell_key(row: list[int]) -> str:
    """The isomorphism key of one gene row (see :meth:`NB201Space.isomorphism_keys`)."""
    nodes: list[list[str]] = [["x"]]
    for node in range(1, N_NODES):
        terms: list[str] = []
        for gene, (target, source) in zip(row, EDGES):
            if target != node or OPS[gene] == "none" or not nodes[source]:
                continue
            if OPS[gene] == "skip_connect":
                terms += nodes[source]
            else:
                terms.append(f"{OPS[gene]}({'+'.join(nodes[source])})")
        nodes.append(sorted(terms))
    return "+".join(nodes[-1]) or "zero"


NB201 = NB201Space()
