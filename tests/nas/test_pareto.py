"""Non-dominated filtering against a brute-force O(n^2) definition."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nas.pareto import pareto_mask


def brute_force_mask(points: np.ndarray) -> np.ndarray:
    """Row i is kept iff no row dominates it and no earlier row equals it."""
    keep = np.zeros(len(points), dtype=bool)
    for i, p in enumerate(points):
        dominated = any(np.all(q <= p) and np.any(q < p) for q in points)
        repeated = any(np.array_equal(q, p) for q in points[:i])
        keep[i] = not dominated and not repeated
    return keep


@pytest.mark.parametrize("dims", [2, 3, 4])
@pytest.mark.parametrize("seed", range(5))
def test_matches_brute_force_on_random_floats(dims: int, seed: int) -> None:
    points = np.random.default_rng(seed).random((150, dims))
    np.testing.assert_array_equal(pareto_mask(points), brute_force_mask(points))


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("seed", range(5))
def test_matches_brute_force_with_ties_and_duplicates(dims: int, seed: int) -> None:
    points = np.random.default_rng(seed).integers(0, 4, size=(80, dims)).astype(float)
    np.testing.assert_array_equal(pareto_mask(points), brute_force_mask(points))


@settings(max_examples=150, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=30).filter(
    lambda shape: shape[1] <= 4), elements=st.integers(-3, 3).map(float)))
def test_matches_brute_force_hypothesis(points: np.ndarray) -> None:
    np.testing.assert_array_equal(pareto_mask(points), brute_force_mask(points))


def test_duplicates_are_kept_once() -> None:
    points = np.array([[1.0, 2.0], [1.0, 2.0], [2.0, 1.0], [2.0, 1.0], [3.0, 3.0]])
    assert pareto_mask(points).tolist() == [True, False, True, False, False]
    points3 = np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 5.0], [1.0, 2.0, 0.0]])
    assert pareto_mask(points3).tolist() == [True, True, False]


def test_weakly_dominated_point_is_dropped() -> None:
    points = np.array([[1.0, 1.0], [1.0, 2.0], [2.0, 1.0]])
    assert pareto_mask(points).tolist() == [True, False, False]


def test_front_is_a_chain_in_2d() -> None:
    points = np.random.default_rng(0).random((500, 2))
    front = points[pareto_mask(points)]
    front = front[np.argsort(front[:, 0])]
    assert np.all(np.diff(front[:, 0]) > 0)
    assert np.all(np.diff(front[:, 1]) < 0)


def test_anti_diagonal_is_all_front() -> None:
    x = np.linspace(0, 1, 50)
    assert pareto_mask(np.column_stack([x, 1 - x])).all()
    assert pareto_mask(np.column_stack([x, 1 - x, x[::-1]])).all()


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_empty_input(dims: int) -> None:
    mask = pareto_mask(np.empty((0, dims)))
    assert mask.shape == (0,) and mask.dtype == bool


def test_single_objective_keeps_the_first_minimum() -> None:
    assert pareto_mask(np.array([[3.0], [1.0], [2.0], [1.0]])).tolist() == [False, True, False, False]


def test_input_is_not_modified() -> None:
    points = np.random.default_rng(1).random((40, 3))
    copy = points.copy()
    pareto_mask(points)
    np.testing.assert_array_equal(points, copy)
