"""NAS-Bench-201 search-quality benchmark: the true front, the hypervolume ratio, and ``nas bench nb201``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nas.bench import NB201Bench, hypervolume, run_bench
from nas.pareto import pareto_mask
from searchspaces.nb201 import NB201

from ..cli import nas


@pytest.fixture(scope="module")
def tables(data_dir: Path) -> tuple[Path, Path]:
    return data_dir / "nb201" / "nb201_test_accuracy.csv", data_dir / "nb201" / "help_latency_27devices.csv"


@pytest.fixture(scope="module")
def bench(tables: tuple[Path, Path]) -> NB201Bench:
    return NB201Bench(tables[0], tables[1], "pixel3")


def test_hypervolume_of_a_staircase() -> None:
    points = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [3.5, 3.5]])  # the last one is dominated
    assert hypervolume(points, np.array([4.0, 4.0])) == pytest.approx(3 + 2 + 1)
    assert hypervolume(np.array([[5.0, 5.0]]), np.array([4.0, 4.0])) == 0.0


def test_true_front_scores_one_and_a_single_point_scores_its_rectangle(bench: NB201Bench) -> None:
    everything = NB201.all_genes()
    points = bench._points(bench.accuracy.predict(everything), bench.latency.cost(everything))
    assert hypervolume(points[pareto_mask(points)], bench.reference) == pytest.approx(bench.true_hypervolume)
    best = points[np.argmin(points[:, 0])]
    rectangle = np.prod(bench.reference - best)
    assert hypervolume(best[None], bench.reference) == pytest.approx(rectangle)
    assert 0 < rectangle < bench.true_hypervolume


def test_reference_is_median_accuracy_and_largest_latency(bench: NB201Bench) -> None:
    everything = NB201.all_genes()
    assert -bench.reference[0] == pytest.approx(np.median(bench.accuracy.predict(everything)))
    assert bench.reference[1] == pytest.approx(bench.latency.cost(everything).max())


def test_runs_spend_exactly_the_query_budget_and_are_seeded(bench: NB201Bench) -> None:
    result = run_bench(bench, "evolution", queries=60, seeds=2)
    assert len(result.best_accuracy) == len(result.hypervolume_ratio) == 2
    assert all(0 < r <= 1 for r in result.hypervolume_ratio)
    assert all(80 < a <= 94.37 + 1e-9 for a in result.best_accuracy)
    again = run_bench(bench, "evolution", queries=60, seeds=2)
    assert again.best_accuracy == result.best_accuracy and again.hypervolume_ratio == result.hypervolume_ratio


def test_more_queries_never_hurt_random_search(bench: NB201Bench) -> None:
    """Random search with a larger budget sees a superset of archs (same seed): its figures cannot drop."""
    few, many = bench.run("random", 50, seed=3), bench.run("random", 400, seed=3)
    assert many[0] >= few[0] and many[1] >= few[1]



def test_cli_writes_documented_json_with_random_baseline(tables: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = nas("bench", "nb201", "--results", str(tables[0]), "--latency", str(tables[1]), "--device", "pixel3",
              "--strategy", "nsga2", "--queries", "80", "--seeds", "2", "--quiet", "--json", str(out))
    assert run.returncode == 0, run.stderr
    result = json.loads(out.read_text())
    assert {"strategy", "queries", "seeds", "best_accuracy", "hypervolume_ratio", "baseline"} <= set(result)
    assert (result["strategy"], result["queries"], result["seeds"]) == ("nsga2", 80, 2)
    assert result["baseline"]["strategy"] == "random"
    assert set(result["hypervolume_ratio"]) == {"mean", "std"}
    assert "nsga2" in run.stdout and "random" in run.stdout and "hypervolume ratio" in run.stdout


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--device", "pixel3"], "go together"),
        (["--strategy", "nope"], "invalid choice"),
        (["--queries", "0"], "must be positive"),
        (["--latency", "{latency}", "--device", "pixel9"], "no latency for device 'pixel9'"),
    ],
)
def test_cli_bad_input_is_one_line(tables: tuple[Path, Path], extra: list[str], fragment: str) -> None:
    extra = [arg.format(latency=tables[1]) for arg in extra]
    run = nas("bench", "nb201", "--results", str(tables[0]), "--seeds", "1", "--quiet", *extra)
    assert run.returncode == 2
    assert fragment in run.stderr and len(run.stderr.strip().splitlines()) == 1
