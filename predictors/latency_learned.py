"""Learned device latency: gradient-boosted trees fitted on measured (arch, latency) pairs.

For devices where a sum of per-layer table entries is biased (GPUs overlap layers, batch-1 runs
are dominated by launch overheads), a model of the whole network learns what the sum misses. It
reads the GBDT predictor's features (one-hot encoding, MACs, parameters, per-stage structure) and
fits log-latency, so errors are relative, as latency budgets are.
"""

from __future__ import annotations

import numpy as np
import xgboost as xgb

from predictors.base import CostModel
from predictors.gbdt import features
from searchspaces.base import SearchSpace

PARAMS = {"objective": "reg:squarederror", "max_depth": 6, "eta": 0.05, "subsample": 0.8,
          "colsample_bytree": 0.8, "tree_method": "hist", "nthread": 0}


class LearnedLatency(CostModel):
    def __init__(self, space: SearchSpace, device: str, rounds: int = 800, seed: int = 0) -> None:
        self.space, self.device, self.rounds, self.seed = space, device, rounds, seed
        self.metric = f"latency@{device}"
        self.model: xgb.Booster | None = None

    def fit(self, genes: np.ndarray, latency_ms: np.ndarray) -> LearnedLatency:
        latency_ms = np.asarray(latency_ms, dtype=np.float64)
        if len(genes) < 10 or not (np.isfinite(latency_ms).all() and (latency_ms > 0).all()):
            raise ValueError("learned latency needs at least 10 archs with positive, finite latencies")
        data = xgb.DMatrix(features(self.space, genes), label=np.log(latency_ms))
        self.model = xgb.train({**PARAMS, "seed": self.seed}, data, num_boost_round=self.rounds)
        return self

    def cost(self, genes: np.ndarray) -> np.ndarray:
        if self.model is None:
            raise ValueError(f"the latency model for {self.device} is not fitted")
        return np.exp(self.model.inplace_predict(features(self.space, genes)).astype(np.float64))
