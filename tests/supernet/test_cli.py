"""nas train-supernet, eval-subnet and export as a user runs them, on real CIFAR-10 images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nas.supernet.checkpoint import load_checkpoint
from tests.cli import nas

ARCH = json.dumps({"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5, "r": 32})


@pytest.fixture(scope="module")
def trained(cifar_small: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "supernet.pt"
    run = nas("train-supernet", "--data", str(cifar_small), "--epochs", "1", "--batch-size", "50",
              "--random-subnets", "1", "--label-weight", "0.5", "--weight-decay", "4e-4", "--student-split", "2",
              "--out", str(out))
    assert run.returncode == 0, run.stderr
    config = load_checkpoint(out).training["config"]
    assert config["label_weight"] == 0.5 and config["weight_decay"] == 4e-4 and config["student_split"] == 2
    assert "200 training and 100 test images, 10 classes" in run.stderr
    assert "epoch 1/1: loss" in run.stderr and "test: largest" in run.stderr
    return out


def test_train_then_evaluate_a_subnet(trained: Path, cifar_small: Path) -> None:
    run = nas("eval-subnet", "--supernet", str(trained), "--arch", ARCH, "--data", str(cifar_small), "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert 0.0 <= result["accuracy"] <= 1.0 and result["macs"] > 0
    assert result["arch"]["d"] == [2] * 5


def test_resume_continues_a_finished_run_to_more_epochs_only_with_the_same_settings(
        trained: Path, cifar_small: Path, tmp_path: Path) -> None:
    run = nas("train-supernet", "--data", str(cifar_small), "--epochs", "2", "--batch-size", "50",
              "--random-subnets", "1", "--label-weight", "0.5", "--weight-decay", "4e-4", "--student-split", "2",
              "--out", str(tmp_path / "more.pt"),
              "--resume", str(trained), "--quiet")
    assert run.returncode != 0
    assert run.stderr.count("\n") == 1 and "other settings (epochs)" in run.stderr


def test_a_run_of_minutes_ends_on_time_and_records_its_budget(cifar_small: Path, tmp_path: Path) -> None:
    out = tmp_path / "budgeted.pt"
    run = nas("train-supernet", "--data", str(cifar_small), "--minutes", "0.05", "--batch-size", "50",
              "--random-subnets", "0", "--out", str(out))
    assert run.returncode == 0, run.stderr
    training = load_checkpoint(out).training
    assert training["config"]["minutes"] == 0.05 and training["config"]["epochs"] is None
    assert training["seconds"] >= 3.0  # trained until the 3 s were up
    assert f"epoch {training['epoch']} (" in run.stderr and "of 0.05 min): loss" in run.stderr


def test_export_writes_the_model_and_its_metadata(trained: Path, cifar_small: Path, tmp_path: Path) -> None:
    out = tmp_path / "subnet.onnx"
    run = nas("export", "--supernet", str(trained), "--arch", ARCH, "--format", "onnx", "--out", str(out),
              "--calib-data", str(cifar_small), "--calib-images", "100")
    assert run.returncode == 0, run.stderr
    metadata = json.loads(Path(f"{out}.json").read_text())
    assert out.stat().st_size > 10_000 and metadata["batch_norm_recalibrated"] is True
    assert f"MACs {metadata['macs'] / 1e6:.1f}M" in run.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["train-supernet", "--data", "/nonexistent", "--epochs", "1", "--out", "x.pt"], "no dataset at /nonexistent"),
    (["train-supernet", "--data", "{data}", "--epochs", "0", "--out", "x.pt"], "--epochs"),
    (["train-supernet", "--data", "{data}", "--out", "x.pt"], "one of the arguments --epochs --minutes is required"),
    (["train-supernet", "--data", "{data}", "--epochs", "1", "--minutes", "5", "--out", "x.pt"],
     "argument --minutes: not allowed with argument --epochs"),
    (["train-supernet", "--data", "{data}", "--minutes", "0", "--out", "x.pt"], "--minutes"),
    (["train-supernet", "--data", "{data}", "--epochs", "1", "--label-weight", "-1", "--out", "x.pt"],
     "--label-weight"),
    (["train-supernet", "--data", "{data}", "--epochs", "1", "--weight-decay", "-1e-4", "--out", "x.pt"],
     "--weight-decay"),
    (["train-supernet", "--data", "{data}", "--epochs", "1", "--random-subnets", "-1", "--out", "x.pt"],
     "--random-subnets"),
    (["train-supernet", "--data", "{data}", "--epochs", "1", "--student-split", "0", "--out", "x.pt"],
     "--student-split"),
    (["train-supernet", "--data", "{data}", "--epochs", "1", "--student-split", "4", "--out", "x.pt"],
     "a student split of 4 leaves parts of the batch to no subnet: 3 smaller subnets train per step"),
    (["train-supernet", "--data", "{data}", "--epochs", "1", "--batch-size", "1", "--out", "x.pt"],
     "batch size must be at least 2"),
    (["train-supernet", "--data", "{data}", "--epochs", "1", "--out", "{data}"], "is a directory"),
    (["train-supernet", "--data", "{data}", "--epochs", "1", "--max-per-class", "10", "--batch-size", "50",
      "--out", "x.pt", "--resume", "{ckpt}"], "was trained on another space or dataset (it records another mean, std)"),
    (["eval-subnet", "--supernet", "{ckpt}", "--arch", ARCH, "--data", "{data}", "--calib-images", "1"],
     "at least 2 images"),
    (["eval-subnet", "--supernet", "{ofa}", "--arch", ARCH, "--data", "{data}"], "records no input normalization"),
    (["eval-subnet", "--supernet", "/nonexistent.pt", "--arch", ARCH, "--data", "{data}"], "no checkpoint at"),
    (["eval-subnet", "--supernet", "{ckpt}", "--arch", '{"ks": [3]}', "--data", "{data}"], "arch"),
    (["export", "--supernet", "{ckpt}", "--arch", ARCH, "--format", "tflite", "--out", "x"], "--format"),
    (["export", "--supernet", "{image}", "--arch", ARCH, "--format", "onnx", "--out", "x"],
     "not a readable torch checkpoint"),
])
def test_bad_input_is_one_line_and_a_nonzero_exit(args: list[str], message: str, trained: Path,
                                                  cifar_small: Path, tmp_path: Path) -> None:
    ofa_style = tmp_path / "ofa-style.pth"  # OFA's files hold weights only
    torch.save({"state_dict": load_checkpoint(trained).state_dict}, ofa_style)
    values = {"{data}": str(cifar_small), "{ckpt}": str(trained), "{ofa}": str(ofa_style),
              "{image}": str(next((cifar_small / "train" / "cat").iterdir()))}
    args = [values.get(a, a) for a in args]
    run = nas(*args)
    assert run.returncode != 0
    assert message in run.stderr and "Traceback" not in run.stderr
    assert run.stderr.strip().count("\n") <= 1  # argparse adds its usage line
