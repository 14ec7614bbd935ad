"""Accuracy of one subnet with inherited weights, after re-estimating its batch-norm statistics.

Every subnet of a supernet shares the running statistics of the largest layers, which match none
of them; OFA and BigNAS re-estimate them on a few training batches before measuring a subnet.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nas.errors import NasError
from nas.supernet import CALIBRATION_IMAGES
from nas.supernet.checkpoint import Checkpoint
from nas.supernet.data import ImageDataset, ImageSplit, load_image_dataset
from nas.supernet.elastic import ElasticMobileNetV3
from nas.supernet.extract import extract_subnet


class Normalize:
    """uint8 images to the float input the network was trained on."""

    def __init__(self, mean: list[float], std: list[float]) -> None:
        self.mean = torch.tensor(mean).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(std).view(1, 3, 1, 1) * 255

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return (images.float() - self.mean.to(images.device)) / self.std.to(images.device)


def trained_normalize(checkpoint: Checkpoint, path: str | Path) -> Normalize:
    """The input normalization a nas train-supernet checkpoint records (OFA's files record none)."""
    if "mean" not in checkpoint.meta:
        raise NasError(f"{path} records no input normalization (not written by nas train-supernet)")
    return Normalize(checkpoint.meta["mean"], checkpoint.meta["std"])


def load_dataset_of(checkpoint: Checkpoint, path: str | Path, max_per_class: int | None = None) -> ImageDataset:
    """The dataset at ``path`` at the resolution the supernet was trained on (subnets of other
    resolutions resize it batch by batch), refused unless it has the classes it was trained on."""
    data = load_image_dataset(path, checkpoint.meta["resolution"], max_per_class)
    if data.classes != checkpoint.meta.get("classes"):
        raise NasError(f"{path} has other classes than the supernet was trained on")
    return data


def batches(split: ImageSplit, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The split in batches of nearly equal size, at most ``batch_size``: for batch sizes of 3 or more,
    never a batch of one image (batch norm cannot normalize one image on 1x1 maps)."""
    count = math.ceil(len(split.labels) / batch_size)
    yield from zip(split.images.tensor_split(count), split.labels.tensor_split(count))


def at_size(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """Images resized to ``size`` pixels square (a subnet's own resolution), unless they are already."""
    if size is None or images.shape[-1] == size:
        return images
    return F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def subset(split: ImageSplit, images: int | None, seed: int = 0) -> ImageSplit:
    """``images`` of the split (all if None) in a fixed random order: splits are stored class by class,
    so the first images would be a few classes, and batch-norm batches of one class are biased."""
    order = torch.randperm(len(split.labels), generator=torch.Generator().manual_seed(seed))[:images]
    return ImageSplit(split.images[order], split.labels[order])


def default_device() -> torch.device:
    """Where supernets train and subnets are measured: the GPU if there is one."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _device_of(net: nn.Module) -> torch.device:
    """Where the network's weights are: images (held on the CPU) go there batch by batch."""
    return next(net.parameters()).device


def check_calibration_images(images: int) -> None:
    """Batch norm cannot estimate statistics from one image on 1x1 maps."""
    if images < 2:
        raise NasError("batch-norm recalibration needs at least 2 images")


@torch.no_grad()
def recalibrate_batch_norm(net: nn.Module, split: ImageSplit, normalize: Normalize, images: int = CALIBRATION_IMAGES,
                           *, size: int | None = None, batch_size: int = 250, seed: int = 0) -> None:
    """Replace every batch norm's running statistics by their average over ``images`` training images
    (a fixed random subset, so the result depends on the seed only), resized to ``size`` if given."""
    check_calibration_images(min(images, len(split.labels)))
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the calibration batches
    net.train()
    device = _device_of(net)
    for images_batch, _ in batches(subset(split, images, seed), batch_size):
        net(normalize(at_size(images_batch.to(device), size)))
    net.eval()


@torch.no_grad()
def accuracy(net: nn.Module, split: ImageSplit, normalize: Normalize, *, size: int | None = None,
             batch_size: int = 500, limit: int | None = None) -> float:
    """Top-1 accuracy on ``limit`` images of the split (all if None), resized to ``size`` if given."""
    net.eval()
    device = _device_of(net)
    correct = total = 0
    for images, labels in batches(subset(split, limit), batch_size):
        correct += (net(normalize(at_size(images.to(device), size))).argmax(1).cpu() == labels).sum().item()
        total += len(labels)
    return correct / total


def evaluate_subnet(supernet: ElasticMobileNetV3, genes: np.ndarray, train: ImageSplit, test: ImageSplit,
                    normalize: Normalize, calibration_images: int = CALIBRATION_IMAGES,
                    test_limit: int | None = None) -> float:
    """Top-1 accuracy on ``test`` of the subnet ``genes`` with inherited, recalibrated weights, at the
    subnet's own resolution."""
    space = supernet.space
    size = int(space.resolution(space.to_arch(genes)))
    subnet = extract_subnet(supernet, genes).to(_device_of(supernet))
    recalibrate_batch_norm(subnet, train, normalize, calibration_images, size=size)
    return accuracy(subnet, test, normalize, size=size, limit=test_limit)
