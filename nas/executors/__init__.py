"""Executors evaluate generations of candidates: in-process, or in a Ray actor (the only Ray code).

An evaluation is one call per generation (thousands of candidates), never one task per candidate,
so the per-candidate overhead of Ray stays in microseconds.
"""

from __future__ import annotations

from nas.executors.base import Executor, LocalExecutor

__all__ = ["Executor", "LocalExecutor", "make_executor"]


def make_executor(kind: str = "ray", address: str | None = None) -> Executor:
    if kind == "local":
        return LocalExecutor()
    from nas.executors.ray_executor import RayExecutor

    return RayExecutor(address)
