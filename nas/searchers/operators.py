"""Variation and feasibility operators on gene matrices, shared by the evolutionary searchers."""

from __future__ import annotations

import numpy as np

from nas.problem import Problem

MAX_REPAIR_STEPS = 64


def mutate(genes: np.ndarray, sizes: np.ndarray, prob: float, rng: np.random.Generator) -> np.ndarray:
    """Redraw each gene with probability ``prob``, uniformly over its choices (in place)."""
    flat = genes.reshape(-1)
    hit = np.flatnonzero(rng.random(flat.size, dtype=np.float32) < prob)
    flat[hit] = (rng.random(hit.size) * sizes[hit % genes.shape[1]]).astype(genes.dtype)
    return genes


def uniform_crossover(parents: np.ndarray, mates: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """For a ``share`` of the rows, take each gene from the mate with probability 1/2 (in place)."""
    crossed = np.flatnonzero(rng.random(len(parents)) < share)
    take_mate = rng.random((crossed.size, parents.shape[1]), dtype=np.float32) < 0.5
    parents[crossed] = np.where(take_mate, mates[crossed], parents[crossed])
    return parents


def make_feasible(problem: Problem, genes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The rows within every budget: over-budget rows are shrunk gene by gene where the space
    orders its choices by cost (``shrink_step``), and dropped otherwise."""
    space = problem.space
    ok = problem.feasible(genes)
    if not hasattr(space, "shrink_step"):
        return genes[ok]
    for _ in range(MAX_REPAIR_STEPS):
        if ok.all():
            break
        bad = np.flatnonzero(~ok)
        genes[bad] = space.shrink_step(genes[bad], rng)
        ok[bad] = problem.feasible(genes[bad])
    return genes[ok]


def fresh_feasible(problem: Problem, seen: object, n: int, breed: object) -> np.ndarray:
    """Up to ``n`` new, feasible rows from ``breed(count)``, asking a few more each round to cover
    duplicates; bounded, so an exhausted space returns fewer."""
    batches, found = [], 0
    for _ in range(32):
        want = int(1.5 * (n - found)) + 8
        fresh = seen.keep_new(breed(want), n - found)  # type: ignore[attr-defined]
        batches.append(fresh)
        found += len(fresh)
        if found >= n:
            break
    return np.concatenate(batches)
