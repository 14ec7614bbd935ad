"""Search quality of every strategy on NAS-Bench-201 against the random baseline, measured now.

1. Single objective, CIFAR-10 test accuracy: mean/std over seeds of the best accuracy after 150 queries
   (target: >= 94.0 for the best strategy; the global optimum is 94.37).
2. Accuracy vs Pixel 3 latency: mean/std of the hypervolume ratio after 500 queries (target: >= 0.98
   for the best strategy, every strategy above random). Reference point: see ``nas.bench``.

Run: python benchmarks/nb201_search_quality.py [--seeds 20] [--strategies surrogate evolution ...]
Data: $NAS_DATA_DIR/nb201 (default ../shared/data beside the checkout).
"""

from __future__ import annotations

import argparse
import time

from nas.bench import NB201Bench, run_bench
from nas.cli.search_cmd import STRATEGIES
from predictors.tabular import locate_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--strategies", nargs="+", default=STRATEGIES, choices=STRATEGIES)
    parser.add_argument("--device", default="pixel3")
    args = parser.parse_args()
    results = locate_table("nb201/nb201_test_accuracy.csv")
    latency = locate_table("nb201/help_latency_27devices.csv")

    print(f"1. CIFAR-10 test accuracy, 150 queries, {args.seeds} seeds (best found, %)")
    single = NB201Bench(results)
    for name in args.strategies:
        start = time.perf_counter()
        best = run_bench(single, name, 150, args.seeds).to_json()["best_accuracy"]
        print(f"   {name:13s} {best['mean']:6.2f} ± {best['std']:.2f}   ({time.perf_counter() - start:.0f} s)",
              flush=True)

    print(f"\n2. accuracy vs {args.device} latency, 500 queries, {args.seeds} seeds (hypervolume ratio)")
    double = NB201Bench(results, latency, args.device)
    print(f"   reference point: accuracy {-double.reference[0]:.4f}, latency {double.reference[1]:.3f} ms")
    ratios = {}
    for name in args.strategies:
        start = time.perf_counter()
        ratio = run_bench(double, name, 500, args.seeds).to_json()["hypervolume_ratio"]
        ratios[name] = ratio["mean"]
        print(f"   {name:13s} {ratio['mean']:.4f} ± {ratio['std']:.4f}   ({time.perf_counter() - start:.0f} s)",
              flush=True)
    if "random" in ratios:
        losers = [name for name, mean in ratios.items() if name != "random" and mean <= ratios["random"]]
        print(f"   strategies not above random: {', '.join(losers) or 'none'}")


if __name__ == "__main__":
    main()
