"""Search quality and speed under 600M MACs on ofa-mbv3-w1.2, against OFA's EvolutionFinder algorithm.

Prints, all measured in this run on this machine:
  * the predictor's batched ceiling (samples/s at batch 65,536);
  * the baseline: OFA's EvolutionFinder algorithm (population 100, 500 generations, 25 % parents,
    50 % mutation, per-gene mutation probability 0.1, per-candidate Python loops) re-implemented
    from its published parameters, with the same predictor and our exact MAC count as constraint;
  * ours: `evolution` with a 1 s time limit per seed: best predicted accuracy, candidates/s, share
    of the ceiling, and the span of the Pareto front;
  * the end-to-end wall time of `nas search --budget 600M-MACs` (imports included).

Run: python benchmarks/search_ofa_600m.py [--seeds 5] [--time-limit 1] [--baseline-seeds 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np

from nas.budgets import parse_budget
from nas.problem import Problem
from nas.search import Limits, run_search
from nas.searchers.evolution import EvolutionSearcher
from predictors.costs import MacsCost, ParamsCost
from predictors.ofa_mlp import OFAAccuracyPredictor
from searchspaces import get_space
from searchspaces.ofa_mbv3 import DEPTHS, EXPANDS, KERNELS, N_BLOCKS, N_STAGES, OFAMobileNetV3Space

BUDGET = 600e6


def predictor_ceiling(predictor: OFAAccuracyPredictor, space: OFAMobileNetV3Space) -> float:
    genes = space.sample(65536, np.random.default_rng(0))
    predictor.predict(genes)
    start, done = time.perf_counter(), 0
    while time.perf_counter() - start < 2.0:
        predictor.predict(genes)
        done += len(genes)
    return done / (time.perf_counter() - start)


class OFAEvolutionBaseline:
    """OFA's EvolutionFinder loop: per-arch dicts, rejection sampling, one predictor batch per generation."""

    def __init__(self, space: OFAMobileNetV3Space, predictor: OFAAccuracyPredictor, seed: int) -> None:
        self.space, self.predictor = space, predictor
        self.rng = np.random.default_rng(seed)
        self.evaluated = 0

    def macs(self, arch: dict) -> float:
        return float(self.space.macs(self.space.to_genes([self.space.from_json(arch)]))[0])

    def random_arch(self) -> dict:
        while True:
            arch = {"ks": [KERNELS[self.rng.integers(3)] for _ in range(N_BLOCKS)],
                    "e": [EXPANDS[self.rng.integers(3)] for _ in range(N_BLOCKS)],
                    "d": [DEPTHS[self.rng.integers(3)] for _ in range(N_STAGES)],
                    "r": self.space.resolutions[self.rng.integers(len(self.space.resolutions))]}
            if self.macs(arch) <= BUDGET:
                return arch

    def mutate(self, parent: dict, prob: float = 0.1) -> dict:
        while True:
            arch = {k: list(v) if isinstance(v, list) else v for k, v in parent.items()}
            for key, choices in (("ks", KERNELS), ("e", EXPANDS), ("d", DEPTHS)):
                for i in range(len(arch[key])):
                    if self.rng.random() < prob:
                        arch[key][i] = choices[self.rng.integers(3)]
            if self.rng.random() < prob:
                arch["r"] = self.space.resolutions[self.rng.integers(len(self.space.resolutions))]
            if self.macs(arch) <= BUDGET:
                return arch

    def crossover(self, a: dict, b: dict) -> dict:
        while True:
            arch = {k: ([x if self.rng.random() < 0.5 else y for x, y in zip(a[k], b[k])] if isinstance(a[k], list)
                        else (a[k] if self.rng.random() < 0.5 else b[k])) for k in a}
            if self.macs(arch) <= BUDGET:
                return arch

    def predict(self, archs: list[dict]) -> np.ndarray:
        self.evaluated += len(archs)
        return self.predictor.predict(self.space.to_genes([self.space.from_json(a) for a in archs]))

    def run(self, population: int = 100, generations: int = 500) -> float:
        archs = [self.random_arch() for _ in range(population)]
        scores = self.predict(archs)
        n_parents, n_mutations = population // 4, population // 2
        for _ in range(generations):
            order = np.argsort(-scores)[:n_parents]
            parents, parent_scores = [archs[i] for i in order], scores[order]
            children = [self.mutate(parents[self.rng.integers(n_parents)]) for _ in range(n_mutations)]
            children += [self.crossover(parents[self.rng.integers(n_parents)], parents[self.rng.integers(n_parents)])
                         for _ in range(population - n_mutations)]
            archs = parents + children
            scores = np.concatenate([parent_scores, self.predict(children)])
        return float(scores.max())


def end_to_end_seconds() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nas", "search", "--budget", "600M-MACs", "--quiet"],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--time-limit", type=float, default=1.0)
    parser.add_argument("--baseline-seeds", type=int, default=3)
    args = parser.parse_args()

    space = get_space("ofa-mbv3-w1.2")
    predictor = OFAAccuracyPredictor(space)
    problem = Problem(space, predictor, (MacsCost(space), ParamsCost(space)), (parse_budget("600M-MACs"),))
    smallest = float(space.macs(np.zeros((1, space.n_genes), dtype=np.int16))[0])

    ceiling = predictor_ceiling(predictor, space)
    print(f"predictor ceiling (batch 65,536): {ceiling:,.0f} samples/s")

    print("\nbaseline: OFA EvolutionFinder algorithm (pop 100, 500 generations)")
    for seed in range(args.baseline_seeds):
        baseline = OFAEvolutionBaseline(space, predictor, seed)
        start = time.perf_counter()
        best = baseline.run()
        seconds = time.perf_counter() - start
        print(f"  seed {seed}: best {best:.4f} in {seconds:.2f} s, {baseline.evaluated / seconds:,.0f} candidates/s")

    print(f"\nnas evolution, {args.time_limit:g} s per seed")
    bests, rates = [], []
    for seed in range(args.seeds):
        result = run_search(problem, EvolutionSearcher(problem, seed=seed), Limits(time_seconds=args.time_limit))
        front = result.pareto_indices()
        macs = result.metrics["macs"]
        best = result.metrics["accuracy"][result.best_index()]
        over = int((macs > BUDGET).sum())
        bests.append(best)
        rates.append(result.evaluated / result.seconds)
        print(f"  seed {seed}: best {best:.4f}  {result.evaluated:,} candidates in {result.seconds:.2f} s "
              f"({rates[-1]:,.0f}/s)  front {len(front)} subnets, {macs[front].min() / 1e6:.1f}M.."
              f"{macs[front].max() / 1e6:.1f}M (smallest subnet {smallest / 1e6:.1f}M), over budget: {over}")
    print(f"  mean best {np.mean(bests):.4f}, min {np.min(bests):.4f}; mean rate {np.mean(rates):,.0f}/s "
          f"= {np.mean(rates) / ceiling:.0%} of the predictor ceiling")

    runs = [end_to_end_seconds() for _ in range(3)]
    print(f"\n`nas search --budget 600M-MACs` end to end: {np.median(runs):.2f} s (median of 3: "
          + ", ".join(f"{r:.2f}" for r in runs) + ")")


if __name__ == "__main__":
    main()
