"""Gradient-boosted accuracy predictor (xgboost) with ensemble uncertainty, saved as portable JSON.

Features: the space's one-hot encoding (unused OFA block slots all zero), the exact cost features
(MACs, parameters) and structure: for OFA MobileNetV3, per-stage aggregates (depth, mean kernel
size and expand ratio of the used blocks) and the resolution; for NAS-Bench-201, each of the cell's
four input-to-output paths (whether it has no ``none`` edge, and its 3x3 and 1x1 convolutions),
which separates cells that cannot pass a signal from trainable ones. Trees fit the logit of
accuracy, which spreads out the crowded top of the range. Minimum leaf weight (and, outside OFA,
tree depth) is chosen by k-fold cross-validation, the number of trees by early stopping inside it.
An ensemble of models fitted on row and column subsamples with different seeds predicts the mean of
their logits; ``predict_std`` adds the spread of their accuracies, for error bars.

On the OFA MobileNetV3 spaces the trees are stumps: the model is additive over the features. On
DyNAS-T's four files, held out one at a time, that ranks unseen search trajectories better than
depth-4 trees (Kendall tau 0.900/0.946/0.706/0.961 vs 0.917/0.936/0.645/0.953), and it compiles
into per-stage lookup tables (``predictors.compiled``) that predict millions of archs per second.
NAS-Bench-201 cells interact too strongly for stumps (tau 0.57 vs 0.81 from 1,000 archs), but its
15,625 archs are tabulated once instead. Other models go through xgboost.

The file is JSON: format name, feature-schema version, the space's name, the chosen
hyper-parameters, the boosters (xgboost's JSON) and optional evaluation figures. It is refused when
loaded for another space or another schema version.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from predictors.base import Predictor
from predictors.compiled import OFAStageTables, StepFunctions, Tabulated, check_against, tabulable
from predictors.files import load_as, write_predictor_file
from searchspaces.base import SearchSpace

GRID = {"max_depth": (4, 6), "min_child_weight": (1, 4)}
ADDITIVE_GRID = {"max_depth": (1,), "min_child_weight": (1, 4)}  # the OFA spaces
BASE_PARAMS = {"objective": "reg:squarederror", "eta": 0.1, "subsample": 0.8, "colsample_bytree": 0.8,
               "tree_method": "hist", "nthread": 0}
MAX_ROUNDS, EARLY_STOP, FOLDS = 5000, 30, 3  # stumps need ~2,500 rounds at eta 0.1
NB201_PATHS = ((3,), (0, 4), (1, 5), (0, 2, 5))  # edge indices (string order) of each input->output path


def features(space: SearchSpace, genes: np.ndarray) -> np.ndarray:
    """The predictor's feature matrix of a batch of gene rows (schema ``GBDTPredictor.FEATURE_SCHEMA``)."""
    from searchspaces.nb201 import NB201Space
    from searchspaces.ofa_mbv3 import OFAMobileNetV3Space

    columns = [space.encode(genes), space.macs(genes)[:, None] / 1e6, space.params(genes)[:, None] / 1e6]
    if isinstance(space, OFAMobileNetV3Space):
        columns += _ofa_stages(space, genes, columns[0])
    elif isinstance(space, NB201Space):
        columns += _nb201_paths(genes)
    return np.column_stack(columns).astype(np.float32)


def _ofa_stages(space: Any, genes: np.ndarray, onehot: np.ndarray) -> list[np.ndarray]:
    from searchspaces.ofa_mbv3 import DEPTHS, EXPANDS, KERNELS, MAX_DEPTH, N_BLOCKS, N_STAGES

    ks, e, d, r = space.split(genes)
    active = space.active_blocks(d)
    onehot[:, :6 * N_BLOCKS] *= np.repeat(np.tile(active, 2), 3, axis=1)  # unused slots carry no signal
    depth = np.asarray(DEPTHS)[d]
    per_stage = active.reshape(len(genes), N_STAGES, MAX_DEPTH)
    kernel = (np.asarray(KERNELS)[ks].reshape(per_stage.shape) * per_stage).sum(2) / depth
    expand = (np.asarray(EXPANDS)[e].reshape(per_stage.shape) * per_stage).sum(2) / depth
    return [depth, kernel, expand, np.asarray(space.resolutions)[r][:, None]]


def _nb201_paths(genes: np.ndarray) -> list[np.ndarray]:
    from searchspaces.nb201 import OPS

    none, conv1, conv3 = OPS.index("none"), OPS.index("nor_conv_1x1"), OPS.index("nor_conv_3x3")
    columns = []
    for path in NB201_PATHS:
        ops = genes[:, list(path)]
        alive = (ops != none).all(axis=1)
        columns += [alive, alive * (ops == conv3).sum(axis=1), alive * (ops == conv1).sum(axis=1)]
    return [np.column_stack(columns)]


