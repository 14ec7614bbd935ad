"""Accuracy of one subnet with inherited weights, after re-estimating its batch-norm statistics.

Every subnet of a supernet shares the running statistics of the largest layers, which match none
of them; OFA and BigNAS re-estimate them on a few training batches before measuring a subnet.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from nas.supernet.data import ImageSplit
from nas.supernet.elastic import ElasticMobileNetV3
from nas.supernet.extract import extract_subnet

CALIBRATION_IMAGES = 2000


class Normalize:
    """uint8 images to the float input the network was trained on."""

    def __init__(self, mean: list[float], std: list[float]) -> None:
        self.mean = torch.tensor(mean).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(std).view(1, 3, 1, 1) * 255

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return (images.float() - self.mean.to(images.device)) / self.std.to(images.device)


def batches(split: ImageSplit, batch_size: int,
            limit: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    end = len(split.labels) if limit is None else min(limit, len(split.labels))
    for start in range(0, end, batch_size):
        stop = min(start + batch_size, end)
        yield split.images[start:stop], split.labels[start:stop]


@torch.no_grad()
def recalibrate_batch_norm(net: nn.Module, split: ImageSplit, normalize: Normalize, images: int = CALIBRATION_IMAGES,
                           batch_size: int = 250, seed: int = 0) -> None:
    """Replace every batch norm's running statistics by their average over ``images`` training images
    (a fixed random subset, so the result depends on the seed only)."""
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the calibration batches
    order = torch.randperm(len(split.labels), generator=torch.Generator().manual_seed(seed))[:images]
    subset = ImageSplit(split.images[order], split.labels[order])
    net.train()
    for images_batch, _ in batches(subset, batch_size):
        net(normalize(images_batch))
    net.eval()


@torch.no_grad()
def accuracy(net: nn.Module, split: ImageSplit, normalize: Normalize, batch_size: int = 500,
             limit: int | None = None) -> float:
    net.eval()
    correct = total = 0
    for images, labels in batches(split, batch_size, limit):
        correct += (net(normalize(images)).argmax(1) == labels).sum().item()
        total += len(labels)
    return correct / total


def evaluate_subnet(supernet: ElasticMobileNetV3, genes: np.ndarray, train: ImageSplit, test: ImageSplit,
                    normalize: Normalize, calibration_images: int = CALIBRATION_IMAGES,
                    test_limit: int | None = None) -> float:
    """Top-1 accuracy on ``test`` of the subnet ``genes`` with inherited, recalibrated weights."""
    subnet = extract_subnet(supernet, genes)
    recalibrate_batch_norm(subnet, train, normalize, calibration_images)
    return accuracy(subnet, test, normalize, limit=test_limit)
