"""Sandwich-rule supernet training with in-place distillation (BigNAS / OFA).

Every step trains the largest subnet on the labels, then the smallest and ``random_subnets`` random
subnets on the largest one's predictions of the same batch (plus, at ``label_weight``, on the
labels), each at its own resolution (the batch resized), and applies the summed gradients once.
With ``student_split`` K, those smaller subnets each train on one of K equal parts of the batch, the
parts in turn, which makes a step cheaper.
``schedule="progressive"`` follows OFA's progressive shrinking instead: the first quarter of the run
trains the largest subnet alone, then kernel size, depth and expand ratio become elastic in turn; as
in OFA, the expanded channels are sorted by importance when the expand ratio becomes elastic, so the
smaller ratios start from the channels that matter most.

A run lasts a number of epochs or a time budget in minutes. With a budget, the one-cycle learning rate
follows the clock instead of the step count, so the run anneals to its end on time however fast the
machine turns out to be, and trains as many epochs as fit (the last one possibly cut short).

A checkpoint is written after every epoch; a run of epochs resumed from one continues bit for bit as
if it had not stopped (every random stream is seeded per epoch); a budgeted run resumes with the
minutes it has left.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nas.errors import NasError
from nas.supernet.checkpoint import check_layout, load_checkpoint, save_checkpoint, with_classes
from nas.supernet.config import TrainConfig, check_parts
from nas.supernet.data import ImageDataset
from nas.supernet.elastic import DynamicMBConv, ElasticMobileNetV3
from nas.supernet.evaluate import Normalize, at_size, default_device, evaluate_subnet
from searchspaces.ofa_mbv3 import N_BLOCKS, OFAMobileNetV3Space

# A budgeted run's one-cycle schedule advances in this many equal slices of the budget
BUDGET_TICKS = 10_000


@dataclass
class EpochReport:
    epoch: int
    loss: float  # the largest subnet's training loss
    train_accuracy: float  # the largest subnet's, on augmented training batches
    images_per_second: float
    test_accuracy: dict[str, float] = field(default_factory=dict)  # "largest"/"smallest", on a test subset


def elastic_dimensions(schedule: str, progress: float) -> tuple[bool, bool, bool]:
    """Which of (kernel, depth, expand) may shrink in an epoch that starts ``progress`` (0 to 1) into the run."""
    if schedule == "sandwich":
        return True, True, True
    phase = min(3, int(4 * progress))
    return phase >= 1, phase >= 2, phase >= 3


def sample_subnets(space: OFAMobileNetV3Space, rng: np.random.Generator, n: int,
                   elastic: tuple[bool, bool, bool]) -> list[np.ndarray]:
    """The smallest and ``n`` random subnets allowed by ``elastic`` (frozen dimensions at their largest;
    resolution is elastic whenever any dimension is, as in OFA).

    Random subnets draw every gene uniformly. Two other draws were measured in 60-minute CIFAR-10 runs
    and ranked random subnets by MACs worse (Kendall tau 0.055 and 0.031 against 0.128): one that
    trains every kernel, expand ratio and depth equally often per step counting the largest and
    smallest (750b540), and one that draws only the (kernel, expand) pairs those two do not train (54ddbf3;
    that run also used 3 random subnets per step, the others 2).
    """
    largest = space.gene_sizes - 1
    smallest = np.zeros_like(largest)
    genes = np.vstack([smallest, space.sample(n, rng)]) if n else smallest[None]
    kernel, depth, expand = elastic
    columns = (slice(0, N_BLOCKS), slice(2 * N_BLOCKS, -1), slice(N_BLOCKS, 2 * N_BLOCKS))
    for allowed, column in zip((kernel, depth, expand), columns):
        if not allowed:
            genes[:, column] = largest[column]
    if not any(elastic):
        return []
    return [space.canonical(row[None])[0] for row in genes]


def subnet_loss(logits: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, label_weight: float,
                label_smoothing: float) -> torch.Tensor:
    """A smaller subnet's loss: cross-entropy with the largest one's probabilities ``teacher``, plus
    ``label_weight`` times the label-smoothed cross-entropy with the labels."""
    loss = -(teacher * logits.log_softmax(1)).sum(1).mean()
    if label_weight:
        loss = loss + label_weight * F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
    return loss


def zero_residual_outputs(net: ElasticMobileNetV3) -> None:
    """BigNAS's initialization: the last batch norm of every elastic residual block starts at zero scale,
    so a block starts as the identity and an extra block cannot make a deeper subnet worse at first.
    (A 7-epoch CIFAR run without it: depth had no rank correlation with subnet accuracy, tau -0.008.)"""
    for block in net.blocks:
        if block.residual and isinstance(block.mobile_inverted_conv, DynamicMBConv):
            nn.init.zeros_(block.mobile_inverted_conv.point_linear.bn.bn.weight)


def augment(images: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop after zero padding by ``pad`` pixels, and random horizontal flip, per image."""
    n, _, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :]
    flip = torch.rand(n, generator=generator) < 0.5
    cols = torch.where(flip[:, None, None, None], cols.flip(-1), cols)
    return padded[torch.arange(n)[:, None, None, None], torch.arange(3)[None, :, None, None], rows, cols]


