"""Exact complexity cost models (MACs, parameters) backed by a space's own counting."""

from __future__ import annotations

import numpy as np

from predictors.base import CostModel
from searchspaces.base import SearchSpace


class _CountCost(CostModel):
    """A count the space computes itself: ``space.<metric>(genes)``."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space

    def cost(self, genes: np.ndarray) -> np.ndarray:
        return getattr(self.space, self.metric)(genes).astype(np.float64)


class MacsCost(_CountCost):
    metric = "macs"


class ParamsCost(_CountCost):
    metric = "params"
