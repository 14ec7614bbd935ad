"""Shared helpers of the service tests: requests, random trials, a brute-force Pareto front,
and the functions that child processes run (importable, so they work under ``spawn``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from api.store import MAXIMIZED, Constraint, TrialRow, TrialStore


def job_request(**overrides: Any) -> dict[str, Any]:
    """A valid job request (the body of POST /v1/jobs) as stored by the API."""
    request = {"budgets": ["600M-MACs"], "space": "ofa-mbv3-w1.2", "strategy": "evolution",
               "predictor": "ofa-mlp", "seed": 0, "time_limit": 3.0, "generations": 1000, "batch_size": 2048}
    return {**request, **overrides}


def random_trials(n: int, seed: int = 0, prefix: str = "a", latency: bool = False) -> list[TrialRow]:
    """``n`` distinct trials with random accuracy/MACs/params (and ``latency@note10`` in the JSON)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        metrics = {"accuracy": float(rng.uniform(0.6, 0.8)), "macs": float(rng.integers(150, 900) * 1e6),
                   "params": float(rng.integers(3, 12) * 1e6)}
        if latency:
            metrics["latency@note10"] = float(rng.uniform(5, 60))
        rows.append(TrialRow(f"{prefix}{i}", {"id": i, "prefix": prefix}, metrics))
    return rows


def brute_force_front(trials: Iterable[tuple[int, Mapping[str, float]]], metrics: Sequence[str],
                      constraints: Sequence[Constraint] = ()) -> dict[int, tuple[float, ...]]:
    """Trial id -> metric tuple of every trial no other feasible trial dominates (O(n^2)).

    A trial lacking a metric is left out; exact duplicates are all kept (the store keeps one of them).
    """
    signs = np.array([-1.0 if m in MAXIMIZED else 1.0 for m in metrics])
    feasible = {}
    for trial_id, values in trials:
        if any(values.get(m) is None for m in [*metrics, *(c.metric for c in constraints)]):
            continue
        if all(values[c.metric] >= c.limit if c.metric in MAXIMIZED else values[c.metric] <= c.limit
               for c in constraints):
            feasible[trial_id] = np.array([values[m] for m in metrics], dtype=float)
    front = {}
    for trial_id, point in feasible.items():
        p = point * signs
        dominated = any(np.all(q * signs <= p) and np.any(q * signs < p) for q in feasible.values())
        if not dominated:
            front[trial_id] = tuple(point.tolist())
    return front


def assert_front_matches(front: Sequence[tuple[int, Mapping[str, float]]], expected: dict[int, tuple[float, ...]],
                         metrics: Sequence[str]) -> None:
    """``front`` (id, metrics) in the store's order equals the brute-force front (one per duplicate),
    ordered by the first cost metric."""
    ids = [trial_id for trial_id, _ in front]
    assert len(ids) == len(set(ids))
    assert set(ids) <= set(expected), f"not Pareto-optimal: {sorted(set(ids) - set(expected))}"
    got = [tuple(float(values[m]) for m in metrics) for _, values in front]
    assert set(got) == set(expected.values())
    assert len(got) == len(set(got)), "an exact duplicate is listed twice"
    costs = [m for m in metrics if m not in MAXIMIZED]
    if costs:
        first = [values[costs[0]] for _, values in front]
        assert first == sorted(first), f"front not ordered by {costs[0]}"


# -- run in child processes -----------------------------------------------------------------------
def claim_until_empty(url: str, worker_id: str) -> list[str]:
    """Claim jobs until none is left; the ids this worker got."""
    store = TrialStore(url, migrate=False)
    try:
        claimed = []
        while (job := store.claim_job(worker_id, stale_after=3600)) is not None:
            claimed.append(job.id)
        return claimed
    finally:
        store.close()


def write_trials(url: str, job_id: str, writer: int, count: int, batch: int) -> tuple[int, list[str]]:
    """Write ``count`` distinct trials in batches through ``add_trials``; (rows sent, errors seen)."""
    store = TrialStore(url, migrate=False)
    rows = random_trials(count, seed=writer, prefix=f"w{writer}-")
    errors: list[str] = []
    sent = 0
    try:
        for start in range(0, count, batch):
            try:
                store.add_trials(job_id, rows[start:start + batch], generation=writer)
                sent += len(rows[start:start + batch])
            except Exception as exc:  # counted and reported, not raised: the caller asserts there are none
                errors.append(f"{type(exc).__name__}: {exc}"[:300])
        return sent, errors
    finally:
        store.close()


def assert_is_pareto_front(trials: Mapping[int, Mapping[str, float]], front_ids: Sequence[int],
                           metrics: Sequence[str], constraints: Sequence[Constraint] = ()) -> None:
    """``front_ids`` is exactly the Pareto front of ``trials`` (one trial per distinct point), in
    ascending order of the first cost metric; checked from the definition in O(n * front) time.

    The front is feasible, no feasible trial dominates a front trial, no two front trials are equal,
    and every feasible trial is weakly dominated by a front trial.
    """
    signs = np.array([-1.0 if m in MAXIMIZED else 1.0 for m in metrics])
    needed = [*metrics, *(c.metric for c in constraints)]
    feasible = {i: v for i, v in trials.items() if all(v.get(m) is not None for m in needed) and all(
        v[c.metric] >= c.limit if c.metric in MAXIMIZED else v[c.metric] <= c.limit for c in constraints)}
    outside = set(front_ids) - set(feasible)
    assert not outside, f"infeasible or unknown trials on the front: {sorted(outside)}"
    points = np.array([[v[m] for m in metrics] for v in feasible.values()], dtype=float).reshape(-1, len(metrics))
    points *= signs
    front = np.array([[feasible[i][m] for m in metrics] for i in front_ids], dtype=float).reshape(-1, len(metrics))
    front *= signs
    for f in front:
        dominated = np.all(points <= f, axis=1) & np.any(points < f, axis=1)
        assert not dominated.any(), f"front point {f * signs} is dominated"
    assert len(np.unique(front, axis=0)) == len(front), "a point is listed twice"
    for start in range(0, len(points), 2048):
        chunk = points[start:start + 2048]
        covered = np.all(front[None, :, :] <= chunk[:, None, :], axis=2).any(axis=1)
        assert covered.all(), f"points missing from the front: {chunk[~covered][:3] * signs}"
    costs = [m for m in metrics if m not in MAXIMIZED]
    if costs:
        first = [feasible[i][costs[0]] for i in front_ids]
        assert first == sorted(first), f"front not ordered by {costs[0]}"
