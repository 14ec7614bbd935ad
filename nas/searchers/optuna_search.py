"""Optuna's samplers (TPE, NSGA-II) driven through ask/tell, a whole batch per ``ask``.

Budgets reach the sampler as trial constraints (``Trial.set_constraint``, one per budget: the
relative excess over it). A sampled arch over budget is told back at once as infeasible, so it
never reaches the executor and the sampler learns where the budget lies. Optuna's per-trial cost
grows with the history, so these strategies suit small query budgets (tabular benchmarks,
supernet evaluations), not millions of predictor calls.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from nas.problem import Problem
from nas.searchers.base import Searcher, register

optuna.logging.set_verbosity(logging.WARNING)
MAX_DRAWS_PER_ASK = 20


class _OptunaSearcher(Searcher):
    multi_objective = False

    def __init__(self, problem: Problem, seed: int = 0) -> None:
        super().__init__(problem, seed)
        self._distributions = {f"g{j}": CategoricalDistribution(list(range(int(size))))
                               for j, size in enumerate(problem.space.gene_sizes)}
        directions = ["maximize", *(["minimize"] * len(problem.objectives) if self.multi_objective else [])]
        self.study = optuna.create_study(directions=directions, sampler=self._sampler(seed))
        self._pending: dict[bytes, list[optuna.trial.Trial]] = {}

    def _sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        raise NotImplementedError

    def ask(self, n: int) -> np.ndarray:
        rows: list[np.ndarray] = []
        for _ in range(n * MAX_DRAWS_PER_ASK):
            if len(rows) == n:
                break
            trial = self.study.ask(self._distributions)
            row = self.problem.space.canonical(self._row(trial.params))
            violation = self._violations(row)
            for name, value in violation.items():
                trial.set_constraint(name, value)
            if max(violation.values()) > 0:
                self.study.tell(trial, self._worst_values())
            elif len(self.seen.keep_new(row, 1)):
                self._pending.setdefault(row.tobytes(), []).append(trial)
                rows.append(row[0])
            else:
                self.study.tell(trial, state=TrialState.FAIL)  # asked before: no new information
        return np.array(rows, dtype=np.int16).reshape(-1, self.problem.space.n_genes)

    def _row(self, params: dict[str, int]) -> np.ndarray:
        return np.array([[params[f"g{j}"] for j in range(len(self._distributions))]], dtype=np.int16)

    def _violations(self, row: np.ndarray) -> dict[str, float]:
        """Per budget, how far over it the arch is, relative to the budget (<= 0 is within)."""
        costs = self.problem.cost_metrics(row)
        return {b.metric: float(costs[b.metric][0] / b.limit - 1.0) for b in self.problem.budgets} or {"none": 0.0}

    def _worst_values(self) -> list[float]:
        return [0.0] + ([float("inf")] * len(self.problem.objectives) if self.multi_objective else [])

    def tell(self, genes: np.ndarray, metrics: dict[str, np.ndarray]) -> None:
        for i, row in enumerate(genes):
            values = [float(metrics["accuracy"][i])]
            if self.multi_objective:
                values += [float(metrics[m][i]) for m in self.problem.objectives]
            pending = self._pending.get(row.tobytes())
            if pending:
                self.study.tell(pending.pop(), values)
            else:  # a replayed trial from the store
                self.study.add_trial(optuna.trial.create_trial(
                    params={f"g{j}": int(g) for j, g in enumerate(row)}, distributions=self._distributions,
                    values=values, constraints=self._violations(row[None])))

    def state_dict(self) -> dict[str, Any]:
        done = [t for t in self.study.trials if t.state == TrialState.COMPLETE]
        return {**super().state_dict(),
                "genes": np.concatenate([self._row(t.params) for t in done]) if done else np.empty((0, 0)),
                "values": np.array([t.values for t in done])}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        for row, values in zip(state["genes"], state["values"]):
            self.study.add_trial(optuna.trial.create_trial(
                params={f"g{j}": int(g) for j, g in enumerate(row)}, distributions=self._distributions,
                values=list(values), constraints=self._violations(np.array([row]))))


@register("optuna-tpe")
class OptunaTPESearcher(_OptunaSearcher):
    def _sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=20)


@register("optuna-nsga2")
class OptunaNSGA2Searcher(_OptunaSearcher):
    multi_objective = True

    def _sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=50)
