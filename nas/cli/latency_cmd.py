"""``nas latency predict``: device latency of a subnet or an OFA ``net.config`` from lookup tables."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from nas.cli.options import CommandError, arch_genes, config_resolution, json_value, positive_int, space_names

LUT_SPACE = "ofa-mbv3-w1.2"


def add_parser(commands: Any) -> None:
    latency = commands.add_parser("latency", help="device latency from lookup tables",
                                  description="Device latency of OFA MobileNetV3 subnets.")
    actions = latency.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(latency))
    predict = actions.add_parser(
        "predict", help="latency of a subnet or net.config from a device's lookup tables",
        description="Sum the per-layer latencies of OFA's lookup tables (<R>_lookup_table.yaml per resolution).",
    )
    predict.add_argument("--device", default="note10", help="a registered device (default note10)")
    predict.add_argument("--lut-dir", type=Path, metavar="DIR",
                         help="folder of <R>_lookup_table.yaml files (default: the device's published tables)")
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--arch", type=json_value, metavar="JSON",
                        help=f'{LUT_SPACE} arch as JSON or @FILE: {{"ks":[..20],"e":[..20],"d":[..5],"r":224}}')
    source.add_argument("--config", type=Path, metavar="NET_CONFIG", help="an OFA MobileNetV3 net.config file")
    predict.add_argument("--resolution", type=positive_int, metavar="R",
                         help="input resolution (default: the arch's r, or the run.config beside --config)")
    predict.add_argument("--json", action="store_true", help='print {"latency_ms": float}')
    predict.set_defaults(run=run_predict)

    measure = actions.add_parser(
        "measure", help="time a subnet end to end on this machine (torch or onnxruntime, CPU)",
        description="Build the subnet (exported to ONNX for onnxruntime), run it warmup times untimed, then report "
                    "the median of repeats timed runs pinned to --threads intra-op threads.",
    )
    measure.add_argument("--space", default=LUT_SPACE, choices=space_names(), help=f"default {LUT_SPACE}")
    measure.add_argument("--arch", type=json_value, required=True, metavar="JSON", help="arch as JSON or @FILE")
    measure.add_argument("--backend", choices=("torch", "onnxruntime"), default="torch", help="default torch")
    measure.add_argument("--threads", type=positive_int, default=1, help="intra-op threads (default 1)")
    measure.add_argument("--batch", type=positive_int, default=1, help="batch size (default 1)")
    measure.add_argument("--warmup", type=positive_int, default=10, help="untimed runs first (default 10)")
    measure.add_argument("--repeats", type=positive_int, default=50, help="timed runs (default 50)")
    measure.add_argument("--json", action="store_true", help="print the measurement as JSON")
    measure.set_defaults(run=run_measure)


def run_predict(args: argparse.Namespace) -> int:
    from predictors import LUT_DEVICES
    from predictors.latency_lut import LUTLatency
    from predictors.tabular import locate_table
    from searchspaces import get_space

    if args.lut_dir is None and args.device not in LUT_DEVICES:
        raise CommandError(f"no published tables for device {args.device!r} (known: {', '.join(LUT_DEVICES)}); "
                           "give --lut-dir")
    folder = args.lut_dir or locate_table(LUT_DEVICES[args.device][0])
    if not folder.is_dir():
        raise CommandError(f"--lut-dir {folder} is not a folder")
    space = LUT_DEVICES[args.device][1][0] if args.device in LUT_DEVICES else LUT_SPACE  # the widths timed
    model = LUTLatency(get_space(space), args.device, folder)
    latency = _config_latency(args, model) if args.config else _arch_latency(args, model)
    print(json.dumps({"latency_ms": latency}) if args.json else f"{latency:.2f} ms on {args.device}")
    return 0


def run_measure(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from predictors.latency_measure import measure
    from searchspaces import get_space

    space = get_space(args.space)
    if not hasattr(space, "build"):
        raise CommandError(f"space {space.name} cannot build networks to time")
    result = measure(space, space.from_json(args.arch), args.threads, args.batch, args.warmup, args.repeats,
                     args.backend)
    if args.json:
        print(json.dumps({**asdict(result), "device": "cpu", "engine": engine(args.backend)}))
    else:
        print(f"{result.latency_ms:.2f} ms median (p90 {result.p90_ms:.2f} ms) over {result.repeats} runs, "
              f"{engine(args.backend)} on the CPU, {result.threads} thread(s), batch {result.batch}, "
              f"{result.resolution}px")
    return 0


def engine(backend: str) -> str:
    """The backend with its version, as measurements report it."""
    from importlib.metadata import version

    return f"{backend} {version(backend)}"


def _config_latency(args: argparse.Namespace, model: Any) -> float:
    from searchspaces.ofa_net_config import load_net_config

    return float(model.net_latency(load_net_config(args.config), config_resolution(args)))


def _arch_latency(args: argparse.Namespace, model: Any) -> float:
    return float(model.cost(arch_genes(model.space, args))[0])
