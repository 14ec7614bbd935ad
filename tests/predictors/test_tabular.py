"""NAS-Bench-201 table lookups: accuracy predictor and latency cost model against the published CSVs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import searchspaces
from nas.budgets import parse_budget
from nas.problem import Problem
from predictors import PREDICTORS
from predictors.costs import MacsCost
from predictors.tabular import TableError, TabularAccuracy, TabularLatency
from searchspaces.nb201 import N_ARCHS, NB201Space

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
ROW_1 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


@pytest.fixture(scope="module")
def space() -> NB201Space:
    found = searchspaces.get_space("nb201")
    assert isinstance(found, NB201Space)
    return found


@pytest.fixture(scope="module")
def accuracy_csv(data_dir: Path) -> Path:
    return data_dir / "nb201" / "nb201_test_accuracy.csv"


@pytest.fixture(scope="module")
def latency_csv(data_dir: Path) -> Path:
    return data_dir / "nb201" / "help_latency_27devices.csv"


@pytest.fixture(scope="module")
def accuracy(space: NB201Space, accuracy_csv: Path) -> TabularAccuracy:
    return TabularAccuracy(space, accuracy_csv)


@pytest.fixture(scope="module")
def pixel3(space: NB201Space, latency_csv: Path) -> TabularLatency:
    return TabularLatency(space, latency_csv, "pixel3")


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def genes_of(space: NB201Space, strings: list[str]) -> np.ndarray:
    return np.array([space.from_json(s).genes for s in strings], dtype=np.int16)


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


# -- accuracy ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("column", ["CIFAR10TestAccuracy200Epochs", "CIFAR100TestAccuracy200Epochs"])
def test_accuracy_lookups_equal_the_csv(space: NB201Space, accuracy_csv: Path, column: str) -> None:
    rows = read_rows(accuracy_csv)
    picked = [rows[i] for i in np.random.default_rng(3).choice(len(rows), 300, replace=False)]
    predictor = TabularAccuracy(space, accuracy_csv, column=column)
    predicted = predictor.predict(genes_of(space, [r["ArchitectureString"] for r in picked]))
    assert predicted.dtype == np.float64
    assert np.allclose(predicted, [float(r[column]) / 100 for r in picked], rtol=0, atol=1e-12)


def test_best_cifar10_accuracy(space: NB201Space, accuracy: TabularAccuracy) -> None:
    everything = accuracy.predict(space.all_genes())
    assert round(float(everything.max()) * 100, 3) == 94.373
    best = [space.to_json(space.to_arch(row)) for row in space.all_genes()[everything == everything.max()]]
    assert BEST in best and len(best) == 2  # two archs tie
    assert not np.isnan(everything).any() and len(everything) == N_ARCHS


def test_registered_predictor(space: NB201Space, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAS_DATA_DIR", str(data_dir))
    info = PREDICTORS["nb201-cifar10"]
    assert info.spaces == ("nb201",)
    predictor = info.load(space)
    assert predictor.name == "nb201-cifar10"
    assert round(float(predictor.predict(genes_of(space, [BEST]))[0]) * 100, 3) == 94.373


# -- latency ----------------------------------------------------------------------------------------
def test_latency_of_known_rows(space: NB201Space, latency_csv: Path, pixel3: TabularLatency) -> None:
    assert pixel3.metric == "latency@pixel3"
    assert pixel3.cost(genes_of(space, [ROW_1])).tolist() == [17.2381]
    gpu = TabularLatency(space, latency_csv, "1080ti_1")
    assert gpu.metric == "latency@1080ti_1"
    assert gpu.cost(genes_of(space, [ROW_1])).tolist() == [12.900347709655762]


def test_latency_lookups_equal_the_csv(space: NB201Space, latency_csv: Path, pixel3: TabularLatency) -> None:
    rows = read_rows(latency_csv)
    picked = [rows[i] for i in np.random.default_rng(5).choice(len(rows), 300, replace=False)]
    costs = pixel3.cost(genes_of(space, [r["arch_str"] for r in picked]))
    assert costs.tolist() == [float(r["pixel3_ms"]) for r in picked]


def test_unknown_device_lists_the_available_ones(space: NB201Space, latency_csv: Path) -> None:
    with pytest.raises(ValueError, match=r"no latency for device 'note10'.*available: 1080ti_1, .*pixel3, .*raspi4"):
        TabularLatency(space, latency_csv, "note10")
    with pytest.raises(ValueError, match="available"):
        TabularLatency(space, latency_csv, "pixel3_ms")


def test_latency_budget_in_a_problem(space: NB201Space, accuracy: TabularAccuracy, pixel3: TabularLatency) -> None:
    problem = Problem(space, accuracy, (MacsCost(space), pixel3), (parse_budget("10ms-latency@pixel3"),))
    genes = space.sample(200, np.random.default_rng(0))
    metrics = problem.evaluate(genes)
    assert set(metrics) == {"accuracy", "macs", "latency@pixel3"}
    assert np.array_equal(problem.feasible(genes), metrics["latency@pixel3"] <= 10)


# -- bad tables -------------------------------------------------------------------------------------
def test_wrong_space_is_rejected(accuracy_csv: Path) -> None:
    with pytest.raises(ValueError, match=r"nb201 space, not ofa-mbv3-w1\.0"):
        TabularAccuracy(searchspaces.get_space("ofa-mbv3-w1.0"), accuracy_csv)


def test_missing_column(space: NB201Space, accuracy_csv: Path, tmp_path: Path) -> None:
    with pytest.raises(TableError, match=r"no column CIFAR10Top1.*CIFAR10TestAccuracy200Epochs"):
        TabularAccuracy(space, accuracy_csv, column="CIFAR10Top1")
    table = write_csv(tmp_path / "t.csv", ["arch", "CIFAR10TestAccuracy200Epochs"], [[BEST, 94.0]])
    with pytest.raises(TableError, match="no column ArchitectureString or arch_str"):
        TabularAccuracy(space, table)


@pytest.mark.parametrize(("rows", "message"), [
    ([["|nor_conv_3x3~0|", 1.0]], "not a NAS-Bench-201 table: nb201 arch .* 3 nodes"),
    ([[BEST, "ninety"]], "not a NAS-Bench-201 table: could not convert"),
    ([[BEST, 94.0], [BEST, 93.0]], "more than once"),
    ([[BEST]], "line 2 has fewer fields"),
    ([], "no rows"),
])
def test_malformed_tables(space: NB201Space, tmp_path: Path, rows: list[list[object]], message: str) -> None:
    table = write_csv(tmp_path / "t.csv", ["ArchitectureString", "CIFAR10TestAccuracy200Epochs"], rows)
    with pytest.raises(TableError, match=message):
        TabularAccuracy(space, table)


def test_unreadable_tables(space: NB201Space, tmp_path: Path) -> None:
    with pytest.raises(TableError, match="cannot read table"):
        TabularAccuracy(space, tmp_path / "absent.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(TableError, match="is empty"):
        TabularAccuracy(space, tmp_path / "empty.csv")
    (tmp_path / "binary.csv").write_bytes(b"ArchitectureString,acc\n\xff\xfe\x00")
    with pytest.raises(TableError, match="cannot read table"):
        TabularAccuracy(space, tmp_path / "binary.csv", column="acc")


def test_missing_archs_are_named(space: NB201Space, tmp_path: Path) -> None:
    table = write_csv(tmp_path / "t.csv", ["ArchitectureString", "acc"], [[BEST, 94.4], [ROW_1, 93.7]])
    predictor = TabularAccuracy(space, table, column="acc")
    assert np.allclose(predictor.predict(genes_of(space, [ROW_1, BEST])), [0.937, 0.944])
    with pytest.raises(TableError, match=r"2 arch\(s\) have no acc value in .*, e\.g\. \|none~0\|"):
        predictor.predict(np.vstack([genes_of(space, [BEST]), np.zeros((2, 6), dtype=np.int16)]))


def test_quoted_csv(space: NB201Space, tmp_path: Path) -> None:
    table = tmp_path / "quoted.csv"
    table.write_text(f'"ArchitectureString","acc"\n"{BEST}","94.5"\n')
    predictor = TabularAccuracy(space, table, column="acc", percent=False)
    assert predictor.predict(genes_of(space, [BEST])).tolist() == [94.5]
