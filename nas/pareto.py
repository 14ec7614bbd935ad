"""Non-dominated filtering over a batch of points (numpy)."""

from __future__ import annotations

import numpy as np


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``points``, every column to be minimized.

    Of exact duplicates only the first is kept, so the front lists each trade-off once.
    """
    n = len(points)
    order = np.lexsort(points.T[::-1])  # sorted by first column, ties by the next ones
    sorted_points = points[order]
    keep = np.zeros(n, dtype=bool)
    if points.shape[1] == 2:
        # after sorting by x, a point is on the front iff its y beats every earlier y
        best_before = np.minimum.accumulate(np.concatenate(([np.inf], sorted_points[:-1, 1])))
        keep[order] = sorted_points[:, 1] < best_before
        return keep
    front: list[np.ndarray] = []
    for index, point in zip(order, sorted_points):
        if front:
            stacked = np.asarray(front)
            if np.any(np.all(stacked <= point, axis=1)):
                continue
        front.append(point)
        keep[index] = True
    return keep
