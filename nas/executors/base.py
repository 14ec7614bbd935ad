"""The Executor abstraction and the in-process executor."""

from __future__ import annotations

from abc import ABC, abstractmethod

from nas.jobs import JobSpec
from nas.problem import Problem
from nas.search import Evaluate


class Executor(ABC):
    """Turns a job into an ``evaluate(genes) -> metrics`` function running wherever the executor runs."""

    @abstractmethod
    def evaluator(self, spec: JobSpec, problem: Problem) -> Evaluate:
        """``problem`` is ``build_problem(spec)`` already built by the caller, for in-process use."""

    def shutdown(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release what the executor holds (actors, connections)."""


class LocalExecutor(Executor):
    def evaluator(self, spec: JobSpec, problem: Problem) -> Evaluate:
        return problem.evaluate
