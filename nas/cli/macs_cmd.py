"""``nas macs``: exact MACs and parameters of a subnet or of an OFA ``net.config`` file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from nas.cli.options import arch_genes, config_resolution, json_value, positive_int, space_names
from nas.cli.search_cmd import DEFAULT_SPACE


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "macs", help="exact MACs and parameters of a subnet",
        description="Count MACs (conv and linear multiply-accumulates) and parameters exactly.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--arch", type=json_value, metavar="JSON",
                        help='arch as JSON or @FILE, e.g. \'{"ks":[..20],"e":[..20],"d":[..5],"r":224}\'')
    source.add_argument("--config", type=Path, metavar="NET_CONFIG", help="an OFA net.config file")
    parser.add_argument("--space", default=DEFAULT_SPACE, choices=space_names(), help=f"default {DEFAULT_SPACE}")
    parser.add_argument("--resolution", type=positive_int, metavar="R",
                        help="input resolution (default: the arch's r, or the run.config beside --config)")
    parser.add_argument("--json", action="store_true", help='print {"macs": int, "params": int}')
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    macs, params = _count_config(args) if args.config else _count_arch(args)
    if args.json:
        print(json.dumps({"macs": macs, "params": params}))
    else:
        print(f"MACs   {macs:,} ({macs / 1e6:.1f}M)\nparams {params:,} ({params / 1e6:.2f}M)")
    return 0


def _count_config(args: argparse.Namespace) -> tuple[int, int]:
    from searchspaces.ofa_net_config import load_net_config

    spec = load_net_config(args.config)
    return spec.macs(config_resolution(args)), spec.params()


def _count_arch(args: argparse.Namespace) -> tuple[int, int]:
    from searchspaces import get_space

    space = get_space(args.space)
    genes = arch_genes(space, args)
    return int(space.macs(genes)[0]), int(space.params(genes)[0])
