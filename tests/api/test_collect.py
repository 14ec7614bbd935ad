"""nas predictor collect on a real local Ray: subnets of a supernet measured on real CIFAR-10 images,
stored as the trials of a collect job (SQLite and PostgreSQL), read back as predictor training data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from api.app import create_app
from api.store import TrialStore
from api.tables import JobKind, JobStatus
from nas.errors import NasError
from nas.supernet.checkpoint import load_supernet, save_checkpoint
from nas.supernet.collect import CollectRequest, collect
from nas.supernet.data import load_image_dataset
from nas.supernet.elastic import ElasticMobileNetV3
from nas.supernet.evaluate import Normalize, evaluate_subnet
from predictors.data import load_training_data
from searchspaces import get_space

pytestmark = [pytest.mark.ray, pytest.mark.slow]

SPACE = get_space("ofa-mbv3-w1.0-cifar10")


@pytest.fixture(scope="module")
def supernet(cifar_small: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Untrained weights with a real checkpoint's metadata: the plumbing, not the accuracy, is tested."""
    torch.manual_seed(0)
    classes = load_image_dataset(cifar_small, 32, max_per_class=1).classes
    path = tmp_path_factory.mktemp("collect") / "supernet.pt"
    save_checkpoint(path, ElasticMobileNetV3(SPACE), {
        "space": SPACE.name, "classes": classes, "resolution": 32,
        "mean": [0.49, 0.48, 0.45], "std": [0.25, 0.24, 0.26]})
    return path


def request(supernet: Path, data: Path, **changes: object) -> CollectRequest:
    return CollectRequest(**{"supernet": str(supernet), "data": str(data), "samples": 5, "workers": 2,
                             "calibration_images": 40, "test_images": 50, **changes})


def test_every_subnet_is_stored_as_a_trial_of_a_collect_job(
        store: TrialStore, supernet: Path, cifar_small: Path, ray_runtime: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    done = []
    result = collect(request(supernet, cifar_small), store, lambda n, accuracy: done.append(n))
    assert result.status == JobStatus.succeeded and result.evaluated == 5 and done == [1, 2, 3, 4, 5]
    job = store.get_job(result.job_id)
    assert job.kind == JobKind.collect and job.status == JobStatus.succeeded and job.evaluated == 5
    trials = store.all_trials(job.id)
    assert len({t.arch_key for t in trials}) == 5
    genes = SPACE.to_genes([SPACE.from_json(t.arch) for t in trials])
    assert [t.metrics["macs"] for t in trials] == SPACE.macs(genes).astype(float).tolist()

    # the stored accuracy is what evaluating the subnet here gives
    net, checkpoint = load_supernet(supernet)
    data = load_image_dataset(cifar_small, 32)
    direct = evaluate_subnet(net, genes[0], data.train, data.test,
                             Normalize(checkpoint.meta["mean"], checkpoint.meta["std"]), 40, 50)
    assert trials[0].metrics["accuracy"] == direct

    monkeypatch.setenv("NAS_DATABASE_URL", store.url)
    rows = load_training_data(SPACE, [f"job:{job.id}"])
    assert len(rows.accuracy) == 5 and np.allclose(sorted(rows.accuracy), sorted(t.metrics["accuracy"] for t in trials))

    assert store.claim_job("a-search-worker", stale_after=0.0) is None  # never run as a search


def test_the_api_lists_a_collection_with_its_progress(
        sqlite_store: TrialStore, supernet: Path, cifar_small: Path, ray_runtime: None) -> None:
    result = collect(request(supernet, cifar_small, samples=2), sqlite_store)
    with TestClient(create_app(store=sqlite_store)) as client:
        view = client.get(f"/v1/jobs/{result.job_id}").json()
        assert view["kind"] == "collect" and view["progress"]["fraction"] == 1.0
        assert view["request"]["samples"] == 2
        assert client.get("/v1/jobs").status_code == 200
        pareto = client.get(f"/v1/jobs/{result.job_id}/pareto?metrics=accuracy,macs")
        assert pareto.status_code == 200 and pareto.json()["items"]


def test_a_cancel_request_stops_the_collection(
        sqlite_store: TrialStore, supernet: Path, cifar_small: Path, ray_runtime: None) -> None:
    def cancel_after_first(done: int, accuracy: float) -> None:
        (job,), _ = sqlite_store.list_jobs()
        sqlite_store.request_cancel(job.id)

    result = collect(request(supernet, cifar_small, samples=6), sqlite_store, cancel_after_first)
    assert result.status == JobStatus.cancelled and result.evaluated < 6
    assert sqlite_store.get_job(result.job_id).status == JobStatus.cancelled


def test_bad_input_is_refused_before_any_job_exists(
        sqlite_store: TrialStore, supernet: Path, cifar_small: Path, tmp_path: Path, ray_runtime: None) -> None:
    other = tmp_path / "other"
    (other / "train" / "dog").mkdir(parents=True)
    (other / "test" / "dog").mkdir(parents=True)
    for split in ("train", "test"):
        image = next((cifar_small / split / "dog").iterdir())
        (other / split / "dog" / image.name).write_bytes(image.read_bytes())
    with pytest.raises(NasError, match="other classes than the supernet was trained on"):
        collect(request(supernet, other), sqlite_store)
    with pytest.raises(NasError, match="8 workers need 8 CPUs; the Ray cluster has 2"):
        collect(request(supernet, cifar_small, workers=8), sqlite_store)
    with pytest.raises(NasError, match="no checkpoint at"):
        collect(request(tmp_path / "missing.pt", cifar_small), sqlite_store)
    with pytest.raises(NasError, match="recalibration needs at least 2 images"):
        collect(request(supernet, cifar_small, calibration_images=1), sqlite_store)
    assert sqlite_store.list_jobs()[1] == 0
