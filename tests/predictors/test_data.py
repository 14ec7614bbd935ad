"""Training-data import: the published DyNAS-T and NAS-Bench-201 files, generic CSV/JSONL, stored jobs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from api.store import TrialRow, TrialStore
from predictors.data import DataError, load_training_data, read_archs
from searchspaces import get_space

W10 = get_space("ofa-mbv3-w1.0")
ARCH = {"ks": [3] * 20, "e": [4] * 20, "d": [2, 3, 4, 2, 3], "r": 224}


def test_dynast_files_load_with_duplicates_averaged(data_dir: Path) -> None:
    files = sorted((data_dir / "ofa" / "dynast_w1.0").glob("*.csv"))
    data = load_training_data(W10, files)
    rows = sum(1 for f in files for _ in csv.DictReader(f.open()))
    assert data.rows == rows and not data.rejected
    assert data.duplicates > 0 and len(data.genes) == rows - data.duplicates
    assert len(np.unique(data.genes, axis=0)) == len(data.genes)
    assert 0.70 < data.accuracy.min() < data.accuracy.max() < 0.78  # percent became fractions


def test_duplicates_are_averaged_and_bad_rows_reported(tmp_path: Path) -> None:
    source = tmp_path / "rows.jsonl"
    other = {**ARCH, "d": [4, 4, 4, 4, 4]}
    lines = [{"arch": ARCH, "metrics": {"accuracy": 0.70}}, {"arch": ARCH, "metrics": {"accuracy": 0.74}},
             {"arch": other, "metrics": {"accuracy": 0.8}}, {"arch": {**ARCH, "r": 999}, "metrics": {"accuracy": 0.7}},
             {"arch": other, "metrics": {"accuracy": 75.0}}, {"arch": other}]
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\n{broken\n")
    data = load_training_data(W10, [source])
    assert (data.rows, len(data.genes), data.duplicates) == (3, 2, 1)
    by_arch = dict(zip(map(tuple, data.genes), data.accuracy))
    assert by_arch[W10.from_json(ARCH).genes] == pytest.approx(0.72)
    reasons = {r.row: r.reason for r in data.rejected}
    assert set(reasons) == {4, 5, 6, 7}
    assert "not a ofa-mbv3-w1.0 arch" in reasons[4] and "fraction" in reasons[5]
    assert "not a number" in reasons[6] and "not JSON" in reasons[7]
    assert "3 rows read, 2 distinct archs (1 duplicates averaged), 4 rejected" in data.report()


def test_nb201_results_file_loads_every_arch(data_dir: Path) -> None:
    data = load_training_data(get_space("nb201"), [data_dir / "nb201" / "nb201_test_accuracy.csv"])
    assert len(data.genes) == 15625 and data.accuracy.max() == pytest.approx(0.94373, abs=1e-4)


def test_generic_csv_and_unknown_format(tmp_path: Path) -> None:
    good = tmp_path / "rows.csv"
    with good.open("w", newline="") as handle:
        csv.writer(handle).writerows([["arch", "accuracy"], [json.dumps(ARCH), "0.75"]])
    assert load_training_data(W10, [good]).accuracy.tolist() == [0.75]
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="unknown CSV format"):
        load_training_data(W10, [bad])
    with pytest.raises(DataError, match="cannot read"):
        load_training_data(W10, [tmp_path / "missing.csv"])


def test_stored_job_trials_are_a_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    monkeypatch.setenv("NAS_DATABASE_URL", url)
    store = TrialStore(url)
    job, _ = store.create_job({"budgets": ["600M-MACs"], "space": "ofa-mbv3-w1.0"})
    store.add_trials(job.id, [TrialRow("k1", ARCH, {"accuracy": 0.71, "macs": 3e8})])
    store.close()
    data = load_training_data(W10, [f"job:{job.id}"])
    assert data.accuracy.tolist() == [0.71]
    with pytest.raises(DataError, match="no job"):
        load_training_data(W10, ["job:nope"])


def test_read_archs_keeps_input_order(tmp_path: Path) -> None:
    source = tmp_path / "archs.jsonl"
    archs = [{**ARCH, "r": r} for r in (224, 160, 192)]
    source.write_text("".join(json.dumps({"arch": a}) + "\n" for a in archs))
    genes, rejected = read_archs(W10, [source])
    assert not rejected and [a["r"] for a in W10.to_json_batch(genes)] == [224, 160, 192]
