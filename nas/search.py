"""Run a searcher against a problem in-process: ask, evaluate, tell, until a limit; keep everything."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nas.pareto import pareto_mask
from nas.problem import Problem
from nas.searchers.base import Searcher


@dataclass(frozen=True)
class Limits:
    time_seconds: float = 3.0
    generations: int = 1000
    batch_size: int = 2048
    evaluations: int | None = None  # stop after this many distinct archs (benchmarks count queries)


@dataclass
class SearchResult:
    """Every evaluated architecture (gene rows) with its metrics; the front and best derive from them."""

    problem: Problem
    genes: np.ndarray
    metrics: dict[str, np.ndarray]
    seconds: float
    generations: int

    @property
    def evaluated(self) -> int:
        return len(self.genes)

    def pareto_indices(self) -> np.ndarray:
        """Rows on the front of accuracy (max) vs the problem's objectives (min), by ascending cost."""
        feasible = np.flatnonzero(self.problem.feasible(self.genes))
        points = np.column_stack([-self.metrics["accuracy"][feasible],
                                  *(self.metrics[m][feasible] for m in self.problem.objectives)])
        front = feasible[pareto_mask(points)]
        return front[np.argsort(self.metrics[self.problem.objectives[0]][front], kind="stable")]

    def best_index(self) -> int:
        feasible = np.flatnonzero(self.problem.feasible(self.genes))
        return int(feasible[np.argmax(self.metrics["accuracy"][feasible])])

    def trial(self, index: int) -> dict[str, Any]:
        space = self.problem.space
        metrics = plain_metrics({name: values[index] for name, values in self.metrics.items()})
        return {"arch": space.to_json(space.to_arch(self.genes[index])), "metrics": metrics}

    def to_json(self) -> dict[str, Any]:
        return {
            "best": self.trial(self.best_index()),
            "pareto": [self.trial(i) for i in self.pareto_indices()],
            "evaluated": self.evaluated,
            "search_seconds": round(self.seconds, 3),
        }


@dataclass
class Progress:
    """What a progress display is told after each generation."""

    generations: int = 0
    evaluated: int = 0
    best_accuracy: float = float("-inf")
    seconds: float = 0.0
    stopped: bool = False  # on_generation asked to stop


Evaluate = Callable[[np.ndarray], dict[str, np.ndarray]]
OnGeneration = Callable[[Progress, np.ndarray, dict[str, np.ndarray]], "bool | None"]


def run_search(
    problem: Problem,
    searcher: Searcher,
    limits: Limits,
    on_generation: OnGeneration | None = None,
    evaluate: Evaluate | None = None,
    resume: Progress | None = None,
) -> SearchResult:
    """Ask, evaluate (in-process by default, or through an executor), tell, until a limit.

    ``on_generation(progress, genes, metrics)`` may return ``False`` to stop (cancellation, lost
    lease). ``resume`` carries the counters of earlier runs of the same search.
    """
    problem.check_feasible(np.zeros((1, problem.space.n_genes), dtype=np.int16))
    evaluate = evaluate or problem.evaluate
    genes: list[np.ndarray] = []
    metrics: list[dict[str, np.ndarray]] = []
    progress = resume or Progress()
    start = time.perf_counter() - progress.seconds
    while progress.generations < limits.generations and progress.seconds < limits.time_seconds:
        remaining = limits.batch_size if limits.evaluations is None else limits.evaluations - progress.evaluated
        if remaining <= 0:
            break
        batch = searcher.ask(min(limits.batch_size, remaining))
        if len(batch) == 0:
            break  # the searcher has exhausted the feasible space
        values = evaluate(batch)
        searcher.tell(batch, values)
        genes.append(batch)
        metrics.append(values)
        progress.generations += 1
        progress.evaluated += len(batch)
        progress.best_accuracy = max(progress.best_accuracy, float(values["accuracy"].max()))
        progress.seconds = time.perf_counter() - start
        if on_generation and on_generation(progress, batch, values) is False:
            progress.stopped = True
            break
    if not genes:
        empty = np.empty((0, problem.space.n_genes), dtype=np.int16)
        return SearchResult(problem, empty, {}, progress.seconds, progress.generations)
    return SearchResult(
        problem=problem,
        genes=np.concatenate(genes),
        metrics={k: np.concatenate([m[k] for m in metrics]) for k in metrics[0]},
        seconds=progress.seconds,
        generations=progress.generations,
    )


COUNT_METRICS = {"macs", "params"}


def plain_metrics(metrics: dict[str, Any]) -> dict[str, float | int]:
    """JSON-ready metrics: counts (MACs, params) as ints, the rest as floats."""
    return {name: int(value) if name in COUNT_METRICS else float(value) for name, value in metrics.items()}
