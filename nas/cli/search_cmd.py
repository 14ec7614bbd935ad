"""``nas search``: the most accurate subnet within budgets, and the accuracy/cost Pareto front."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from nas.cli.options import positive_float, positive_int, space_names

DEFAULT_SPACE = "ofa-mbv3-w1.2"


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "search", help="search subnets under budgets",
        description="Find the most accurate subnet within every --budget, plus the accuracy/cost Pareto front.",
        epilog="Budgets: <number><k|M|G>-<MACs|params>, e.g. 600M-MACs, 0.6G-MACs, 5M-params (case-insensitive).",
    )
    parser.add_argument("--budget", action="append", required=True, metavar="BUDGET",
                        help="an upper bound such as 600M-MACs; repeat for several")
    parser.add_argument("--space", default=DEFAULT_SPACE, choices=space_names(), help=f"default {DEFAULT_SPACE}")
    parser.add_argument("--strategy", default="evolution", choices=["evolution"], help="search strategy")
    parser.add_argument("--predictor", metavar="NAME|PATH",
                        help="accuracy predictor: ofa-mlp (default) or a predictor file")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--time-limit", type=positive_float, default=3.0, metavar="SECONDS",
                        help="stop searching after this long (default 3)")
    parser.add_argument("--generations", type=positive_int, default=1000, help="stop after this many (default 1000)")
    parser.add_argument("--batch-size", type=positive_int, default=2048, help="candidates per generation")
    parser.add_argument("--show", type=positive_int, default=20, metavar="N", help="front rows to print (default 20)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the result as JSON to OUT")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from nas.budgets import parse_budgets

    budgets = parse_budgets(args.budget)  # fail on a typo before the slow imports
    if args.json and not args.json.parent.is_dir():
        raise ValueError(f"cannot write {args.json}: folder {args.json.parent} does not exist")

    from nas.cli.options import resolve_predictor
    from nas.cli.report import print_result, search_progress
    from nas.problem import Problem
    from nas.search import Limits, run_search
    from nas.searchers import SEARCHERS
    from predictors.costs import MacsCost, ParamsCost
    from searchspaces import get_space

    space = get_space(args.space)
    problem = Problem(space, resolve_predictor(space, args.predictor), (MacsCost(space), ParamsCost(space)),
                      tuple(budgets))
    searcher = SEARCHERS[args.strategy](problem, seed=args.seed)
    limits = Limits(args.time_limit, args.generations, args.batch_size)
    with search_progress(limits, enabled=not args.quiet) as on_generation:
        result = run_search(problem, searcher, limits, on_generation)
    print_result(result, args.show)
    if args.json:
        args.json.write_text(json.dumps(result.to_json(), indent=2) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
