"""Lookup tables built on this machine: a tiny build (one resolution, few passes) that the reader
accepts, resumes without re-timing, registers as a device by name, and refuses bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from predictors import latency_devices, latency_model
from predictors.latency_build import BuildSettings, build_resolution, finish_build, start_build, variant_nets
from predictors.latency_lut import LUTError, LUTLatency, net_keys
from searchspaces import get_space

from ..cli import nas

W12 = get_space("ofa-mbv3-w1.2")
ARCH_160 = {"ks": [5] * 20, "e": [4] * 20, "d": [3] * 5, "r": 160}
TINY = ("--resolutions", "160", "--repeats", "2", "--warmup", "1", "--quiet")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``$NAS_LUT_DIR/mine``: a complete table for 160 px, built by the CLI."""
    root = tmp_path_factory.mktemp("lut")
    run = nas("latency", "build-lut", "--device", "mine", *TINY, "--out", str(root / "mine"))
    assert run.returncode == 0, run.stderr
    assert "96 layers timed now" in run.stdout
    assert json.loads((root / "mine" / "lut.json").read_text())["freed_memory_kept"] is True
    return root


def test_built_table_has_every_variant_and_the_reader_accepts_it(built: Path) -> None:
    table = yaml.safe_load((built / "mine" / "160_lookup_table.yaml").read_text())
    variants = {key for spec in variant_nets(W12, 160) for key in net_keys(spec, 160)}
    assert set(table) == variants and len(variants) == 96  # 5 stages x 18 block shapes, stem, first block, 4 head
    assert all(entry["mean"] > 0 and entry["count"] >= 1 and entry["std"] >= 0 for entry in table.values())
    genes = W12.sample(50, np.random.default_rng(0))
    latency = LUTLatency(W12, "mine", built / "mine").cost(genes)
    assert np.isfinite(latency).all() and (latency > 0).all()  # other resolutions scale from 160


def test_rerun_times_nothing_and_a_lost_entry_is_the_only_one_retimed(built: Path, tmp_path: Path) -> None:
    before = (built / "mine" / "160_lookup_table.yaml").read_text()
    run = nas("latency", "build-lut", "--device", "mine", *TINY, "--out", str(built / "mine"))
    assert run.returncode == 0 and "0 layers timed now" in run.stdout, run.stderr
    assert (built / "mine" / "160_lookup_table.yaml").read_text() == before

    table = yaml.safe_load(before)  # as if a build had been killed before this entry was written
    lost = next(key for key in table if key.startswith("expanded_conv"))
    del table[lost]
    (tmp_path / "160_lookup_table.yaml").write_text(yaml.safe_dump(table))
    settings = BuildSettings(W12.name, repeats=2, warmup=1)
    start_build(tmp_path, settings)
    assert list(build_resolution(W12, 160, tmp_path, settings)) == [1]
    resumed = yaml.safe_load((tmp_path / "160_lookup_table.yaml").read_text())
    assert set(resumed) == set(yaml.safe_load(before)) and all(resumed[k] == table[k] for k in table)
    assert not list((tmp_path).glob("*.part"))


def test_a_built_table_is_a_device_for_predict_and_budgets(built: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAS_LUT_DIR", str(built))
    assert "mine" in latency_devices(W12) and "mine" not in latency_devices(get_space("ofa-mbv3-w1.0"))
    expected = latency_model(W12, "mine").cost(W12.to_genes([W12.from_json(ARCH_160)]))[0]
    run = nas("latency", "predict", "--device", "mine", "--arch", json.dumps(ARCH_160), "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["latency_ms"] == pytest.approx(expected)


def test_an_unfinished_build_is_not_a_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    start_build(tmp_path / "half", BuildSettings(W12.name))
    monkeypatch.setenv("NAS_LUT_DIR", str(tmp_path))
    assert "half" not in latency_devices(W12)
    finish_build(tmp_path / "half", BuildSettings(W12.name))
    assert "half" in latency_devices(W12)


def test_bad_input_gets_one_line_errors(built: Path, tmp_path: Path) -> None:
    cases = [
        (("--device", "note10", *TINY), "not a published device"),
        (("--device", "x", "--resolutions", "161", "--quiet"), "161 is not a resolution of ofa-mbv3-w1.2"),
        (("--device", "mine", *TINY[:-1], "--threads", "2", "--out", str(built / "mine")),
         "other settings (threads 1 -> 2)"),
    ]
    for args, message in cases:
        run = nas("latency", "build-lut", *args)
        assert run.returncode == 2 and message in run.stderr and len(run.stderr.splitlines()) == 1, run.stderr
    with pytest.raises(LUTError, match="other settings"):
        start_build(built / "mine", BuildSettings(W12.name, repeats=3, warmup=1))
