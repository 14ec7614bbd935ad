"""Latency on this machine: a lookup table built here and a learned model vs end-to-end measurements.

Builds (or resumes) a table for the given resolutions with `nas latency build-lut`'s code, measures
--subnets random subnets at those resolutions end to end (torch on the CPU, same threads), and prints
the share of them the table sum predicts within ±10 % (target: >= 95 % of 200), its median error and
mean bias (a per-run overhead the per-layer sum misses would show as a negative bias), and the same
for the learned model (a per-layer table fitted to whole-network measurements, then trees) fitted
on --train other measured subnets. Test and training subnets are measured interleaved, so drift of
a shared machine hits both alike. Last, it measures --recheck test subnets again and compares the
two measurements the same way: how well this machine repeats itself bounds how well any predictor
can match it.

Run (quiet machine): python benchmarks/latency_lut_local.py --resolutions 160 176 192 208 224 --subnets 200 --train 400
Check (small):       python benchmarks/latency_lut_local.py --resolutions 160 --subnets 20 --train 40 --repeats 10
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


def within(predicted: np.ndarray, measured: np.ndarray) -> str:
    error = predicted / measured - 1
    return (f"within ±10 %: {np.mean(np.abs(error) <= 0.10):6.1%}   median |error| {np.median(np.abs(error)):5.1%}   "
            f"mean bias {np.mean(error):+6.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="ofa-mbv3-w1.2", choices=("ofa-mbv3-w1.0", "ofa-mbv3-w1.2"))
    parser.add_argument("--resolutions", type=int, nargs="+", default=[160, 176, 192, 208, 224])
    parser.add_argument("--subnets", type=int, default=200, help="test subnets measured end to end")
    parser.add_argument("--train", type=int, default=400, help="other measured subnets the learned model fits")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=50, help="timed passes per table net and per subnet")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--lut-dir", type=Path, help="build (or resume) the table here (default: a temp folder)")
    parser.add_argument("--recheck", type=int, default=50,
                        help="test subnets measured a second time, at the end: the machine's own repeatability")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--measurements", type=Path, metavar="JSONL",
                        help="also write the end-to-end measurements here, as `nas latency fit --data` reads them")
    args = parser.parse_args()
    folder = args.lut_dir or Path(tempfile.mkdtemp(prefix="nas-lut-"))
    space = get_space(args.space)
    print(f"{args.space}, resolutions {args.resolutions}, torch {torch.__version__} on the CPU, {args.threads} "
          f"thread(s), batch 1, {args.warmup} warm-up + {args.repeats} timed runs (median), table in {folder}")

    settings = BuildSettings(space.name, args.threads, args.warmup, args.repeats)
    start = time.perf_counter()
    start_build(folder, settings)
    timed = sum(added for r in args.resolutions for added in build_resolution(space, r, folder, settings))
    finish_build(folder, settings)
    print(f"table: {timed} layer variants timed in {time.perf_counter() - start:.0f} s")

    rng = np.random.default_rng(args.seed)
    genes = space.sample(args.subnets + args.train, rng)
    genes[:, -1] = rng.choice([space.resolutions.index(r) for r in args.resolutions], len(genes))
    start = time.perf_counter()
    measured = np.array([measure(space, space.to_arch(row), args.threads, 1, args.warmup, args.repeats).latency_ms
                         for row in genes])
    if args.measurements:
        args.measurements.write_text("".join(json.dumps({"arch": arch, "latency_ms": float(ms)}) + "\n"
                                             for arch, ms in zip(space.to_json_batch(genes), measured)))
    order = rng.permutation(len(genes))  # test and training subnets interleaved in time
    test, train = order[:args.subnets], order[args.subnets:]
    print(f"measured {len(genes)} random subnets end to end in {time.perf_counter() - start:.0f} s "
          f"({measured[test].min():.1f}-{measured[test].max():.1f} ms on the {args.subnets} test subnets)")

    table = LUTLatency(space, "here", folder).cost(genes[test])
    print(f"  lookup table ({args.subnets} test subnets)    {within(table, measured[test])}")
    learned = LearnedLatency(space, "here", seed=args.seed).fit(genes[train], measured[train]).cost(genes[test])
    print(f"  learned, fitted on {args.train:4d} others       {within(learned, measured[test])}")

    # the noise floor: no predictor agrees with one measurement better than a second measurement does
    again = test[:args.recheck]
    second = np.array([measure(space, space.to_arch(row), args.threads, 1, args.warmup, args.repeats).latency_ms
                       for row in genes[again]])
    print(f"  second measurement of {len(again)} test subnets {within(second, measured[again])}")


if __name__ == "__main__":
    main()
