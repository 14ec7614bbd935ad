"""Constraint-aware evolutionary search, vectorized over whole generations.

Each generation breeds children from two parent pools: the most accurate feasible archs found so
far (which drives the best subnet under the budget) and the current Pareto front (which keeps the
whole accuracy/cost trade-off improving from the smallest subnet up to the budget). Children are
made by uniform crossover and per-gene mutation; a child over budget is walked back into the
feasible region by shrinking genes one choice at a time, so no infeasible arch is ever asked.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nas.pareto import pareto_mask
from nas.problem import Problem
from nas.searchers.base import Searcher, register
from nas.searchers.operators import fresh_feasible, make_feasible, mutate, uniform_crossover


@register("evolution")
class EvolutionSearcher(Searcher):
    def __init__(
        self,
        problem: Problem,
        seed: int = 0,
        population: int = 128,
        mutation_prob: float = 0.05,
        crossover_share: float = 0.5,
        front_share: float = 0.25,
    ) -> None:
        super().__init__(problem, seed)
        self.population = population
        self.mutation_prob = mutation_prob
        self.crossover_share = crossover_share
        self.front_share = front_share
        n_genes = problem.space.n_genes
        self.elite = np.empty((0, n_genes), dtype=np.int16)
        self.elite_scores = np.empty(0)
        self.front = np.empty((0, n_genes), dtype=np.int16)
        self.front_points = np.empty((0, 1 + len(problem.objectives)))

    # -- ask -----------------------------------------------------------------------------------
    def ask(self, n: int) -> np.ndarray:
        return fresh_feasible(self.problem, self.seen, n, self._candidates)

    def _candidates(self, n: int) -> np.ndarray:
        children = self._breed(n) if len(self.elite) else self._initial(n)
        return make_feasible(self.problem, children, self.rng)

    def _initial(self, n: int) -> np.ndarray:
        space = self.problem.space
        smallest = np.zeros((1, space.n_genes), dtype=np.int16)
        return np.concatenate([smallest, space.sample(n - 1, self.rng)])

    def _breed(self, n: int) -> np.ndarray:
        n_front = int(n * self.front_share) if len(self.front) else 0
        parents = np.concatenate([self._pick(self.elite, n - n_front), self._pick(self.front, n_front)])
        children = uniform_crossover(parents, self._pick(self.elite, n), self.crossover_share, self.rng)
        children = mutate(children, self.problem.space.gene_sizes, self.mutation_prob, self.rng)
        return self.problem.space.canonical(children)

    def _pick(self, pool: np.ndarray, n: int) -> np.ndarray:
        return pool[self.rng.integers(0, len(pool), n)]

    # -- tell ----------------------------------------------------------------------------------
    def tell(self, genes: np.ndarray, metrics: dict[str, np.ndarray]) -> None:
        pool = np.concatenate([self.elite, genes])
        scores = np.concatenate([self.elite_scores, metrics["accuracy"]])
        best = np.argsort(-scores, kind="stable")[: self.population]
        self.elite, self.elite_scores = pool[best], scores[best]
        points = np.column_stack([-metrics["accuracy"], *(metrics[m] for m in self.problem.objectives)])
        all_points = np.concatenate([self.front_points, points])
        on_front = pareto_mask(all_points)
        self.front = np.concatenate([self.front, genes])[on_front]
        self.front_points = all_points[on_front]

    # -- resume --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "elite": self.elite.copy(), "elite_scores": self.elite_scores.copy(),
            "front": self.front.copy(), "front_points": self.front_points.copy(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.elite, self.elite_scores = state["elite"].copy(), state["elite_scores"].copy()
        self.front, self.front_points = state["front"].copy(), state["front_points"].copy()
