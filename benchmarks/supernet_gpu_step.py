"""Where a supernet training step's time goes on a GPU: per precision and memory layout, the median
step time of the largest subnet alone, of a sandwich step repeating the same 4 subnets (warm shapes),
and of sandwich steps with fresh random subnets (new shapes every step, as training has them), plus
the first steps' times, which show per-shape kernel compilation.

    python benchmarks/supernet_gpu_step.py --mode bf16-nchw   # the trainer's GPU setting

On an H200 (torch 2.11, batch 256), the probe this script was cut from measured bf16 with channels-last
at 10-15 s for a first step, not finishing 30 fresh-subnet steps in 48 s, and bf16 in NCHW at 111.6 ms
a fresh-subnet step (44.1 ms for the largest alone). Batches are
synthetic: only the shapes matter here. Each mode should run in its own process (kernel caches).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from nas.cli.options import positive_int
from nas.supernet.config import TrainConfig
from nas.supernet.data import ImageDataset, ImageSplit
from nas.supernet.train import SupernetTrainer, sample_subnets
from searchspaces import get_space

MODES = ("bf16-nchw", "bf16-channels-last", "fp32-nchw", "fp32-channels-last")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=MODES, default="bf16-nchw")
    parser.add_argument("--batch-size", type=positive_int, default=256)
    parser.add_argument("--steps", type=positive_int, default=30,
                        help="steps per measurement (median of the last half)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("supernet_gpu_step.py: no CUDA device")
    space = get_space("ofa-mbv3-w1.0-cifar10")
    generator = torch.Generator().manual_seed(0)

    def split(n: int) -> ImageSplit:
        return ImageSplit(torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=generator),
                          torch.randint(0, 10, (n,), generator=generator))

    data = ImageDataset([str(i) for i in range(10)], split(2048), split(256))
    trainer = SupernetTrainer(space, data, TrainConfig(epochs=100, batch_size=args.batch_size))
    precision, layout = args.mode.split("-", 1)
    trainer.autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16")
    trainer.memory_format = torch.channels_last if layout == "channels-last" else torch.contiguous_format
    trainer.net.to(memory_format=trainer.memory_format)
    rng = np.random.default_rng(0)
    fixed = sample_subnets(space, rng, 2, (True, True, True))

    def measure(label: str, subnets: Callable[[], list[np.ndarray]]) -> None:
        times = []
        for _ in range(args.steps):
            index = torch.randint(0, len(data.train.labels), (args.batch_size,), generator=generator)
            images = trainer.normalize(data.train.images[index]).to(trainer.device, memory_format=trainer.memory_format)
            labels, chosen = data.train.labels[index].to(trainer.device), subnets()
            start = time.perf_counter()
            trainer.train_step(images, labels, chosen)  # its .item() waits for the GPU
            times.append(time.perf_counter() - start)
        print(f"{args.mode} {label}: first 3 steps {[round(1000 * t) for t in times[:3]]} ms, median of the last "
              f"{args.steps - args.steps // 2} {1000 * np.median(times[args.steps // 2:]):.1f} ms", flush=True)

    print(f"torch {torch.__version__} on {torch.cuda.get_device_name()}, batch {args.batch_size}")
    measure("largest alone", lambda: [])
    measure("sandwich, the same 4 subnets", lambda: fixed)
    measure("sandwich, fresh random subnets", lambda: sample_subnets(space, rng, 2, (True, True, True)))


if __name__ == "__main__":
    main()
