"""Supernet training on CIFAR-10 on this machine: throughput, a time-boxed sandwich run, and how
well inherited weights rank 50 random subnets.

    python benchmarks/supernet_cifar10.py --minutes 60 --out /tmp/cifar-supernet.pt

1. Throughput: images/s of a training step of the largest subnet alone and of a sandwich step
   (largest + smallest + 2 random subnets), measured on fresh weights over ``--throughput-steps`` steps.
2. Training: ``--minutes`` of it (``nas train-supernet --minutes``: the one-cycle learning rate
   follows the clock, and the run trains as many epochs as fit), or ``--epochs`` exactly. The
   smaller subnets train on halves of each batch (``--student-split 2``, unlike ``nas train-supernet``'s
   default): a cheaper step, so more epochs fit in ``--minutes``. Four hour runs here with it
   ranked subnets at Kendall tau 0.16-0.38 (mean 0.29), seven with whole batches at 0.09-0.32
   (mean 0.21; they fit 9-19 epochs as the shared machine's speed varied). Step 1 also measures
   that step.
3. Evaluation: the largest, the smallest and ``--subnets`` random subnets with inherited weights,
   batch norm recalibrated on 2,000 training images, on all 10,000 test images; Kendall tau of
   accuracy against MACs, and per stage: its share of the spread of MACs across the random subnets
   and how its own MACs rank them (which stages' width and depth buy accuracy in a run this short).

Space: ``ofa-mbv3-w1.0-cifar10`` (OFA's w1.0 blocks, elastic resolution 24, 28 or 32 px, stride-2
stem, stage strides 2, 2, 2, 2, 2, so at 32 px the maps are 16, 8, 4, 2, 1 and 1 pixels wide). The
evaluation also reports resolution's share of the MACs' spread, how it ranks accuracy, and how MACs
rank the subnets at each resolution. With elastic resolution three hour runs ranked subnets at tau
0.352, 0.322 and 0.278 (seeds 11-13, mean 0.32); the runs above had 32 px only.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau

from nas.artifacts import data_dirs
from nas.cli.options import non_negative_float, non_negative_int, positive_float, positive_int
from nas.errors import NasError
from nas.supernet import SCHEDULES
from nas.supernet.config import TrainConfig
from nas.supernet.data import load_image_dataset
from nas.supernet.train import SupernetTrainer, sample_subnets, train_supernet
from searchspaces import get_space
from searchspaces.ofa_mbv3 import MAX_DEPTH, N_STAGES, OFAMobileNetV3Space

SPACE = "ofa-mbv3-w1.0-cifar10"
DEFAULT_DATA = data_dirs()[0] / "images" / "cifar10_jpg.tar.gz"


def step_rate(trainer: SupernetTrainer, subnets_per_step: int, steps: int) -> float:
    """Images/s of training steps with the largest plus ``subnets_per_step - 1`` further subnets."""
    rng = np.random.default_rng(0)
    generator = torch.Generator().manual_seed(0)
    train, batch = trainer.data.train, trainer.config.batch_size

    def one_step() -> None:
        index = torch.randint(0, len(train.labels), (batch,), generator=generator)
        images = trainer.normalize(train.images[index]).to(trainer.device, memory_format=trainer.memory_format)
        subnets = sample_subnets(trainer.space, rng, subnets_per_step - 2, (True, True, True)) \
            if subnets_per_step > 1 else []
        trainer.train_step(images, train.labels[index].to(trainer.device), subnets)  # .item() in it syncs a GPU

    for _ in range(2):  # warm-up
        one_step()
    start = time.perf_counter()
    for _ in range(steps):
        one_step()
    return steps * batch / (time.perf_counter() - start)


def stage_figures(space: OFAMobileNetV3Space, genes: np.ndarray, accs: np.ndarray) -> list[dict[str, float]]:
    """Per stage: its output map size, its share of the variance of MACs across ``genes`` (stages are
    drawn independently but all scale with resolution, so with resolution's share they add up to
    roughly one), and Kendall tau of its own MACs against ``accs``."""
    stage_macs = space.slot_macs(genes).reshape(len(genes), N_STAGES, MAX_DEPTH).sum(2)
    total_variance = stage_macs.sum(1).var()
    # a stage's later blocks see its output map, here at the largest resolution
    maps = space.block_input_sizes(space.resolutions[-1])[1::MAX_DEPTH]
    return [{"map": maps[stage], "macs_variance_share": float(stage_macs[:, stage].var() / total_variance),
             "kendall_tau": float(kendalltau(stage_macs[:, stage], accs).statistic)} for stage in range(N_STAGES)]


def resolution_figures(space: OFAMobileNetV3Space, genes: np.ndarray, macs: np.ndarray,
                       accs: np.ndarray) -> dict[str, object]:
    """How resolution spreads and ranks the subnets: the share of the variance of ``macs`` between
    resolutions, Kendall tau of resolution against ``accs``, and per resolution the tau of MACs
    against accuracy among the subnets at it (None where fewer than 3)."""
    index = genes[:, -1]
    resolution_means = np.bincount(index, macs) / np.maximum(np.bincount(index), 1)
    within = {}
    for r, pixels in enumerate(space.resolutions):
        chosen = index == r
        within[pixels] = float(kendalltau(macs[chosen], accs[chosen]).statistic) if chosen.sum() >= 3 else None
    return {"macs_variance_share": float(resolution_means[index].var() / macs.var()),
            "kendall_tau": float(kendalltau(index, accs).statistic), "within_kendall_tau": within}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    run_length = parser.add_mutually_exclusive_group()
    run_length.add_argument("--minutes", type=positive_float, default=60.0, help="training time budget (default 60)")
    run_length.add_argument("--epochs", type=positive_int, help="train this many epochs instead of --minutes")
    parser.add_argument("--out", type=Path, default=Path("cifar10-supernet.pt"))
    parser.add_argument("--subnets", type=positive_int, default=50)
    parser.add_argument("--throughput-steps", type=positive_int, default=20)
    parser.add_argument("--random-subnets", type=non_negative_int, default=TrainConfig.random_subnets,
                        help="random subnets per sandwich step (default %(default)d)")
    parser.add_argument("--label-weight", type=non_negative_float, default=TrainConfig.label_weight,
                        help="weight of the label loss in the smaller subnets' loss (default %(default)g)")
    parser.add_argument("--student-split", type=positive_int, default=2,
                        help="the smallest and random subnets each train on one of K equal parts of the batch, "
                             "in turn (default %(default)d, this recipe's; 1: each on the whole batch, as "
                             "nas train-supernet does by default)")
    parser.add_argument("--weight-decay", type=non_negative_float, default=TrainConfig.weight_decay,
                        help="SGD weight decay (default %(default)g)")
    parser.add_argument("--schedule", choices=SCHEDULES, default="sandwich",
                        help="sandwich (default) or OFA's progressive shrinking")
    parser.add_argument("--batch-size", type=positive_int, default=TrainConfig.batch_size,
                        help="images per step; the peak lr scales with it")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.json and not args.json.parent.is_dir():  # found now, not after the hour's run
        parser.error(f"--json: no folder {args.json.parent}")
    try:
        run(args)
    except NasError as error:  # bad data or settings: one line
        parser.error(str(error))


def run(args: argparse.Namespace) -> None:
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(f"torch {torch.__version__} on {device}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average at start {os.getloadavg()[0]:.2f}")
    space = get_space(SPACE)
    start = time.perf_counter()
    data = load_image_dataset(args.data, space.resolutions[-1])
    print(f"decoded {len(data.train.labels):,} train / {len(data.test.labels):,} test images in "
          f"{time.perf_counter() - start:.1f} s")

    def probe(student_split: int = 1) -> SupernetTrainer:  # fresh weights for each measurement
        return SupernetTrainer(space, data, TrainConfig(epochs=1, batch_size=args.batch_size, seed=args.seed,
                                                        student_split=student_split))

    largest_rate = step_rate(probe(), 1, args.throughput_steps)
    sandwich_rate = step_rate(probe(), 4, args.throughput_steps)
    print(f"throughput: largest subnet alone {largest_rate:.1f} images/s; sandwich step (4 subnets) "
          f"{sandwich_rate:.1f} images/s; a sandwich step costs {largest_rate / sandwich_rate:.2f}x a largest step")
    split_rate = None
    if args.student_split > 1:
        split_rate = step_rate(probe(args.student_split), 4, args.throughput_steps)
        print(f"  with the smaller subnets on 1/{args.student_split} of the batch each: {split_rate:.1f} images/s "
              f"({largest_rate / split_rate:.2f}x a largest step)")

    length = {"epochs": args.epochs} if args.epochs else {"minutes": args.minutes}
    trainer = SupernetTrainer(space, data, TrainConfig(**length, batch_size=args.batch_size,
                                                        random_subnets=args.random_subnets,
                                                        label_weight=args.label_weight,
                                                        student_split=args.student_split,
                                                        weight_decay=args.weight_decay,
                                                        schedule=args.schedule, seed=args.seed))
    tested = min(2000, len(data.test.labels))  # per epoch; the full test set comes after training
    train_supernet(trainer, args.out, test_limit=tested, on_epoch=lambda r: print(
        f"  {trainer.epoch_label(r.epoch)}: loss {r.loss:.3f}, train acc {r.train_accuracy:.1%}, "
        f"{r.images_per_second:.1f} images/s, test ({tested:,} images) largest {r.test_accuracy['largest']:.1%} "
        f"smallest {r.test_accuracy['smallest']:.1%}", flush=True))
    train_minutes, epochs = trainer.seconds() / 60, trainer.epoch
    print(f"trained {epochs} epoch{'s' * (epochs != 1)} in {train_minutes:.1f} min; checkpoint {args.out}")

    rng = np.random.default_rng(args.seed + 1)
    named = {"largest": space.gene_sizes - 1, "smallest": np.zeros_like(space.gene_sizes)}
    accuracy = {name: trainer.evaluate(genes) for name, genes in named.items()}
    print(f"full test set: largest {accuracy['largest']:.2%}, smallest {accuracy['smallest']:.2%}")
    genes = space.sample(args.subnets, rng)
    macs = space.macs(genes)
    start = time.perf_counter()
    accs = np.array([trainer.evaluate(g) for g in genes])
    tau = kendalltau(macs, accs).statistic
    print(f"{args.subnets} random subnets ({(time.perf_counter() - start) / 60:.1f} min): accuracy "
          f"{accs.min():.2%}..{accs.max():.2%} (median {np.median(accs):.2%}), MACs {macs.min() / 1e6:.1f}M.."
          f"{macs.max() / 1e6:.1f}M; Kendall tau(MACs, accuracy) {tau:.3f}; below 50 %: {(accs < 0.5).sum()}")
    stages = stage_figures(space, genes, accs)
    for stage, figures in enumerate(stages):
        print(f"  stage {stage} ({figures['map']}x{figures['map']} maps): {figures['macs_variance_share']:.0%} of "
              f"the MACs' variance; Kendall tau(stage MACs, accuracy) {figures['kendall_tau']:+.3f}")
    resolution = resolution_figures(space, genes, macs, accs)
    within = ", ".join(f"{pixels} px {'n/a' if t is None else f'{t:+.3f}'}"
                       for pixels, t in resolution["within_kendall_tau"].items())
    print(f"  resolution: {resolution['macs_variance_share']:.0%} of the MACs' variance; Kendall tau(resolution, "
          f"accuracy) {resolution['kendall_tau']:+.3f}; tau(MACs, accuracy) at one resolution: {within}")
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps({
            "device": device, "batch_size": args.batch_size, "random_subnets": args.random_subnets,
            "label_weight": args.label_weight, "student_split": args.student_split, "weight_decay": args.weight_decay,
            "schedule": args.schedule, "largest_images_per_s": largest_rate, "sandwich_images_per_s": sandwich_rate,
            "split_sandwich_images_per_s": split_rate,
            "epochs": epochs, "train_minutes": train_minutes,
            "largest": accuracy["largest"], "smallest": accuracy["smallest"],
            "random": [{"arch": space.to_json(space.to_arch(g)), "macs": int(m), "accuracy": float(a)}
                       for g, m, a in zip(genes, macs, accs)],
            "kendall_tau": tau, "stages": stages, "resolution": resolution}, indent=1))


if __name__ == "__main__":
    main()
