"""Exact complexity cost models (MACs, parameters) backed by a space's own counting."""

from __future__ import annotations

import numpy as np

from predictors.base import CostModel
from searchspaces.base import SearchSpace


class MacsCost(CostModel):
    metric = "macs"

    def __init__(self, space: SearchSpace) -> None:
        self.space = space

    def cost(self, genes: np.ndarray) -> np.ndarray:
        return self.space.macs(genes).astype(np.float64)


class ParamsCost(CostModel):
    metric = "params"

    def __init__(self, space: SearchSpace) -> None:
        self.space = space

    def cost(self, genes: np.ndarray) -> np.ndarray:
        return self.space.params(genes).astype(np.float64)
