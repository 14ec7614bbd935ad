"""Exported subnets compute what the supernet's active subnet computes, in every format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from nas.artifacts import sha256_of
from nas.errors import NasError
from nas.supernet.checkpoint import load_supernet, save_checkpoint
from nas.supernet.data import load_image_dataset
from nas.supernet.elastic import ElasticMobileNetV3
from nas.supernet.evaluate import Normalize, recalibrate_batch_norm
from nas.supernet.export import ExportRequest, export_subnet
from nas.supernet.extract import extract_subnet
from searchspaces import get_space
from tests.supernet.test_elastic import random_ofa_state_dict

SPACE = get_space("ofa-mbv3-w1.0-cifar10")
META = {"space": SPACE.name, "classes": [f"c{i}" for i in range(10)], "resolution": 32,
        "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
RESOLUTION = 28  # the sampled subnet's, below the supernet's 32 px


@pytest.fixture(scope="module")
def checkpoint_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    net = ElasticMobileNetV3(SPACE)
    net.load_state_dict(random_ofa_state_dict(SPACE.name, seed=5))
    path = tmp_path_factory.mktemp("export") / "supernet.pt"
    save_checkpoint(path, net, META)
    return path


@pytest.fixture(scope="module")
def genes() -> np.ndarray:
    genes = SPACE.sample(1, np.random.default_rng(7))[0]
    assert RESOLUTION == SPACE.resolutions[genes[-1]] == 28
    return genes


def export(checkpoint_path: Path, genes: np.ndarray, fmt: str, out: Path,
           **extra: object) -> tuple[dict, torch.nn.Module]:
    supernet, checkpoint = load_supernet(checkpoint_path)
    metadata = export_subnet(ExportRequest(supernet, checkpoint, checkpoint_path, genes, fmt, out, **extra))
    supernet.eval().set_active(genes)
    return metadata, supernet


def inputs(batch: int) -> torch.Tensor:
    return torch.randn(batch, 3, RESOLUTION, RESOLUTION, generator=torch.Generator().manual_seed(batch))


def test_onnx_matches_the_active_subnet_at_any_batch_size(checkpoint_path: Path, genes: np.ndarray,
                                                          tmp_path: Path) -> None:
    _, supernet = export(checkpoint_path, genes, "onnx", tmp_path / "net.onnx")
    model = onnx.load(tmp_path / "net.onnx")
    (graph_input,) = model.graph.input
    dims = graph_input.type.tensor_type.shape.dim
    assert graph_input.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [3, RESOLUTION, RESOLUTION]
    session = onnxruntime.InferenceSession(str(tmp_path / "net.onnx"), providers=["CPUExecutionProvider"])
    for batch in (1, 5):
        x = inputs(batch)
        with torch.no_grad():
            expected = supernet(x).numpy()
        (actual,) = session.run(None, {graph_input.name: x.numpy()})
        assert np.abs(expected).max() > 0.1
        assert np.abs(actual - expected).max() <= 1e-4


def test_torchscript_and_torch_export_match_the_active_subnet(checkpoint_path: Path, genes: np.ndarray,
                                                              tmp_path: Path) -> None:
    _, supernet = export(checkpoint_path, genes, "torchscript", tmp_path / "net.ts")
    export(checkpoint_path, genes, "pt", tmp_path / "net.pt")
    scripted = torch.jit.load(str(tmp_path / "net.ts"))
    program = torch.export.load(tmp_path / "net.pt").module()
    x = inputs(3)
    with torch.no_grad():
        expected = supernet(x)
        assert (scripted(x) - expected).abs().max() <= 1e-4
        assert (program(x) - expected).abs().max() <= 1e-4


def test_metadata_describes_the_model(checkpoint_path: Path, genes: np.ndarray, tmp_path: Path) -> None:
    metadata, _ = export(checkpoint_path, genes, "onnx", tmp_path / "net.onnx")
    assert json.loads((tmp_path / "net.onnx.json").read_text()) == metadata
    assert metadata["arch"] == SPACE.to_json(SPACE.to_arch(genes))
    assert metadata["macs"] == int(SPACE.macs(genes[None])[0])
    assert metadata["params"] == int(SPACE.params(genes[None])[0])
    assert metadata["supernet"]["sha256"] == sha256_of(checkpoint_path)
    assert metadata["input"]["mean"] == META["mean"] and metadata["classes"] == META["classes"]
    assert metadata["input"]["shape"] == ["batch", 3, RESOLUTION, RESOLUTION]
    assert metadata["latency_ms"]["median"] > 0 and metadata["batch_norm_recalibrated"] is False
    assert metadata["predictor"] is None


def test_metadata_records_the_predictor_by_name_or_by_file(checkpoint_path: Path, genes: np.ndarray,
                                                           tmp_path: Path) -> None:
    fitted = tmp_path / "fitted.json"
    fitted.write_text("{}")
    by_file, _ = export(checkpoint_path, genes, "torchscript", tmp_path / "a.ts", predictor=str(fitted),
                        predicted_accuracy=0.7)
    assert by_file["predictor"] == {"path": str(fitted), "sha256": sha256_of(fitted), "predicted_accuracy": 0.7}
    by_name, _ = export(checkpoint_path, genes, "torchscript", tmp_path / "b.ts", predictor="ofa-mlp",
                        predicted_accuracy=0.8)
    assert by_name["predictor"] == {"name": "ofa-mlp", "predicted_accuracy": 0.8}


def test_calibration_recomputes_batch_norm_on_training_images(checkpoint_path: Path, genes: np.ndarray,
                                                              cifar_small: Path, tmp_path: Path) -> None:
    train = load_image_dataset(cifar_small, 32).train
    metadata, supernet = export(checkpoint_path, genes, "torchscript", tmp_path / "net.ts",
                                calibration=train, calibration_images=100)
    assert metadata["batch_norm_recalibrated"] is True
    reference = extract_subnet(supernet, genes)
    recalibrate_batch_norm(reference, train, Normalize(META["mean"], META["std"]), 100, size=RESOLUTION)
    x = inputs(2)
    with torch.no_grad():
        exported = torch.jit.load(str(tmp_path / "net.ts"))(x)
        assert (exported - reference(x)).abs().max() <= 1e-4
        assert (exported - supernet(x)).abs().max() > 1e-3  # the statistics did change


def test_calibration_needs_the_normalization_a_trained_checkpoint_records(genes: np.ndarray, cifar_small: Path,
                                                                          tmp_path: Path) -> None:
    net = ElasticMobileNetV3(SPACE)
    torch.save({"state_dict": net.state_dict()}, tmp_path / "ofa-style.pth")
    supernet, checkpoint = load_supernet(tmp_path / "ofa-style.pth", SPACE.name)
    train = load_image_dataset(cifar_small, 32).train
    with pytest.raises(NasError, match="records no input normalization"):
        export_subnet(ExportRequest(supernet, checkpoint, tmp_path / "ofa-style.pth", genes, "onnx",
                                    tmp_path / "x.onnx", calibration=train))
