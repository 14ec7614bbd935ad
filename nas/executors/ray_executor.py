"""Evaluation on Ray: one actor per job holds the predictor; one remote call per generation."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import ray

from nas.errors import NasError
from nas.executors.base import Executor
from nas.jobs import JobSpec, build_problem
from nas.problem import Problem
from nas.search import Evaluate
from searchspaces.base import GENE_DTYPE


def init_ray(address: str | None = None) -> None:
    """Connect to ``address`` (or ``$RAY_ADDRESS``), else start a local Ray runtime."""
    if not ray.is_initialized():
        ray.init(address=address or os.environ.get("RAY_ADDRESS"), include_dashboard=False,
                 log_to_driver=False, configure_logging=False)


def check_cpus(workers: int, cpus: int) -> None:
    """Refuse ``workers`` CPU workers on a Ray cluster of fewer ``cpus``: the rest would wait for ever."""
    if workers > cpus:
        raise NasError(f"{workers} workers need {workers} CPUs; the Ray cluster has {cpus}")


def use_node_cores(threads: int | None = None) -> None:
    """Ray pins an actor's OMP/torch threads to its CPU request (1); a predictor batch uses the node."""
    import torch

    torch.set_num_threads(threads or os.cpu_count() or 1)


@ray.remote(num_cpus=1)
class _EvaluationActor:
    def __init__(self, spec: dict[str, Any]) -> None:
        use_node_cores()
        self.problem = build_problem(JobSpec.from_json(spec))

    def evaluate(self, genes: np.ndarray) -> dict[str, np.ndarray]:
        return self.problem.evaluate(genes.astype(GENE_DTYPE))


class RayExecutor(Executor):
    def __init__(self, address: str | None = None) -> None:
        init_ray(address)
        self._actors: list[Any] = []

    def evaluator(self, spec: JobSpec, problem: Problem) -> Evaluate:
        self.shutdown()  # one job at a time per worker: free the previous job's actor
        actor = _EvaluationActor.remote(spec.to_json())
        self._actors = [actor]
        # gene choices fit in int8: half the bytes keeps a 2,048-row batch under Ray's 100 KB limit for
        # arguments sent inline with the call instead of through the object store
        return lambda genes: ray.get(actor.evaluate.remote(genes.astype(np.int8)))

    def shutdown(self) -> None:
        for actor in self._actors:
            ray.kill(actor)
        self._actors = []
