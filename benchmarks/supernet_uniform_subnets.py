"""How a trained supernet ranks its 27 uniform subnets (one kernel size, expand ratio and depth in
every block), which isolates each choice's effect from the mixing in random subnets:

    python benchmarks/supernet_uniform_subnets.py /tmp/cifar-supernet.pt

Prints each subnet's accuracy with inherited weights, evaluated as the CIFAR benchmark does (batch
norm recalibrated on 2,000 training images, all 10,000 test images), grouped by kernel and expand
ratio, and Kendall tau of accuracy against MACs over the 27.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau
from supernet_cifar10 import DEFAULT_DATA

from nas.errors import NasError
from nas.supernet.checkpoint import load_supernet
from nas.supernet.evaluate import evaluate_subnet, load_dataset_of, trained_normalize
from searchspaces.ofa_mbv3 import DEPTHS, EXPANDS, KERNELS, N_BLOCKS, N_STAGES


def uniform_genes(kernel: int, expand: int, depth: int) -> np.ndarray:
    """Gene indices of the subnet with one choice everywhere (the space's first resolution)."""
    return np.array([kernel] * N_BLOCKS + [expand] * N_BLOCKS + [depth] * N_STAGES + [0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("supernet", type=Path, help="a nas train-supernet checkpoint")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()

    try:
        net, checkpoint = load_supernet(args.supernet)
        normalize = trained_normalize(checkpoint, args.supernet)  # refuses OFA's files, which record no data
        data = load_dataset_of(checkpoint, args.data)
    except NasError as error:
        raise SystemExit(f"supernet_uniform_subnets.py: {error}") from None
    space = net.space
    start = time.perf_counter()
    choices = list(itertools.product(range(len(KERNELS)), range(len(EXPANDS)), range(len(DEPTHS))))
    genes = np.array([uniform_genes(*choice) for choice in choices])
    accuracy = {c: evaluate_subnet(net, g, data.train, data.test, normalize) for c, g in zip(choices, genes)}
    print(f"27 uniform subnets in {(time.perf_counter() - start) / 60:.1f} min; accuracy at depth "
          f"{' / '.join(map(str, DEPTHS))}:")
    for k, e in itertools.product(range(len(KERNELS)), range(len(EXPANDS))):
        cells = " / ".join(f"{accuracy[(k, e, d)]:.2%}" for d in range(len(DEPTHS)))
        print(f"  kernel {KERNELS[k]} expand {EXPANDS[e]}: {cells}")
    tau = kendalltau(space.macs(genes), [accuracy[c] for c in choices]).statistic
    print(f"Kendall tau(MACs, accuracy) over the 27: {tau:.3f}")


if __name__ == "__main__":
    main()
