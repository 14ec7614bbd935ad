"""Accuracy predictors and cost models; predictors are registered by name for the CLI and API."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from predictors.base import CostModel, Predictor
from searchspaces.base import SearchSpace


@dataclass(frozen=True)
class PredictorInfo:
    name: str
    description: str
    spaces: tuple[str, ...]
    load: Callable[[SearchSpace], Predictor]
    evaluation: dict[str, Any] = field(default_factory=dict)  # figures measured on held-out data


PREDICTORS: dict[str, PredictorInfo] = {}


def register(info: PredictorInfo) -> PredictorInfo:
    if info.name in PREDICTORS:
        raise ValueError(f"predictor {info.name!r} is already registered")
    PREDICTORS[info.name] = info
    return info


def _load_ofa_mlp(space: SearchSpace) -> Predictor:
    from predictors.ofa_mlp import OFAAccuracyPredictor

    return OFAAccuracyPredictor(space)


register(PredictorInfo(
    name="ofa-mlp",
    description="Once-for-All's published ImageNet accuracy predictor (trained on the w1.2 supernet)",
    spaces=("ofa-mbv3-w1.2", "ofa-mbv3-w1.0"),
    load=_load_ofa_mlp,
))


def _load_nb201_cifar10(space: SearchSpace) -> Predictor:
    from predictors.tabular import NB201_ACCURACY_CSV, TabularAccuracy, locate_table

    return TabularAccuracy(space, locate_table(NB201_ACCURACY_CSV), name="nb201-cifar10")


register(PredictorInfo(
    name="nb201-cifar10",
    description="NAS-Bench-201 measured CIFAR-10 test accuracy (%, 200 epochs), looked up per arch",
    spaces=("nb201",),
    load=_load_nb201_cifar10,
))


FITTED_KINDS = ("gbdt", "mlp", "ofa-finetune")  # what `nas predictor fit --kind` makes


def new_fitted_predictor(kind: str, space: SearchSpace, seed: int = 0) -> Predictor:
    """An unfitted predictor of one of ``FITTED_KINDS``."""
    from predictors.gbdt import GBDTPredictor
    from predictors.mlp import KINDS

    classes: dict[str, Callable[..., Predictor]] = {"gbdt": GBDTPredictor, **KINDS}
    if kind not in classes:
        raise ValueError(f"unknown predictor kind {kind!r}; choose from {', '.join(FITTED_KINDS)}")
    return classes[kind](space, seed=seed)


def _load_file(path: Path, space: SearchSpace) -> Predictor:
    from predictors.files import load_predictor_file

    return load_predictor_file(path, space)


def register_predictor_dir(folder: Path) -> None:
    """Register every fitted predictor file (``*.json``) of ``folder`` under its file name's stem."""
    for path in sorted(folder.glob("*.json")):
        try:
            document = json.loads(path.read_text())
            space, archs = document["space"], document["evaluation"].get("trained_on", "?")
            kind = document.get("kind", "GBDT")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # not a predictor file: the folder may hold other JSON
        if path.stem not in PREDICTORS:
            register(PredictorInfo(name=path.stem, description=f"{kind} fitted on {archs} measured archs ({path.name})",
                                   spaces=(space,), load=partial(_load_file, path),
                                   evaluation=document["evaluation"]))


if os.environ.get("NAS_PREDICTOR_DIR"):  # predictors fitted with `nas predictor fit`, offered by name
    register_predictor_dir(Path(os.environ["NAS_PREDICTOR_DIR"]).expanduser())


def default_predictor(space_name: str) -> str:
    """The first registered predictor that reads ``space_name``."""
    for info in PREDICTORS.values():
        if space_name in info.spaces:
            return info.name
    raise ValueError(f"no accuracy predictor is registered for space {space_name!r}")


# devices with published lookup tables: name -> (folder or file under the data folder, spaces whose widths
# it timed); tables built here with `nas latency build-lut` are added from $NAS_LUT_DIR
LUT_DEVICES: dict[str, tuple[str, tuple[str, ...]]] = {
    "note10": ("ofa/note10_lut", ("ofa-mbv3-w1.2",)),
    "cpu_i7": ("ofa/cpu_i7-8700K_lut.yaml", ("ofa-mbv3-w1.0", "ofa-mbv3-w1.2")),  # NSGANetV2's i7-8700K
}


def latency_devices(space: SearchSpace) -> list[str]:
    """Devices with a latency model for ``space``."""
    if space.name == "nb201":
        from predictors.tabular import NB201_LATENCY_CSV, locate_table, table_devices

        return table_devices(locate_table(NB201_LATENCY_CSV))
    from predictors.latency_lut import local_devices

    local = [device for device, (_, name) in local_devices().items() if name == space.name]
    return [device for device, (_, spaces) in LUT_DEVICES.items() if space.name in spaces] + local


def lut_source(device: str) -> tuple[Path, tuple[str, ...]] | None:
    """The tables of a published or locally built device and the spaces they time (None: no such device)."""
    from predictors.latency_lut import local_devices
    from predictors.tabular import locate_table

    if device in LUT_DEVICES:
        return locate_table(LUT_DEVICES[device][0]), LUT_DEVICES[device][1]
    local = local_devices().get(device)
    return (local[0], (local[1],)) if local else None


def cost_models(space: SearchSpace, metrics: Iterable[str] = ()) -> tuple[CostModel, ...]:
    """MACs and parameters, plus a model for every ``latency@<device>`` in ``metrics``."""
    from predictors.costs import MacsCost, ParamsCost

    models: list[CostModel] = [MacsCost(space), ParamsCost(space)]
    for metric in dict.fromkeys(metrics):
        if metric.startswith("latency@"):
            models.append(latency_model(space, metric.removeprefix("latency@")))
    return tuple(models)


def latency_model(space: SearchSpace, device: str) -> CostModel:
    devices = latency_devices(space)
    if device not in devices:
        known = ", ".join(devices) or "none yet"
        raise ValueError(f"no latency model for device {device!r} on {space.name}; known devices: {known}")
    if space.name != "nb201":
        from predictors.latency_lut import open_tables

        source = lut_source(device)
        assert source is not None  # listed by latency_devices
        return open_tables(space, device, source[0])  # type: ignore[arg-type]
    from predictors.tabular import NB201_LATENCY_CSV, TabularLatency, locate_table

    return TabularLatency(space, locate_table(NB201_LATENCY_CSV), device)


__all__ = [
    "FITTED_KINDS",
    "LUT_DEVICES",
    "PREDICTORS",
    "CostModel",
    "Predictor",
    "PredictorInfo",
    "cost_models",
    "default_predictor",
    "latency_devices",
    "latency_model",
    "lut_source",
    "new_fitted_predictor",
    "register",
    "register_predictor_dir",
]
