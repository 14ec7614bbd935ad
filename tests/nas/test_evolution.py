"""Evolutionary search with OFA's predictor on ofa-mbv3-w1.2 under MAC budgets."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

import searchspaces
from nas.budgets import parse_budget
from nas.problem import InfeasibleBudget, Problem
from nas.searchers.base import SeenSet
from nas.searchers.evolution import EvolutionSearcher
from predictors.costs import MacsCost, ParamsCost
from predictors.ofa_mlp import OFAAccuracyPredictor
from searchspaces.ofa_mbv3 import OFAMobileNetV3Space
from tests.nas.test_searcher_conformance import drive

BATCH = 1024
GENERATIONS = 10


@pytest.fixture(scope="module")
def space() -> OFAMobileNetV3Space:
    space = searchspaces.get_space("ofa-mbv3-w1.2")
    assert isinstance(space, OFAMobileNetV3Space)
    return space


@pytest.fixture(scope="module")
def predictor(space: OFAMobileNetV3Space, ofa_predictor_path: Path) -> OFAAccuracyPredictor:
    return OFAAccuracyPredictor(space, path=ofa_predictor_path)


def make_problem(space: OFAMobileNetV3Space, predictor: OFAAccuracyPredictor, *budgets: str) -> Problem:
    return Problem(space, predictor, (MacsCost(space), ParamsCost(space)), tuple(parse_budget(b) for b in budgets))


@pytest.fixture(scope="module")
def problem(space: OFAMobileNetV3Space, predictor: OFAAccuracyPredictor) -> Problem:
    return make_problem(space, predictor, "600M-MACs")


def run(searcher: EvolutionSearcher, generations: int, n: int = BATCH) -> list[np.ndarray]:
    return drive(searcher, generations, n)


@pytest.fixture(scope="module")
def history(problem: Problem) -> list[np.ndarray]:
    return run(EvolutionSearcher(problem, seed=0), GENERATIONS)


def unique_rows(genes: np.ndarray) -> int:
    return len(np.unique(genes, axis=0))


# -- one search, ten generations --------------------------------------------------------------------
def test_every_ask_is_full(history: list[np.ndarray], space: OFAMobileNetV3Space) -> None:
    for genes in history:
        assert genes.shape == (BATCH, space.n_genes)


def test_every_asked_row_is_feasible(history: list[np.ndarray], space: OFAMobileNetV3Space, problem: Problem) -> None:
    genes = np.concatenate(history)
    assert (space.macs(genes) <= 600e6).all()
    assert problem.feasible(genes).all()


def test_every_asked_row_is_a_canonical_member(history: list[np.ndarray], space: OFAMobileNetV3Space) -> None:
    genes = np.concatenate(history)
    assert np.array_equal(space.canonical(genes), genes)
    assert ((genes >= 0) & (genes < space.gene_sizes)).all()


def test_no_row_is_asked_twice(history: list[np.ndarray]) -> None:
    genes = np.concatenate(history)
    assert unique_rows(genes) == len(genes)


def test_best_accuracy_improves(history: list[np.ndarray], problem: Problem) -> None:
    best = [problem.predictor.predict(genes).max() for genes in history]
    assert max(best[1:]) > best[0] + 0.005
    assert best[-1] >= best[0]


def test_search_uses_the_budget(history: list[np.ndarray], space: OFAMobileNetV3Space) -> None:
    assert space.macs(history[-1]).max() > 550e6  # the most accurate subnets sit near the budget


# -- determinism and resume --------------------------------------------------------------------------
def test_same_seed_gives_identical_asks(problem: Problem, history: list[np.ndarray]) -> None:
    again = run(EvolutionSearcher(problem, seed=0), 3)
    for a, b in zip(again, history):
        np.testing.assert_array_equal(a, b)


def test_different_seed_differs(problem: Problem, history: list[np.ndarray]) -> None:
    other = run(EvolutionSearcher(problem, seed=1), 2)
    assert not np.array_equal(other[0], history[0])
    assert not np.array_equal(other[1], history[1])


def test_state_dict_resume_gives_the_same_next_ask(problem: Problem) -> None:
    searcher = EvolutionSearcher(problem, seed=3)
    run(searcher, 3, n=256)
    state = pickle.loads(pickle.dumps(searcher.state_dict()))  # as if stored and read back
    expected = run(searcher, 2, n=256)
    resumed = EvolutionSearcher(problem, seed=3)
    resumed.load_state_dict(state)
    for a, b in zip(run(resumed, 2, n=256), expected):
        np.testing.assert_array_equal(a, b)


def test_state_dict_is_a_snapshot(problem: Problem) -> None:
    searcher = EvolutionSearcher(problem, seed=4)
    run(searcher, 2, n=128)
    state = searcher.state_dict()
    frozen = pickle.dumps(state)
    run(searcher, 2, n=128)
    assert pickle.dumps(state) == frozen


def test_resumed_searcher_never_repeats_earlier_asks(problem: Problem) -> None:
    searcher = EvolutionSearcher(problem, seed=5)
    before = np.concatenate(run(searcher, 3, n=256))
    resumed = EvolutionSearcher(problem, seed=99)
    resumed.load_state_dict(pickle.loads(pickle.dumps(searcher.state_dict())))
    after = np.concatenate(run(resumed, 2, n=256))
    assert unique_rows(np.concatenate([before, after])) == len(before) + len(after)


def test_replay_of_stored_trials_resumes_the_search(problem: Problem) -> None:
    searcher = EvolutionSearcher(problem, seed=6)
    asked = run(searcher, 3, n=256)
    rng_state = pickle.loads(pickle.dumps(searcher.rng_state()))
    expected = searcher.ask(256)
    resumed = EvolutionSearcher(problem, seed=6)
    genes = np.concatenate(asked)
    resumed.replay(genes, problem.evaluate(genes))
    resumed.set_rng_state(rng_state)
    np.testing.assert_array_equal(resumed.ask(256), expected)


# -- budgets -----------------------------------------------------------------------------------------
def test_tight_budget_gives_only_feasible_rows(space: OFAMobileNetV3Space, predictor: OFAAccuracyPredictor) -> None:
    tight = make_problem(space, predictor, "200M-MACs")
    asks = run(EvolutionSearcher(tight, seed=0), 4, n=512)
    genes = np.concatenate(asks)
    assert len(genes) == 4 * 512
    assert (space.macs(genes) <= 200e6).all()
    assert unique_rows(genes) == len(genes)


def test_two_budgets_are_both_respected(space: OFAMobileNetV3Space, predictor: OFAAccuracyPredictor) -> None:
    both = make_problem(space, predictor, "400M-MACs", "6M-params")
    genes = np.concatenate(run(EvolutionSearcher(both, seed=0), 4, n=512))
    assert (space.macs(genes) <= 400e6).all()
    assert (space.params(genes) <= 6e6).all()


def smallest_at(space: OFAMobileNetV3Space, resolution_index: int) -> np.ndarray:
    row = np.zeros((1, space.n_genes), dtype=np.int16)
    row[0, -1] = resolution_index
    return row


def test_check_feasible_names_the_smallest_subnet(space: OFAMobileNetV3Space, predictor: OFAAccuracyPredictor) -> None:
    problem = make_problem(space, predictor, "100M-MACs")
    with pytest.raises(InfeasibleBudget, match=r"193\.1M"):
        problem.check_feasible(smallest_at(space, len(space.resolutions) - 1))  # the smallest subnet at 224 px
    with pytest.raises(InfeasibleBudget, match=r"100\.3M"):
        problem.check_feasible(smallest_at(space, 0))  # the smallest subnet of the space (160 px)


def test_check_feasible_passes_when_the_smallest_fits(
    space: OFAMobileNetV3Space, predictor: OFAAccuracyPredictor
) -> None:
    make_problem(space, predictor, "101M-MACs").check_feasible(smallest_at(space, 0))
    make_problem(space, predictor, "600M-MACs", "5M-params").check_feasible(smallest_at(space, 0))


def test_check_feasible_on_params(space: OFAMobileNetV3Space, predictor: OFAAccuracyPredictor) -> None:
    problem = make_problem(space, predictor, "4M-params")
    with pytest.raises(InfeasibleBudget, match=r"4\.6M params"):
        problem.check_feasible(smallest_at(space, 0))


def test_budget_on_a_metric_without_cost_model_is_refused(
    space: OFAMobileNetV3Space, predictor: OFAAccuracyPredictor
) -> None:
    with pytest.raises(ValueError, match="params"):
        Problem(space, predictor, (MacsCost(space),), (parse_budget("5M-params"),))


def test_evaluate_returns_every_metric(problem: Problem, space: OFAMobileNetV3Space) -> None:
    genes = space.sample(16, np.random.default_rng(0))
    metrics = problem.evaluate(genes)
    assert set(metrics) == {"accuracy", "macs", "params"}
    np.testing.assert_array_equal(metrics["macs"], space.macs(genes))
    np.testing.assert_array_equal(metrics["params"], space.params(genes))


# -- the seen set --------------------------------------------------------------------------------------
def test_seen_set_keeps_first_new_rows() -> None:
    seen = SeenSet()
    rows = np.array([[1, 2], [3, 4], [1, 2], [5, 6]], dtype=np.int16)
    np.testing.assert_array_equal(seen.keep_new(rows, 10), [[1, 2], [3, 4], [5, 6]])
    assert len(seen) == 3
    more = np.array([[3, 4], [7, 8], [9, 9], [0, 0]], dtype=np.int16)
    np.testing.assert_array_equal(seen.keep_new(more, 2), [[7, 8], [9, 9]])
    assert len(seen) == 5
    np.testing.assert_array_equal(seen.keep_new(more, 10), [[0, 0]])


def test_seen_set_state_round_trip() -> None:
    seen = SeenSet()
    seen.keep_new(np.array([[1, 2], [3, 4]], dtype=np.int16), 10)
    copy = SeenSet()
    copy.load(seen.state())
    assert copy.keep_new(np.array([[3, 4], [5, 6]], dtype=np.int16), 10).tolist() == [[5, 6]]
