"""What a search optimizes: a space, an accuracy predictor, cost models and budgets on them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nas.budgets import Budget, format_metric
from nas.errors import NasError
from predictors.base import CostModel, Predictor
from searchspaces.base import SearchSpace

ACCURACY_SPREAD = "accuracy_std"  # the predictor's uncertainty (an ensemble's spread), where it has one


class InfeasibleBudget(NasError, ValueError):
    """No architecture of the space fits the budgets."""


@dataclass(frozen=True)
class Problem:
    """Maximize ``predictor`` over ``space`` subject to ``budgets`` on the ``costs`` metrics."""

    space: SearchSpace
    predictor: Predictor
    costs: tuple[CostModel, ...]
    budgets: tuple[Budget, ...]
    front: tuple[str, ...] | None = None  # cost metrics traded off against accuracy; None: see objectives

    def __post_init__(self) -> None:
        known = {c.metric for c in self.costs}
        missing = [m for m in [b.metric for b in self.budgets] + list(self.front or ()) if m not in known]
        if missing:
            raise ValueError(f"no cost model for metric {missing[0]!r}")

    @property
    def objectives(self) -> list[str]:
        """Cost metrics on the Pareto front: ``front`` if given (empty: accuracy alone), else the
        first cost model's metric (MACs) and every budgeted metric."""
        if self.front is not None:
            return list(self.front)
        budgeted = [b.metric for b in self.budgets]
        first = [c.metric for c in self.costs][:1]
        return list(dict.fromkeys(first + budgeted))

    def cost_metrics(self, genes: np.ndarray) -> dict[str, np.ndarray]:
        return {c.metric: c.cost(genes) for c in self.costs}

    def evaluate(self, genes: np.ndarray) -> dict[str, np.ndarray]:
        """Every metric of a batch: ``accuracy`` from the predictor (with ``accuracy_std`` when it
        gives error bars), then each cost."""
        with_spread = getattr(self.predictor, "predict_std", None)
        if with_spread is None:
            accuracy = {"accuracy": self.predictor.predict(genes)}
        else:
            mean, std = with_spread(genes)
            accuracy = {"accuracy": mean, ACCURACY_SPREAD: std}
        return {**accuracy, **self.cost_metrics(genes)}

    def feasible(self, genes: np.ndarray) -> np.ndarray:
        mask = np.ones(len(genes), dtype=bool)
        for budget in self.budgets:
            cost = next(c for c in self.costs if c.metric == budget.metric)
            mask &= cost.cost(genes) <= budget.limit
        return mask

    def check_feasible(self, smallest: np.ndarray) -> None:
        """Raise :class:`InfeasibleBudget` naming the smallest achievable value if a budget is too tight."""
        for budget in self.budgets:
            cost = next(c for c in self.costs if c.metric == budget.metric)
            least = float(cost.cost(smallest)[0])
            if least > budget.limit:
                raise InfeasibleBudget(
                    f"budget {budget} is below the smallest subnet of {self.space.name}, "
                    f"which needs {format_metric(budget.metric, least)} {budget.metric}"
                )