def _differing_metadata(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """Which of a run's space and data records differ: other data changes the input normalization
    (the mean and std are float sums, compared to a tolerance, as thread counts change their last bits)."""
    def same(key: str) -> bool:
        if key in ("mean", "std"):
            return key in saved and np.allclose(saved[key], now[key], rtol=1e-5, atol=0)
        return saved.get(key) == now[key]
    return sorted(key for key in now if not same(key))


class SupernetTrainer:
    """Owns the supernet, optimizer and schedule of one training run."""

    def __init__(self, space: OFAMobileNetV3Space, data: ImageDataset, config: TrainConfig,
                 device: str | torch.device | None = None, rank: int = 0, world_size: int = 1,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        if len(data.classes) != space.n_classes:  # the classifier takes the dataset's classes
            space = with_classes(space, len(data.classes))
        self.space, self.data, self.config = space, data, config
        # data parallel (nas.supernet.distributed): each of world_size processes takes its share of
        # every batch, and gradients are averaged across them once per sandwich step
        self.rank, self.world_size = rank, world_size
        self.device = torch.device(device) if device else default_device()
        # channels-last makes a CPU sandwich step 1.2-1.5x faster; on an H200 it made cuDNN compile a
        # kernel for every new subnet shape (10-15 s a step, bf16), where NCHW compiles none
        on_gpu = self.device.type == "cuda"
        self.memory_format = torch.contiguous_format if on_gpu else torch.channels_last
        torch.manual_seed(config.seed)
        self.net = ElasticMobileNetV3(space).to(self.device, memory_format=self.memory_format)
        zero_residual_outputs(self.net)
        self.mean, self.std = data.normalization()
        self.normalize = Normalize(self.mean, self.std)
        # whole batches only: a last batch of one image would fail in batch norm on 1x1 maps
        self.steps_per_epoch = len(data.train.labels) // config.batch_size
        if self.steps_per_epoch == 0:
            raise NasError(f"{len(data.train.labels)} training images do not make one batch of {config.batch_size}")
        check_parts(config.batch_size, config.student_split, world_size)
        decay = [p for p in self.net.parameters() if p.ndim > 1]
        no_decay = [p for p in self.net.parameters() if p.ndim <= 1]
        lr = config.lr * config.batch_size / 128
        self.optimizer = torch.optim.SGD(
            [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=lr, momentum=0.9, nesterov=True)
        # a budgeted run moves the same schedule along by the clock, in BUDGET_TICKS slices of its minutes
        total_steps = config.epochs * self.steps_per_epoch if config.epochs else BUDGET_TICKS
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer, max_lr=lr, total_steps=total_steps, pct_start=0.15)
        self.epoch = 0
        self.progress = 0.0  # fraction of the run done, in epochs or in minutes
        self.seconds_before = 0.0  # a budgeted run's training time before it was resumed
        self.clock = clock  # what a budgeted run's minutes are measured on
        self.clock_start: float | None = None  # when this process began training
        # whether the last epoch trained elastic expand ratios (progressive shrinking sorts the
        # channels once, when they turn elastic)
        self.expand_elastic = elastic_dimensions(config.schedule, 0.0)[2]
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=on_gpu)

    # -- checkpoints ---------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        return {"space": self.space.name, "stage_strides": list(self.space.stage_strides), "classes": self.data.classes,
                "resolution": int(self.data.train.images.shape[-1]), "mean": self.mean, "std": self.std}

    def save(self, path: Path) -> None:
        save_checkpoint(path, self.net, self.metadata(), training={
            "epoch": self.epoch, "config": asdict(self.config), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "seconds": self.seconds(), "expand_elastic": self.expand_elastic})

    def resume(self, path: Path) -> None:
        checkpoint = load_checkpoint(path)
        training = checkpoint.training
        if training is None:
            raise NasError(f"{path} holds weights only, no training state to resume")
        check_layout(checkpoint, self.space, path)
        changed = _differing_metadata(checkpoint.meta, self.metadata())
        if changed:
            raise NasError(f"{path} was trained on another space or dataset (it records another "
                           f"{', '.join(changed)}); resume with the same --space, --data and --max-per-class")
        saved, now = training["config"], asdict(self.config)
        if saved != now:
            changed = sorted(k for k in saved.keys() | now.keys() if saved.get(k) != now.get(k))
            raise NasError(f"{path} was trained with other settings ({', '.join(changed)}); resume with the same ones")
        if not {"seconds", "expand_elastic"} <= training.keys():
            raise NasError(f"{path} was written by an earlier version of nas, whose runs cannot be resumed")
        self.net.load_state_dict(checkpoint.state_dict)
        self.optimizer.load_state_dict(training["optimizer"])
        self.scheduler.load_state_dict(training["scheduler"])
        self.epoch, self.seconds_before, self.expand_elastic = (
            training["epoch"], training["seconds"], training["expand_elastic"])
        # checkpoints are written at the end of an epoch, after the time was last checked
        epochs, minutes = self.config.epochs, self.config.minutes
        self.progress = self.epoch / epochs if epochs else self.seconds_before / (60 * minutes)

    # -- the run's length ------------------------------------------------------------------------
    def seconds(self) -> float:
        """Training time so far, across resumes (wall clock from the first step, tests included)."""
        running = self.clock() - self.clock_start if self.clock_start is not None else 0.0
        return self.seconds_before + running

    @property
    def finished(self) -> bool:
        return self.progress >= 1.0

    def epoch_label(self, epoch: int) -> str:
        """``epoch 3/10``, or in a budgeted run ``epoch 3 (24.1 of 60 min)``, for progress lines."""
        if self.config.epochs:
            return f"epoch {epoch}/{self.config.epochs}"
        return f"epoch {epoch} ({self.seconds() / 60:.1f} of {self.config.minutes:g} min)"

    def _advance_schedule(self, step: int) -> None:
        """After ``step`` of the epoch: the run's progress, and the learning rate and momentum that go with it."""
        if self.config.epochs:
            steps = self.epoch * self.steps_per_epoch + step + 1
            self.progress = steps / (self.config.epochs * self.steps_per_epoch)
            self.scheduler.step()
            return
        self.progress = self._budget_spent()
        tick = min(BUDGET_TICKS, int(self.progress * BUDGET_TICKS))
        if tick > self.scheduler.last_epoch:
            self.scheduler.last_epoch = tick - 1  # OneCycleLR computes its values from this step index
            self.scheduler.step()

    def _budget_spent(self) -> float:
        seconds = self.seconds()
        if self.world_size > 1:  # workers stop on the same step only if they agree on the time
            seconds = self._mean_across_workers(seconds)
        return seconds / (60 * self.config.minutes)

    def check_time(self) -> None:
        """Between the epochs of a budgeted run: the per-epoch test may have used up the time left."""
        if self.config.minutes:
            self.progress = max(self.progress, self._budget_spent())

    # -- training ------------------------------------------------------------------------------
    def train_step(self, images: torch.Tensor, labels: torch.Tensor, subnets: list[np.ndarray]) -> tuple[float, int]:
        """One sandwich step; the largest subnet's loss and number of correct predictions."""
        self.net.train()
        self.optimizer.zero_grad(set_to_none=True)
        largest = self.space.gene_sizes - 1
        self.net.set_active(largest)
        with self.autocast:
            logits = self.net(self._at_resolution(images, largest))
            loss = F.cross_entropy(logits, labels, label_smoothing=self.config.label_smoothing)
        loss.backward()
        teacher = logits.detach().float().softmax(1)
        split = self.config.student_split  # slices, so channels-last survives
        parts = list(zip(images.tensor_split(split), teacher.tensor_split(split), labels.tensor_split(split)))
        for index, genes in enumerate(subnets):
            part_images, part_teacher, part_labels = parts[index % split]
            self.net.set_active(genes)
            with self.autocast:
                student = self.net(self._at_resolution(part_images, genes)).float()
            subnet_loss(student, part_teacher, part_labels, self.config.label_weight,
                        self.config.label_smoothing).backward()
        if self.world_size > 1:
            self._average_gradients()
        self.optimizer.step()
        return loss.item(), (logits.argmax(1) == labels).sum().item()

    def _at_resolution(self, images: torch.Tensor, genes: np.ndarray) -> torch.Tensor:
        """The batch at the subnet's own resolution (as in BigNAS: the smaller subnets learn from the
        largest one's predictions of the same images, resized), so that every resolution is trained."""
        return at_size(images, int(self.space.resolution(self.space.to_arch(genes))))

    def _mean_across_workers(self, value: float) -> float:
        import torch.distributed as dist

        tensor = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tensor.item() / self.world_size

    def _average_gradients(self) -> None:
        """What DDP does, once per step: its per-backward hooks would all-reduce once per subnet.
        Every process samples the same subnets (same seeds), so the same parameters have gradients."""
        import torch.distributed as dist

        grads = [p.grad for p in self.net.parameters() if p.grad is not None]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world_size
        for grad, value in zip(grads, flat.split([g.numel() for g in grads])):
            grad.copy_(value.view_as(grad))

    def sort_channels(self) -> None:
        """Sort the supernet's expanded channels by importance; momentum follows its parameters."""
        for tensor, dim, order in self.net.sort_channels():
            state = self.optimizer.state.get(tensor, {})  # batch-norm statistics have none
            if state.get("momentum_buffer") is not None:
                state["momentum_buffer"].copy_(state["momentum_buffer"].index_select(dim, order))

    def train_epoch(self, on_step: Callable[[int, float], None] | None = None) -> EpochReport:
        config, epoch = self.config, self.epoch
        if self.clock_start is None:
            self.clock_start = self.clock()
        elastic = elastic_dimensions(config.schedule, self.progress)
        if elastic[2] and not self.expand_elastic:
            self.sort_channels()
        self.expand_elastic = elastic[2]
        torch.manual_seed(config.seed * 100_003 + epoch)  # dropout
        generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        rng = np.random.default_rng([config.seed, epoch])
        train = self.data.train
        order = torch.randperm(len(train.labels), generator=generator)
        total_loss = correct = seen = 0
        start = time.perf_counter()
        for step in range(self.steps_per_epoch):
            index = order[step * config.batch_size:(step + 1) * config.batch_size][self.rank::self.world_size]
            images = self.normalize(augment(train.images[index], generator)).to(
                self.device, memory_format=self.memory_format)
            labels = train.labels[index].to(self.device)
            subnets = sample_subnets(self.space, rng, config.random_subnets, elastic)
            loss, right = self.train_step(images, labels, subnets)
            self._advance_schedule(step)
            total_loss += loss * len(index)
            correct += right
            seen += len(index)
            if on_step:
                on_step(step, loss)
            if self.finished:  # a budgeted run's time is up
                break
        self.epoch += 1
        rate = seen * self.world_size / (time.perf_counter() - start)  # all workers together
        return EpochReport(self.epoch, total_loss / seen, correct / seen, rate)

    def evaluate(self, genes: np.ndarray, test_limit: int | None = None) -> float:
        return evaluate_subnet(self.net, genes, self.data.train, self.data.test, self.normalize, test_limit=test_limit)


def check_checkpoint_path(out: Path) -> None:
    """Refuse a checkpoint path that is a directory before training, not when the first epoch's
    checkpoint fails to be written."""
    if out.is_dir():
        raise NasError(f"the checkpoint path {out} is a directory")


def train_supernet(trainer: SupernetTrainer, out: Path, on_epoch: Callable[[EpochReport], None] | None = None,
                   on_step: Callable[[int, float], None] | None = None, test_limit: int | None = 2000) -> None:
    """Train from where ``trainer`` is to the end of its epochs or minutes, checkpointing each epoch."""
    check_checkpoint_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    while not trainer.finished:
        report = trainer.train_epoch(on_step)
        lead = trainer.rank == 0  # data-parallel workers: the first one tests and writes the checkpoint
        if lead:
            largest, smallest = trainer.space.gene_sizes - 1, np.zeros_like(trainer.space.gene_sizes)
            report.test_accuracy = {"largest": trainer.evaluate(largest, test_limit),
                                    "smallest": trainer.evaluate(smallest, test_limit)}
        trainer.check_time()  # every worker, before the checkpoint records whether the run is over
        if lead:
            trainer.save(out)
            if on_epoch:
                on_epoch(report)

