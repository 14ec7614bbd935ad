"""Evaluating a subnet with inherited weights: batch-norm recalibration batches and input resolution."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from nas.errors import NasError
from nas.supernet import evaluate
from nas.supernet.checkpoint import with_classes
from nas.supernet.data import ImageSplit, load_image_dataset
from nas.supernet.evaluate import Normalize, batches, evaluate_subnet, recalibrate_batch_norm
from searchspaces import get_space


class InputSizes(nn.Module):
    """A network with one batch norm that records the size of every batch it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(3)
        self.head = nn.Linear(3, 10)
        self.sizes: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(tuple(x.shape))
        return self.head(self.bn(x).mean((2, 3)))


def split(n: int) -> ImageSplit:
    return ImageSplit(torch.zeros(n, 3, 4, 4, dtype=torch.uint8), torch.zeros(n, dtype=torch.int64))


def test_batches_are_nearly_equal_and_never_one_image() -> None:
    assert [len(labels) for _, labels in batches(split(251), 250)] == [126, 125]
    assert [len(labels) for _, labels in batches(split(500), 250)] == [250, 250]


def test_recalibration_needs_two_images() -> None:
    normalize = Normalize([0.5] * 3, [0.25] * 3)
    with pytest.raises(NasError, match="at least 2 images"):
        recalibrate_batch_norm(InputSizes(), split(10), normalize, images=1)
    with pytest.raises(NasError, match="at least 2 images"):
        recalibrate_batch_norm(InputSizes(), split(1), normalize)


def test_a_subnet_is_measured_at_its_own_resolution(cifar_small: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Images decoded at the training resolution are resized to the subnet's (as nas predictor
    collect stores subnets of every resolution of ofa-mbv3-w1.0)."""
    space = with_classes(get_space("ofa-mbv3-w1.0"), 10)
    genes = space.gene_sizes - 1
    genes[-1] = 0  # the smallest resolution
    assert space.resolution(space.to_arch(genes)) == 128
    network = InputSizes()
    network.space = space  # stands in for the supernet, and for the subnet cut out of it
    monkeypatch.setattr(evaluate, "extract_subnet", lambda supernet, subnet_genes: supernet)
    data = load_image_dataset(cifar_small, 160, max_per_class=2)
    accuracy = evaluate_subnet(network, genes, data.train, data.test, Normalize([0.5] * 3, [0.25] * 3),
                               calibration_images=20)
    assert 0.0 <= accuracy <= 1.0
    assert network.sizes == [(20, 3, 128, 128)] * 2  # calibration, then test
