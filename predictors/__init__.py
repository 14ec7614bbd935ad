"""Accuracy predictors and cost models; predictors are registered by name for the CLI and API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from predictors.base import CostModel, Predictor
from searchspaces.base import SearchSpace


@dataclass(frozen=True)
class PredictorInfo:
    name: str
    description: str
    spaces: tuple[str, ...]
    load: Callable[[SearchSpace], Predictor]


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

__all__ = ["PREDICTORS", "CostModel", "Predictor", "PredictorInfo", "register"]
