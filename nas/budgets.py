"""Budgets such as ``600M-MACs``, ``0.6G-MACs``, ``5M-params``, ``25ms-latency@note10`` (case-insensitive)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from nas.errors import NasError

SCALES = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9}
METRIC_NAMES = {"macs": "macs", "flops": "macs", "params": "params"}
LATENCY_PREFIX = "latency@"
_NUMBER = r"([+-]?[0-9]*\.?[0-9]+(?:e[+-]?\d+)?)"
_COUNT = re.compile(rf"^\s*{_NUMBER}\s*([kmg]?)\s*-\s*([a-z]+)\s*$", re.IGNORECASE)
_LATENCY = re.compile(rf"^\s*{_NUMBER}\s*ms\s*-\s*latency\s*@\s*([a-z0-9_.\-]+)\s*$", re.IGNORECASE)
USAGE = "expected <number><k|M|G>-<MACs|params> or <number>ms-latency@<device>, e.g. 600M-MACs, 25ms-latency@note10"


class BudgetError(NasError, ValueError):
    """A budget string that cannot be used; the message says why and what is accepted."""


@dataclass(frozen=True)
class Budget:
    """An upper bound ``limit`` on the metric ``metric`` (``macs``, ``params``, ``latency@<device>``)."""

    metric: str
    limit: float

    def __str__(self) -> str:
        return f"{self.metric} <= {format_metric(self.metric, self.limit)}"


def parse_budget(text: str) -> Budget:
    if latency := _LATENCY.match(text):
        number, device = latency.groups()
        return Budget(LATENCY_PREFIX + device.lower(), _limit(float(number), text))
    match = _COUNT.match(text)
    if not match:
        raise BudgetError(f"cannot read budget {text!r}: {USAGE}")
    number, scale, unit = match.groups()
    metric = METRIC_NAMES.get(unit.lower())
    if metric is None:
        raise BudgetError(f"unknown unit {unit!r} in budget {text!r}: use MACs, params or ms-latency@<device>")
    return Budget(metric, _limit(float(number) * SCALES[scale.lower()], text))


def _limit(value: float, text: str) -> float:
    if not math.isfinite(value):
        raise BudgetError(f"budget {text!r} is not a finite number")
    if value <= 0:
        raise BudgetError(f"budget {text!r} must be positive")
    return value


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


def format_metric(metric: str, value: float) -> str:
    """A metric value for people: ``25.3ms`` for latencies, ``600.0M`` for counts."""
    return f"{value:.2f}ms" if metric.startswith(LATENCY_PREFIX) else format_quantity(value)
