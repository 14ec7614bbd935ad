"""Candidates/s of the OFA-predictor search in-process vs through Ray (one evaluation actor; islands).

All three run the `evolution` strategy under 600M MACs on ofa-mbv3-w1.2 for the same time, after
Ray and its actors have started (start-up is reported separately). Prints candidates/s and the
share of the in-process figure.

Run: python benchmarks/ray_overhead.py [--seconds 5] [--islands 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import ray

from nas.executors.islands import run_islands
from nas.executors.ray_executor import RayExecutor
from nas.jobs import JobSpec, build_problem, build_searcher
from nas.search import run_search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--islands", type=int, default=2)
    args = parser.parse_args()
    spec = JobSpec(budgets=("600M-MACs",), time_limit=args.seconds, generations=10**6)

    problem = build_problem(spec)
    problem.evaluate(problem.space.sample(2048, np.random.default_rng(0)))  # warm up
    local = run_search(problem, build_searcher(spec, problem), spec.limits)
    base = local.evaluated / local.seconds
    print(f"in-process           : {base:10,.0f} candidates/s  best {local.metrics['accuracy'].max():.4f}")

    start = time.perf_counter()
    executor = RayExecutor()
    evaluate = executor.evaluator(spec, problem)
    evaluate(problem.space.sample(2048, np.random.default_rng(0)))  # actor up and warm
    print(f"ray start + actor    : {time.perf_counter() - start:10.1f} s")
    remote = run_search(problem, build_searcher(spec, problem), spec.limits, evaluate=evaluate)
    executor.shutdown()
    rate = remote.evaluated / remote.seconds
    print(f"ray evaluation actor : {rate:10,.0f} candidates/s  = {rate / base:.0%} of in-process  "
          f"best {remote.metrics['accuracy'].max():.4f}")

    islands = run_islands(spec, islands=args.islands)
    rate = islands.evaluated / islands.seconds
    print(f"ray islands x{args.islands}      : {rate:10,.0f} candidates/s  = {rate / base:.0%} of in-process  "
          f"best {islands.metrics['accuracy'].max():.4f}")
    ray.shutdown()


if __name__ == "__main__":
    main()
