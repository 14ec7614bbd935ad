"""GBDT predictor: real ranking quality on NAS-Bench-201, uncertainty, the portable file and its checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import kendalltau

from predictors.data import load_training_data
from predictors.evaluation import rank_metrics
from predictors.files import PredictorFileError
from predictors.gbdt import GBDTPredictor
from searchspaces import get_space

NB201 = get_space("nb201")


@pytest.fixture(scope="module")
def nb201(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    data = load_training_data(NB201, [data_dir / "nb201" / "nb201_test_accuracy.csv"])
    return data.genes, data.accuracy


@pytest.fixture(scope="module")
def fitted(nb201: tuple[np.ndarray, np.ndarray]) -> tuple[GBDTPredictor, np.ndarray]:
    genes, accuracy = nb201
    order = np.random.default_rng(0).permutation(len(genes))
    return GBDTPredictor(NB201, seed=0).fit(genes[order[:300]], accuracy[order[:300]]), order[300:]


def test_ranks_unseen_archs_well(fitted: tuple[GBDTPredictor, np.ndarray],
                                 nb201: tuple[np.ndarray, np.ndarray]) -> None:
    predictor, test = fitted
    genes, accuracy = nb201
    tau = kendalltau(predictor.predict(genes[test]), accuracy[test])[0]
    assert tau > 0.6  # 300 training archs; an untuned xgboost on one-hot features gets ~0.55
    assert predictor.params["max_depth"] in (4, 6) and predictor.rounds > 0


def test_uncertainty_and_predictions_are_accuracies(fitted: tuple[GBDTPredictor, np.ndarray],
                                                    nb201: tuple[np.ndarray, np.ndarray]) -> None:
    predictor, test = fitted
    mean, std = predictor.predict_std(nb201[0][test[:500]])
    assert ((mean > 0) & (mean < 1)).all() and (std >= 0).all() and std.max() > 0
    assert np.array_equal(mean, predictor.predict(nb201[0][test[:500]]))


def test_file_round_trip_and_refusals(fitted: tuple[GBDTPredictor, np.ndarray], nb201: tuple[np.ndarray, np.ndarray],
                                      tmp_path: Path) -> None:
    predictor, test = fitted
    path = tmp_path / "gbdt.json"
    predictor.save(path)
    loaded = GBDTPredictor.load(path, NB201)
    assert np.array_equal(loaded.predict(nb201[0][test]), predictor.predict(nb201[0][test]))
    with pytest.raises(PredictorFileError, match=r"not 'ofa-mbv3-w1\.2'"):
        GBDTPredictor.load(path, get_space("ofa-mbv3-w1.2"))
    document = json.loads(path.read_text())
    (tmp_path / "old.json").write_text(json.dumps({**document, "feature_schema": 0}))
    with pytest.raises(PredictorFileError, match="feature schema"):
        GBDTPredictor.load(tmp_path / "old.json", NB201)
    (tmp_path / "junk.json").write_text("not json")
    with pytest.raises(PredictorFileError, match="not a JSON predictor file"):
        GBDTPredictor.load(tmp_path / "junk.json", NB201)


def test_too_few_rows_are_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        GBDTPredictor(NB201).fit(NB201.all_genes()[:3], np.array([0.5, 0.6, 0.7]))


def test_rank_metrics_on_known_cases() -> None:
    measured = np.array([0.1, 0.2, 0.3, 0.4])
    perfect = rank_metrics(measured * 2, measured, top_k=2)
    assert perfect["kendall_tau"] == pytest.approx(1) and perfect["top2_recall"] == 1.0
    reversed_ = rank_metrics(-measured, measured, top_k=2)
    assert reversed_["kendall_tau"] == pytest.approx(-1) and reversed_["top2_recall"] == 0.0
    assert rank_metrics(measured + 0.1, measured)["rmse"] == pytest.approx(0.1)
