"""``nas search``: the most accurate subnet within budgets, and the accuracy/cost Pareto front."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from nas.cli.options import positive_float, positive_int, space_names

DEFAULT_SPACE = "ofa-mbv3-w1.2"
STRATEGIES = ["evolution", "nsga2", "optuna-tpe", "optuna-nsga2", "random", "surrogate"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "search", help="search subnets under budgets",
        description="Find the most accurate subnet within every --budget, plus the accuracy/cost Pareto front.",
        epilog="Budgets: <number><k|M|G>-<MACs|params>, e.g. 600M-MACs, 0.6G-MACs, 5M-params (case-insensitive).",
    )
    parser.add_argument("--budget", action="append", required=True, metavar="BUDGET",
                        help="an upper bound such as 600M-MACs; repeat for several")
    parser.add_argument("--space", default=DEFAULT_SPACE, choices=space_names(), help=f"default {DEFAULT_SPACE}")
    parser.add_argument("--strategy", default="evolution", choices=STRATEGIES,
                        help="search strategy (default evolution; optuna-* and surrogate suit small query budgets)")
    parser.add_argument("--predictor", metavar="NAME|PATH",
                        help="accuracy predictor: a registered name (default: the space's, e.g. ofa-mlp, "
                             "nb201-cifar10) or a predictor file")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--time-limit", type=positive_float, default=3.0, metavar="SECONDS",
                        help="stop searching after this long (default 3)")
    parser.add_argument("--generations", type=positive_int, default=1000, help="stop after this many (default 1000)")
    parser.add_argument("--batch-size", type=positive_int, default=2048, help="candidates per generation")
    parser.add_argument("--islands", type=positive_int, default=1, metavar="N",
                        help="run N searches in parallel on Ray ($RAY_ADDRESS or local), migrating elites")
    parser.add_argument("--show", type=positive_int, default=20, metavar="N", help="front rows to print (default 20)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the result as JSON to OUT")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--server", metavar="URL",
                        help="submit to a running `nas serve` (key from $NAS_API_KEY) instead of searching here")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from nas.budgets import parse_budgets

    budgets = parse_budgets(args.budget)  # fail on a typo before the slow imports
    if args.json and not args.json.parent.is_dir():
        raise ValueError(f"cannot write {args.json}: folder {args.json.parent} does not exist")
    from nas.cli.report import print_result

    result = _run_remote(args) if args.server else _run_local(args)
    title = f"Pareto front on {args.space} ({', '.join(map(str, budgets))})"
    print_result(result, title, args.show)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


def _run_local(args: argparse.Namespace) -> dict[str, Any]:
    from nas.cli.options import resolve_predictor
    from nas.cli.report import search_progress
    from nas.jobs import build_problem, build_searcher
    from nas.search import run_search
    from searchspaces import get_space

    spec = _spec(args)
    if spec.islands > 1:
        if args.predictor and not _is_name(args.predictor):
            raise ValueError("with --islands, --predictor must be a registered predictor name")
        from nas.executors.islands import run_islands

        with search_progress(spec.limits, enabled=not args.quiet) as on_epoch:
            return run_islands(spec, spec.islands, on_epoch=on_epoch).to_json()
    problem = build_problem(spec, resolve_predictor(get_space(spec.space), args.predictor))
    searcher = build_searcher(spec, problem)
    with search_progress(spec.limits, enabled=not args.quiet) as on_generation:
        return run_search(problem, searcher, spec.limits, on_generation).to_json()


def _run_remote(args: argparse.Namespace) -> dict[str, Any]:
    from nas.cli.report import job_progress
    from nas.client import Client

    if args.predictor and not _is_name(args.predictor):
        raise ValueError("with --server, --predictor must be a predictor name the server knows")
    client = Client(args.server)
    try:
        job = client.submit(_spec(args).to_json())
        with job_progress(job["id"], enabled=not args.quiet) as on_update:
            try:
                job = client.wait(job["id"], on_update)
            except KeyboardInterrupt:
                client.cancel(job["id"])
                raise
        if job["status"] != "succeeded":
            raise ValueError(f"job {job['id']} {job['status']}" + (f": {job['error']}" if job.get("error") else ""))
        best = client.best_trial(job["id"])
        pareto = client.pareto(job["id"])["items"]
    finally:
        client.close()
    if best is None:
        raise ValueError(f"job {job['id']} stored no trials")
    from nas.search import plain_metrics

    trial = {"arch": best["arch"], "metrics": plain_metrics(best["metrics"])}
    return {"best": trial, "pareto": [{"arch": t["arch"], "metrics": plain_metrics(t["metrics"])} for t in pareto],
            "evaluated": job["progress"]["evaluated"], "search_seconds": job["progress"]["search_seconds"]}


def _spec(args: argparse.Namespace) -> Any:
    from nas.jobs import JobSpec

    return JobSpec(budgets=tuple(args.budget), space=args.space, strategy=args.strategy,
                   predictor=args.predictor if args.predictor and _is_name(args.predictor) else None,
                   seed=args.seed, time_limit=args.time_limit, generations=args.generations,
                   batch_size=args.batch_size, islands=args.islands)


def _is_name(predictor: str) -> bool:
    from predictors import PREDICTORS

    return predictor in PREDICTORS
