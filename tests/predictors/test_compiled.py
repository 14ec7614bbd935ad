"""Compiled GBDT evaluation gives xgboost's own predictions: per-stage tables for additive models on
the OFA spaces (DyNAS-T's measured accuracies), a full table for NAS-Bench-201, xgboost otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import predictors.gbdt as gbdt
from predictors.compiled import StepFunctions
from predictors.data import load_training_data
from predictors.gbdt import GBDTPredictor, features
from searchspaces import get_space


@pytest.fixture(scope="module")
def dynast(data_dir: Path):
    space = get_space("ofa-mbv3-w1.0")
    return load_training_data(space, sorted((data_dir / "ofa" / "dynast_w1.0").glob("*.csv"))[:1])


@pytest.mark.parametrize("space_name", ["ofa-mbv3-w1.0", "ofa-mbv3-w1.2", "ofa-mbv3-w1.0-cifar10"])
def test_stage_tables_equal_xgboost_on_random_archs(dynast, space_name: str) -> None:
    space = get_space(space_name)
    genes = dynast.genes.copy()
    genes[:, -1] = np.minimum(genes[:, -1], space.gene_sizes[-1] - 1)  # the space's resolutions
    predictor = GBDTPredictor(space, seed=0).fit(genes, dynast.accuracy)
    assert predictor.params["max_depth"] == 1
    archs = space.sample(3000, np.random.default_rng(1))
    rows = [*range(predictor.ensemble + 1)]
    compiled = predictor.margins(archs, rows)
    assert predictor.evaluator == "per-stage tables"
    np.testing.assert_allclose(compiled, predictor.xgboost_margins(archs), atol=1e-4)
    np.testing.assert_allclose(compiled[-1], compiled[:-1].mean(axis=0), atol=1e-6)
    assert np.ptp(compiled[-1]) > 0.05  # the model does vary with the arch


def test_deeper_trees_on_ofa_go_through_xgboost(dynast, monkeypatch: pytest.MonkeyPatch) -> None:
    space = get_space("ofa-mbv3-w1.0")
    monkeypatch.setattr(gbdt, "ADDITIVE_GRID", {"max_depth": (2,), "min_child_weight": (1,)})
    predictor = GBDTPredictor(space, seed=0).fit(dynast.genes, dynast.accuracy)
    archs = space.sample(100, np.random.default_rng(2))
    x = features(space, archs)
    expected = np.mean([m.inplace_predict(x) for m in predictor.members], axis=0)
    np.testing.assert_allclose(predictor.margins(archs, [predictor.ensemble])[0], expected, atol=1e-6)
    assert predictor.evaluator == "xgboost"
    assert StepFunctions.of_booster(predictor.members[0], x) is None


def test_nb201_is_tabulated_exactly(data_dir: Path) -> None:
    space = get_space("nb201")
    data = load_training_data(space, [data_dir / "nb201" / "nb201_test_accuracy.csv"])
    order = np.random.default_rng(0).permutation(len(data.genes))
    predictor = GBDTPredictor(space, seed=0).fit(data.genes[order[:200]], data.accuracy[order[:200]])
    archs = data.genes[order[200:1200]]
    rows = [*range(predictor.ensemble + 1)]
    np.testing.assert_allclose(predictor.margins(archs, rows), predictor.xgboost_margins(archs), atol=1e-6)
    assert predictor.evaluator == "a table of every arch"


def test_step_functions_average_exactly() -> None:
    a = StepFunctions([np.array([1.0, 3.0], np.float32)], [np.array([0.0, 1.0, 2.0])])
    b = StepFunctions([np.array([2.0], np.float32)], [np.array([10.0, 20.0])])
    mean = StepFunctions.mean([a, b])
    x = np.array([0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 9.0], np.float32)
    np.testing.assert_allclose(mean.column(0, x), (a.column(0, x) + b.column(0, x)) / 2)
    np.testing.assert_allclose(a.column(0, x), [0, 1, 1, 1, 1, 2, 2])  # x < threshold goes left
