"""Building lookup tables on this machine: every layer variant of an OFA MobileNetV3 space timed with
torch on the CPU, written as OFA's per-resolution YAML tables (``<R>_lookup_table.yaml``).

The variants of a resolution are the layers of 9 full-depth nets, one per (kernel, expand) choice
for all 20 slots: together they hold every slot's every choice, the stem, the first block and the
head. Each layer is timed inside whole forward passes of its net, not alone: alone, its weights and
input stay cached between runs and it reads faster than it runs in a net. Entries already in a
table are kept, so an interrupted build resumes where it stopped; a table is written after each net
by replacing the file, so a kill never leaves a torn table.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml

from predictors.latency_lut import BUILD_INFO, TABLE_NAME, LUTError, net_keys
from predictors.latency_measure import keep_freed_memory, pinned_threads
from searchspaces.mobilenet import NetSpec
from searchspaces.mobilenet_torch import MobileNet
from searchspaces.ofa_mbv3 import EXPANDS, KERNELS, MAX_DEPTH, N_BLOCKS, N_STAGES, OFAMobileNetV3Space

Table = dict[str, dict[str, float]]


def cpu_name() -> str:
    """The CPU model (Linux ``/proc/cpuinfo``), else the architecture."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.machine()


@dataclass(frozen=True)
class BuildSettings:
    space: str
    threads: int = 1
    warmup: int = 10
    repeats: int = 50
    engine: str = field(default_factory=lambda: f"torch {torch.__version__}")
    cpu: str = field(default_factory=cpu_name)
    freed_memory_kept: bool = field(default_factory=keep_freed_memory)  # recorded; time_layers applies it


def variant_nets(space: OFAMobileNetV3Space, resolution: int) -> list[NetSpec]:
    """Full-depth nets, one per (kernel, expand): together every layer variant of ``resolution``."""
    return [space.net_spec(space.from_json({"ks": [k] * N_BLOCKS, "e": [e] * N_BLOCKS, "d": [MAX_DEPTH] * N_STAGES,
                                            "r": resolution}))
            for k in KERNELS for e in EXPANDS]


def layer_calls(model: MobileNet) -> list[Callable[[torch.Tensor], torch.Tensor]]:
    """``model``'s forward pass as one call per table entry, in :func:`net_keys` order (pooling and
    flattening as ``MobileNet.forward`` does them)."""
    return [*model.features, lambda x: x.mean((2, 3), keepdim=True), *model.head,
            lambda x: model.classifier(torch.flatten(x, 1))]


def summary(times: np.ndarray) -> dict[str, float]:
    """OFA's entry (count, mean, std in ms) of the timed runs, without runs slowed by another process:
    those more than 3 scaled MADs above the median (interruptions only ever add time)."""
    median = np.median(times)
    kept = times[times <= median + 3 * 1.4826 * np.median(np.abs(times - median)) + 1e-9]
    return {"count": len(kept), "mean": float(kept.mean()), "std": float(kept.std())}


def read_partial(path: Path) -> Table:
    """The entries of a table being built (empty if it does not exist yet)."""
    if not path.exists():
        return {}
    try:
        table = yaml.load(path.read_text(), Loader=yaml.CSafeLoader) or {}
    except yaml.YAMLError:
        table = None
    if not isinstance(table, dict):
        raise LUTError(f"{path} is not a lookup table; remove it or choose another --out")
    return table


def write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".part")
    partial.write_text(text)
    os.replace(partial, path)  # readers and a resumed build see the old or the new file, never half


def missing_keys(space: OFAMobileNetV3Space, resolution: int, folder: Path) -> int:
    """How many layer variants of ``resolution`` the table in ``folder`` lacks."""
    keys = {key for spec in variant_nets(space, resolution) for key in net_keys(spec, resolution)}
    return len(keys - read_partial(folder / TABLE_NAME.format(resolution=resolution)).keys())


def time_layers(model: MobileNet, resolution: int, settings: BuildSettings) -> np.ndarray:
    """Milliseconds of each layer (rows) in each of ``repeats`` whole forward passes (columns): timed
    inside the net, so each layer finds the caches as the layers before it leave them."""
    keep_freed_memory()
    calls = layer_calls(model)
    times = np.empty((len(calls), settings.repeats))
    image = torch.randn(1, 3, resolution, resolution)
    with torch.inference_mode(), pinned_threads(settings.threads):
        for run in range(-settings.warmup, settings.repeats):
            x = image
            for i, call in enumerate(calls):
                start = time.perf_counter()
                x = call(x)
                if run >= 0:
                    times[i, run] = (time.perf_counter() - start) * 1000
    return times


def build_resolution(space: OFAMobileNetV3Space, resolution: int, folder: Path,
                     settings: BuildSettings) -> Iterator[int]:
    """Time every variant net of ``resolution`` with layers missing from its table, writing the new
    entries after each net; yields how many entries each net added."""
    path = folder / TABLE_NAME.format(resolution=resolution)
    table = read_partial(path)
    for spec in variant_nets(space, resolution):
        keys = net_keys(spec, resolution)
        rows: dict[str, list[int]] = {}  # a stage's later blocks share one key: their runs are pooled
        for i, key in enumerate(keys):
            if key not in table:
                rows.setdefault(key, []).append(i)
        if not rows:
            continue
        times = time_layers(MobileNet(spec).eval(), resolution, settings)
        table.update({key: summary(times[index].ravel()) for key, index in rows.items()})
        write_atomically(path, yaml.safe_dump(table))
        yield len(rows)


def start_build(folder: Path, settings: BuildSettings) -> None:
    """Record the settings beside the tables; a resumed build must use the same ones."""
    folder.mkdir(parents=True, exist_ok=True)
    info = folder / BUILD_INFO
    if info.exists():
        recorded = {k: v for k, v in json.loads(info.read_text()).items() if k != "complete"}
        if recorded != asdict(settings):
            changed = ", ".join(f"{k} {recorded.get(k)!r} -> {v!r}" for k, v in asdict(settings).items()
                                if recorded.get(k) != v)
            raise LUTError(f"{folder} holds tables built with other settings ({changed}); use another --out")
    write_atomically(info, json.dumps({**asdict(settings), "complete": False}, indent=1) + "\n")


def finish_build(folder: Path, settings: BuildSettings) -> None:
    """Mark the tables complete: only then are they offered as a device."""
    write_atomically(folder / BUILD_INFO, json.dumps({**asdict(settings), "complete": True}, indent=1) + "\n")
