"""Shared fixtures: the published-data folder (``$NAS_DATA_DIR``, default ``<repo>/../shared/data``)."""

from __future__ import annotations

import os
import tarfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def resolve_data_dir() -> Path:
    raw = os.environ.get("NAS_DATA_DIR")
    return Path(raw).expanduser() if raw else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = resolve_data_dir()
    if not path.is_dir():
        pytest.fail(
            f"test data folder {path} does not exist: set NAS_DATA_DIR to the folder holding the "
            "published artefacts (ofa/acc_predictor_mbv3_w1.2.pth, ofa/specialized/...)",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def ofa_predictor_path(data_dir: Path) -> Path:
    path = data_dir / "ofa" / "acc_predictor_mbv3_w1.2.pth"
    if not path.is_file():
        pytest.fail(f"OFA accuracy predictor missing at {path}", pytrace=False)
    return path


# A few hundred real CIFAR-10 images in the ImageFolder layout, extracted once per session.
TRAIN_PER_CLASS, TEST_PER_CLASS = 20, 10


@pytest.fixture(scope="session")
def cifar_small(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    archive = data_dir / "images" / "cifar10_jpg.tar.gz"
    if not archive.is_file():
        pytest.fail(f"CIFAR-10 images missing at {archive}", pytrace=False)
    root = tmp_path_factory.mktemp("cifar_small")
    taken: Counter[tuple[str, str]] = Counter()
    limit = {"train": TRAIN_PER_CLASS, "test": TEST_PER_CLASS}
    with tarfile.open(archive) as tar:
        for member in tar:
            parts = PurePosixPath(member.name).parts
            if member.isfile() and len(parts) == 3 and parts[0] in limit and taken[parts[:2]] < limit[parts[0]]:
                taken[parts[:2]] += 1
                target = root.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(tar.extractfile(member).read())
    return root


@pytest.fixture(scope="module")
def ray_runtime() -> Iterator[None]:
    """A real local Ray runtime of two CPUs and no GPU (on a GPU machine too) for the tests of one module."""
    import ray

    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()
