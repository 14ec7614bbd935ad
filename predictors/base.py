"""Predictor and CostModel abstractions. Both take batches of gene rows (see ``searchspaces.base``)."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from searchspaces.base import SearchSpace


class CostModel(ABC):
    """A pure, vectorized cost of architectures: ``cost(genes) -> float array`` of shape ``(n,)``.

    ``metric`` names the figure in results and budgets (``"macs"``, ``"params"``,
    ``"latency@note10"``); lower is better.
    """

    metric: str
    space: SearchSpace

    @abstractmethod
    def cost(self, genes: np.ndarray) -> np.ndarray: ...


class Predictor(ABC):
    """An accuracy predictor with scikit-learn conventions.

    ``fit(genes, y)`` returns ``self``; ``predict(genes)`` returns one float per row, higher is
    better; ``space`` is the search space whose gene rows it reads.
    """

    name: str
    space: SearchSpace

    def fit(self, genes: np.ndarray, y: np.ndarray) -> Predictor:
        raise NotImplementedError(f"predictor {self.name} is pretrained and cannot be fitted here")

    @abstractmethod
    def predict(self, genes: np.ndarray) -> np.ndarray: ...
