"""Candidates/s of the OFA-predictor search in-process vs through Ray (one evaluation actor; islands).

All run the `evolution` strategy under 600M MACs on ofa-mbv3-w1.2 for the same time, after Ray and
its actors have started (start-up is reported separately). The three runs alternate for several
rounds, because a small shared machine drifts by tens of percent over a minute; the figure is the
median over rounds of each Ray rate divided by the in-process rate of the same round.
Distinct archs evaluated per second are counted (islands may meet the same arch: counted once).

Run: python benchmarks/ray_overhead.py [--seconds 5] [--rounds 5] [--islands 2]
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
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--islands", type=int, default=2)
    args = parser.parse_args()
    spec = JobSpec(budgets=("600M-MACs",), time_limit=args.seconds, generations=10**6)

    problem = build_problem(spec)
    warm = problem.space.sample(2048, np.random.default_rng(0))
    problem.evaluate(warm)
    start = time.perf_counter()
    executor = RayExecutor()
    executor.evaluator(spec, problem)(warm)
    print(f"ray start + actor: {time.perf_counter() - start:.1f} s")

    shares: dict[str, list[float]] = {"actor": [], "islands": []}
    for round_ in range(args.rounds):
        local = run_search(problem, build_searcher(spec, problem), spec.limits)
        evaluate = executor.evaluator(spec, problem)
        evaluate(warm)  # the actor is up before the clock starts
        remote = run_search(problem, build_searcher(spec, problem), spec.limits, evaluate=evaluate)
        executor.shutdown()  # frees its CPU for the islands (a 2-core machine holds 2 one-CPU actors)
        islands = run_islands(spec, islands=args.islands)
        base = local.evaluated / local.seconds
        rates = {"actor": remote.evaluated / remote.seconds, "islands": islands.evaluated / islands.seconds}
        for name, rate in rates.items():
            shares[name].append(rate / base)
        print(f"round {round_ + 1}: in-process {base:8,.0f}/s  actor {rates['actor']:8,.0f}/s "
              f"({rates['actor'] / base:.0%})  islands x{args.islands} {rates['islands']:8,.0f}/s "
              f"({rates['islands'] / base:.0%})  best {local.metrics['accuracy'].max():.4f} / "
              f"{remote.metrics['accuracy'].max():.4f} / {islands.metrics['accuracy'].max():.4f}", flush=True)
    ray.shutdown()
    for name, values in shares.items():
        print(f"median share of in-process, {name:7s}: {np.median(values):.0%}  (rounds: "
              f"{', '.join(f'{v:.0%}' for v in values)})")


if __name__ == "__main__":
    main()
