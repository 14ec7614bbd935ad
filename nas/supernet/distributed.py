"""Data-parallel supernet training on Ray Train: a ``TorchTrainer`` runs one training process per
worker (one GPU each when the cluster has GPUs, else a CPU), in the process group Ray Train sets up
(NCCL on GPUs, gloo on CPUs). Every worker decodes the dataset from the same path, takes its share of each batch and
averages gradients with the others once per sandwich step; worker 0 tests and writes the checkpoint,
on its own node (use a shared file system for ``--out`` across nodes).
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from nas.errors import NasError
from nas.executors.ray_executor import check_cpus
from nas.supernet.config import TrainConfig


def train_on_ray(space_name: str, data: Path, config: TrainConfig, out: Path, workers: int,
                 resume: Path | None = None, max_per_class: int | None = None, quiet: bool = False) -> None:
    """Train with ``workers`` Ray Train workers; blocks until done. Worker 0 prints a line per epoch
    unless ``quiet``. Starting Ray here sets this process's logging to errors only (see below)."""
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    if not data.exists():  # every worker would fail on it, behind Ray's error wrapping
        raise NasError(f"no dataset at {data}")
    # not nas.executors.init_ray: worker 0's per-epoch lines are the progress a user watches. Ray's
    # processes log errors only: Ray Train's placement-group cleaner otherwise warns every second of
    # the run that the State API (part of the dashboard, which this Ray lacks) is unavailable. A job
    # logging config also makes Ray forward worker lines without their "(RayTrainWorker pid=...)" prefix.
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False, configure_logging=False,
                 logging_config=ray.LoggingConfig(log_level="ERROR"))
    resources = ray.cluster_resources()
    use_gpu = uses_gpus(workers, int(resources.get("CPU", 0)), int(resources.get("GPU", 0)))
    loop_config = {"space": space_name, "data": str(data.resolve()), "config": asdict(config),
                   "out": str(out.resolve()), "resume": str(resume.resolve()) if resume else None,
                   "max_per_class": max_per_class, "quiet": quiet}
    try:
        # Ray Train's own run records: the checkpoints are ours, at --out, so nothing there is kept
        with tempfile.TemporaryDirectory(prefix="nas-ray-train-", ignore_cleanup_errors=True) as storage:
            TorchTrainer(
                _worker_loop, train_loop_config=loop_config,
                scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu),
                run_config=RunConfig(name="nas-train-supernet", storage_path=storage)).fit()
    except Exception as exc:  # Ray wraps a worker's exception; the user needs its message
        cause = exc
        while cause.__cause__ is not None:
            cause = cause.__cause__
        raise NasError(f"training on Ray failed: {str(cause).strip().splitlines()[-1]}") from None


def uses_gpus(workers: int, cpus: int, gpus: int) -> bool:
    """Whether ``workers`` train on GPUs (one each) or CPUs in a cluster of ``cpus`` and ``gpus``.
    A cluster with some GPUs but fewer than workers is refused: CPU workers beside idle GPUs would
    be a silent slowdown of an order of magnitude."""
    if gpus >= workers:
        return True
    if gpus:
        raise NasError(f"{workers} workers need {workers} GPUs; the Ray cluster has {gpus} (use --workers {gpus})")
    check_cpus(workers, cpus)
    return False


def _worker_loop(loop_config: dict[str, Any]) -> None:
    import ray.train
    import ray.train.torch

    from nas.supernet.data import load_image_dataset
    from nas.supernet.train import SupernetTrainer, train_supernet
    from searchspaces import get_space

    context = ray.train.get_context()
    rank, world_size = context.get_world_rank(), context.get_world_size()
    if not torch.cuda.is_available():
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // context.get_local_world_size()))
    space = get_space(loop_config["space"])
    data = load_image_dataset(loop_config["data"], max(space.resolutions), loop_config["max_per_class"])
    trainer = SupernetTrainer(space, data, TrainConfig(**loop_config["config"]), ray.train.torch.get_device(),
                              rank=rank, world_size=world_size)
    if loop_config["resume"]:
        trainer.resume(Path(loop_config["resume"]))

    def on_epoch(report: Any) -> None:
        # not print(): Ray Train patches it into a log call that writes the line to stderr as well
        tested = ", ".join(f"{name} {acc:.1%}" for name, acc in report.test_accuracy.items())
        sys.stdout.write(f"{trainer.epoch_label(report.epoch)}: loss {report.loss:.3f}, "
                         f"{report.images_per_second:.0f} images/s on {world_size} workers; test: {tested}\n")
        sys.stdout.flush()

    train_supernet(trainer, Path(loop_config["out"]), on_epoch=None if loop_config["quiet"] else on_epoch)
    _check_replicas_agree(trainer.net, world_size)


def _check_replicas_agree(net: torch.nn.Module, world_size: int) -> None:
    """Every worker must end with the same weights; they differ if gradients were not averaged."""
    import torch.distributed as dist

    device = next(net.parameters()).device
    checksum = torch.stack([p.detach().double().sum() for p in net.parameters()]).sum().reshape(1).to(device)
    gathered = [torch.zeros_like(checksum) for _ in range(world_size)]
    dist.all_gather(gathered, checksum)
    if any(not torch.equal(other, gathered[0]) for other in gathered):
        raise RuntimeError(f"supernet replicas diverged across workers: {[g.item() for g in gathered]}")
