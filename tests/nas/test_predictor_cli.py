"""``nas predictor fit|eval|predict`` and ``nas search --predictor MODEL`` end to end (subprocesses, real data)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..cli import nas


@pytest.fixture(scope="module")
def splits(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two disjoint NAS-Bench-201 results files: 200 rows to train, 300 to test."""
    folder = tmp_path_factory.mktemp("nb201")
    with (data_dir / "nb201" / "nb201_test_accuracy.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    paths = folder / "train.csv", folder / "test.csv"
    for path, part in zip(paths, (rows[:200], rows[200:500])):
        with path.open("w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=reader.fieldnames)
            writer.writeheader()
            writer.writerows(part)
    return paths


@pytest.fixture(scope="module")
def model(splits: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model") / "gbdt.json"
    run = nas("predictor", "fit", "--space", "nb201", "--data", str(splits[0]), "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert "200 rows read, 200 distinct archs" in run.stderr and "fitted on 200 archs" in run.stderr
    return out


@pytest.fixture(scope="module")
def mlp_model(splits: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model") / "mlp.json"
    run = nas("predictor", "fit", "--kind", "mlp", "--space", "nb201", "--data", str(splits[0]), "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert "fitted on 200 archs" in run.stderr and "pretrained on 10000 sampled archs" in run.stderr
    return out


def test_mlp_kind_evaluates_and_searches(mlp_model: Path, splits: tuple[Path, Path], tmp_path: Path) -> None:
    figures = tmp_path / "e.json"
    run = nas("predictor", "eval", "--model", str(mlp_model), "--data", str(splits[1]), "--json", str(figures))
    assert run.returncode == 0, run.stderr
    assert json.loads(figures.read_text())["kendall_tau"] > 0.4
    out = tmp_path / "result.json"
    run = nas("search", "--space", "nb201", "--budget", "60M-MACs", "--predictor", str(mlp_model),
              "--time-limit", "0.5", "--quiet", "--json", str(out))
    assert run.returncode == 0, run.stderr
    assert 0 < json.loads(out.read_text())["best"]["metrics"]["accuracy"] < 1


def test_ofa_finetune_fits_on_dynast_and_predicts(data_dir: Path, tmp_path: Path) -> None:
    dynast = data_dir / "ofa" / "dynast_w1.0"
    model = tmp_path / "w10.json"
    run = nas("predictor", "fit", "--kind", "ofa-finetune", "--space", "ofa-mbv3-w1.0", "--data",
              str(dynast / "mbnv3w10_linasnsga2_acc_macs.csv"), "--out", str(model))
    assert run.returncode == 0, run.stderr
    assert "ofa-finetune: 128-400-400-400-1 MLP" in run.stderr
    source = tmp_path / "archs.jsonl"
    arch = {"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5, "r": 128}
    source.write_text(json.dumps({"arch": arch}) + "\n" + json.dumps({"arch": {**arch, "r": 224}}) + "\n")
    run = nas("predictor", "predict", "--model", str(model), "--data", str(source), "--out", str(tmp_path / "p.jsonl"))
    assert run.returncode == 0, run.stderr
    small, large = (json.loads(line)["prediction"] for line in (tmp_path / "p.jsonl").read_text().splitlines())
    assert 0.5 < small < large < 0.85  # the same subnet at a higher resolution is more accurate


def test_eval_reports_rank_figures(model: Path, splits: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    run = nas("predictor", "eval", "--model", str(model), "--data", str(splits[1]), "--json", str(out))
    assert run.returncode == 0, run.stderr
    figures = json.loads(out.read_text())
    assert set(figures) == {"archs", "kendall_tau", "spearman_rho", "rmse", "top10_recall"}
    assert figures["archs"] == 300 and figures["kendall_tau"] > 0.4
    assert "kendall_tau" in run.stdout


def test_predict_writes_one_line_per_valid_row_in_order(model: Path, tmp_path: Path) -> None:
    archs = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
             "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"]
    source = tmp_path / "archs.jsonl"
    source.write_text("".join(json.dumps({"arch": a}) + "\n" for a in [archs[0], "|bogus|", archs[1]]))
    out = tmp_path / "pred.jsonl"
    run = nas("predictor", "predict", "--model", str(model), "--data", str(source), "--out", str(out))
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["arch"] for line in lines] == archs
    assert lines[0]["prediction"] > lines[1]["prediction"]  # the best cell vs a cell passing no signal
    assert "1 rows rejected" in run.stderr


def test_search_with_a_fitted_predictor(model: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    run = nas("search", "--space", "nb201", "--budget", "60M-MACs", "--predictor", str(model), "--time-limit", "0.5",
              "--quiet", "--json", str(out))
    assert run.returncode == 0, run.stderr
    best = json.loads(out.read_text())["best"]["metrics"]
    assert best["macs"] <= 60e6
    assert 0 < best["accuracy_std"] < 0.2  # the ensemble's spread, shown as "accuracy ± spread"
    assert f"{best['accuracy']:.4f} ± {best['accuracy_std']:.4f}" in run.stdout


FIT = ["predictor", "fit", "--space", "nb201"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ([*FIT, "--data", "/nonexistent.csv", "--out", "{tmp}/m.json"], "cannot read"),
        ([*FIT, "--data", "{train}", "--out", "/nonexistent/m.json"], "does not exist"),
        ([*FIT, "--kind", "nope", "--data", "{train}", "--out", "m"], "invalid choice"),
        (["predictor", "eval", "--model", "{train}", "--data", "{train}"], "not a JSON predictor file"),
        (["search", "--budget", "600M-MACs", "--predictor", "{model}"], "predicts for space"),
        (["search", "--budget", "600M-MACs", "--predictor", "{mlp}"], "predicts for space 'nb201'"),
        ([*FIT, "--kind", "ofa-finetune", "--data", "{train}", "--out", "{tmp}/m.json"], "112..224 px, not nb201"),
        (["predictor", "eval", "--model", "{tmp}/empty.json", "--data", "{train}"], "format None"),
    ],
)
def test_bad_input_is_one_line(args: list[str], fragment: str, model: Path, mlp_model: Path,
                               splits: tuple[Path, Path], tmp_path: Path) -> None:
    (tmp_path / "empty.json").write_text("{}")
    run = nas(*[a.format(tmp=tmp_path, train=splits[0], model=model, mlp=mlp_model) for a in args])
    assert run.returncode == 2
    assert fragment in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_recorded_evaluation_is_listed_by_the_api(model: Path, splits: tuple[Path, Path], tmp_path: Path) -> None:
    folder = tmp_path / "predictors"
    folder.mkdir()
    listed = folder / "nb201-gbdt.json"
    listed.write_bytes(model.read_bytes())
    run = nas("predictor", "eval", "--model", str(listed), "--data", str(splits[1]), "--record")
    assert run.returncode == 0, run.stderr
    (folder / "other.json").write_text('{"not": "a predictor"}')
    script = ("import json; from fastapi.testclient import TestClient; from api.app import create_app; "
              "from api.store import TrialStore; "
              f"c = TestClient(create_app(TrialStore('sqlite:///{tmp_path}/s.db'))); "
              "print(json.dumps(c.get('/v1/predictors').json()))")
    env = {**os.environ, "NAS_PREDICTOR_DIR": str(folder)}
    listing = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert listing.returncode == 0, listing.stderr
    views = {view["name"]: view for view in json.loads(listing.stdout)}
    assert "other" not in views and views["nb201-gbdt"]["spaces"] == ["nb201"]
    evaluation = views["nb201-gbdt"]["evaluation"]
    assert evaluation["archs"] == 300 and evaluation["trained_on"] == 200 and evaluation["kendall_tau"] > 0.4
