"""The Searcher abstraction (ask/tell) and the registry of strategies."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

from nas.problem import Problem


class Searcher(ABC):
    """A seeded search strategy.

    Contract: ``ask(n)`` returns up to ``n`` canonical gene rows that satisfy every budget of the
    problem and were never asked before (fewer only when the space is exhausted);
    ``tell(genes, metrics)`` reports their metrics (``accuracy`` and each cost); the same seed and
    the same tells give the same asks; ``state_dict``/``load_state_dict`` resume a search.
    Searchers know nothing of executors or storage.
    """

    def __init__(self, problem: Problem, seed: int = 0) -> None:
        self.problem = problem
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.seen = SeenSet()

    @abstractmethod
    def ask(self, n: int) -> np.ndarray: ...

    @abstractmethod
    def tell(self, genes: np.ndarray, metrics: dict[str, np.ndarray]) -> None: ...

    def replay(self, genes: np.ndarray, metrics: dict[str, np.ndarray]) -> None:
        """Rebuild from stored trials (a resumed job): they count as asked and are told."""
        self.seen.keep_new(genes, len(genes))
        self.tell(genes, metrics)

    def rng_state(self) -> str:
        """The generator's state as JSON text (its 128-bit integers fit no JSON number column)."""
        return json.dumps(self.rng.bit_generator.state)

    def set_rng_state(self, state: str) -> None:
        self.rng.bit_generator.state = json.loads(state)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng_state(), "seen": self.seen.state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.set_rng_state(state["rng"])
        self.seen.load(state["seen"])


SEARCHERS: dict[str, Callable[..., Searcher]] = {}


def register(name: str) -> Callable[[type[Searcher]], type[Searcher]]:
    def add(cls: type[Searcher]) -> type[Searcher]:
        if name in SEARCHERS:
            raise ValueError(f"search strategy {name!r} is already registered")
        SEARCHERS[name] = cls
        return cls

    return add


class SeenSet:
    """Exact membership of gene rows already asked (rows compared as raw bytes)."""

    def __init__(self) -> None:
        self._seen: set[bytes] = set()

    def __len__(self) -> int:
        return len(self._seen)

    def keep_new(self, genes: np.ndarray, limit: int) -> np.ndarray:
        """The first ``limit`` rows of ``genes`` not seen before (first occurrences); they become seen."""
        keys = dict.fromkeys(_row_bytes(genes))
        new = [key for key in keys if key not in self._seen][:limit]
        self._seen.update(new)
        return np.frombuffer(b"".join(new), dtype=genes.dtype).reshape(len(new), genes.shape[1]).copy()

    def unseen(self, genes: np.ndarray) -> np.ndarray:
        """Rows of ``genes`` not seen yet (nothing is marked seen)."""
        return genes[[key not in self._seen for key in _row_bytes(genes)]]

    def state(self) -> list[bytes]:
        return list(self._seen)

    def load(self, keys: list[bytes]) -> None:
        self._seen = set(keys)


def _row_bytes(genes: np.ndarray) -> list[bytes]:
    row = np.dtype((np.void, genes.dtype.itemsize * genes.shape[1]))
    return np.ascontiguousarray(genes).view(row).ravel().tolist()
