"""Terminal output of a search: a live progress bar and the Pareto-front table (rich)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nas.budgets import format_quantity
from nas.search import Limits, SearchResult
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

        yield update


def print_result(result: SearchResult, show: int, console: Console | None = None) -> None:
    console = console or Console()
    if not console.is_terminal:
        console.width = max(console.width, 120)  # keep archs on one line in logs and pipes
    problem = result.problem
    front = result.pareto_indices()
    shown = front[np.unique(np.linspace(0, len(front) - 1, min(show, len(front))).round().astype(int))]
    budgets = ", ".join(map(str, problem.budgets))
    table = Table(title=f"Pareto front on {problem.space.name} ({budgets}): {len(front)} subnets"
                        + (f", {len(shown)} shown" if len(shown) < len(front) else ""))
    metrics = ["accuracy", *[m for m in result.metrics if m != "accuracy"]]
    for name in metrics:
        table.add_column(name, justify="right")
    arch_keys = list(result.trial(0)["arch"]) if isinstance(result.trial(0)["arch"], dict) else ["arch"]
    for key in arch_keys:
        table.add_column(key, no_wrap=True)
    best = result.best_index()
    for index in shown:
        trial = result.trial(index)
        cells = [_cell(name, trial["metrics"][name]) for name in metrics]
        table.add_row(*cells, *_arch_cells(trial["arch"]), style="bold green" if index == best else None)
    console.print(table)
    chosen = result.trial(best)
    figures = ", ".join(f"{name} {_cell(name, chosen['metrics'][name])}" for name in metrics)
    console.print(f"[bold]chosen[/bold]: {figures}")
    console.print(json.dumps(chosen["arch"]), soft_wrap=True, highlight=False)
    console.print(f"evaluated {result.evaluated:,} subnets in {result.seconds:.2f} s "
                  f"({result.evaluated / max(result.seconds, 1e-9):,.0f}/s, {result.generations} generations)")


def _cell(name: str, value: float) -> str:
    return f"{value:.4f}" if name == "accuracy" else format_quantity(value)


def _arch_cells(arch: object) -> list[str]:
    """One short cell per arch field: lists of digits are written without separators."""
    if not isinstance(arch, dict):
        return [str(arch)]
    return ["".join(map(str, v)) if isinstance(v, list) else str(v) for v in arch.values()]
