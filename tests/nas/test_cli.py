"""The command line end to end, as a user runs it (subprocesses, real data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..cli import nas

SPECIALIZED = "ofa/specialized/flops-595M_top1-80.0_finetune-75/net.config"



def test_search_writes_documented_json(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    run = nas("search", "--budget", "600M-MACs", "--time-limit", "0.5", "--quiet", "--json", str(out))
    assert run.returncode == 0, run.stderr
    result = json.loads(out.read_text())
    assert set(result) == {"best", "pareto", "evaluated", "search_seconds"}
    assert result["evaluated"] > 1000
    best = result["best"]
    assert set(best["arch"]) == {"ks", "e", "d", "r"} and len(best["arch"]["ks"]) == 20
    assert best["metrics"]["macs"] <= 600e6
    assert best["metrics"]["accuracy"] == max(t["metrics"]["accuracy"] for t in result["pareto"])
    assert all(t["metrics"]["macs"] <= 600e6 for t in result["pareto"])
    assert "chosen" in run.stdout and "Pareto front" in run.stdout


def test_search_several_budgets_all_respected(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    run = nas("search", "--budget", "0.4G-MACs", "--budget", "7M-params", "--time-limit", "0.3", "--quiet",
              "--json", str(out))
    assert run.returncode == 0, run.stderr
    pareto = json.loads(out.read_text())["pareto"]
    assert all(t["metrics"]["macs"] <= 4e8 and t["metrics"]["params"] <= 7e6 for t in pareto)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["search", "--budget", "600X-MACs"], "cannot read budget"),
        (["search", "--budget", "600M-joules"], "unknown unit"),
        (["search", "--budget=-5M-MACs"], "must be positive"),
        (["search", "--budget", "50M-MACs"], "smallest subnet"),
        (["search", "--budget", "600M-MACs", "--space", "nope"], "invalid choice"),
        (["search", "--budget", "600M-MACs", "--predictor", "/nonexistent/p.pth"], "neither a known name"),
        (["search", "--budget", "600M-MACs", "--time-limit", "0"], "must be positive"),
        (["search"], "required"),
        (["macs", "--arch", "{bad json"], "not valid JSON"),
        (["macs", "--arch", '{"ks": [3], "e": [3], "d": [2], "r": 224}'], "list of 20"),
        (["macs", "--config", "/nonexistent/net.config"], "cannot read"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], fragment: str) -> None:
    run = nas(*args)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert fragment in lines[0]
    assert "Traceback" not in run.stderr


def test_budget_below_smallest_names_the_smallest_value() -> None:
    run = nas("search", "--budget", "50M-MACs")
    assert "100.3M" in run.stderr  # the smallest w1.2 subnet, at resolution 160


def test_predictor_file_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    bogus = tmp_path / "p.pth"
    bogus.write_text("not a checkpoint")
    run = nas("search", "--budget", "600M-MACs", "--predictor", str(bogus))
    assert run.returncode == 2 and "not a loadable predictor" in run.stderr


def test_macs_of_published_net_config(data_dir: Path) -> None:
    run = nas("macs", "--config", str(data_dir / SPECIALIZED), "--json")
    assert run.returncode == 0, run.stderr
    figures = json.loads(run.stdout)
    assert abs(figures["macs"] / 595.2e6 - 1) < 1e-3


def test_macs_of_arch_with_resolution_override() -> None:
    arch = json.dumps({"ks": [7] * 20, "e": [6] * 20, "d": [4] * 5, "r": 160})
    run = nas("macs", "--arch", arch, "--resolution", "224", "--json")
    assert run.returncode == 0, run.stderr
    assert round(json.loads(run.stdout)["macs"] / 1e6, 1) == 843.1


def test_every_command_has_help() -> None:
    for command in ([], ["search"], ["macs"]):
        run = nas(*command, "--help")
        assert run.returncode == 0 and "usage:" in run.stdout
