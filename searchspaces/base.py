"""The SearchSpace abstraction: a space is a fixed list of categorical genes.

Every architecture of a space is a row of choice indices (one per gene). Batches of
architectures are integer matrices of shape ``(n, n_genes)``, which lets sampling, mutation,
cost models and predictors work on whole batches with numpy instead of Python loops.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

GENE_DTYPE = np.int16


@dataclass(frozen=True)
class Arch:
    """An immutable, hashable architecture: the space's name and its canonical choice indices."""

    space: str
    genes: tuple[int, ...]

    @property
    def key(self) -> str:
        return arch_keys(self.space, np.array([self.genes]))[0]


def arch_keys(space: str, genes: np.ndarray) -> list[str]:
    """Stable keys of a batch: the space's name and the gene indices as hex bytes."""
    rows = np.ascontiguousarray(genes, dtype=np.uint8)
    as_bytes = rows.view(np.dtype((np.void, rows.shape[1]))).ravel().tolist()
    return [f"{space}:{row.hex()}" for row in as_bytes]


class SearchSpace(ABC):
    """A search space.

    Contract: ``gene_sizes[j]`` is the number of choices of gene ``j``; every row of
    ``sample`` lies in the space and is canonical (``canonical`` leaves it unchanged); two rows
    describe the same network if and only if their canonical forms are equal; ``to_json`` and
    ``from_json`` round-trip; ``encode`` maps a batch to float32 features row by row.
    """

    name: str
    gene_sizes: np.ndarray

    @property
    def n_genes(self) -> int:
        return len(self.gene_sizes)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` architectures drawn uniformly per gene, canonicalized."""
        genes = rng.integers(0, self.gene_sizes, size=(n, self.n_genes), dtype=GENE_DTYPE)
        return self.canonical(genes)

    def canonical(self, genes: np.ndarray) -> np.ndarray:
        """Rows rewritten so that equal networks have equal rows (identity where genes are unique)."""
        return genes

    def encode(self, genes: np.ndarray) -> np.ndarray:
        """One-hot features of a batch: one block of ``gene_sizes[j]`` columns per gene."""
        offsets = np.concatenate(([0], np.cumsum(self.gene_sizes)[:-1]))
        features = np.zeros((len(genes), int(self.gene_sizes.sum())), dtype=np.float32)
        np.put_along_axis(features, genes.astype(np.int64) + offsets, 1.0, axis=1)
        return features

    def to_arch(self, row: np.ndarray) -> Arch:
        return Arch(self.name, tuple(int(g) for g in row))

    def to_genes(self, archs: list[Arch]) -> np.ndarray:
        return np.array([a.genes for a in archs], dtype=GENE_DTYPE).reshape(-1, self.n_genes)

    @abstractmethod
    def to_json(self, arch: Arch) -> Any:
        """The architecture in the space's public JSON form."""

    def to_json_batch(self, genes: np.ndarray) -> list[Any]:
        """``to_json`` of every row (spaces override it with a vectorized version)."""
        return [self.to_json(self.to_arch(row)) for row in genes]

    @abstractmethod
    def from_json(self, value: Any) -> Arch:
        """Parse the public JSON form; raise ``ValueError`` naming what is wrong."""

    def contains(self, value: Any) -> bool:
        try:
            self.from_json(value)
        except ValueError:
            return False
        return True

    def macs(self, genes: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"space {self.name} has no MAC model")

    def params(self, genes: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"space {self.name} has no parameter model")
