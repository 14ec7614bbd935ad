"""MLP predictors on real measurements: fine-tuning OFA's predictor, proxy pretraining, the portable file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import kendalltau

from predictors import PREDICTORS, register_predictor_dir
from predictors.data import load_training_data
from predictors.files import PredictorFileError, load_predictor_file
from predictors.mlp import MLPPredictor, OFAFinetunePredictor, ProxyPretrainedMLP
from predictors.ofa_mlp import OFAAccuracyPredictor
from searchspaces import get_space

W10, NB201 = get_space("ofa-mbv3-w1.0"), get_space("nb201")


@pytest.fixture(scope="module")
def dynast(data_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    files = sorted((data_dir / "ofa" / "dynast_w1.0").glob("*.csv"))
    return {f.name: (lambda d: (d.genes, d.accuracy))(load_training_data(W10, [f])) for f in files}


@pytest.fixture(scope="module")
def nb201(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    data = load_training_data(NB201, [data_dir / "nb201" / "nb201_test_accuracy.csv"])
    return data.genes, data.accuracy


@pytest.fixture(scope="module")
def finetuned(dynast: dict[str, tuple[np.ndarray, np.ndarray]]) -> OFAFinetunePredictor:
    parts = [dynast[name] for name in ("mbnv3w10_evoga_acc.csv", "mbnv3w10_linasnsga2_acc_macs.csv")]
    genes, accuracy = (np.concatenate(columns) for columns in zip(*parts))
    return OFAFinetunePredictor(W10, seed=0).fit(genes, accuracy)


def tau(predictor: object, genes: np.ndarray, accuracy: np.ndarray) -> float:
    return float(kendalltau(predictor.predict(genes), accuracy)[0])  # type: ignore[attr-defined]


def test_finetuning_ranks_a_held_out_search_better_than_ofa(finetuned: OFAFinetunePredictor,
                                                            dynast: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    genes, accuracy = dynast["mbnv3w10_linasga_acc.csv"]  # another search's subnets, never trained on
    before, after = tau(OFAAccuracyPredictor(W10), genes, accuracy), tau(finetuned, genes, accuracy)
    assert after > before + 0.01, (before, after)
    assert abs(np.mean(finetuned.predict(genes)) - np.mean(accuracy)) < 0.01  # recalibrated to w1.0's level


def test_file_round_trip_and_refusals(finetuned: OFAFinetunePredictor, dynast: dict[str, tuple[np.ndarray, np.ndarray]],
                                      tmp_path: Path) -> None:
    genes = dynast["mbnv3w10_evonsga2_acc_macs.csv"][0]
    path = tmp_path / "w10.json"
    finetuned.save(path)
    loaded = load_predictor_file(path, W10)
    assert isinstance(loaded, OFAFinetunePredictor)
    assert np.array_equal(loaded.predict(genes), finetuned.predict(genes))
    document = json.loads(path.read_text())
    assert (document["format"], document["kind"], document["space"]) == ("nas-mlp", "ofa-finetune", "ofa-mbv3-w1.0")
    with pytest.raises(PredictorFileError, match=r"predicts for space 'ofa-mbv3-w1\.0', not 'ofa-mbv3-w1\.2'"):
        MLPPredictor.load(path, get_space("ofa-mbv3-w1.2"))
    (tmp_path / "old.json").write_text(json.dumps({**document, "feature_schema": 0}))
    with pytest.raises(PredictorFileError, match="feature schema"):
        load_predictor_file(tmp_path / "old.json", W10)
    (tmp_path / "odd.json").write_text(json.dumps({**document, "kind": "tree"}))
    with pytest.raises(PredictorFileError, match="kind 'tree'"):
        load_predictor_file(tmp_path / "odd.json", W10)


def test_predictor_dir_offers_the_file_by_name(finetuned: OFAFinetunePredictor, tmp_path: Path) -> None:
    finetuned.save(tmp_path / "w10-finetuned.json")
    register_predictor_dir(tmp_path)
    info = PREDICTORS.pop("w10-finetuned")
    assert info.spaces == ("ofa-mbv3-w1.0",) and info.description.startswith("ofa-finetune fitted on")
    assert isinstance(info.load(W10), OFAFinetunePredictor)


def test_proxy_pretraining_helps_with_few_measured_archs(nb201: tuple[np.ndarray, np.ndarray]) -> None:
    genes, accuracy = nb201
    order = np.random.default_rng(1).permutation(len(genes))
    train, test = order[:100], order[100:5100]
    pretrained = ProxyPretrainedMLP(NB201, seed=1).fit(genes[train], accuracy[train])
    plain = ProxyPretrainedMLP(NB201, seed=1, proxy_archs=0).fit(genes[train], accuracy[train])
    with_proxies, without = tau(pretrained, genes[test], accuracy[test]), tau(plain, genes[test], accuracy[test])
    assert with_proxies > 0.55 and with_proxies > without + 0.03, (with_proxies, without)
    predictions = pretrained.predict(genes[test])
    assert ((predictions > 0) & (predictions < 1)).all()
    assert np.array_equal(ProxyPretrainedMLP(NB201, seed=1).fit(genes[train], accuracy[train]).predict(genes[test]),
                          predictions)  # seeded: the same fit twice


def test_mlp_on_ofa_measurements(dynast: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    genes, accuracy = dynast["mbnv3w10_linasnsga2_acc_macs.csv"]
    predictor = ProxyPretrainedMLP(W10, seed=0).fit(genes[:300], accuracy[:300])
    assert predictor.evaluation["proxy_archs"] == 10_000 and predictor.evaluation["pretrain_epochs"] > 0
    assert tau(predictor, genes[300:], accuracy[300:]) > 0.5


def test_unusable_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match=r"112\.\.224 px, not nb201"):
        OFAFinetunePredictor(NB201)
    with pytest.raises(ValueError, match="at least 5"):
        ProxyPretrainedMLP(NB201).fit(NB201.all_genes()[:3], np.array([0.5, 0.6, 0.7]))
    with pytest.raises(ValueError, match="not fitted"):
        ProxyPretrainedMLP(NB201).predict(NB201.all_genes()[:3])


def test_mlp_learns_ofa_predictions_on_the_w12_space(ofa_predictor_path: Path) -> None:
    """w1.2 has no measured accuracies here: OFA's published predictor stands in as the teacher."""
    w12 = get_space("ofa-mbv3-w1.2")
    genes = w12.sample(700, np.random.default_rng(5))
    teacher = OFAAccuracyPredictor(w12, ofa_predictor_path).predict(genes)
    student = ProxyPretrainedMLP(w12, seed=0).fit(genes[:200], teacher[:200])
    assert float(kendalltau(student.predict(genes[200:]), teacher[200:])[0]) > 0.6
