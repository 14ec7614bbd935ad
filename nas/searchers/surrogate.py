"""Surrogate-guided search for expensive evaluations (tabular benchmarks, supernet accuracy).

After a few random archs, every ``ask`` fits a gradient-boosted tree model (xgboost) on the
accuracies told so far and picks the most promising unseen candidates: the whole space when it is
small (NAS-Bench-201), else mutations of the best archs plus random ones. With a cost objective a
batch is chosen greedily by predicted hypervolume improvement: each pick is the candidate whose
predicted accuracy at its (exactly known) cost would add the most area to the front, counting the
picks before it, so queries spread along the trade-off instead of piling up at one end.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xgboost as xgb

from nas.problem import Problem
from nas.searchers.base import Searcher, register
from nas.searchers.operators import make_feasible, mutate

ENUMERATE_UP_TO = 100_000


@register("surrogate")
class SurrogateSearcher(Searcher):
    def __init__(self, problem: Problem, seed: int = 0, initial: int = 20, pool: int = 4000,
                 explore_share: float = 0.2) -> None:
        super().__init__(problem, seed)
        self.initial = initial
        self.pool_size = pool
        self.explore_share = explore_share
        self.genes = np.empty((0, problem.space.n_genes), dtype=np.int16)
        self.metrics: dict[str, np.ndarray] = {}
        self._everything = self._enumerate_space()

    def _enumerate_space(self) -> np.ndarray | None:
        sizes = self.problem.space.gene_sizes
        if np.prod(sizes.astype(float)) > ENUMERATE_UP_TO:
            return None
        grids = np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij")
        every = np.stack([g.ravel() for g in grids], axis=1).astype(np.int16)
        every = np.unique(self.problem.space.canonical(every), axis=0)
        return every[self.problem.feasible(every)]

    def ask(self, n: int) -> np.ndarray:
        if len(self.genes) < self.initial:
            pool = self._random(max(n, self.pool_size))
            return self.seen.keep_new(pool, n)
        pool = self.seen.unseen(self._candidates())
        predicted = self._predict(pool)
        n_explore = round(n * self.explore_share)
        if self.problem.objectives:
            order = pool[self._by_hypervolume_gain(pool, predicted, n - n_explore)]
        else:
            order = pool[np.argsort(-predicted, kind="stable")]
        chosen = [self.seen.keep_new(order, n - n_explore)]
        if n_explore:
            chosen.append(self.seen.keep_new(self._random(4 * n_explore + 8), n_explore))
        return np.concatenate(chosen)

    def _random(self, n: int) -> np.ndarray:
        if self._everything is not None:
            count = min(n, len(self._everything))
            return self._everything[self.rng.choice(len(self._everything), count, replace=False)]
        return make_feasible(self.problem, self.problem.space.sample(n, self.rng), self.rng)

    def _candidates(self) -> np.ndarray:
        if self._everything is not None:
            return self._everything
        best = self.genes[np.argsort(-self.metrics["accuracy"])[:20]]
        parents = best[self.rng.integers(0, len(best), self.pool_size)]
        children = mutate(parents.copy(), self.problem.space.gene_sizes, 1.5 / self.problem.space.n_genes, self.rng)
        pool = np.concatenate([self.problem.space.canonical(children), self._random(self.pool_size // 4)])
        return make_feasible(self.problem, pool, self.rng)

    def _predict(self, pool: np.ndarray) -> np.ndarray:
        params = {"max_depth": 4, "eta": 0.1, "subsample": 0.9, "seed": int(self.rng.integers(2**31)),
                  "nthread": 1, "objective": "reg:squarederror"}
        train = xgb.DMatrix(self._features(self.genes), label=self.metrics["accuracy"])
        model = xgb.train(params, train, num_boost_round=200)
        return model.predict(xgb.DMatrix(self._features(pool))).astype(np.float64)

    def _features(self, genes: np.ndarray) -> np.ndarray:
        """One-hot genes plus every cost metric: costs are exact and cheap, and accuracy tracks them.
        (The GBDT predictor's structure features and logit target measured no better here: 0.975 vs
        0.979 hypervolume ratio on NAS-Bench-201, 20 seeds.)"""
        costs = self.problem.cost_metrics(genes)
        return np.column_stack([self.problem.space.encode(genes), *costs.values()])

    def _by_hypervolume_gain(self, pool: np.ndarray, predicted: np.ndarray, n: int) -> np.ndarray:
        """Indices of ``n`` candidates picked one by one for the largest area they add to the front
        of (cost, accuracy) points told so far plus the picks before them."""
        metric = self.problem.objectives[0]
        cost = self.problem.cost_metrics(pool)[metric]
        front_cost, front_acc = self.metrics[metric], self.metrics["accuracy"]
        # a typical arch, from the unbiased random start (later archs are picked for accuracy)
        floor = float(np.median(front_acc[:self.initial]))
        ceiling = float(max(cost.max(), front_cost.max()))
        picks: list[int] = []
        for _ in range(min(n, len(pool))):
            gain = _area_gain(cost, predicted, front_cost, front_acc, floor, ceiling)
            gain[picks] = -1.0
            best = int(np.argmax(gain))
            if gain[best] <= 0:
                break
            picks.append(best)
            front_cost, front_acc = np.append(front_cost, cost[best]), np.append(front_acc, predicted[best])
        rest = np.setdiff1d(np.argsort(-predicted, kind="stable"), picks, assume_unique=True)
        return np.concatenate([np.array(picks, dtype=np.int64), rest])

    def tell(self, genes: np.ndarray, metrics: dict[str, np.ndarray]) -> None:
        self.genes = np.concatenate([self.genes, genes])
        self.metrics = {k: np.concatenate([self.metrics[k], v]) if self.metrics else v for k, v in metrics.items()}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "genes": self.genes.copy(), "metrics": dict(self.metrics)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.genes, self.metrics = state["genes"].copy(), dict(state["metrics"])


def _area_gain(cost: np.ndarray, accuracy: np.ndarray, front_cost: np.ndarray, front_acc: np.ndarray,
               floor: float, ceiling: float) -> np.ndarray:
    """For each candidate (cost, accuracy): the area of {x in [cost, ceiling], y in [floor, accuracy]}
    not already dominated by the front (accuracy maximized, cost minimized)."""
    order = np.argsort(front_cost, kind="stable")
    edges = np.append(front_cost[order], ceiling)  # the front's best accuracy is a step function of cost
    steps = np.maximum.accumulate(front_acc[order])
    segment_start = np.maximum(edges[:-1][None, :], cost[:, None])
    widths = np.clip(edges[1:][None, :] - segment_start, 0.0, None)
    heights = np.clip(accuracy[:, None] - np.maximum(steps[None, :], floor), 0.0, None)
    below_front = np.clip(np.minimum(edges[0], ceiling) - cost, 0.0, None)  # cheaper than every front point
    return (widths * heights).sum(1) + below_front * np.clip(accuracy - floor, 0.0, None)
