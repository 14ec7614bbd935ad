"""Random search: the baseline every strategy must beat."""

from __future__ import annotations

import numpy as np

from nas.searchers.base import Searcher, register
from nas.searchers.operators import fresh_feasible, make_feasible


@register("random")
class RandomSearcher(Searcher):
    """Archs drawn uniformly per gene; over-budget draws are repaired (or redrawn) into the budget."""

    def ask(self, n: int) -> np.ndarray:
        draw = lambda count: make_feasible(self.problem, self.problem.space.sample(count, self.rng), self.rng)  # noqa: E731
        return fresh_feasible(self.problem, self.seen, n, draw)

    def tell(self, genes: np.ndarray, metrics: dict[str, np.ndarray]) -> None:
        """Random search learns nothing."""
