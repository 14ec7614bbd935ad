"""A deployable subnet: the static network with inherited weights, written as ONNX, TorchScript or a
``torch.export`` program, plus a metadata JSON with what a user needs to run and trust it."""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nas.artifacts import sha256_of
from nas.errors import NasError
from nas.supernet import CALIBRATION_IMAGES, EXPORT_FORMATS
from nas.supernet.checkpoint import Checkpoint
from nas.supernet.data import ImageSplit
from nas.supernet.elastic import ElasticMobileNetV3
from nas.supernet.evaluate import recalibrate_batch_norm, trained_normalize
from nas.supernet.extract import extract_subnet


@dataclass
class ExportRequest:
    supernet: ElasticMobileNetV3
    checkpoint: Checkpoint
    checkpoint_path: Path
    genes: np.ndarray  # one gene row of the supernet's space
    format: str
    out: Path
    calibration: ImageSplit | None = None  # training images for batch-norm recalibration
    calibration_images: int = CALIBRATION_IMAGES
    predictor: str | None = None  # a registered predictor's name or a predictor file
    predicted_accuracy: float | None = None


def export_subnet(request: ExportRequest) -> dict[str, Any]:
    """Write the model file and ``<out>.json``; return the metadata."""
    if request.format not in EXPORT_FORMATS:
        raise NasError(f"unknown format {request.format!r}; choose from {', '.join(EXPORT_FORMATS)}")
    space = request.supernet.space
    arch = space.to_arch(request.genes)
    resolution = int(space.resolution(arch))
    subnet = extract_subnet(request.supernet, request.genes)
    if request.calibration is not None:
        normalize = trained_normalize(request.checkpoint, request.checkpoint_path)
        recalibrate_batch_norm(subnet, request.calibration, normalize, request.calibration_images, size=resolution)
    request.out.parent.mkdir(parents=True, exist_ok=True)
    write_model(subnet, request.format, request.out, resolution)
    metadata = _metadata(request, arch, resolution)
    Path(f"{request.out}.json").write_text(json.dumps(metadata, indent=2) + "\n")
    return metadata


def write_model(model: nn.Module, fmt: str, out: Path, resolution: int) -> None:
    model = model.eval()
    example = torch.zeros(2, 3, resolution, resolution)
    if fmt == "onnx":
        from predictors.latency_measure import export_onnx

        out.write_bytes(export_onnx(model, example))
    elif fmt == "torchscript":
        with warnings.catch_warnings():  # deprecated in favour of torch.export, still what many runtimes load
            warnings.simplefilter("ignore")
            torch.jit.trace(model, example).save(str(out))
    else:
        batch = torch.export.Dim("batch", min=1)
        program = torch.export.export(model, (example,), dynamic_shapes={"x": {0: batch}})
        buffer = io.BytesIO()  # torch.export names its archives .pt2 and warns about any other path
        torch.export.save(program, buffer)
        out.write_bytes(buffer.getvalue())


def _metadata(request: ExportRequest, arch: Any, resolution: int) -> dict[str, Any]:
    from predictors.latency_measure import measure

    space, meta = request.supernet.space, request.checkpoint.meta
    genes = request.genes[None]
    latency = measure(space, arch, threads=1, batch=1, repeats=30)
    return {
        "format": request.format,
        "space": space.name,
        "arch": space.to_json(arch),
        "input": {"shape": ["batch", 3, resolution, resolution], "dtype": "float32", "layout": "NCHW",
                  "mean": meta.get("mean"), "std": meta.get("std"),
                  "note": "pixels scaled to [0, 1], then (x - mean) / std per channel"},
        "classes": meta.get("classes"),
        "macs": int(space.macs(genes)[0]),
        "params": int(space.params(genes)[0]),
        "latency_ms": {"median": round(latency.latency_ms, 3), "p90": round(latency.p90_ms, 3),
                       "threads": latency.threads, "batch": 1, "backend": latency.backend,
                       "measured_on": "this machine, torch CPU"},
        "batch_norm_recalibrated": request.calibration is not None,
        "supernet": {"path": str(request.checkpoint_path), "sha256": sha256_of(request.checkpoint_path)},
        "predictor": _predictor_record(request.predictor, request.predicted_accuracy),
    }


def _predictor_record(name_or_path: str | None, predicted: float | None) -> dict[str, Any] | None:
    from predictors import PREDICTORS

    if name_or_path is None:
        return None
    if name_or_path in PREDICTORS:  # the name takes precedence, as in resolving it
        return {"name": name_or_path, "predicted_accuracy": predicted}
    return {"path": name_or_path, "sha256": sha256_of(Path(name_or_path)), "predicted_accuracy": predicted}
