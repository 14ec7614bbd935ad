"""OFA lookup-table latency on the published Note10 tables: vectorized batches, whole networks, scaling,
refusals, the CLI and latency budgets in a search."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from predictors.latency_lut import LUTError, LUTLatency, net_keys
from searchspaces import get_space

from ..cli import nas

W12 = get_space("ofa-mbv3-w1.2")
LARGEST = {"ks": [7] * 20, "e": [6] * 20, "d": [4] * 5, "r": 224}
SMALLEST = {"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5, "r": 160}


@pytest.fixture(scope="module")
def lut_dir(data_dir: Path) -> Path:
    return data_dir / "ofa" / "note10_lut"


@pytest.fixture(scope="module")
def note10(lut_dir: Path) -> LUTLatency:
    return LUTLatency(W12, "note10", lut_dir)


def _genes(*archs: dict) -> np.ndarray:
    return W12.to_genes([W12.from_json(a) for a in archs])


def test_batch_equals_layer_by_layer_sum_of_the_yaml(note10: LUTLatency, lut_dir: Path) -> None:
    genes = W12.sample(40, np.random.default_rng(0))
    batch = note10.cost(genes)
    for row, latency in zip(genes, batch):
        arch = W12.to_arch(row)
        resolution = W12.resolution(arch)
        table = yaml.safe_load((lut_dir / f"{resolution}_lookup_table.yaml").read_text())
        keys = net_keys(W12.net_spec(arch), resolution)
        assert len(keys) == 1 + 1 + int(np.asarray(W12.to_json(arch)["d"]).sum()) + 4  # stem, first, blocks, head
        assert latency == pytest.approx(sum(table[k]["mean"] for k in keys), rel=1e-12)


def test_bigger_subnets_are_slower(note10: LUTLatency) -> None:
    largest, smallest = note10.cost(_genes(LARGEST, SMALLEST))
    assert 5 < smallest < 15 < 60 < largest < 150
    wider = note10.cost(_genes({**SMALLEST, "e": [6] * 20}, {**SMALLEST, "ks": [7] * 20}))
    assert (wider > smallest).all()


def test_resolutions_without_a_table_scale_by_pixels(lut_dir: Path, tmp_path: Path) -> None:
    shutil.copy(lut_dir / "224_lookup_table.yaml", tmp_path)
    only_224 = LUTLatency(W12, "note10", tmp_path)
    at_224, at_200 = only_224.cost(_genes(LARGEST, {**LARGEST, "r": 200}))
    assert at_200 == pytest.approx(at_224 * (200 / 224) ** 2)


def test_tables_of_another_network_are_refused(lut_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(LUTError, match="does not time this network"):
        LUTLatency(get_space("ofa-mbv3-w1.0"), "note10", lut_dir).cost(W12.sample(1, np.random.default_rng(0)))
    with pytest.raises(LUTError, match="no lookup tables"):
        LUTLatency(W12, "note10", tmp_path)
    (tmp_path / "224_lookup_table.yaml").write_text("just: text\n")
    with pytest.raises(LUTError, match="not an OFA lookup table"):
        LUTLatency(W12, "note10", tmp_path).cost(_genes(LARGEST))



def test_cli_predicts_arch_and_net_config(note10: LUTLatency, data_dir: Path) -> None:
    run = nas("latency", "predict", "--device", "note10", "--arch", json.dumps(LARGEST), "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["latency_ms"] == pytest.approx(note10.cost(_genes(LARGEST))[0])
    config = data_dir / "ofa" / "specialized" / "flops-389M_top1-79.1_finetune-75" / "net.config"
    run = nas("latency", "predict", "--config", str(config), "--resolution", "224", "--json")
    assert run.returncode == 0, run.stderr
    assert 10 < json.loads(run.stdout)["latency_ms"] < 100
    bad = nas("latency", "predict", "--device", "pixel1", "--arch", json.dumps(LARGEST))
    assert bad.returncode == 2 and "no tables for device 'pixel1'" in bad.stderr


def test_search_under_a_note10_latency_budget(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    run = nas("search", "--budget", "25ms-latency@note10", "--budget", "600M-MACs", "--time-limit", "1", "--quiet",
              "--json", str(out))
    assert run.returncode == 0, run.stderr
    pareto = json.loads(out.read_text())["pareto"]
    assert pareto and all(t["metrics"]["latency@note10"] <= 25 and t["metrics"]["macs"] <= 600e6 for t in pareto)
    assert max(t["metrics"]["latency@note10"] for t in pareto) > 20  # the search uses the budget


def test_cli_measures_a_subnet_here() -> None:
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    run = nas("latency", "measure", "--space", "nb201", "--arch", json.dumps(arch), "--threads", "1",
              "--warmup", "1", "--repeats", "3", "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["latency_ms"] > 0 and result["p90_ms"] >= result["latency_ms"]
    assert (result["threads"], result["repeats"], result["resolution"], result["device"]) == (1, 3, 32, "cpu")


def test_cpu_i7_table_covers_both_widths_and_sums_its_own_keys(data_dir: Path) -> None:
    from predictors import latency_devices, latency_model
    from predictors.latency_lut import NSGANetV2Keys

    table = yaml.load((data_dir / "ofa" / "cpu_i7-8700K_lut.yaml").read_text(), Loader=yaml.CSafeLoader)
    for space in (W12, get_space("ofa-mbv3-w1.0")):
        assert "cpu_i7" in latency_devices(space)
        genes = space.sample(20, np.random.default_rng(1))
        batch = latency_model(space, "cpu_i7").cost(genes)
        for row, latency in zip(genes[:5], batch[:5]):
            arch = space.to_arch(row)
            keys = net_keys(space.net_spec(arch), space.resolution(arch), keys=NSGANetV2Keys)
            assert latency == pytest.approx(sum(table[k]["mean"] for k in keys), rel=1e-12)
        assert (batch > 3).all() and (batch < 60).all()


def test_search_under_a_cpu_i7_latency_budget(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    run = nas("search", "--space", "ofa-mbv3-w1.0", "--budget", "15ms-latency@cpu_i7", "--time-limit", "1",
              "--quiet", "--json", str(out))
    assert run.returncode == 0, run.stderr
    pareto = json.loads(out.read_text())["pareto"]
    assert pareto and all(t["metrics"]["latency@cpu_i7"] <= 15 for t in pareto)
    run = nas("latency", "predict", "--device", "cpu_i7", "--space", "ofa-mbv3-w1.0", "--arch", json.dumps(LARGEST))
    assert run.returncode == 0 and run.stdout.endswith("ms on cpu_i7\n"), run.stderr
