"""``nas train-supernet``, ``nas eval-subnet`` and ``nas export``: the weight-sharing supernet."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from nas.cli.options import json_value, non_negative_float, non_negative_int, positive_float, positive_int, space_names
from nas.supernet import CALIBRATION_IMAGES, EXPORT_FORMATS, SCHEDULES
from nas.supernet.config import TrainConfig

CIFAR_SPACE = "ofa-mbv3-w1.0-cifar10"


def add_parser(commands: Any) -> None:
    _add_train(commands)
    _add_eval(commands)
    _add_export(commands)


def _add_train(commands: Any) -> None:
    parser = commands.add_parser(
        "train-supernet", help="train a weight-sharing OFA MobileNetV3 supernet on an image dataset",
        description="Sandwich-rule training with in-place distillation (or OFA's progressive shrinking) on an "
                    "ImageFolder-style dataset (train/<class>/*.jpg, test/<class>/*.jpg), a folder or a tar of one. "
                    "Writes an OFA-layout checkpoint after every epoch.")
    parser.add_argument("--space", default=CIFAR_SPACE, choices=_ofa_spaces(), help=f"default {CIFAR_SPACE}")
    parser.add_argument("--data", type=Path, required=True, metavar="DIR|TAR", help="the dataset")
    length = parser.add_mutually_exclusive_group(required=True)
    length.add_argument("--epochs", type=positive_int, help="train this many epochs")
    length.add_argument("--minutes", type=positive_float, metavar="M",
                        help="train for M minutes: the learning rate follows the clock, so the run anneals and "
                             "ends on time, after as many epochs as fit (the last one possibly cut short)")
    parser.add_argument("--out", type=Path, required=True, metavar="CKPT", help="checkpoint written every epoch")
    parser.add_argument("--resume", type=Path, metavar="CKPT", help="continue the run that wrote this checkpoint")
    parser.add_argument("--batch-size", type=positive_int, default=TrainConfig.batch_size,
                        help="images per step (default %(default)d)")
    parser.add_argument("--lr", type=positive_float, default=TrainConfig.lr,
                        help="peak learning rate for batch 128, scaled with the batch size (default %(default)g)")
    parser.add_argument("--weight-decay", type=non_negative_float, default=TrainConfig.weight_decay, metavar="WD",
                        help="SGD weight decay of the convolution and linear weights (default %(default)g)")
    parser.add_argument("--random-subnets", type=non_negative_int, default=TrainConfig.random_subnets, metavar="N",
                        help="random subnets per step besides the largest and smallest (default %(default)d)")
    parser.add_argument("--label-weight", type=non_negative_float, default=TrainConfig.label_weight, metavar="W",
                        help="add W times the label loss to the smaller subnets' distillation loss "
                             "(default %(default)g: distillation only; OFA uses 1)")
    parser.add_argument("--student-split", type=positive_int, default=TrainConfig.student_split, metavar="K",
                        help="the smallest and random subnets each train on one of K equal parts of the batch, "
                             "in turn: a cheaper step (default %(default)d: each on the whole batch)")
    parser.add_argument("--schedule", choices=SCHEDULES, default=TrainConfig.schedule,
                        help="sandwich rule, or OFA's progressive shrinking (default %(default)s)")
    parser.add_argument("--seed", type=int, default=TrainConfig.seed, help="default %(default)d")
    parser.add_argument("--max-per-class", type=positive_int, metavar="N", help="use at most N images per class")
    parser.add_argument("--workers", type=positive_int, metavar="N",
                        help="data-parallel training on N Ray Train workers (one GPU each when the cluster has "
                             "them, where fewer GPUs than N is refused; "
                             "$RAY_ADDRESS or a local Ray); with $RAY_ADDRESS set, one worker there by default; "
                             "without either, one process and no Ray")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no per-epoch lines")
    parser.set_defaults(run=_run_train)


def _add_eval(commands: Any) -> None:
    parser = commands.add_parser(
        "eval-subnet", help="test accuracy of one subnet with inherited weights",
        description="Cut a subnet out of a supernet, re-estimate its batch-norm statistics on training images "
                    "and measure its top-1 accuracy on the test split, at the subnet's own resolution.")
    _subnet_options(parser)
    parser.add_argument("--data", type=Path, required=True, metavar="DIR|TAR", help="the dataset (ImageFolder layout)")
    _calib_images_option(parser)
    parser.add_argument("--json", action="store_true", help='print {"accuracy", "macs", "params", "arch"}')
    parser.set_defaults(run=_run_eval)


def _add_export(commands: Any) -> None:
    parser = commands.add_parser(
        "export", help="write a subnet with inherited weights as ONNX, TorchScript or a torch.export program",
        description="Export a standalone subnet and a metadata JSON (<OUT>.json: arch, MACs, params, latency "
                    "measured here, input normalization, the supernet's hash, a predictor's prediction).")
    _subnet_options(parser)
    parser.add_argument("--space", choices=_ofa_spaces(),
                        help="the supernet's space, for one of OFA's released supernets (they do not record it)")
    parser.add_argument("--format", choices=EXPORT_FORMATS, required=True,
                        help="onnx (dynamic batch), torchscript, or pt (a torch.export archive; name it .pt2, "
                             "the extension torch.export.load expects without a warning)")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE")
    parser.add_argument("--calib-data", type=Path, metavar="DIR|TAR",
                        help="recalibrate batch norm on this dataset's training images first")
    _calib_images_option(parser)
    parser.add_argument("--predictor", metavar="NAME|PATH",
                        help="record this predictor's prediction, with its name or its file's SHA-256")
    parser.set_defaults(run=_run_export)


def _subnet_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--supernet", type=Path, required=True, metavar="CKPT",
                        help="a checkpoint of nas train-supernet")
    parser.add_argument("--arch", type=json_value, required=True, metavar="JSON",
                        help='the subnet, e.g. \'{"ks":[..20],"e":[..20],"d":[..5],"r":32}\', or @FILE')


def _calib_images_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calib-images", type=positive_int, default=CALIBRATION_IMAGES, metavar="N",
                        help=f"training images for batch-norm recalibration (default {CALIBRATION_IMAGES})")


def _ofa_spaces() -> list[str]:
    return [name for name in space_names() if name.startswith("ofa-mbv3")]


def _run_train(args: argparse.Namespace) -> int:
    from rich.console import Console

    from nas.supernet.data import load_image_dataset
    from nas.supernet.train import SupernetTrainer, check_checkpoint_path, train_supernet
    from searchspaces import get_space

    space = get_space(args.space)
    config = TrainConfig(epochs=args.epochs, minutes=args.minutes, batch_size=args.batch_size, lr=args.lr,
                         weight_decay=args.weight_decay, random_subnets=args.random_subnets,
                         label_weight=args.label_weight, student_split=args.student_split,
                         schedule=args.schedule, seed=args.seed)
    check_checkpoint_path(args.out)  # before the dataset is decoded
    workers = args.workers or (1 if os.environ.get("RAY_ADDRESS") else None)
    if workers:
        from nas.supernet.distributed import train_on_ray

        train_on_ray(space.name, args.data, config, args.out, workers, args.resume, args.max_per_class, args.quiet)
        return 0
    console = Console(stderr=True, quiet=args.quiet)
    with console.status(f"decoding {args.data}"):
        data = load_image_dataset(args.data, max(space.resolutions), args.max_per_class)
    console.print(f"{len(data.train.labels):,} training and {len(data.test.labels):,} test images, "
                  f"{len(data.classes)} classes")
    trainer = SupernetTrainer(space, data, config)
    if args.resume:
        trainer.resume(args.resume)
        console.print(f"resumed after {trainer.epoch_label(trainer.epoch)}")
    with _EpochProgress(console, trainer) as progress:
        train_supernet(trainer, args.out, on_epoch=progress.epoch_done, on_step=progress.step_done)
    return 0


class _EpochProgress:
    """A rich progress bar per epoch with the running loss, and a line per finished epoch."""

    def __init__(self, console: Any, trainer: Any) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.console, self.trainer = console, trainer
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("loss {task.fields[loss]:.3f}"), TimeRemainingColumn(),
                                 console=console, transient=True)
        self.task = None

    def __enter__(self) -> _EpochProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def step_done(self, step: int, loss: float) -> None:
        if self.task is None:
            label = self.trainer.epoch_label(self.trainer.epoch + 1)
            self.task = self.progress.add_task(label, total=self.trainer.steps_per_epoch, loss=loss)
        self.progress.update(self.task, completed=step + 1, loss=loss)

    def epoch_done(self, report: Any) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None
        tested = ", ".join(f"{name} {acc:.1%}" for name, acc in report.test_accuracy.items())
        self.console.print(f"{self.trainer.epoch_label(report.epoch)}: loss {report.loss:.3f}, train accuracy "
                           f"{report.train_accuracy:.1%}, {report.images_per_second:.0f} images/s; test: {tested}")


def _run_eval(args: argparse.Namespace) -> int:
    from nas.supernet.checkpoint import load_checkpoint, supernet_of
    from nas.supernet.evaluate import default_device, evaluate_subnet, load_dataset_of, trained_normalize

    checkpoint = load_checkpoint(args.supernet)
    normalize = trained_normalize(checkpoint, args.supernet)  # refuses OFA's files, which record no data
    supernet = supernet_of(checkpoint, args.supernet).to(default_device())
    space = supernet.space
    genes = space.to_genes([space.from_json(args.arch)])[0]
    data = load_dataset_of(checkpoint, args.data)
    acc = evaluate_subnet(supernet, genes, data.train, data.test, normalize, args.calib_images)
    result = {"accuracy": acc, "macs": int(space.macs(genes[None])[0]), "params": int(space.params(genes[None])[0]),
              "arch": space.to_json(space.to_arch(genes))}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"accuracy {acc:.2%} on {len(data.test.labels):,} test images; MACs {result['macs'] / 1e6:.1f}M, "
              f"params {result['params'] / 1e6:.2f}M")
    return 0


def _run_export(args: argparse.Namespace) -> int:
    from nas.supernet.checkpoint import load_supernet
    from nas.supernet.export import ExportRequest, export_subnet

    supernet, checkpoint = load_supernet(args.supernet, args.space)
    space = supernet.space
    genes = space.to_genes([space.from_json(args.arch)])[0]
    calibration = None
    if args.calib_data:
        from nas.supernet.evaluate import load_dataset_of, trained_normalize

        trained_normalize(checkpoint, args.supernet)  # OFA's files cannot be recalibrated: say so before decoding
        calibration = load_dataset_of(checkpoint, args.calib_data).train
    predicted = None
    if args.predictor:
        from nas.cli.options import resolve_predictor
        from searchspaces import get_space

        predicted = float(resolve_predictor(get_space(space.name), args.predictor).predict(genes[None])[0])
    metadata = export_subnet(ExportRequest(
        supernet, checkpoint, args.supernet, genes, args.format, args.out, calibration, args.calib_images,
        args.predictor, predicted))
    print(f"wrote {args.out} and {args.out}.json: MACs {metadata['macs'] / 1e6:.1f}M, params "
          f"{metadata['params'] / 1e6:.2f}M, {metadata['latency_ms']['median']:.2f} ms here (torch CPU, 1 thread)")
    return 0
