"""Search-quality benchmarks on tabular data, where the true optimum and true front are known.

NAS-Bench-201: a query is one distinct arch whose accuracy is looked up. Costs (MACs, device
latency from a latency table) are cost models, known without a query, as in a real search.
Two objectives: accuracy (max) vs latency (min); quality is the hypervolume of the front found
divided by that of the true front (all 15,625 archs).

Reference point: the median accuracy of all archs and the largest latency of any arch. Only
trade-offs better than a typical arch count: with accuracy 0 as the floor, the near-free
10 %-accurate cells and the easy 85-90 % region make up most of the area, and random search
already scores 0.99, so the ratio would not tell strategies apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import moocore
import numpy as np

from nas.pareto import pareto_mask
from nas.problem import Problem
from nas.search import Limits, run_search
from nas.searchers import SEARCHERS
from predictors.costs import MacsCost, ParamsCost
from predictors.tabular import TabularAccuracy, TabularLatency
from searchspaces.nb201 import NB201

QUERIES_PER_ASK = 10
# sample-efficient settings for query budgets in the hundreds (the defaults suit millions of predictor calls)
SMALL_BUDGET: dict[str, dict[str, Any]] = {
    "evolution": {"population": 16, "mutation_prob": 0.2},
    "nsga2": {"population": 24, "mutation_prob": 0.2},
}


@dataclass(frozen=True)
class Summary:
    mean: float
    std: float

    @classmethod
    def of(cls, values: list[float]) -> Summary:
        return cls(float(np.mean(values)), float(np.std(values)))


@dataclass
class BenchResult:
    strategy: str
    queries: int
    seeds: int
    best_accuracy: list[float] = field(default_factory=list)
    hypervolume_ratio: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"strategy": self.strategy, "queries": self.queries, "seeds": self.seeds,
                               "best_accuracy": vars(Summary.of(self.best_accuracy))}
        if self.hypervolume_ratio:
            out["hypervolume_ratio"] = vars(Summary.of(self.hypervolume_ratio))
        return out


class NB201Bench:
    """The benchmark's problems and true front, built once and shared by every strategy and seed."""

    def __init__(self, results: Path, latency: Path | None = None, device: str | None = None) -> None:
        self.accuracy = TabularAccuracy(NB201, results)
        costs = [MacsCost(NB201), ParamsCost(NB201)]
        self.latency = TabularLatency(NB201, latency, device) if latency and device else None
        if self.latency:
            costs.append(self.latency)
        front = (self.latency.metric,) if self.latency else ()
        self.problem = Problem(NB201, self.accuracy, tuple(costs), (), front=front)
        self.reference: np.ndarray | None = None
        self.true_hypervolume = 0.0
        if self.latency:
            everything = NB201.all_genes()
            points = self._points(self.accuracy.predict(everything), self.latency.cost(everything))
            self.reference = np.array([np.median(points[:, 0]), points[:, 1].max()])
            self.true_hypervolume = hypervolume(points, self.reference)

    @staticmethod
    def _points(accuracy: np.ndarray, latency: np.ndarray) -> np.ndarray:
        return np.column_stack([-accuracy, latency])

    def run(self, strategy: str, queries: int, seed: int) -> tuple[float, float | None]:
        """Best accuracy found (percent) and, with a latency table, the hypervolume ratio."""
        searcher = SEARCHERS[strategy](self.problem, seed=seed, **SMALL_BUDGET.get(strategy, {}))
        limits = Limits(time_seconds=float("inf"), generations=10**9, batch_size=QUERIES_PER_ASK, evaluations=queries)
        result = run_search(self.problem, searcher, limits)
        best = 100 * float(result.metrics["accuracy"].max())
        if not self.latency:
            return best, None
        points = self._points(result.metrics["accuracy"], result.metrics[self.latency.metric])
        return best, hypervolume(points, self.reference) / self.true_hypervolume


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Hypervolume (all columns minimized) of the non-dominated ``points`` that beat ``reference``."""
    front = points[pareto_mask(points)]
    front = front[(front < reference).all(axis=1)]
    return float(moocore.hypervolume(front, ref=reference)) if len(front) else 0.0


def run_bench(bench: NB201Bench, strategy: str, queries: int, seeds: int,
              on_seed: Callable[[str, int], None] | None = None) -> BenchResult:
    result = BenchResult(strategy, queries, seeds)
    for seed in range(seeds):
        best, ratio = bench.run(strategy, queries, seed)
        result.best_accuracy.append(best)
        if ratio is not None:
            result.hypervolume_ratio.append(ratio)
        if on_seed:
            on_seed(strategy, seed)
    return result
