"""Learned latency on HELP's measured GPU latencies of OFA subnets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from predictors.latency_learned import LearnedLatency
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


def test_bad_training_data_and_unfitted_model_are_refused(help_rows: tuple[np.ndarray, np.ndarray]) -> None:
    genes, measured = help_rows
    with pytest.raises(ValueError, match="positive, finite"):
        LearnedLatency(W10, "gpu").fit(genes[:20], np.r_[measured[:19], -1.0])
    with pytest.raises(ValueError, match="not fitted"):
        LearnedLatency(W10, "gpu").cost(genes[:2])
