"""The settings of a supernet training run, without torch, so the command line takes its defaults
from here at parse time."""

from __future__ import annotations

from dataclasses import dataclass

from nas.errors import NasError
from nas.supernet import SCHEDULES


def check_parts(batch_size: int, student_split: int, workers: int = 1) -> None:
    """Refuse a step whose smallest worker share (``batch_size // workers`` images, each worker taking
    every workers-th image) or smallest part of it holds one image: batch norm on 1x1 maps needs two."""
    if batch_size // workers // student_split >= 2:
        return
    if student_split == 1:
        raise NasError(f"a batch of {batch_size} gives {workers} workers fewer than 2 images each")
    shared = f" shared by {workers} workers" if workers > 1 else ""
    raise NasError(f"a batch of {batch_size}{shared} in {student_split} parts leaves parts of fewer than 2 images "
                   "(batch norm needs two): lower the student split or raise the batch size")


@dataclass
class TrainConfig:
    epochs: int | None = None  # the run's length: a number of epochs, or
    minutes: float | None = None  # a time budget (wall clock from the first step, per-epoch tests included)
    batch_size: int = 128
    lr: float = 0.1  # peak of the one-cycle schedule, for batch 128
    weight_decay: float = 5e-5  # on weights of two or more dimensions; none on batch norm and biases
    label_smoothing: float = 0.1
    random_subnets: int = 2
    # weight of the label cross-entropy added to the distillation loss of every smaller subnet
    # (OFA adds it at weight 1; BigNAS and the default here distill only)
    label_weight: float = 0.0
    # the smaller subnets of a step each train on one of this many equal parts of the batch, the
    # parts in turn (1: all on the whole batch, as in OFA and BigNAS); more makes a step cheaper
    student_split: int = 1
    schedule: str = "sandwich"
    seed: int = 0

    def __post_init__(self) -> None:
        if (self.epochs is None) == (self.minutes is None):
            raise NasError("give the run's length as a number of epochs or as minutes, one of the two")
        if (self.epochs is not None and self.epochs < 1) or (self.minutes is not None and self.minutes <= 0):
            raise NasError("the number of epochs and the minutes must be positive")
        if self.batch_size < 2 or min(self.random_subnets, self.label_weight, self.weight_decay) < 0:
            raise NasError("batch size must be at least 2 (batch norm on 1x1 maps needs two images); "
                           "random subnets, label weight and weight decay not negative")
        if self.student_split < 1:
            raise NasError("the student split must be at least 1 (1: every subnet trains on the whole batch)")
        if self.student_split > self.random_subnets + 1:
            raise NasError(f"a student split of {self.student_split} leaves parts of the batch to no subnet: "
                           f"{self.random_subnets + 1} smaller subnets train per step (the smallest and "
                           f"{self.random_subnets} random)")
        check_parts(self.batch_size, self.student_split)
        if self.schedule not in SCHEDULES:
            raise NasError(f"unknown schedule {self.schedule!r}; choose from {', '.join(SCHEDULES)}")
