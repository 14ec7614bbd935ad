"""Request and response bodies of the REST API (pydantic), with the caps that protect the service."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.tables import JobKind, JobStatus
from nas.budgets import BudgetError, parse_budgets
from nas.jobs import DEFAULT_SPACE, JobSpec

MAX_BUDGETS = 8
MAX_TIME_LIMIT = 3600.0
MAX_GENERATIONS = 100_000
MAX_BATCH = 65_536
MAX_ISLANDS = 64

T = TypeVar("T")


class JobRequest(BaseModel):
    """A search to run: the space, budgets, strategy, predictor, limits and seed."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"budgets": ["600M-MACs"], "space": "ofa-mbv3-w1.2", "strategy": "evolution", "seed": 0, "time_limit": 3},
    ]})

    budgets: list[str] = Field(min_length=1, max_length=MAX_BUDGETS, examples=[["600M-MACs", "8M-params"]],
                               description="upper bounds such as 600M-MACs, 0.6G-MACs, 5M-params")
    space: str = Field(DEFAULT_SPACE, max_length=64)
    strategy: str = Field("evolution", max_length=64)
    predictor: str | None = Field(None, max_length=128,
                                  description="a registered predictor name (GET /v1/predictors); default: the space's")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    time_limit: float = Field(3.0, gt=0, le=MAX_TIME_LIMIT, description="seconds of search time")
    generations: int = Field(1000, ge=1, le=MAX_GENERATIONS)
    batch_size: int = Field(2048, ge=16, le=MAX_BATCH, description="candidates per generation")
    islands: int = Field(1, ge=1, le=MAX_ISLANDS, description="parallel searches on Ray exchanging their best archs")

    @field_validator("budgets")
    @classmethod
    def _budgets_parse(cls, budgets: list[str]) -> list[str]:
        if any(len(b) > 64 for b in budgets):
            raise ValueError("a budget is at most 64 characters")
        try:
            parse_budgets(budgets)
        except BudgetError as exc:
            raise ValueError(str(exc)) from None
        return budgets

    @model_validator(mode="after")
    def _names_exist(self) -> JobRequest:
        from nas.searchers import SEARCHERS
        from predictors import PREDICTORS, default_predictor
        from searchspaces import SPACES

        if self.space not in SPACES:
            raise ValueError(f"unknown space {self.space!r}; choose from {', '.join(sorted(SPACES))}")
        if self.strategy not in SEARCHERS:
            raise ValueError(f"unknown strategy {self.strategy!r}; choose from {', '.join(sorted(SEARCHERS))}")
        info = PREDICTORS.get(self.predictor or default_predictor(self.space))
        if info is None:
            raise ValueError(f"unknown predictor {self.predictor!r}; choose from {', '.join(sorted(PREDICTORS))}")
        if self.space not in info.spaces:
            raise ValueError(f"predictor {info.name!r} does not support space {self.space!r}")
        _check_budgets_reachable(self.space, self.budgets)
        return self

    def to_spec(self) -> JobSpec:
        return JobSpec(**{**self.model_dump(), "budgets": tuple(self.budgets)})


def _check_budgets_reachable(space_name: str, budgets: list[str]) -> None:
    import numpy as np

    from nas.budgets import format_metric
    from searchspaces import SPACES

    space = SPACES[space_name]
    smallest = np.zeros((1, space.n_genes), dtype=np.int16)
    least = {"macs": float(space.macs(smallest)[0]), "params": float(space.params(smallest)[0])}
    for budget in parse_budgets(budgets):
        if budget.metric.startswith("latency@"):
            from predictors import latency_devices

            device = budget.metric.removeprefix("latency@")
            if device not in latency_devices(space):
                known = ", ".join(latency_devices(space)) or "none yet"
                raise ValueError(f"no latency model for device {device!r} on {space_name}; known devices: {known}")
        if budget.metric in least and least[budget.metric] > budget.limit:
            raise ValueError(f"budget {budget} is below the smallest subnet of {space_name}, which needs "
                             f"{format_metric(budget.metric, least[budget.metric])} {budget.metric}")


class JobProgress(BaseModel):
    evaluated: int
    generations: int
    search_seconds: float
    best_accuracy: float | None
    fraction: float = Field(description="share of the time or generation limit used (collect: of the samples), 0..1")


class JobView(BaseModel):
    id: str
    kind: JobKind = Field(description="search, or collect: subnets measured with a supernet (nas predictor collect)")
    status: JobStatus
    created_at: datetime
    updated_at: datetime
    request: dict[str, Any]
    progress: JobProgress
    cancel_requested: bool
    error: str | None


class TrialView(BaseModel):
    id: int
    arch: Any
    metrics: dict[str, float]
    generation: int
    predictor: str
    created_at: datetime


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class ParetoView(BaseModel):
    job_id: str
    metrics: list[str]
    constraints: list[str]
    items: list[TrialView]


class SpaceView(BaseModel):
    name: str
    genes: int
    metrics: list[str]
    smallest: dict[str, float]
    largest: dict[str, float]


class PredictorView(BaseModel):
    name: str
    description: str
    spaces: list[str]
    evaluation: dict[str, float | int | str] = Field(
        default_factory=dict, description="figures measured on held-out data (Kendall tau, RMSE, ...)")


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class Ready(BaseModel):
    status: Literal["ready"]
    database: str