class GBDTPredictor(Predictor):
    name = "gbdt"
    FORMAT = "nas-gbdt"
    FEATURE_SCHEMA = 1

    def __init__(self, space: SearchSpace, ensemble: int = 3, folds: int = FOLDS, seed: int = 0) -> None:
        self.space = space
        self.ensemble = ensemble
        self.folds = folds
        self.seed = seed
        self.params: dict[str, Any] = {}
        self.rounds = 0
        self.members: list[xgb.Booster] = []
        self.evaluation: dict[str, Any] = {}
        self._compiled: Tabulated | OFAStageTables | bool | None = None  # on the first prediction; False: xgboost

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, genes: np.ndarray, y: np.ndarray) -> GBDTPredictor:
        if len(genes) < 2 * self.folds:
            raise ValueError(f"a GBDT predictor needs at least {2 * self.folds} distinct archs, got {len(genes)}")
        data = xgb.DMatrix(features(self.space, genes), label=logit(np.asarray(y, dtype=np.float64)))
        self.params, self.rounds, rmse = self._cross_validate(data)
        self.evaluation = {"trained_on": len(genes), "cv_rmse_logit": rmse}
        self.members = [xgb.train({**self.params, "seed": self.seed + i}, data, num_boost_round=self.rounds)
                        for i in range(self.ensemble)]
        self._compiled = None
        return self

    def _cross_validate(self, data: xgb.DMatrix) -> tuple[dict[str, Any], int, float]:
        """The grid point with the lowest k-fold RMSE, its early-stopped number of trees and the RMSE."""
        from searchspaces.ofa_mbv3 import OFAMobileNetV3Space

        grid = ADDITIVE_GRID if isinstance(self.space, OFAMobileNetV3Space) else GRID
        best: tuple[float, dict[str, Any], int] | None = None
        for values in itertools.product(*grid.values()):
            params = {**BASE_PARAMS, **dict(zip(grid, values)), "seed": self.seed}
            history = xgb.cv(params, data, num_boost_round=MAX_ROUNDS, nfold=self.folds, seed=self.seed,
                             early_stopping_rounds=EARLY_STOP, metrics="rmse", shuffle=True)
            rmse = float(history["test-rmse-mean"].iloc[-1])
            if best is None or rmse < best[0]:
                best = (rmse, params, len(history))
        assert best is not None
        return best[1], best[2], best[0]

    # -- prediction ----------------------------------------------------------------------------
    def predict(self, genes: np.ndarray) -> np.ndarray:
        return sigmoid(self.margins(genes, [self.ensemble])[0])

    def predict_std(self, genes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The ensemble's prediction and the standard deviation of its members' (error bars), as accuracies."""
        margins = self.margins(genes, [*range(self.ensemble + 1)])
        return sigmoid(margins[-1]), sigmoid(margins[:-1]).std(axis=0)

    def margins(self, genes: np.ndarray, rows: list[int]) -> np.ndarray:
        """Logit predictions: row i < ensemble is member i, row ``ensemble`` their mean."""
        if not self.members:
            raise ValueError("the GBDT predictor is not fitted")
        if self._compiled is None:
            self._compiled = self._compile()
        if self._compiled:
            return self._compiled.margins(genes, rows)
        return self.xgboost_margins(genes)[rows]

    @property
    def evaluator(self) -> str:
        """How predictions are computed (after the first one)."""
        return {Tabulated: "a table of every arch", OFAStageTables: "per-stage tables"}.get(
            type(self._compiled), "xgboost")

    def xgboost_margins(self, genes: np.ndarray) -> np.ndarray:
        """The ``margins`` rows of all members and their mean, computed by xgboost from ``features``."""
        x = features(self.space, genes)
        each = np.stack([m.inplace_predict(x, predict_type="margin") for m in self.members]).astype(np.float64)
        return np.vstack([each, each.mean(axis=0)])

    def _compile(self) -> Tabulated | OFAStageTables | bool:
        """The fastest exact evaluator this model allows (False: xgboost itself)."""
        from searchspaces.ofa_mbv3 import OFAMobileNetV3Space

        if tabulable(self.space):
            return Tabulated(self.space, self.xgboost_margins)
        if not isinstance(self.space, OFAMobileNetV3Space):
            return False
        probe = self.space.sample(256, np.random.default_rng(0))
        probe_x = features(self.space, probe)
        steps = [StepFunctions.of_booster(m, probe_x) for m in self.members]
        if any(s is None for s in steps):
            return False
        macs_column = int(self.space.gene_sizes.sum())  # features: one-hot, MACs, params, ...
        tables = OFAStageTables(self.space, [*steps, StepFunctions.mean(steps)], features,
                                (macs_column, macs_column + 1))
        check_against(tables.margins(probe, [*range(self.ensemble + 1)]), self.xgboost_margins(probe),
                      "the compiled GBDT")
        return tables

    def describe(self) -> str:
        return (f"max_depth {self.params['max_depth']}, min_child_weight {self.params['min_child_weight']}, "
                f"{self.rounds} trees x {self.ensemble} models")

    # -- files ---------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        if not self.members:
            raise ValueError("the GBDT predictor is not fitted")
        write_predictor_file(path, {
            "format": self.FORMAT, "feature_schema": self.FEATURE_SCHEMA, "space": self.space.name,
            "params": self.params, "rounds": self.rounds, "evaluation": self.evaluation,
            "ensemble": [_booster_json(m) for m in self.members],
        })

    @classmethod
    def load(cls, path: str | Path, space: SearchSpace | None = None) -> GBDTPredictor:
        """Load a fitted file; with ``space``, refuse a file made for another space."""
        return load_as(cls, path, space)

    @classmethod
    def from_document(cls, document: dict[str, Any], space: SearchSpace) -> GBDTPredictor:
        predictor = cls(space, ensemble=len(document["ensemble"]))
        predictor.params, predictor.rounds = document["params"], document["rounds"]
        predictor.evaluation = document.get("evaluation", {})
        predictor.members = [_booster_from_json(m) for m in document["ensemble"]]
        return predictor


def logit(accuracy: np.ndarray) -> np.ndarray:
    """Log-odds of accuracy fractions (clipped away from 0 and 1)."""
    p = np.clip(accuracy, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def _booster_json(booster: xgb.Booster) -> Any:
    return json.loads(booster.save_raw(raw_format="json").decode())


def _booster_from_json(value: Any) -> xgb.Booster:
    booster = xgb.Booster()
    booster.load_model(bytearray(json.dumps(value).encode()))
    booster.set_param({"nthread": 0})
    return booster
