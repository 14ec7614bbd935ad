"""Seeded, deterministic training of small torch regressors, early-stopped on a held-out share."""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class Schedule:
    lr: float
    max_epochs: int
    patience: int  # epochs without a better validation loss before stopping
    batch_size: int = 64
    weight_decay: float = 0.0
    val_share: float = 0.2


@dataclass(frozen=True)
class Trained:
    epochs: int  # epochs up to the best validation loss
    val_rmse: float  # in the units of the (transformed) target


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers of the given widths with ReLU between them (OFA's predictor has this shape)."""
    layers: list[nn.Module] = []
    for n_in, n_out in pairwise(sizes):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def seeded(seed: int, build: Callable[[], nn.Module]) -> nn.Module:
    """``build()`` with torch's initializers drawn from ``seed``, leaving the global generator as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


@contextmanager
def one_thread() -> Iterator[None]:
    """Small-batch steps of a small MLP gain nothing from intra-op threads, and on a busy machine the
    threads wait for each other: one epoch took 3 s with 2 threads vs 0.07 s with 1 (2 shared cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train(model: nn.Module, x: np.ndarray, y: np.ndarray, schedule: Schedule, seed: int) -> Trained:
    """Minimize MSE on all but a seeded ``val_share`` of the rows; keep the weights of the epoch with
    the lowest validation loss. ``y`` is ``(n,)`` or ``(n, k)``."""
    with one_thread():
        return _train(model, x, y, schedule, seed)


def _train(model: nn.Module, x: np.ndarray, y: np.ndarray, schedule: Schedule, seed: int) -> Trained:
    generator = torch.Generator().manual_seed(seed)
    inputs, targets = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.float32)).reshape(len(x), -1)
    order = torch.randperm(len(x), generator=generator)
    n_val = max(1, round(schedule.val_share * len(x)))
    val, fit = order[:n_val], order[n_val:]
    optimizer = torch.optim.Adam(model.parameters(), lr=schedule.lr, weight_decay=schedule.weight_decay)
    best_loss, best_epoch, best_state = _loss(model, inputs[val], targets[val]), 0, _copy(model)
    for epoch in range(1, schedule.max_epochs + 1):
        model.train()
        for batch in fit[torch.randperm(len(fit), generator=generator)].split(schedule.batch_size):
            optimizer.zero_grad()
            nn.functional.mse_loss(model(inputs[batch]), targets[batch]).backward()
            optimizer.step()
        loss = _loss(model, inputs[val], targets[val])
        if loss < best_loss:
            best_loss, best_epoch, best_state = loss, epoch, _copy(model)
        elif epoch - best_epoch >= schedule.patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    return Trained(best_epoch, math.sqrt(best_loss))


@torch.no_grad()
def _loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return float(nn.functional.mse_loss(model(x), y))


def _copy(model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


def weights_to_json(model: nn.Module) -> dict[str, Any]:
    """Every tensor as its shape and little-endian float32 bytes in base64: exact and portable."""
    return {key: {"shape": list(value.shape),
                  "float32": base64.b64encode(value.detach().numpy().astype("<f4").tobytes()).decode()}
            for key, value in model.state_dict().items()}


def weights_from_json(value: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {key: torch.from_numpy(np.frombuffer(base64.b64decode(tensor["float32"]), dtype="<f4")
                                  .astype(np.float32).reshape(tensor["shape"]))
            for key, tensor in value.items()}
