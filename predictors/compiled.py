"""Exact fast evaluation of fitted GBDT ensembles, for search loops that predict millions of archs.

Calling xgboost costs per arch the feature matrix plus one walk down every tree of every ensemble
member. Two compilations give the same margins without either:

- :class:`Tabulated`: a space of at most ``TABULATE_LIMIT`` archs (NAS-Bench-201 has 15,625) is
  predicted once in full; a prediction is then a lookup by the arch's mixed-radix index.
- :class:`OFAStageTables`: an additive model (depth-1 trees) over the OFA MobileNetV3 features is a
  sum of one function of each stage's nine genes (its four kernels, four expand ratios and depth:
  3^9 configurations), one of the resolution, and step functions of MACs and of parameters. MACs
  and parameters are themselves sums of per-stage tables (per resolution), so a prediction is a few
  table lookups and two binary searches.

The table is xgboost's own output; the stage tables are checked against xgboost on probe archs
when built.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import xgboost as xgb

from searchspaces.base import SearchSpace

TABULATE_LIMIT = 1_000_000
CHECK_TOLERANCE = 1e-4  # logit units; float32 sums in another order differ by ~1e-6


@dataclass
class StepFunctions:
    """The additive model sum_j h_j(x_j) of depth-1 trees: per feature column, the sorted split
    thresholds and the value on each interval between them (xgboost sends x < threshold left)."""

    thresholds: list[np.ndarray]
    values: list[np.ndarray]

    @classmethod
    def of_booster(cls, booster: xgb.Booster, probe: np.ndarray) -> StepFunctions | None:
        """The booster's trees as step functions, or None when a tree is deeper than one split.
        The intercept (xgboost's base score and any lone-leaf trees) is read off margins on ``probe``."""
        model = json.loads(booster.save_raw(raw_format="json").decode())
        stumps: list[list[tuple[float, float, float]]] = [[] for _ in range(probe.shape[1])]
        for tree in model["learner"]["gradient_booster"]["model"]["trees"]:
            left, right, value = tree["left_children"], tree["right_children"], tree["split_conditions"]
            if left[0] == -1:  # a lone leaf: part of the intercept
                continue
            if left[left[0]] != -1 or left[right[0]] != -1:
                return None
            stumps[tree["split_indices"][0]].append((value[0], value[left[0]], value[right[0]]))
        thresholds, values = [], []
        for splits in stumps:
            cuts = np.unique(np.array([t for t, _, _ in splits], dtype=np.float32))
            # value on interval b (b cuts at or below x): the right leaf of those, the left leaf of the rest
            value = np.zeros(len(cuts) + 1)
            for threshold, low, high in splits:
                at = np.searchsorted(cuts, np.float32(threshold)) + 1
                value[:at] += low
                value[at:] += high
            thresholds.append(cuts)
            values.append(value)
        steps = cls(thresholds, values)
        intercept = booster.inplace_predict(probe, predict_type="margin") - steps.total(probe)
        check_against(intercept - intercept.mean(), np.zeros(len(probe)), "the stumps' sum")
        steps.values[0] = steps.values[0] + intercept.mean()
        return steps

    @classmethod
    def mean(cls, members: list[StepFunctions]) -> StepFunctions:
        """The members' average, exactly: each feature's cuts are the union of theirs."""
        thresholds, values = [], []
        for j in range(len(members[0].thresholds)):
            cuts = np.unique(np.concatenate([m.thresholds[j] for m in members]))
            points = np.concatenate(([-np.inf], cuts)).astype(np.float32)  # a point of each interval
            values.append(np.mean([m.column(j, points) for m in members], axis=0))
            thresholds.append(cuts)
        return cls(thresholds, values)

    def column(self, j: int, x: np.ndarray) -> np.ndarray:
        return self.values[j][np.searchsorted(self.thresholds[j], x.astype(np.float32), side="right")]

    def total(self, x: np.ndarray, skip: frozenset[int] = frozenset()) -> np.ndarray:
        """sum_j h_j(x[:, j]) over the columns not in ``skip``."""
        return sum((self.column(j, x[:, j]) for j in range(x.shape[1]) if j not in skip), np.zeros(len(x)))


class Tabulated:
    """Every arch of a small space predicted once; ``margins`` are then lookups."""

    def __init__(self, space: SearchSpace, margins_of: Callable[[np.ndarray], np.ndarray]) -> None:
        self.sizes = tuple(int(s) for s in space.gene_sizes)
        everything = np.indices(self.sizes).reshape(len(self.sizes), -1).T
        self.table = margins_of(everything)  # (rows, archs), archs row-major over the genes

    def margins(self, genes: np.ndarray, rows: list[int]) -> np.ndarray:
        return self.table[rows][:, np.ravel_multi_index(tuple(genes.T.astype(np.intp)), self.sizes)]


def tabulable(space: SearchSpace) -> bool:
    return float(np.prod(space.gene_sizes.astype(np.float64))) <= TABULATE_LIMIT


class OFAStageTables:
    """An additive GBDT ensemble on an OFA MobileNetV3 space, compiled to per-stage tables."""

    def __init__(self, space: SearchSpace, members: list[StepFunctions],
                 features: Callable[[SearchSpace, np.ndarray], np.ndarray], cost_columns: tuple[int, int]) -> None:
        from searchspaces.ofa_mbv3 import N_STAGES, OFAMobileNetV3Space

        self.cost_columns = cost_columns
        sizes = space.gene_sizes
        stage_genes = [OFAMobileNetV3Space.stage_columns(s) for s in range(N_STAGES)]
        dims = tuple(int(sizes[g]) for g in stage_genes[0])
        configs = np.indices(dims).reshape(len(dims), -1).T
        self.n_configs = len(configs)
        # a stage's index: its genes in mixed radix, computed for all stages by one float32 product
        # (exact: every index is far below 2^24)
        radix = np.cumprod((1, *dims[:0:-1]))[::-1]
        self.radix = np.zeros((space.n_genes, N_STAGES), np.float32)
        for s, genes in enumerate(stage_genes):
            self.radix[genes, s] = radix
        self.offsets = np.arange(N_STAGES) * self.n_configs

        n_res = int(sizes[-1])
        skip = frozenset(cost_columns)
        base = np.zeros((1, space.n_genes), dtype=np.int64)
        resolutions = np.repeat(base, n_res, axis=0)
        resolutions[:, -1] = np.arange(n_res)
        base_x = features(space, base)
        res_x = features(space, resolutions)
        # margins without the cost columns: separable into stages and resolution around ``base``
        self.stage = np.zeros((len(members), N_STAGES * self.n_configs))
        self.stage_macs = np.zeros((n_res, N_STAGES * self.n_configs))
        self.stage_params = np.zeros(N_STAGES * self.n_configs)
        for s, genes in enumerate(stage_genes):
            rows = np.repeat(base, self.n_configs, axis=0)
            rows[:, genes] = configs
            x = features(space, rows)
            part = slice(s * self.n_configs, (s + 1) * self.n_configs)
            for m, steps in enumerate(members):
                self.stage[m, part] = steps.total(x, skip) - steps.total(base_x, skip)
            self.stage_params[part] = space.params(rows) - space.params(base)
            for r in range(n_res):
                rows[:, -1] = r
                self.stage_macs[r, part] = space.macs(rows) - space.macs(resolutions[r:r + 1])
        self.resolution = np.stack([steps.total(res_x, skip) for steps in members])  # (members, n_res)
        self.base_macs = space.macs(resolutions)
        self.base_params = float(space.params(base)[0])
        self.members = members

    def margins(self, genes: np.ndarray, rows: list[int]) -> np.ndarray:
        """(len(rows), archs) margins of the chosen members, as xgboost computes them from ``features``."""
        index = (genes.astype(np.float32) @ self.radix).astype(np.intp) + self.offsets
        r = genes[:, -1].astype(np.intp)
        macs = self.base_macs[r] + self.stage_macs.reshape(-1)[index + (r * self.stage_macs.shape[1])[:, None]].sum(1)
        params = self.base_params + self.stage_params[index].sum(1)
        macs_col, params_col = self.cost_columns
        macs, params = (macs / 1e6).astype(np.float32), (params / 1e6).astype(np.float32)
        return np.stack([self.stage[m][index].sum(1) + self.resolution[m][r] + self.members[m].column(macs_col, macs)
                         + self.members[m].column(params_col, params) for m in rows])


def check_against(compiled_margins: np.ndarray, xgboost_margins: np.ndarray, what: str) -> None:
    """Refuse a compilation that does not reproduce xgboost (a format change would show here)."""
    worst = float(np.abs(compiled_margins - xgboost_margins).max())
    if worst > CHECK_TOLERANCE:
        raise RuntimeError(f"{what} differs from xgboost by {worst:.2e}; please report this")
