"""Learned device latency, fitted on measured (arch, latency) pairs, in two parts.

1. An additive model, a lookup table learned from whole-network measurements instead of timed layer
   by layer: per layer choice a fixed cost plus a cost per MAC, and per resolution a fixed cost
   (stem and head). Measured latencies have one-sided spikes: on HELP's batch-1 GPU settings 11-25 %
   of the subnets measure over 10 % above the rest, in episodes along the order of measurement, and
   no arch feature tells which (a classifier's AUC 0.46-0.54). So the fit minimises absolute, not
   squared, errors (a linear program, solved by HiGHS through scipy) and predicts the typical
   latency, not the mean inflated by spikes.
2. Boosted trees (xgboost, absolute error of log latency) on what the layers' sum misses (layers that
   overlap, launch overheads), as many trees as a held-out fifth of the measurements supports.

The held-out fifth also decides whether the additive part is used at all: with a few hundred
measurements its hundreds of weights follow the noise, and trees alone predict better. With fewer
than two measurements per weight it is not tried (a linear program with as many unknowns as rows
fits them exactly). For spaces other than OFA MobileNetV3 the table is one latency per choice of
each gene.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb
from scipy import sparse
from scipy.optimize import linprog

from nas.errors import NasError
from predictors.base import CostModel
from predictors.gbdt import features
from searchspaces.base import SearchSpace

PARAMS = {"objective": "reg:absoluteerror", "max_depth": 6, "eta": 0.05, "subsample": 0.8,
          "colsample_bytree": 0.8, "tree_method": "hist", "nthread": 0}
FLOOR = 0.1  # of the median latency: the least the additive part may predict, so its log is defined
EARLY_STOP = 30
ROWS_PER_WEIGHT = 2  # the least measurements per table weight for the table to be tried


def layer_columns(space: SearchSpace, genes: np.ndarray) -> np.ndarray:
    """The additive part's design matrix. OFA MobileNetV3: for each slot's (kernel, expand) choice
    whether it runs and its MACs (millions), and a one-hot of the resolution. Other spaces: the
    one-hot gene encoding (one latency per operation choice)."""
    from searchspaces.ofa_mbv3 import EXPANDS, KERNELS, OFAMobileNetV3Space

    if not isinstance(space, OFAMobileNetV3Space):
        return space.encode(genes).astype(np.float64)
    ks, e, d, r = space.split(genes)
    choice = np.eye(len(KERNELS) * len(EXPANDS))[ks * len(EXPANDS) + e]  # (n, slots, kernel x expand)
    chosen = choice * space.active_blocks(d)[..., None]
    macs = chosen * space.slot_macs(genes)[..., None] / 1e6
    resolution = np.eye(len(space.resolutions))[r]
    return np.column_stack([chosen.reshape(len(genes), -1), macs.reshape(len(genes), -1), resolution])


def least_absolute_deviations(columns: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Weights minimising ``sum |columns @ w - target|``: the linear program over (w, over, under) with
    ``columns @ w + over - under = target`` and ``over, under >= 0``."""
    n, p = columns.shape
    constraints = sparse.hstack([sparse.csr_array(columns), sparse.eye_array(n), -sparse.eye_array(n)])
    lower = np.r_[np.full(p, -np.inf), np.zeros(2 * n)]
    result = linprog(np.r_[np.zeros(p), np.ones(2 * n)], A_eq=constraints, b_eq=target,
                     bounds=np.column_stack([lower, np.full(p + 2 * n, np.inf)]), method="highs-ipm")
    if not result.success:
        raise ValueError(f"the additive latency fit failed: {result.message}")
    return result.x[:p]


