"""A search job: a validated, serializable request and how to turn it into a problem and a searcher."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from nas.budgets import parse_budgets
from nas.problem import Problem
from nas.search import Limits
from nas.searchers import SEARCHERS, Searcher
from predictors.base import Predictor

DEFAULT_SPACE = "ofa-mbv3-w1.2"


@dataclass(frozen=True)
class JobSpec:
    """What to search. Names are resolved to objects by :func:`build_problem` (the edge)."""

    budgets: tuple[str, ...] = ("600M-MACs",)
    space: str = DEFAULT_SPACE
    strategy: str = "evolution"
    predictor: str | None = None  # a registered name; None: the space's default
    seed: int = 0
    time_limit: float = 3.0
    generations: int = 1000
    batch_size: int = 2048
    islands: int = 1  # more than one: parallel searches on Ray with migration (nas.executors.islands)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "budgets": list(self.budgets)}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> JobSpec:
        return cls(**{**value, "budgets": tuple(value["budgets"])})

    @property
    def limits(self) -> Limits:
        return Limits(self.time_limit, self.generations, self.batch_size)


def build_problem(spec: JobSpec, predictor: Predictor | None = None) -> Problem:
    """The problem a spec names; ``predictor`` replaces the named one (a predictor file from the CLI)."""
    from predictors import PREDICTORS, cost_models, default_predictor
    from searchspaces import get_space

    space = get_space(spec.space)
    budgets = tuple(parse_budgets(list(spec.budgets)))
    if predictor is None:
        name = spec.predictor or default_predictor(space.name)
        if name not in PREDICTORS:
            raise ValueError(f"unknown predictor {name!r}; choose from {', '.join(PREDICTORS)}")
        predictor = PREDICTORS[name].load(space)
    return Problem(space, predictor, cost_models(space, [b.metric for b in budgets]), budgets)


def build_searcher(spec: JobSpec, problem: Problem) -> Searcher:
    if spec.strategy not in SEARCHERS:
        raise ValueError(f"unknown strategy {spec.strategy!r}; choose from {', '.join(SEARCHERS)}")
    return SEARCHERS[spec.strategy](problem, seed=spec.seed)
