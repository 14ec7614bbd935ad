"""A few hundred real CIFAR-10 images in the ImageFolder layout, extracted once per session."""

from __future__ import annotations

import tarfile
from collections import Counter
from pathlib import Path, PurePosixPath

import pytest

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
