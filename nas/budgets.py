"""Budgets such as ``600M-MACs``, ``0.6G-MACs``, ``5M-params`` (case-insensitive)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from nas.errors import NasError

SCALES = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9}
METRIC_NAMES = {"macs": "macs", "flops": "macs", "params": "params"}
_PATTERN = re.compile(r"^\s*([+-]?[0-9]*\.?[0-9]+(?:e[+-]?\d+)?)\s*([kmg]?)\s*-\s*([a-z]+)\s*$", re.IGNORECASE)


class BudgetError(NasError, ValueError):
    """A budget string that cannot be used; the message says why and what is accepted."""


@dataclass(frozen=True)
class Budget:
    """An upper bound ``limit`` on the metric ``metric`` (e.g. ``macs``)."""

    metric: str
    limit: float

    def __str__(self) -> str:
        return f"{self.metric} <= {format_quantity(self.limit)}"


def parse_budget(text: str) -> Budget:
    match = _PATTERN.match(text)
    if not match:
        raise BudgetError(f"cannot read budget {text!r}: expected <number><k|M|G>-<MACs|params>, e.g. 600M-MACs")
    number, scale, unit = match.groups()
    metric = METRIC_NAMES.get(unit.lower())
    if metric is None:
        raise BudgetError(f"unknown unit {unit!r} in budget {text!r}: use MACs or params")
    limit = float(number) * SCALES[scale.lower()]
    if not math.isfinite(limit):
        raise BudgetError(f"budget {text!r} is not a finite number")
    if limit <= 0:
        raise BudgetError(f"budget {text!r} must be positive")
    return Budget(metric, limit)


def parse_budgets(texts: list[str]) -> list[Budget]:
    budgets = [parse_budget(t) for t in texts]
    metrics = [b.metric for b in budgets]
    duplicate = next((m for m in metrics if metrics.count(m) > 1), None)
    if duplicate:
        raise BudgetError(f"more than one budget on {duplicate}")
    return budgets


def format_quantity(value: float) -> str:
    for suffix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.1f}{suffix}"
    return f"{value:g}"
