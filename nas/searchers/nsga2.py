"""NSGA-II, vectorized: non-dominated sorting and crowding distance over the whole population.

Objectives are accuracy (maximized) and every cost on the Pareto front of the problem (minimized).
Every asked arch already satisfies the budgets (repair or rejection), so constrained domination
reduces to plain domination here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nas.searchers.base import Searcher, register
from nas.searchers.operators import fresh_feasible, make_feasible, mutate, uniform_crossover


def nondominated_ranks(points: np.ndarray) -> np.ndarray:
    """Front index of every row (0 = non-dominated), all columns minimized."""
    leq = (points[:, None, :] <= points[None, :, :]).all(-1)
    lt = (points[:, None, :] < points[None, :, :]).any(-1)
    dominates = leq & lt  # dominates[i, j]: row i dominates row j
    dominated_by = dominates.sum(0)
    ranks = np.full(len(points), -1)
    front, rank = np.flatnonzero(dominated_by == 0), 0
    while front.size:
        ranks[front] = rank
        dominated_by = dominated_by - dominates[front].sum(0)
        dominated_by[ranks >= 0] = -1
        front, rank = np.flatnonzero(dominated_by == 0), rank + 1
    return ranks


def crowding_distance(points: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance within one front (boundary points get infinity)."""
    n, m = points.shape
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(m):
        order = np.argsort(points[:, j], kind="stable")
        span = points[order[-1], j] - points[order[0], j]
        distance[order[[0, -1]]] = np.inf
        if span > 0:
            distance[order[1:-1]] += (points[order[2:], j] - points[order[:-2], j]) / span
    return distance


@register("nsga2")
class NSGA2Searcher(Searcher):
    def __init__(self, problem: Any, seed: int = 0, population: int = 256, mutation_prob: float = 0.05,
                 crossover_share: float = 0.9) -> None:
        super().__init__(problem, seed)
        self.population_size = population
        self.mutation_prob = mutation_prob
        self.crossover_share = crossover_share
        self.population = np.empty((0, problem.space.n_genes), dtype=np.int16)
        self.points = np.empty((0, 1 + len(problem.objectives)))
        self.rank = np.empty(0, dtype=int)
        self.crowding = np.empty(0)

    def ask(self, n: int) -> np.ndarray:
        return fresh_feasible(self.problem, self.seen, n, self._candidates)

    def _candidates(self, n: int) -> np.ndarray:
        space = self.problem.space
        if not len(self.population):
            return make_feasible(self.problem, space.sample(n, self.rng), self.rng)
        parents = self.population[self._tournament(n)]
        mates = self.population[self._tournament(n)]
        children = uniform_crossover(parents, mates, self.crossover_share, self.rng)
        children = space.canonical(mutate(children, space.gene_sizes, self.mutation_prob, self.rng))
        return make_feasible(self.problem, children, self.rng)

    def _tournament(self, n: int) -> np.ndarray:
        """Binary tournaments: lower rank wins, then larger crowding distance."""
        a, b = self.rng.integers(0, len(self.population), (2, n))
        rank_a, rank_b = self.rank[a], self.rank[b]
        a_wins = (rank_a < rank_b) | ((rank_a == rank_b) & (self.crowding[a] >= self.crowding[b]))
        return np.where(a_wins, a, b)

    def tell(self, genes: np.ndarray, metrics: dict[str, np.ndarray]) -> None:
        points = np.column_stack([-metrics["accuracy"], *(metrics[m] for m in self.problem.objectives)])
        pool, pool_points = np.concatenate([self.population, genes]), np.concatenate([self.points, points])
        ranks = nondominated_ranks(pool_points)
        crowding = np.zeros(len(pool))
        for rank in np.unique(ranks):
            members = np.flatnonzero(ranks == rank)
            crowding[members] = crowding_distance(pool_points[members])
        keep = np.lexsort((-crowding, ranks))[: self.population_size]
        self.population, self.points = pool[keep], pool_points[keep]
        self.rank, self.crowding = ranks[keep], crowding[keep]

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "population": self.population.copy(), "points": self.points.copy(),
                "rank": self.rank.copy(), "crowding": self.crowding.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.population, self.points = state["population"].copy(), state["points"].copy()
        self.rank, self.crowding = state["rank"].copy(), state["crowding"].copy()
