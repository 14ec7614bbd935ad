"""Shared fixtures: the published-data folder (``$NAS_DATA_DIR``, default ``<repo>/../shared/data``)."""

from __future__ import annotations

import os
from pathlib import Path

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