class LearnedLatency(CostModel):
    def __init__(self, space: SearchSpace, device: str, rounds: int = 800, seed: int = 0) -> None:
        self.space, self.device, self.rounds, self.seed = space, device, rounds, seed
        self.metric = f"latency@{device}"
        self.weights: np.ndarray | None = None  # the additive part's, when it is used
        self.floor_ms = 0.0
        self.model: xgb.Booster | None = None

    def fit(self, genes: np.ndarray, latency_ms: np.ndarray) -> LearnedLatency:
        latency_ms = np.asarray(latency_ms, dtype=np.float64)
        if len(genes) < 10 or not (np.isfinite(latency_ms).all() and (latency_ms > 0).all()):
            raise ValueError("learned latency needs at least 10 archs with positive, finite latencies")
        inputs, columns, target = features(self.space, genes), layer_columns(self.space, genes), np.log(latency_ms)
        held_out = np.random.default_rng(self.seed).permutation(len(genes)) < len(genes) // 5
        kept = ~held_out
        params = {**PARAMS, "seed": self.seed}
        table_fits = kept.sum() >= ROWS_PER_WEIGHT * columns.shape[1]
        trials = []
        for additive in (True, False) if table_fits else (False,):
            self._fit_additive(columns[kept], latency_ms[kept], additive)
            train = self._matrix(inputs[kept], columns[kept], target[kept])
            check = self._matrix(inputs[held_out], columns[held_out], target[held_out])
            probe = xgb.train(params, train, num_boost_round=self.rounds, evals=[(check, "held_out")],
                              early_stopping_rounds=EARLY_STOP, verbose_eval=False)
            trials.append((probe.best_score, additive, probe.best_iteration + 1))
        _, additive, rounds = min(trials)
        self._fit_additive(columns, latency_ms, additive)
        self.model = xgb.train(params, self._matrix(inputs, columns, target), num_boost_round=rounds)
        return self

    def _fit_additive(self, columns: np.ndarray, latency_ms: np.ndarray, use: bool) -> None:
        self.weights = least_absolute_deviations(columns, latency_ms) if use else None
        self.floor_ms = FLOOR * float(np.median(latency_ms))

    def _matrix(self, inputs: np.ndarray, columns: np.ndarray | None, label: np.ndarray | None = None) -> xgb.DMatrix:
        """The trees' inputs: the GBDT predictor's features and, with the additive part, the log of its
        prediction, which is also where the trees start."""
        if self.weights is None:
            return xgb.DMatrix(inputs, label=label)
        start = np.log(np.maximum(columns @ self.weights, self.floor_ms))
        return xgb.DMatrix(np.column_stack([inputs, start]), label=label, base_margin=start)

    def cost(self, genes: np.ndarray) -> np.ndarray:
        if self.model is None:
            raise ValueError(f"the latency model for {self.device} is not fitted")
        columns = None if self.weights is None else layer_columns(self.space, genes)
        return np.exp(self.model.predict(self._matrix(features(self.space, genes), columns)).astype(np.float64))

    # -- files ---------------------------------------------------------------------------------
    FORMAT = "learned-latency"

    def save(self, path: str | Path) -> None:
        if self.model is None:
            raise ValueError(f"the latency model for {self.device} is not fitted")
        weights = None if self.weights is None else self.weights.tolist()
        document = {"format": self.FORMAT, "space": self.space.name, "device": self.device, "rounds": self.rounds,
                    "seed": self.seed, "weights": weights, "floor_ms": self.floor_ms,
                    "booster": json.loads(self.model.save_raw(raw_format="json").decode())}
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
        try:
            model = cls(SPACES[document["space"]], document["device"], document["rounds"], document["seed"])
            weights, model.floor_ms = document["weights"], float(document["floor_ms"])
            model.weights = None if weights is None else np.array(weights, dtype=np.float64)
            width = layer_columns(model.space, model.space.gene_sizes[None] - 1).shape[1]
            if model.weights is not None and model.weights.shape != (width,):
                raise ValueError("table weights of the wrong length")
            model.model = xgb.Booster()
            model.model.load_model(bytearray(json.dumps(document["booster"]).encode()))
        except (KeyError, TypeError, ValueError, xgb.core.XGBoostError):
            raise LatencyDataError(f"{path} lacks parts of a latency model; refit it with `nas latency fit`") from None
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
