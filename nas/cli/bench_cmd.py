"""``nas bench nb201``: search quality on NAS-Bench-201, where the true optimum and front are known."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from nas.cli.options import CommandError, positive_int
from nas.cli.search_cmd import STRATEGIES

BASELINE = "random"


def add_parser(commands: Any) -> None:
    bench = commands.add_parser("bench", help="benchmark search strategies on tabular data",
                                description="Benchmark search strategies where the true answer is known.")
    targets = bench.add_subparsers(dest="target", metavar="TARGET", required=True, parser_class=type(bench))
    parser = targets.add_parser(
        "nb201", help="NAS-Bench-201: best accuracy after N queries, hypervolume ratio vs latency",
        description="Run a strategy and the random baseline on NAS-Bench-201 for K seeds. A query is one "
                    "distinct arch looked up. Prints the mean and std over seeds of the best test accuracy "
                    "found and, with --latency and --device, of the hypervolume of the accuracy/latency front "
                    "found divided by that of the true front (all 15,625 archs; reference point: the median "
                    "accuracy and the largest latency of all archs).",
    )
    parser.add_argument("--results", type=Path, required=True, metavar="FILE",
                        help="accuracy table (CSV: arch string and test accuracy, as nb201_test_accuracy.csv)")
    parser.add_argument("--latency", type=Path, metavar="FILE",
                        help="latency table (CSV: arch string, one column per device, as help_latency_27devices)")
    parser.add_argument("--device", metavar="NAME", help="device column of --latency, e.g. pixel3")
    parser.add_argument("--strategy", default="surrogate", choices=STRATEGIES, help="default surrogate")
    parser.add_argument("--queries", type=positive_int, default=150, metavar="N", help="queries per run (150)")
    parser.add_argument("--seeds", type=positive_int, default=20, metavar="K", help="runs, seeds 0..K-1 (20)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the figures as JSON to OUT")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if (args.latency is None) != (args.device is None):
        raise CommandError("--latency and --device go together")
    if args.json and not args.json.parent.is_dir():
        raise CommandError(f"cannot write {args.json}: folder {args.json.parent} does not exist")
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from nas.bench import NB201Bench, run_bench

    bench = NB201Bench(args.results, args.latency, args.device)
    strategies = [args.strategy] + ([BASELINE] if args.strategy != BASELINE else [])
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True, disable=args.quiet) as bar:
        task = bar.add_task("benchmark", total=len(strategies) * args.seeds)

        def advance(strategy: str, seed: int) -> None:
            bar.update(task, advance=1, description=f"{strategy} seed {seed}")

        results = [run_bench(bench, name, args.queries, args.seeds, advance).to_json() for name in strategies]
    _print_table(results, bench)
    if args.json:
        out = {**results[0], **({"baseline": results[1]} if len(results) > 1 else {})}
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


def _print_table(results: list[dict[str, Any]], bench: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    first = results[0]
    title = f"NAS-Bench-201: {first['queries']} queries, {first['seeds']} seeds"
    if bench.latency:
        title += f", accuracy vs {bench.latency.metric}"
    table = Table(title=title)
    table.add_column("strategy")
    table.add_column("best test accuracy %", justify="right")
    if bench.latency:
        table.add_column("hypervolume ratio", justify="right")
    for result in results:
        best = result["best_accuracy"]
        row = [result["strategy"], f"{best['mean']:.2f} ± {best['std']:.2f}"]
        if "hypervolume_ratio" in result:
            ratio = result["hypervolume_ratio"]
            row.append(f"{ratio['mean']:.4f} ± {ratio['std']:.4f}")
        table.add_row(*row)
    Console().print(table)
