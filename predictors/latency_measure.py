"""Latency measured on this machine: a subnet run end to end on the CPU, with torch or onnxruntime."""

from __future__ import annotations

import ctypes
import functools
import io
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from searchspaces.base import Arch, SearchSpace

BACKENDS = ("torch", "onnxruntime")


@dataclass(frozen=True)
class Measurement:
    latency_ms: float  # median over repeats
    p90_ms: float
    repeats: int
    threads: int
    batch: int
    resolution: int
    backend: str = "torch"
    freed_memory_kept: bool = False  # see keep_freed_memory


# mallopt's parameter numbers (glibc malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


@functools.cache
def keep_freed_memory() -> bool:
    """Have glibc's malloc keep freed memory for reuse, for the rest of this process; False where the
    C library cannot (not glibc).

    By default glibc maps each block above its mmap threshold (128 KiB, raised dynamically up to
    32 MiB) fresh from the OS and unmaps it when freed, and returns a heap top over 2x the threshold to
    the OS. A forward pass then page-faults its large activations in again on every run: on a 2-core
    EPYC that tripled the time of one OFA layer and made it depend on the layers around it, so per-layer
    tables missed whole-net times. Deployment runtimes keep their memory in arenas (and PyTorch's CPU
    tuning guide has users swap in jemalloc or tcmalloc for this reason), so timings are taken that way.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except AttributeError:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, 1 << 30) and mallopt(M_TRIM_THRESHOLD, 1 << 30))


@contextmanager
def pinned_threads(threads: int) -> Iterator[None]:
    """torch limited to ``threads`` intra-op threads, restored afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def time_runs(run: Callable[[], object], warmup: int, repeats: int) -> np.ndarray:
    """Milliseconds of each of ``repeats`` timed calls of ``run``, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        run()
    times = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        run()
        times[i] = (time.perf_counter() - start) * 1000
    return times


@torch.inference_mode()
def measure(space: SearchSpace, arch: Arch, threads: int = 1, batch: int = 1, warmup: int = 10,
            repeats: int = 50, backend: str = "torch") -> Measurement:
    """Time ``arch`` (eval mode, random input) pinned to ``threads`` intra-op threads with ``backend``:
    ``warmup`` untimed runs, then the median of ``repeats`` timed ones, with freed memory kept."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    kept = keep_freed_memory()
    resolution = space.resolution(arch)  # type: ignore[attr-defined]
    model = space.build(arch).eval()  # type: ignore[attr-defined]
    image = torch.randn(batch, 3, resolution, resolution)
    with pinned_threads(threads):
        run = (lambda: model(image)) if backend == "torch" else onnxruntime_runner(model, image, threads)
        times = time_runs(run, warmup, repeats)
    return Measurement(float(np.median(times)), float(np.percentile(times, 90)), repeats, threads, batch, resolution,
                       backend, kept)


def export_onnx(model: torch.nn.Module, image: torch.Tensor) -> bytes:
    """ONNX of ``model``: one NCHW float32 input ``image`` with a dynamic batch, output ``logits``."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # the TorchScript exporter is deprecated, but exports these nets in ~1 s where torch.export takes ~9 s
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (image,), buffer, input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
    return buffer.getvalue()


def onnxruntime_runner(model: torch.nn.Module, image: torch.Tensor, threads: int) -> Callable[[], object]:
    """A call running ``model`` exported to ONNX in an onnxruntime CPU session on ``threads`` threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(export_onnx(model, image), options, providers=["CPUExecutionProvider"])
    feed = {"image": image.numpy()}
    return lambda: session.run(None, feed)
