"""The ``nas`` command line. Commands import their heavy dependencies only when they run."""

from __future__ import annotations

import argparse
import sys

from nas.cli import bench_cmd, latency_cmd, macs_cmd, predictor_cmd, search_cmd, service_cmd, supernet_cmd
from nas.errors import NasError


class Parser(argparse.ArgumentParser):
    """argparse that reports bad usage as a single line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> Parser:
    parser = Parser(prog="nas", description="Neural architecture search under MAC, parameter and latency budgets.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in (search_cmd, macs_cmd, latency_cmd, service_cmd, bench_cmd, predictor_cmd, supernet_cmd):
        module.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        print("nas: interrupted", file=sys.stderr)
        return 130
    except (NasError, ValueError, OSError) as exc:
        print(f"nas {args.command}: error: {exc}", file=sys.stderr)
        return 2
