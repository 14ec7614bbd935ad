"""Learned device latency: gradient-boosted trees fitted on measured (arch, latency) pairs.

For devices where a sum of per-layer table entries is biased (GPUs overlap layers, batch-1 runs
are dominated by launch overheads), a model of the whole network learns what the sum misses. It
reads the GBDT predictor's features (one-hot encoding, MACs, parameters, per-stage structure) and
fits log-latency, so errors are relative, as latency budgets are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from nas.errors import NasError
from predictors.base import CostModel
from predictors.gbdt import features
from searchspaces.base import SearchSpace

PARAMS = {"objective": "reg:squarederror", "max_depth": 6, "eta": 0.05, "subsample": 0.8,
          "colsample_bytree": 0.8, "tree_method": "hist", "nthread": 0}


class LearnedLatency(CostModel):
    def __init__(self, space: SearchSpace, device: str, rounds: int = 800, seed: int = 0) -> None:
        self.space, self.device, self.rounds, self.seed = space, device, rounds, seed
        self.metric = f"latency@{device}"
        self.model: xgb.Booster | None = None

    def fit(self, genes: np.ndarray, latency_ms: np.ndarray) -> LearnedLatency:
        latency_ms = np.asarray(latency_ms, dtype=np.float64)
        if len(genes) < 10 or not (np.isfinite(latency_ms).all() and (latency_ms > 0).all()):
            raise ValueError("learned latency needs at least 10 archs with positive, finite latencies")
        data = xgb.DMatrix(features(self.space, genes), label=np.log(latency_ms))
        self.model = xgb.train({**PARAMS, "seed": self.seed}, data, num_boost_round=self.rounds)
        return self

    def cost(self, genes: np.ndarray) -> np.ndarray:
        if self.model is None:
            raise ValueError(f"the latency model for {self.device} is not fitted")
        return np.exp(self.model.inplace_predict(features(self.space, genes)).astype(np.float64))

    # -- files ---------------------------------------------------------------------------------
    FORMAT = "learned-latency"

    def save(self, path: str | Path) -> None:
        if self.model is None:
            raise ValueError(f"the latency model for {self.device} is not fitted")
        document = {"format": self.FORMAT, "space": self.space.name, "device": self.device, "rounds": self.rounds,
                    "seed": self.seed, "booster": json.loads(self.model.save_raw(raw_format="json").decode())}
        Path(path).write_text(json.dumps(document) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> LearnedLatency:
        """A model written by :meth:`save`, for the space it was fitted on."""
        from searchspaces import SPACES

        try:
            document = json.loads(Path(path).read_text())
        except OSError as exc:
            raise LatencyDataError(f"cannot read {path}: {exc.strerror or exc}") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise LatencyDataError(f"{path} is not a JSON latency model") from None
        if not isinstance(document, dict) or document.get("format") != cls.FORMAT:
            raise LatencyDataError(f"{path} is not a latency model written by `nas latency fit`")
        if document.get("space") not in SPACES:
            raise LatencyDataError(f"{path} names an unknown space {document.get('space')!r}")
        model = cls(SPACES[document["space"]], document["device"], document["rounds"], document["seed"])
        model.model = xgb.Booster()
        model.model.load_model(bytearray(json.dumps(document["booster"]).encode()))
        return model


class LatencyDataError(NasError, ValueError):
    """Measured latencies that cannot be read; the message names the file and line."""


def read_latencies(space: SearchSpace, paths: list[Path], column: str = "latency_ms") -> tuple[np.ndarray, np.ndarray]:
    """Gene rows and latencies (ms) from JSONL files: ``{"arch": .., "latency_ms": ..}`` per line, or
    the arch's fields at the top level (HELP's ``{"ks", "e", "d", "r", "<setting>_ms", ..}``) with
    ``column`` naming the latency."""
    archs, latencies = [], []
    for path in paths:
        try:
            lines = Path(path).read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise LatencyDataError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
        for number, line in enumerate(lines, 1):
            if line.strip():
                arch, latency = _row(line, column, f"{path}:{number}")
                try:
                    archs.append(space.from_json(arch))
                except ValueError as exc:
                    raise LatencyDataError(f"{path}:{number}: not a {space.name} arch: {exc}") from None
                latencies.append(latency)
    if not archs:
        raise LatencyDataError(f"no measured latencies in {', '.join(map(str, paths))}")
    return space.to_genes(archs), np.array(latencies)


def _row(line: str, column: str, where: str) -> tuple[Any, float]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        raise LatencyDataError(f"{where}: not a JSON line") from None
    if not isinstance(row, dict) or not isinstance(row.get(column), (int, float)):
        raise LatencyDataError(f"{where}: no number {column!r} (give the latency field with --column)")
    return row.get("arch", {k: v for k, v in row.items() if not k.endswith("_ms")}), float(row[column])
