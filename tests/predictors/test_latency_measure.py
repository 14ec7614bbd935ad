"""End-to-end measurement with onnxruntime: the exported graph (one NCHW float32 input, dynamic batch)
computes what the torch module does, the CLI times it with pinned threads, and timing keeps freed memory."""

from __future__ import annotations

import ctypes
import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from predictors.latency_measure import export_onnx, measure
from searchspaces import get_space

from ..cli import nas

W12 = get_space("ofa-mbv3-w1.2")
SMALLEST = W12.from_json({"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5, "r": 160})


@torch.inference_mode()
def test_exported_subnet_has_a_dynamic_batch_and_matches_torch() -> None:
    model = W12.build(SMALLEST).eval()
    session = ort.InferenceSession(export_onnx(model, torch.randn(1, 3, 160, 160)), providers=["CPUExecutionProvider"])
    (image,) = session.get_inputs()
    assert (image.name, image.type, image.shape[1:]) == ("image", "tensor(float)", [3, 160, 160])
    assert isinstance(image.shape[0], str)  # a named, dynamic batch dimension
    batch = torch.randn(3, 3, 160, 160)
    np.testing.assert_allclose(session.run(None, {"image": batch.numpy()})[0], model(batch).numpy(), atol=1e-3)


def test_onnxruntime_measurement_reports_backend_and_threads() -> None:
    result = measure(W12, SMALLEST, threads=1, warmup=1, repeats=3, backend="onnxruntime")
    assert (result.backend, result.threads, result.resolution, result.repeats) == ("onnxruntime", 1, 160, 3)
    assert 0 < result.latency_ms <= result.p90_ms
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    run = nas("latency", "measure", "--space", "nb201", "--arch", json.dumps(arch), "--backend", "onnxruntime",
              "--threads", "1", "--warmup", "1", "--repeats", "3", "--json")
    assert run.returncode == 0, run.stderr
    reported = json.loads(run.stdout)
    assert reported["backend"] == "onnxruntime" and reported["engine"].startswith("onnxruntime 1.")
    assert reported["threads"] == 1 and reported["latency_ms"] > 0
    bad = nas("latency", "measure", "--arch", "{}", "--backend", "tensorrt")
    assert bad.returncode == 2 and "invalid choice: 'tensorrt'" in bad.stderr


class MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2``: ``hblkhd`` is the bytes held in blocks mapped from the OS one by one."""

    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def test_after_a_measurement_large_blocks_come_from_the_reused_heap_not_fresh_mappings() -> None:
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "mallinfo2"):
        pytest.skip("the C library is not glibc")
    libc.mallinfo2.restype = MallInfo2
    result = measure(W12, SMALLEST, threads=1, warmup=1, repeats=2)
    assert result.freed_memory_kept
    mapped = libc.mallinfo2().hblkhd
    block = torch.empty(64 << 20, dtype=torch.uint8)  # by default glibc maps anything over 32 MiB afresh
    block.fill_(1)
    assert libc.mallinfo2().hblkhd == mapped
