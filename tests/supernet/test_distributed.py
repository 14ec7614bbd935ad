"""Data-parallel training on a real local Ray (Ray Train's TorchTrainer, two CPU workers, gloo), from the
command line as users run it."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas.errors import NasError
from nas.supernet.checkpoint import load_checkpoint, load_supernet
from nas.supernet.config import TrainConfig
from nas.supernet.distributed import train_on_ray
from tests.cli import nas

pytestmark = [pytest.mark.ray, pytest.mark.slow]

# the local Ray the command starts sees no GPU, so two CPU workers train on a machine with one GPU too
CPU_ONLY = {"CUDA_VISIBLE_DEVICES": ""}


def test_two_workers_train_one_supernet(cifar_small: Path, tmp_path: Path) -> None:
    out = tmp_path / "supernet.pt"
    run = nas("train-supernet", "--data", str(cifar_small), "--epochs", "2", "--batch-size", "50",
              "--random-subnets", "1", "--student-split", "2", "--seed", "1", "--workers", "2", "--out", str(out),
              env=CPU_ONLY)
    assert run.returncode == 0, run.stderr
    # worker 0's line per epoch, once (Ray Train's patched print would echo it on stderr too), and
    # none of the warnings Ray Train's placement-group cleaner repeats every second when Ray runs
    # without its dashboard's State API
    epochs = [line.split(":")[0] for line in run.stdout.splitlines() if line.startswith("epoch")]
    assert epochs == ["epoch 1/2", "epoch 2/2"]
    assert "epoch 1/2" not in run.stderr and "Failed to query" not in run.stderr
    # worker 0 checks after training that both replicas hold the same weights (averaged gradients)
    checkpoint = load_checkpoint(out)
    assert checkpoint.training["epoch"] == 2 and checkpoint.meta["classes"][0] == "airplane"
    assert checkpoint.training["config"]["student_split"] == 2
    supernet, _ = load_supernet(out)
    assert supernet.space.n_classes == 10


def test_two_workers_stop_a_budgeted_run_on_the_same_step(cifar_small: Path, tmp_path: Path) -> None:
    # a worker that stopped a step before the other would leave it waiting in the gradient all-reduce
    # for ever, and one that stopped after would end with other weights (worker 0 checks both agree)
    out = tmp_path / "supernet.pt"
    run = nas("train-supernet", "--data", str(cifar_small), "--minutes", "0.05", "--batch-size", "50",
              "--random-subnets", "0", "--seed", "1", "--workers", "2", "--out", str(out), "--quiet", env=CPU_ONLY)
    assert run.returncode == 0, run.stderr
    assert "epoch" not in run.stdout  # --quiet
    training = load_checkpoint(out).training
    assert training["seconds"] >= 3.0 and training["config"]["minutes"] == 0.05


def test_more_workers_than_cpus_is_refused(cifar_small: Path, tmp_path: Path, ray_runtime: None) -> None:
    with pytest.raises(NasError, match="3 workers need 3 CPUs; the Ray cluster has 2"):
        train_on_ray("ofa-mbv3-w1.0-cifar10", cifar_small, TrainConfig(epochs=1), tmp_path / "x.pt", workers=3)


def test_cli_workers_option(cifar_small: Path, tmp_path: Path) -> None:
    run = nas("train-supernet", "--data", str(tmp_path / "missing"), "--epochs", "1", "--out", "x.pt",
              "--workers", "2")
    assert run.returncode != 0 and f"no dataset at {tmp_path / 'missing'}" in run.stderr
    assert "Traceback" not in run.stderr
