"""Terminal output of a search: a live progress bar and the Pareto-front table (rich)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nas.budgets import format_metric
from nas.problem import ACCURACY_SPREAD
from nas.search import Limits
from nas.search import Progress as SearchProgress


@contextmanager
def search_progress(limits: Limits, enabled: bool = True) -> Iterator[Callable[[SearchProgress], None]]:
    """A progress bar over the time limit that shows generations, evaluations and the best accuracy."""
    columns = (
        TextColumn("[bold]searching"), BarColumn(), TimeElapsedColumn(),
        TextColumn("gen {task.fields[gen]}  evaluated {task.fields[evaluated]:,}  "
                   "{task.fields[rate]:,.0f}/s  best {task.fields[best]:.4f}"),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True, disable=not enabled) as bar:
        task = bar.add_task("search", total=limits.time_seconds, gen=0, evaluated=0, rate=0.0, best=0.0)

        def update(state: SearchProgress) -> None:
            done = max(state.seconds, limits.time_seconds * state.generations / limits.generations)
            bar.update(task, completed=done, gen=state.generations, evaluated=state.evaluated,
                       rate=state.evaluated / max(state.seconds, 1e-9), best=state.best_accuracy)

        yield lambda state, _genes, _metrics: update(state)


def print_result(result: dict[str, Any], title: str, show: int, console: Console | None = None) -> None:
    """Print a search result in the ``--json`` form: the front as a table, then the chosen subnet."""
    console = console or Console()
    if not console.is_terminal:
        console.width = max(console.width, 120)  # keep archs on one line in logs and pipes
    front, best = result["pareto"], result["best"]
    shown = [front[i] for i in sorted(set(np.linspace(0, len(front) - 1, min(show, len(front))).round().astype(int)))]
    table = Table(title=f"{title}: {len(front)} subnets" + (f", {len(shown)} shown" if len(shown) < len(front) else ""))
    metrics = ["accuracy", *[m for m in best["metrics"] if m not in ("accuracy", ACCURACY_SPREAD)]]
    for name in metrics:
        table.add_column(name, justify="right", no_wrap=True)
    arch_keys = list(best["arch"]) if isinstance(best["arch"], dict) else ["arch"]
    for key in arch_keys:  # dict fields stay on one line; a long arch string folds
        table.add_column(key, no_wrap=isinstance(best["arch"], dict), overflow="fold")
    for trial in shown:
        cells = [_cell(name, trial["metrics"]) for name in metrics]
        style = "bold green" if trial["arch"] == best["arch"] else None
        table.add_row(*cells, *_arch_cells(trial["arch"]), style=style)
    console.print(table)
    figures = ", ".join(f"{name} {_cell(name, best['metrics'])}" for name in metrics)
    console.print(f"[bold]chosen[/bold]: {figures}")
    console.print(json.dumps(best["arch"]), soft_wrap=True, highlight=False)
    seconds = result["search_seconds"]
    console.print(f"evaluated {result['evaluated']:,} subnets in {seconds:.2f} s "
                  f"({result['evaluated'] / max(seconds, 1e-9):,.0f}/s)")


def _cell(name: str, metrics: dict[str, float]) -> str:
    value = metrics.get(name)
    if value is None:
        return "-"
    if name != "accuracy":
        return format_metric(name, value)
    spread = metrics.get(ACCURACY_SPREAD)
    return f"{value:.4f}" if spread is None else f"{value:.4f} ± {spread:.4f}"


def _arch_cells(arch: object) -> list[str]:
    """One short cell per arch field: lists of digits are written without separators."""
    if not isinstance(arch, dict):
        return [str(arch)]
    return ["".join(map(str, v)) if isinstance(v, list) else str(v) for v in arch.values()]


@contextmanager
def job_progress(job_id: str, enabled: bool = True) -> Iterator[Callable[[dict[str, Any]], None]]:
    """A progress bar for a job on a server, fed with the job documents it returns."""
    columns = (TextColumn("[bold]{task.fields[status]}"), BarColumn(), TimeElapsedColumn(),
               TextColumn("job {task.fields[job]}  evaluated {task.fields[evaluated]:,}  best {task.fields[best]}"))
    with Progress(*columns, console=Console(stderr=True), transient=True, disable=not enabled) as bar:
        task = bar.add_task("job", total=1.0, status="queued", job=job_id[:8], evaluated=0, best="-")

        def update(job: dict[str, Any]) -> None:
            progress = job["progress"]
            best = progress["best_accuracy"]
            bar.update(task, completed=progress["fraction"], status=job["status"], evaluated=progress["evaluated"],
                       best="-" if best is None else f"{best:.4f}")

        yield update
