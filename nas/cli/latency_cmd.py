"""``nas latency predict|measure|fit|build-lut``: device latency from tables or learned models, measured here."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from nas.cli.options import CommandError, arch_genes, config_resolution, json_value, positive_int, space_names

LUT_SPACE = "ofa-mbv3-w1.2"


def add_parser(commands: Any) -> None:
    latency = commands.add_parser("latency", help="device latency: lookup tables, measurement, learned models",
                                  description="Device latency of subnets: predicted from lookup tables or a learned "
                                              "model, measured on this machine, tables built here.")
    actions = latency.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(latency))
    predict = actions.add_parser(
        "predict", help="latency of a subnet or net.config from a device's lookup tables or a learned model",
        description="Sum the per-layer latencies of OFA's lookup tables (<R>_lookup_table.yaml per resolution).",
    )
    predict.add_argument("--device", default="note10", help="a registered device (default note10)")
    predict.add_argument("--lut-dir", type=Path, metavar="DIR",
                         help="folder of <R>_lookup_table.yaml files, or one NSGANetV2-style table file "
                              "(default: the device's tables)")
    predict.add_argument("--space", choices=("ofa-mbv3-w1.0", "ofa-mbv3-w1.2"),
                         help="the arch's space, for devices that time both (default: the first the device times)")
    predict.add_argument("--model", type=Path, metavar="MODEL_JSON",
                         help="a learned latency model written by `nas latency fit` (instead of tables)")
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

    fit = actions.add_parser(
        "fit", help="fit a learned latency model on measured (arch, latency) pairs",
        description="Fit a per-layer latency table to whole-network measurements (least absolute deviations, so "
                    "measurement spikes do not raise it), then gradient-boosted trees (xgboost) on what the "
                    "table's sum misses; a held-out fifth of the data decides whether the table helps. "
                    "--data reads JSONL: "
                    '{"arch": ARCH, "latency_ms": MS} per line, or the arch fields at the top level as in HELP\'s '
                    "file, with --column naming the latency field.",
    )
    fit.add_argument("--space", default=LUT_SPACE, choices=space_names(), help=f"default {LUT_SPACE}")
    fit.add_argument("--data", type=Path, nargs="+", required=True, metavar="JSONL", help="measured latencies")
    fit.add_argument("--column", default="latency_ms", help="the latency field (default latency_ms)")
    fit.add_argument("--device", default="here", help="the device the latencies were measured on (default here)")
    fit.add_argument("--rounds", type=positive_int, default=800,
                     help="most boosting rounds; a held-out fifth of the data stops them earlier (default 800)")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--out", type=Path, required=True, metavar="MODEL_JSON", help="where to write the model")
    fit.set_defaults(run=run_fit)

    build = actions.add_parser(
        "build-lut", help="build lookup tables on this machine (torch, CPU), resumable",
        description="Time every layer variant of the space (each slot's kernel x expand choices, stem, first block, "
                    "head) inside whole forward passes at each resolution and write OFA's <R>_lookup_table.yaml "
                    "files (mean/std in ms). Rerunning resumes: entries already written are kept. The finished "
                    "tables are the device NAME for budgets and `nas latency predict --device NAME`.",
    )
    build.add_argument("--device", required=True, metavar="NAME", help="name of the device the tables time")
    build.add_argument("--space", default=LUT_SPACE, choices=("ofa-mbv3-w1.0", "ofa-mbv3-w1.2"),
                       help=f"default {LUT_SPACE}")
    build.add_argument("--resolutions", type=positive_int, nargs="+", metavar="R",
                       help="input resolutions (default: all of the space's)")
    build.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    build.add_argument("--warmup", type=positive_int, default=10, help="untimed passes per net first (default 10)")
    build.add_argument("--repeats", type=positive_int, default=50, help="timed passes per net (default 50)")
    build.add_argument("--out", type=Path, metavar="DIR",
                       help="folder of the tables (default $NAS_LUT_DIR/NAME, else $NAS_CACHE_DIR/lut/NAME, where "
                            "they are found by name)")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    build.set_defaults(run=run_build)


def run_predict(args: argparse.Namespace) -> int:
    if args.model is not None:
        latency, device = _learned_latency(args)
    else:
        model = _lut_model(args)
        latency, device = (_config_latency(args, model) if args.config else _arch_latency(args, model)), args.device
    print(json.dumps({"latency_ms": latency}) if args.json else f"{latency:.2f} ms on {device}")
    return 0


def _lut_model(args: argparse.Namespace) -> Any:
    from predictors import LUT_DEVICES, lut_source
    from predictors.latency_lut import BUILD_INFO, open_tables
    from searchspaces import get_space

    source = lut_source(args.device)
    if args.lut_dir is None and source is None:
        raise CommandError(f"no tables for device {args.device!r} (published: {', '.join(LUT_DEVICES)}; built ones "
                           "are found in $NAS_LUT_DIR); give --lut-dir")
    path = args.lut_dir or source[0]  # type: ignore[index]
    if not path.exists():
        raise CommandError(f"--lut-dir {path} does not exist")
    info = path / BUILD_INFO
    spaces = ((json.loads(info.read_text())["space"],) if info.is_file()  # the widths the tables timed
              else source[1] if source else (LUT_SPACE,))
    if args.space and args.space not in spaces:
        raise CommandError(f"the tables of {args.device!r} time {', '.join(spaces)}, not {args.space}")
    return open_tables(get_space(args.space or spaces[0]), args.device, path)


def _learned_latency(args: argparse.Namespace) -> tuple[float, str]:
    from predictors.latency_learned import LearnedLatency

    if args.config is not None:
        raise CommandError("--model predicts archs of its space; give --arch, not --config")
    model = LearnedLatency.load(args.model)
    return float(model.cost(arch_genes(model.space, args))[0]), f"{model.device} (learned, {args.model.name})"


def run_fit(args: argparse.Namespace) -> int:
    from predictors.latency_learned import LearnedLatency, read_latencies
    from searchspaces import get_space

    space = get_space(args.space)
    genes, latency_ms = read_latencies(space, args.data, args.column)
    LearnedLatency(space, args.device, args.rounds, args.seed).fit(genes, latency_ms).save(args.out)
    print(f"fitted on {len(genes)} measured {space.name} subnets ({latency_ms.min():.2f}-{latency_ms.max():.2f} ms); "
          f"wrote {args.out}")
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


def run_build(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from predictors import LUT_DEVICES
    from predictors.latency_build import BuildSettings, build_resolution, finish_build, missing_keys, start_build
    from predictors.latency_lut import local_lut_root
    from searchspaces import get_space

    if args.device in LUT_DEVICES or not args.device.replace("-", "_").isidentifier():
        raise CommandError(f"--device {args.device!r}: choose a name of letters, digits, - and _ that is not a "
                           f"published device ({', '.join(LUT_DEVICES)})")
    space = get_space(args.space)
    resolutions = args.resolutions or list(space.resolutions)
    bad = sorted(set(resolutions) - set(space.resolutions))
    if bad:
        raise CommandError(f"--resolutions {bad[0]} is not a resolution of {space.name} "
                           f"({space.resolutions[0]}..{space.resolutions[-1]} step 4)")
    folder = args.out or local_lut_root() / args.device
    settings = BuildSettings(space.name, args.threads, args.warmup, args.repeats)
    start_build(folder, settings)
    todo = {r: missing_keys(space, r, folder) for r in resolutions}
    with Progress(console=Console(stderr=True), disable=args.quiet) as bar:
        task = bar.add_task(f"timing layers ({args.threads} thread(s))", total=sum(todo.values()))
        for resolution in resolutions:
            for added in build_resolution(space, resolution, folder, settings):
                bar.advance(task, added)
    finish_build(folder, settings)
    print(f"{len(resolutions)} table(s) for {space.name} in {folder} ({sum(todo.values())} layers timed now, "
          f"{settings.engine}, {args.threads} thread(s), {args.repeats} passes)")
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
