"""Latency on this machine: a lookup table built here and a learned model vs end-to-end measurements.

A shared machine's speed swings by 10 % and more within seconds to minutes, so a table timed in one
stretch and subnets timed in another differ by the swing, whatever the table's quality. The run takes
--rounds rounds with --repeats split evenly over them. Each round is a full table sweep (`nas latency
build-lut`'s code) with every subnet measured end to end (torch on the CPU, same threads), one
resolution after another: a resolution's layer variants, then the subnets at that resolution. The
table's prediction is the mean of the sweeps' (a table sum is linear in its entries, so this is the
table of averaged entries) and a subnet's latency is the median of its rounds, so table and
measurements sample the same stretches of the machine.

It prints the share of --subnets random test subnets that the table sum predicts within ±10 %
(target: >= 95 % of 200), the median error and mean bias (a per-run overhead the per-layer sum misses
would show as a negative bias), and the same for the learned model (a per-layer table fitted to
whole-network measurements, then trees) fitted on --train other measured subnets. For scale:
  - each sweep alone against the rounds' medians, and the first sweep against the last round alone
    (a table used a few minutes after it was built, as a user's would be);
  - the machine against itself: the median of the odd rounds against that of the even rounds. How
    well this machine repeats itself bounds how well any predictor can match it.

Run (16 min here):   python benchmarks/latency_lut_local.py --rounds 12 --repeats 24 --warmup 2
Check (small):       python benchmarks/latency_lut_local.py --resolutions 160 --subnets 20 --train 40 \
                     --rounds 2 --repeats 8
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from predictors.latency_build import BuildSettings, build_resolution, finish_build, start_build
from predictors.latency_learned import LearnedLatency
from predictors.latency_lut import LUTLatency
from predictors.latency_measure import measure
from searchspaces import get_space


def share_within(predicted: np.ndarray, measured: np.ndarray) -> float:
    return float(np.mean(np.abs(predicted / measured - 1) <= 0.10))


def within(predicted: np.ndarray, measured: np.ndarray) -> str:
    error = predicted / measured - 1
    return (f"within ±10 %: {share_within(predicted, measured):6.1%}   "
            f"median |error| {np.median(np.abs(error)):5.1%}   mean bias {np.mean(error):+6.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="ofa-mbv3-w1.2", choices=("ofa-mbv3-w1.0", "ofa-mbv3-w1.2"))
    parser.add_argument("--resolutions", type=int, nargs="+", default=[160, 176, 192, 208, 224])
    parser.add_argument("--subnets", type=int, default=200, help="test subnets measured end to end")
    parser.add_argument("--train", type=int, default=400, help="other measured subnets the learned model fits")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=12,
                        help="table sweeps, each interleaved with a measurement of every subnet")
    parser.add_argument("--repeats", type=int, default=24,
                        help="timed passes per table net and per subnet, split evenly over the rounds")
    parser.add_argument("--warmup", type=int, default=2, help="untimed passes before each round's timing")
    parser.add_argument("--lut-dir", type=Path, help="an empty folder for the tables (default: a temp folder)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--measurements", type=Path, metavar="JSONL",
                        help="also write the end-to-end measurements here, as `nas latency fit --data` reads them")
    args = parser.parse_args()
    per_round = args.repeats // args.rounds
    if args.rounds < 2 or per_round < 1:
        parser.error("--rounds must be at least 2 (the machine is compared with itself across them) "
                     "and at most --repeats")
    folder = args.lut_dir or Path(tempfile.mkdtemp(prefix="nas-lut-"))
    if folder.exists() and any(folder.iterdir()):
        parser.error(f"{folder} is not empty; the sweeps must be timed in this run, between its measurements")
    space = get_space(args.space)
    print(f"{args.space}, resolutions {args.resolutions}, torch {torch.__version__} on the CPU, {args.threads} "
          f"thread(s), batch 1; {args.rounds} rounds of a table sweep and a measurement of every subnet, each "
          f"timing {args.warmup} warm-up + {per_round} runs; tables in {folder}")

    rng = np.random.default_rng(args.seed)
    genes = space.sample(args.subnets + args.train, rng)
    genes[:, -1] = rng.choice([space.resolutions.index(r) for r in args.resolutions], len(genes))
    settings = BuildSettings(space.name, args.threads, args.warmup, per_round)
    sweeps, rounds = [], np.empty((args.rounds, len(genes)))
    for k in range(args.rounds):
        sweep = folder / f"sweep-{k + 1}"
        start = time.perf_counter()
        start_build(sweep, settings)
        timed = 0
        for resolution in args.resolutions:
            timed += sum(build_resolution(space, resolution, sweep, settings))
            for i in np.flatnonzero(genes[:, -1] == space.resolutions.index(resolution)):
                rounds[k, i] = measure(space, space.to_arch(genes[i]), args.threads, 1, args.warmup,
                                       per_round).latency_ms
        finish_build(sweep, settings)
        sweeps.append(sweep)
        print(f"round {k + 1}: {timed} layer variants and {len(genes)} subnets timed in "
              f"{time.perf_counter() - start:.0f} s", flush=True)
    measured = np.median(rounds, 0)
    if args.measurements:
        args.measurements.write_text("".join(json.dumps({"arch": arch, "latency_ms": float(ms)}) + "\n"
                                             for arch, ms in zip(space.to_json_batch(genes), measured)))
    order = rng.permutation(len(genes))  # test and training subnets interleaved in time
    test, train = order[:args.subnets], order[args.subnets:]
    print(f"{args.subnets} test subnets: {measured[test].min():.1f}-{measured[test].max():.1f} ms")

    per_sweep = np.array([LUTLatency(space, "here", sweep).cost(genes[test]) for sweep in sweeps])
    print(f"  lookup table, sweeps averaged      {within(per_sweep.mean(0), measured[test])}")
    learned = LearnedLatency(space, "here", seed=args.seed).fit(genes[train], measured[train]).cost(genes[test])
    print(f"  learned, fitted on {args.train:4d} others   {within(learned, measured[test])}")

    alone = ", ".join(f"{share_within(sweep, measured[test]):.1%}" for sweep in per_sweep)
    print(f"  each sweep alone: within ±10 % for {alone}")
    print(f"  first sweep vs last round alone    {within(per_sweep[0], rounds[-1, test])}")
    odd, even = np.median(rounds[0::2, test], 0), np.median(rounds[1::2, test], 0)
    print(f"  the machine: odd vs even rounds    {within(odd, even)}")


if __name__ == "__main__":
    main()
