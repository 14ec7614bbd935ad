"""Option types and resolvers shared by commands: names become objects only here, at the edge."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from nas.errors import NasError


class CommandError(NasError):
    """A user-facing failure: printed as one line, exit code 2."""


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def positive_float(text: str) -> float:
    if not (value := _number(text)) > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def non_negative_float(text: str) -> float:
    if not (value := _number(text)) >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number, 0 or more")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def positive_int(text: str) -> int:
    if (value := _integer(text)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def non_negative_int(text: str) -> int:
    if (value := _integer(text)) < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def json_value(text: str) -> Any:
    """A JSON literal, or ``@FILE`` for a file holding one."""
    try:
        return json.loads(Path(text[1:]).read_text() if text.startswith("@") else text)
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {text[1:]}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None


def space_names() -> list[str]:
    from searchspaces import SPACES

    return sorted(SPACES)


def resolve_predictor(space: Any, name_or_path: str | None) -> Any:
    """A registered predictor (default: the space's) or a predictor file (fitted JSON, OFA checkpoint)."""
    from predictors import PREDICTORS, default_predictor
    from predictors.ofa_mlp import OFAAccuracyPredictor

    name = name_or_path or default_predictor(space.name)
    if name in PREDICTORS:
        return PREDICTORS[name].load(space)
    if not Path(name).exists():
        raise ValueError(f"predictor {name!r} is neither a known name ({', '.join(PREDICTORS)}) nor an existing file")
    if Path(name).suffix == ".json":  # a predictor fitted by `nas predictor fit`
        from predictors.files import load_predictor_file

        return load_predictor_file(name, space)
    return OFAAccuracyPredictor(space, Path(name))


def config_resolution(args: argparse.Namespace) -> int:
    """``--resolution``, else the ``image_size`` of the ``run.config`` beside ``--config``."""
    from searchspaces.ofa_net_config import load_run_config_resolution

    resolution = args.resolution or load_run_config_resolution(args.config)
    if resolution is None:
        raise CommandError(f"no --resolution given and no run.config beside {args.config}")
    return resolution


def arch_genes(space: Any, args: argparse.Namespace) -> Any:
    """The gene row (batch of one) of ``--arch``, with ``--resolution`` overriding its ``r``."""
    arch_json = args.arch
    if args.resolution is not None and isinstance(arch_json, dict):
        arch_json = {**arch_json, "r": args.resolution}
    return space.to_genes([space.from_json(arch_json)])
