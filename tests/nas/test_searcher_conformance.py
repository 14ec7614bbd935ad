"""The Searcher contract, checked on every registered strategy (a conformance suite)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import searchspaces
from nas.budgets import parse_budget
from nas.problem import Problem
from nas.search import Limits, run_search
from nas.searchers import SEARCHERS
from nas.searchers.nsga2 import crowding_distance, nondominated_ranks
from predictors.costs import MacsCost, ParamsCost
from predictors.ofa_mlp import OFAAccuracyPredictor

# Optuna's samplers cost milliseconds per trial: they get small batches
BATCH = {"optuna-tpe": 24, "optuna-nsga2": 24}


@pytest.fixture(scope="module")
def problem(ofa_predictor_path: Path) -> Problem:
    space = searchspaces.get_space("ofa-mbv3-w1.2")
    return Problem(space, OFAAccuracyPredictor(space, ofa_predictor_path), (MacsCost(space), ParamsCost(space)),
                   (parse_budget("400M-MACs"), parse_budget("8M-params")))


def drive(searcher, generations: int, n: int) -> list[np.ndarray]:
    asks = []
    for _ in range(generations):
        genes = searcher.ask(n)
        searcher.tell(genes, searcher.problem.evaluate(genes))
        asks.append(genes)
    return asks


@pytest.mark.parametrize("name", sorted(SEARCHERS))
def test_asks_are_feasible_canonical_and_never_repeated(name: str, problem: Problem) -> None:
    asks = drive(SEARCHERS[name](problem, seed=1), 4, BATCH.get(name, 256))
    genes = np.concatenate(asks)
    assert len(genes) == 4 * BATCH.get(name, 256)
    assert problem.feasible(genes).all()
    assert np.array_equal(problem.space.canonical(genes), genes)
    assert len(np.unique(genes, axis=0)) == len(genes)


@pytest.mark.parametrize("name", sorted(SEARCHERS))
def test_same_seed_same_asks_other_seed_other_asks(name: str, problem: Problem) -> None:
    n = BATCH.get(name, 128)
    first, again = drive(SEARCHERS[name](problem, seed=5), 2, n), drive(SEARCHERS[name](problem, seed=5), 2, n)
    other = drive(SEARCHERS[name](problem, seed=6), 2, n)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[-1], other[-1])


@pytest.mark.parametrize("name", sorted(SEARCHERS))
def test_resume_from_state_dict_continues_without_repeats(name: str, problem: Problem) -> None:
    n = BATCH.get(name, 128)
    searcher = SEARCHERS[name](problem, seed=2)
    before = np.concatenate(drive(searcher, 2, n))
    resumed = SEARCHERS[name](problem, seed=99)
    resumed.load_state_dict(searcher.state_dict())
    after = resumed.ask(n)
    assert len(after) == n
    combined = np.concatenate([before, after])
    assert len(np.unique(combined, axis=0)) == len(combined)


@pytest.mark.parametrize("name", ["evolution", "nsga2"])
def test_guided_strategies_beat_random_search(name: str, problem: Problem) -> None:
    def best(strategy: str) -> float:
        result = run_search(problem, SEARCHERS[strategy](problem, seed=0), Limits(time_seconds=60, generations=8,
                                                                                 batch_size=512))
        return float(result.metrics["accuracy"].max())

    assert best(name) > best("random")


def test_nondominated_ranks_match_brute_force() -> None:
    points = np.random.default_rng(0).random((300, 2)).round(1)  # rounding makes ties
    ranks = nondominated_ranks(points)
    remaining, rank = np.arange(len(points)), 0
    while remaining.size:
        sub = points[remaining]
        dominated = np.array([np.any(np.all(sub <= p, 1) & np.any(sub < p, 1)) for p in sub])
        assert (ranks[remaining[~dominated]] == rank).all()
        remaining, rank = remaining[dominated], rank + 1


def test_crowding_distance_gives_boundaries_infinity() -> None:
    points = np.array([[0.0, 3.0], [1.0, 2.0], [2.0, 1.0], [3.0, 0.0]])
    distance = crowding_distance(points)
    assert np.isinf(distance[[0, 3]]).all()
    assert np.allclose(distance[[1, 2]], [4 / 3, 4 / 3])
