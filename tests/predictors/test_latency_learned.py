"""Learned latency on HELP's measured GPU latencies of OFA subnets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from predictors.latency_learned import LearnedLatency, least_absolute_deviations
from searchspaces import get_space

W10 = get_space("ofa-mbv3-w1.0")


@pytest.fixture(scope="module")
def help_rows(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    rows = [json.loads(line) for line in (data_dir / "ofa" / "help_ofa_mbv3_5000_gpu_latency.jsonl").open()][:1500]
    genes = W10.to_genes([W10.from_json({k: row[k] for k in ("ks", "e", "d", "r")}) for row in rows])
    return genes, np.array([row["titan_rtx_64_ms"] for row in rows])


def test_predicts_held_out_subnets_within_ten_percent(help_rows: tuple[np.ndarray, np.ndarray]) -> None:
    genes, measured = help_rows
    model = LearnedLatency(W10, "titan_rtx_64", rounds=300).fit(genes[:1000], measured[:1000])
    error = np.abs(model.cost(genes[1000:]) / measured[1000:] - 1)
    assert np.mean(error <= 0.10) > 0.9  # batch 64 on a GPU: the sum of the whole net is smooth
    assert model.metric == "latency@titan_rtx_64"


def test_measurement_spikes_do_not_move_the_prediction(help_rows: tuple[np.ndarray, np.ndarray]) -> None:
    """15 % of the training measurements 1.5x too slow, as in HELP's batch-1 episodes: the model still
    predicts the clean latency (a squared loss on log latency would predict 6 % high)."""
    genes, measured = help_rows
    spiked = measured[:1000].copy()
    spiked[np.random.default_rng(0).random(1000) < 0.15] *= 1.5
    model = LearnedLatency(W10, "titan_rtx_64", rounds=300).fit(genes[:1000], spiked)
    relative = model.cost(genes[1000:]) / measured[1000:] - 1
    assert abs(np.median(relative)) < 0.03 and np.mean(np.abs(relative) <= 0.10) > 0.9


def test_least_absolute_deviations_ignore_a_minority_of_outliers() -> None:
    rng = np.random.default_rng(0)
    columns = np.column_stack([np.ones(300), rng.random((300, 3))])
    truth = np.array([2.0, 1.0, -0.5, 3.0])
    latency = columns @ truth
    latency[rng.random(300) < 0.2] += 5.0  # one-sided spikes on a fifth of the rows
    assert np.allclose(least_absolute_deviations(columns, latency), truth, atol=1e-6)
    assert least_absolute_deviations(np.ones((5, 1)), np.array([1.0, 2.0, 3.0, 10.0, 50.0]))[0] == pytest.approx(3.0)


def test_a_saved_model_predicts_as_the_fitted_one(help_rows: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    genes, measured = help_rows
    model = LearnedLatency(W10, "titan_rtx_64", rounds=100).fit(genes[:1000], measured[:1000])
    assert model.weights is not None  # 800 training rows: the table is tried, and on batch 64 it helps
    model.save(tmp_path / "model.json")
    assert np.array_equal(LearnedLatency.load(tmp_path / "model.json").cost(genes[1000:]), model.cost(genes[1000:]))
    small = LearnedLatency(W10, "titan_rtx_64", rounds=100).fit(genes[:100], measured[:100])
    assert small.weights is None  # too few rows for 385 table weights: trees alone
    small.save(tmp_path / "small.json")
    assert np.array_equal(LearnedLatency.load(tmp_path / "small.json").cost(genes[1000:]), small.cost(genes[1000:]))


def test_bad_training_data_and_unfitted_model_are_refused(help_rows: tuple[np.ndarray, np.ndarray]) -> None:
    genes, measured = help_rows
    with pytest.raises(ValueError, match="positive, finite"):
        LearnedLatency(W10, "gpu").fit(genes[:20], np.r_[measured[:19], -1.0])
    with pytest.raises(ValueError, match="not fitted"):
        LearnedLatency(W10, "gpu").cost(genes[:2])


def test_cli_fits_saves_and_predicts_round_trip(data_dir: Path, tmp_path: Path) -> None:
    from ..cli import nas

    rows = [json.loads(line) for line in (data_dir / "ofa" / "help_ofa_mbv3_5000_gpu_latency.jsonl").open()][:200]
    measured = tmp_path / "measured.jsonl"  # the generic form: {"arch": .., "latency_ms": ..}
    measured.write_text("".join(json.dumps({"arch": {k: r[k] for k in ("ks", "e", "d", "r")},
                                            "latency_ms": r["v100_1_ms"]}) + "\n" for r in rows[:100]))
    help_part = tmp_path / "help.jsonl"  # HELP's form: the arch at the top level, one field per setting
    help_part.write_text("".join(json.dumps({**r, "latency_ms": r["v100_1_ms"]}) + "\n" for r in rows[100:]))
    model = tmp_path / "v100.json"
    run = nas("latency", "fit", "--space", "ofa-mbv3-w1.0", "--data", str(measured), str(help_part),
              "--device", "v100_1", "--rounds", "50", "--out", str(model))
    assert run.returncode == 0 and "fitted on 200 measured" in run.stdout, run.stderr
    arch = {k: rows[0][k] for k in ("ks", "e", "d", "r")}
    run = nas("latency", "predict", "--model", str(model), "--arch", json.dumps(arch), "--json")
    assert run.returncode == 0, run.stderr
    loaded = LearnedLatency.load(model)
    assert (loaded.space.name, loaded.metric) == ("ofa-mbv3-w1.0", "latency@v100_1")
    expected = loaded.cost(W10.to_genes([W10.from_json(arch)]))[0]
    assert json.loads(run.stdout)["latency_ms"] == pytest.approx(expected, rel=1e-6)
    assert abs(expected / rows[0]["v100_1_ms"] - 1) < 0.3


def test_cli_refuses_bad_latency_data_in_one_line(data_dir: Path, tmp_path: Path) -> None:
    from ..cli import nas

    help_file = data_dir / "ofa" / "help_ofa_mbv3_5000_gpu_latency.jsonl"
    bad_arch = tmp_path / "bad.jsonl"
    bad_arch.write_text('{"arch": {"ks": [9], "e": [3], "d": [2], "r": 224}, "latency_ms": 3}\n')
    partial = tmp_path / "partial.json"  # the format's name, but no fitted parts
    partial.write_text(json.dumps({"format": "learned-latency", "space": "ofa-mbv3-w1.0", "device": "gpu"}))
    cases = [
        (("fit", "--space", "ofa-mbv3-w1.0", "--data", str(help_file), "--out", str(tmp_path / "m.json")),
         "help_ofa_mbv3_5000_gpu_latency.jsonl:1: no number 'latency_ms' (give the latency field with --column)"),
        (("fit", "--data", str(bad_arch), "--out", str(tmp_path / "m.json")), "bad.jsonl:1: not a ofa-mbv3-w1.2 arch"),
        (("predict", "--model", str(help_file), "--arch", "{}"), "is not a JSON latency model"),
        (("predict", "--model", str(partial), "--arch", "{}"), "lacks parts of a latency model; refit it"),
    ]
    for args, message in cases:
        run = nas("latency", *args)
        assert run.returncode == 2 and message in run.stderr and len(run.stderr.splitlines()) == 1, run.stderr
