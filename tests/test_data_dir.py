"""The ``data_dir`` fixture's resolution: ``$NAS_DATA_DIR`` or ``<repo>/../shared/data``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, resolve_data_dir


def test_env_var_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NAS_DATA_DIR", str(tmp_path))
    assert resolve_data_dir() == tmp_path


def test_default_is_beside_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NAS_DATA_DIR", raising=False)
    assert resolve_data_dir() == REPO_ROOT.parent / "shared" / "data"


def test_data_dir_holds_the_published_artefacts(data_dir: Path) -> None:
    assert (data_dir / "ofa" / "acc_predictor_mbv3_w1.2.pth").is_file()
    assert len(list((data_dir / "ofa" / "specialized").glob("*/net.config"))) == 3
