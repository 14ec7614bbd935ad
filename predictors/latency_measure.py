"""Latency measured on this machine: a subnet run end to end with torch on the CPU."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from searchspaces.base import Arch, SearchSpace


@dataclass(frozen=True)
class Measurement:
    latency_ms: float  # median over repeats
    p90_ms: float
    repeats: int
    threads: int
    batch: int
    resolution: int


@torch.inference_mode()
def measure(space: SearchSpace, arch: Arch, threads: int = 1, batch: int = 1, warmup: int = 10,
            repeats: int = 50) -> Measurement:
    """Time ``arch`` (eval mode, random input) with torch pinned to ``threads`` intra-op threads:
    ``warmup`` untimed runs, then the median of ``repeats`` timed ones."""
    resolution = space.resolution(arch)  # type: ignore[attr-defined]
    model = space.build(arch).eval()  # type: ignore[attr-defined]
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        image = torch.randn(batch, 3, resolution, resolution)
        for _ in range(warmup):
            model(image)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(image)
            times.append((time.perf_counter() - start) * 1000)
    finally:
        torch.set_num_threads(previous)
    return Measurement(float(np.median(times)), float(np.percentile(times, 90)), repeats, threads, batch, resolution)
