"""Island-model search on Ray: independent searches in parallel actors, with elites migrating.

Each island runs whole generations inside its actor (ask, evaluate, tell without a round trip),
so Ray is touched once per epoch, not per candidate. After every epoch the driver collects what
each island evaluated and sends each island's best archs to the next island on a ring.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np
import ray

from nas.executors.ray_executor import init_ray, use_node_cores
from nas.jobs import JobSpec, build_problem, build_searcher
from nas.search import Limits, OnGeneration, Progress, SearchResult, run_search


@ray.remote(num_cpus=1)
class _Island:
    def __init__(self, spec: dict[str, Any], threads: int) -> None:
        use_node_cores(threads)
        self.spec = JobSpec.from_json(spec)
        self.problem = build_problem(self.spec)
        self.searcher = build_searcher(self.spec, self.problem)
        self.best = np.empty((0, self.problem.space.n_genes), dtype=np.int16)
        self.best_metrics: dict[str, np.ndarray] = {}

    def run(self, seconds: float, generations: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        limits = Limits(seconds, generations, self.spec.batch_size)
        result = run_search(self.problem, self.searcher, limits)
        if result.evaluated:
            self._keep_best(result.genes, result.metrics)
        return result.genes, result.metrics

    def _keep_best(self, genes: np.ndarray, metrics: dict[str, np.ndarray], k: int = 32) -> None:
        pool = np.concatenate([self.best, genes])
        merged = {m: np.concatenate([self.best_metrics[m], v]) if self.best_metrics else v for m, v in metrics.items()}
        top = np.argsort(-merged["accuracy"], kind="stable")[:k]
        self.best, self.best_metrics = pool[top], {m: v[top] for m, v in merged.items()}

    def ready(self) -> bool:
        return True

    def emigrants(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return self.best, self.best_metrics

    def immigrate(self, genes: np.ndarray, metrics: dict[str, np.ndarray]) -> None:
        fresh = self.searcher.seen.keep_new(genes, len(genes))  # archs this island never evaluated
        if len(fresh):
            index = {row.tobytes(): i for i, row in enumerate(genes)}
            rows = [index[row.tobytes()] for row in fresh]
            self.searcher.tell(fresh, {m: v[rows] for m, v in metrics.items()})


def run_islands(spec: JobSpec, islands: int = 2, epoch_seconds: float = 0.5, threads_per_island: int = 1,
                on_epoch: OnGeneration | None = None, address: str | None = None,
                stored: tuple[np.ndarray, dict[str, np.ndarray]] | None = None,
                resume: Progress | None = None) -> SearchResult:
    """Run ``islands`` copies of the spec's search (seeds ``seed``, ``seed+1``, ...) until its limits.

    ``on_epoch(progress, genes, metrics)`` gets each epoch's newly evaluated archs (all islands) and
    may return ``False`` to stop; ``stored`` are archs evaluated before (a resumed job): they are
    not counted again, and every island starts from them; ``resume`` carries earlier counters.
    """
    init_ray(address)
    actors = [_Island.remote(replace(spec, seed=spec.seed + i).to_json(), threads_per_island) for i in range(islands)]
    problem = build_problem(spec)
    ray.get([a.ready.remote() for a in actors])  # start the clock once every island has loaded
    genes: list[np.ndarray] = []
    metrics: list[dict[str, np.ndarray]] = []
    seen: set[bytes] = set()
    progress = resume or Progress()
    start = time.perf_counter() - progress.seconds
    if stored is not None and len(stored[0]):
        _first_seen(stored[0], seen)
        ray.get([a.immigrate.remote(*stored) for a in actors])
    try:
        while progress.seconds < spec.time_limit and progress.generations < spec.generations:
            seconds = min(epoch_seconds, spec.time_limit - progress.seconds)
            epoch = ray.get([a.run.remote(seconds, spec.generations - progress.generations) for a in actors])
            new = [(g[fresh], {m: v[fresh] for m, v in x.items()})
                   for g, x in epoch if len(fresh := _first_seen(g, seen))]  # islands may meet the same arch
            progress.generations += 1
            progress.seconds = time.perf_counter() - start
            if new:
                genes.append(np.concatenate([g for g, _ in new]))
                metrics.append({m: np.concatenate([x[m] for _, x in new]) for m in new[0][1]})
                progress.evaluated += len(genes[-1])
                progress.best_accuracy = max(progress.best_accuracy, float(metrics[-1]["accuracy"].max()))
                if on_epoch and on_epoch(progress, genes[-1], metrics[-1]) is False:
                    progress.stopped = True
                    break
            _migrate(actors)
    finally:
        for actor in actors:
            ray.kill(actor)
    merged = {m: np.concatenate([batch[m] for batch in metrics]) for m in metrics[0]} if metrics else {}
    all_genes = np.concatenate(genes) if genes else np.empty((0, problem.space.n_genes), dtype=np.int16)
    return SearchResult(problem, all_genes, merged, progress.seconds, progress.generations)


def _first_seen(genes: np.ndarray, seen: set[bytes]) -> np.ndarray:
    """Indices of rows not in ``seen`` (which they join), first occurrences only."""
    fresh = []
    for i, row in enumerate(genes):
        key = row.tobytes()
        if key not in seen:
            seen.add(key)
            fresh.append(i)
    return np.array(fresh, dtype=np.int64)


def _migrate(actors: list[Any]) -> None:
    """Ring migration: island ``i`` receives the best archs of island ``i - 1``."""
    if len(actors) < 2:
        return
    elites = ray.get([a.emigrants.remote() for a in actors])
    ray.get([actor.immigrate.remote(*elites[i - 1]) for i, actor in enumerate(actors)])
