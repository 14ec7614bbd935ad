"""Evaluation on Ray: one actor per job holds the predictor; one remote call per generation."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import ray

from nas.executors.base import Executor
from nas.jobs import JobSpec, build_problem
from nas.problem import Problem
from nas.search import Evaluate


@ray.remote(num_cpus=1)
class _EvaluationActor:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.problem = build_problem(JobSpec.from_json(spec))

    def evaluate(self, genes: np.ndarray) -> dict[str, np.ndarray]:
        return self.problem.evaluate(genes)


class RayExecutor(Executor):
    """Connects to ``address`` (or ``$RAY_ADDRESS``), else starts a local Ray runtime."""

    def __init__(self, address: str | None = None) -> None:
        if not ray.is_initialized():
            ray.init(address=address or os.environ.get("RAY_ADDRESS"), include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
        self._actors: list[Any] = []

    def evaluator(self, spec: JobSpec, problem: Problem) -> Evaluate:
        for actor in self._actors:  # one job at a time per worker: free the previous job's actor
            ray.kill(actor)
        actor = _EvaluationActor.remote(spec.to_json())
        self._actors = [actor]
        return lambda genes: ray.get(actor.evaluate.remote(genes))

    def shutdown(self) -> None:
        for actor in self._actors:
            ray.kill(actor)
        self._actors = []
