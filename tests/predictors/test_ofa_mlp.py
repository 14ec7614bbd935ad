"""OFA's published accuracy predictor: its 128-d encoding, its predictions, bad checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import searchspaces
from nas.artifacts import ArtifactError, locate
from predictors.ofa_mlp import OFA_PREDICTOR, OFAAccuracyPredictor
from searchspaces.ofa_mbv3 import EXPANDS, KERNELS, OFAMobileNetV3Space

SPACE_NAMES = ("ofa-mbv3-w1.0", "ofa-mbv3-w1.2")


def space_of(name: str) -> OFAMobileNetV3Space:
    space = searchspaces.get_space(name)
    assert isinstance(space, OFAMobileNetV3Space)
    return space


@pytest.fixture(scope="module")
def w12() -> OFAMobileNetV3Space:
    return space_of("ofa-mbv3-w1.2")


@pytest.fixture(scope="module")
def predictor(w12: OFAMobileNetV3Space, ofa_predictor_path: Path) -> OFAAccuracyPredictor:
    return OFAAccuracyPredictor(w12, path=ofa_predictor_path)


def reference_features(arch: dict) -> np.ndarray:
    """OFA's encoding written out for one arch dict: kernel one-hots, expand one-hots, resolution one-hot."""
    features = np.zeros(128, dtype=np.float32)
    for stage, depth in enumerate(arch["d"]):
        for j in range(depth):
            slot = 4 * stage + j
            features[3 * slot + KERNELS.index(arch["ks"][slot])] = 1.0
            features[60 + 3 * slot + EXPANDS.index(arch["e"][slot])] = 1.0
    features[120 + (arch["r"] - 112) // 16] = 1.0
    return features


@pytest.mark.parametrize("name", SPACE_NAMES)
def test_features_match_reference_loop(name: str, ofa_predictor_path: Path) -> None:
    space = space_of(name)
    predictor = OFAAccuracyPredictor(space, path=ofa_predictor_path)
    genes = space.sample(300, np.random.default_rng(17))
    expected = np.stack([reference_features(space.to_json(space.to_arch(row))) for row in genes])
    features = predictor.features(genes)
    assert features.shape == (300, 128)
    assert features.dtype == np.float32
    np.testing.assert_array_equal(features, expected)


def test_features_cover_every_resolution(predictor: OFAAccuracyPredictor, w12: OFAMobileNetV3Space) -> None:
    genes = np.repeat(w12.sample(1, np.random.default_rng(0)), len(w12.resolutions), axis=0)
    genes[:, -1] = np.arange(len(w12.resolutions))
    columns = predictor.features(genes)[:, 120:].argmax(1)
    assert columns.tolist() == [(r - 112) // 16 for r in w12.resolutions]
    assert columns[0] == 3 and columns[-1] == 7  # 160 px and 224 px


def test_unused_blocks_encode_as_zero(predictor: OFAAccuracyPredictor, w12: OFAMobileNetV3Space) -> None:
    arch = w12.from_json({"ks": [7] * 20, "e": [6] * 20, "d": [2] * 5, "r": 224})
    features = predictor.features(w12.to_genes([arch]))[0]
    for stage in range(5):
        for j in (2, 3):
            slot = 4 * stage + j
            assert features[3 * slot:3 * slot + 3].sum() == 0
            assert features[60 + 3 * slot:60 + 3 * slot + 3].sum() == 0
    assert features.sum() == 2 * 10 + 1


def test_features_of_non_canonical_rows_ignore_unused_slots(
    predictor: OFAAccuracyPredictor, w12: OFAMobileNetV3Space
) -> None:
    raw = np.random.default_rng(5).integers(0, w12.gene_sizes, size=(50, w12.n_genes)).astype(np.int16)
    np.testing.assert_array_equal(predictor.features(raw), predictor.features(w12.canonical(raw)))


def test_predictions_are_plausible_accuracies(predictor: OFAAccuracyPredictor, w12: OFAMobileNetV3Space) -> None:
    predictions = predictor.predict(w12.sample(2000, np.random.default_rng(1)))
    assert predictions.shape == (2000,)
    assert ((predictions > 0.6) & (predictions < 0.95)).all()
    assert predictions.std() > 1e-3  # not a constant


def test_largest_subnet_predicted_better_than_smallest(
    predictor: OFAAccuracyPredictor, w12: OFAMobileNetV3Space
) -> None:
    largest = w12.from_json({"ks": [7] * 20, "e": [6] * 20, "d": [4] * 5, "r": 224})
    smallest = w12.from_json({"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5, "r": 160})
    high, low = predictor.predict(w12.to_genes([largest, smallest]))
    assert high > low + 0.02


def test_batched_prediction_equals_row_by_row(ofa_predictor_path: Path, w12: OFAMobileNetV3Space) -> None:
    genes = w12.sample(40, np.random.default_rng(2))
    batched = OFAAccuracyPredictor(w12, path=ofa_predictor_path).predict(genes)
    small_batches = OFAAccuracyPredictor(w12, path=ofa_predictor_path, batch_size=7).predict(genes)
    single = OFAAccuracyPredictor(w12, path=ofa_predictor_path)
    one_by_one = np.array([single.predict(row[None, :])[0] for row in genes])
    np.testing.assert_allclose(batched, one_by_one, rtol=0, atol=1e-6)
    np.testing.assert_allclose(batched, small_batches, rtol=0, atol=1e-6)


def test_prediction_of_empty_batch(predictor: OFAAccuracyPredictor, w12: OFAMobileNetV3Space) -> None:
    assert predictor.predict(np.empty((0, w12.n_genes), dtype=np.int16)).shape == (0,)


def test_prediction_is_deterministic(predictor: OFAAccuracyPredictor, w12: OFAMobileNetV3Space) -> None:
    genes = w12.sample(100, np.random.default_rng(3))
    np.testing.assert_array_equal(predictor.predict(genes), predictor.predict(genes))


def test_non_checkpoint_file_raises_artifact_error(tmp_path: Path, w12: OFAMobileNetV3Space) -> None:
    path = tmp_path / "predictor.pth"
    path.write_text("this is not a checkpoint\n")
    with pytest.raises(ArtifactError, match=r"predictor\.pth"):
        OFAAccuracyPredictor(w12, path=path)


def test_missing_file_raises_artifact_error(tmp_path: Path, w12: OFAMobileNetV3Space) -> None:
    with pytest.raises(ArtifactError, match=r"absent\.pth"):
        OFAAccuracyPredictor(w12, path=tmp_path / "absent.pth")


def test_checkpoint_of_other_shape_raises_artifact_error(tmp_path: Path, w12: OFAMobileNetV3Space) -> None:
    path = tmp_path / "other.pth"
    torch.save(torch.nn.Linear(128, 1).state_dict(), path)
    with pytest.raises(ArtifactError, match=r"other\.pth"):
        OFAAccuracyPredictor(w12, path=path)


def test_pickled_object_is_refused(tmp_path: Path, w12: OFAMobileNetV3Space) -> None:
    path = tmp_path / "pickled.pth"
    torch.save({"model": torch.nn.Linear(128, 1)}, path)  # needs weights_only=False to load
    with pytest.raises(ArtifactError):
        OFAAccuracyPredictor(w12, path=path)


def test_state_dict_wrapped_under_key_loads(tmp_path: Path, ofa_predictor_path: Path, w12: OFAMobileNetV3Space) -> None:
    state = torch.load(ofa_predictor_path, map_location="cpu", weights_only=True)
    path = tmp_path / "wrapped.pth"
    torch.save({"state_dict": state}, path)
    genes = w12.sample(10, np.random.default_rng(4))
    wrapped = OFAAccuracyPredictor(w12, path=path).predict(genes)
    np.testing.assert_array_equal(wrapped, OFAAccuracyPredictor(w12, path=ofa_predictor_path).predict(genes))


def test_default_path_honours_nas_data_dir(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, w12: OFAMobileNetV3Space
) -> None:
    monkeypatch.setenv("NAS_DATA_DIR", str(data_dir))
    assert OFAAccuracyPredictor(w12).path == data_dir / OFA_PREDICTOR.relative_path


def test_locate_without_download_names_nas_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NAS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("NAS_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ArtifactError, match="NAS_DATA_DIR"):
        locate(OFA_PREDICTOR, download=False)
