"""Training data for accuracy predictors: (arch, accuracy) rows read from files or the trial store,
validated against a search space, duplicates averaged.

Sources (the format is recognised from the file's columns):
- DyNAS-T CSV: a ``Sub-network`` column holding an OFA arch dict, ``Top-1 Acc (%)`` (percent);
- NAS-Bench-201 results CSV: ``ArchitectureString`` (or ``arch_str``) and ``CIFAR10TestAccuracy200Epochs`` (percent);
- generic CSV: ``arch`` (JSON) and ``accuracy`` (a fraction) columns (``accuracy`` only to train);
- generic JSONL: one ``{"arch": ..., "metrics": {"accuracy": ...}}`` per line (a fraction);
- ``job:<ID>``: the trials of a stored job (``$NAS_DATABASE_URL``).
Accuracies are returned as fractions in [0, 1], as every predictor's.
"""

from __future__ import annotations

import ast
import csv
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nas.errors import NasError
from searchspaces.base import SearchSpace

DYNAST_ARCH, DYNAST_ACCURACY = "Sub-network", "Top-1 Acc (%)"
NB201_ARCH, NB201_ACCURACY = ("ArchitectureString", "arch_str"), "CIFAR10TestAccuracy200Epochs"
JOB_PREFIX = "job:"


# (row number, arch in the space's JSON form, accuracy as a fraction or None, why the row is unreadable)
Record = tuple[int, Any, Any, str | None]


class DataError(NasError):
    """A training-data source cannot be read at all (rows that fail validation are reported, not raised)."""


@dataclass(frozen=True)
class Rejected:
    source: str
    row: int  # 1-based line of the file (the header is line 1 of a CSV), or the trial's position
    reason: str


@dataclass
class TrainingData:
    genes: np.ndarray  # one canonical row per distinct arch
    accuracy: np.ndarray  # fraction, averaged over the arch's rows
    rows: int = 0  # rows accepted, duplicates included
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return self.rows - len(self.genes)

    def report(self, limit: int = 5) -> str:
        """One line of counts, then up to ``limit`` rejected rows with their reasons."""
        lines = [f"{self.rows} rows read, {len(self.genes)} distinct archs ({self.duplicates} duplicates "
                 f"averaged), {len(self.rejected)} rejected"]
        lines += [f"  rejected {r.source}:{r.row}: {r.reason}" for r in self.rejected[:limit]]
        if len(self.rejected) > limit:
            lines.append(f"  ... and {len(self.rejected) - limit} more")
        return "\n".join(lines)


def load_training_data(space: SearchSpace, sources: Sequence[str | Path]) -> TrainingData:
    """Read every source, keep the rows valid for ``space``, average duplicate archs."""
    if not sources:
        raise DataError("no training data given")
    genes: list[tuple[int, ...]] = []
    values: list[float] = []
    rejected: list[Rejected] = []
    for source in sources:
        for row, arch, accuracy, reason in _records(str(source)):
            reason = reason or _check_accuracy(accuracy)
            if reason is None:
                try:
                    parsed = space.from_json(arch)
                except (ValueError, TypeError, KeyError, IndexError) as exc:
                    reason = f"not a {space.name} arch: {exc}"
            if reason is not None:
                rejected.append(Rejected(str(source), row, reason))
                continue
            genes.append(tuple(space.canonical(np.array([parsed.genes]))[0]))
            values.append(float(accuracy))
    if not genes:
        return TrainingData(np.empty((0, space.n_genes), dtype=np.int16), np.empty(0), 0, rejected)
    unique, inverse = np.unique(np.array(genes, dtype=np.int16), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    means = np.bincount(inverse, weights=values) / np.bincount(inverse)
    return TrainingData(unique, means, len(genes), rejected)


def read_archs(space: SearchSpace, sources: Sequence[str | Path]) -> tuple[np.ndarray, list[Rejected]]:
    """Gene rows of every valid arch of the sources in input order (accuracy not needed)."""
    genes: list[tuple[int, ...]] = []
    rejected: list[Rejected] = []
    for source in sources:
        for row, arch, _, reason in _records(str(source)):
            if reason is not None:
                rejected.append(Rejected(str(source), row, reason))
                continue
            try:
                genes.append(space.from_json(arch).genes)
            except (ValueError, TypeError, KeyError, IndexError) as exc:
                rejected.append(Rejected(str(source), row, f"not a {space.name} arch: {exc}"))
    return np.array(genes, dtype=np.int16).reshape(-1, space.n_genes), rejected


def _check_accuracy(value: Any) -> str | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return f"accuracy {value!r} is not a number"
    if not 0.0 <= value <= 1.0:
        return f"accuracy {value!r} is not a fraction in [0, 1]"
    return None


def _records(source: str) -> Iterator[Record]:
    """A ``Record`` for every row of a source."""
    if source.startswith(JOB_PREFIX):
        yield from _job_records(source.removeprefix(JOB_PREFIX))
        return
    path = Path(source)
    try:
        with path.open(newline="") as handle:
            if path.suffix == ".jsonl":
                yield from _jsonl_records(handle)
            else:
                yield from _csv_records(handle, source)
    except OSError as exc:
        raise DataError(f"cannot read {source}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise DataError(f"{source} is not a text file") from None


def _jsonl_records(lines: Any) -> Iterator[Record]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, None, None, f"not JSON ({exc.msg})"
            continue
        if not isinstance(record, dict) or "arch" not in record:
            yield number, None, None, "a line without \"arch\""
            continue
        metrics = record.get("metrics")
        yield number, record["arch"], metrics.get("accuracy") if isinstance(metrics, dict) else None, None


def _csv_records(handle: Any, source: str) -> Iterator[Record]:
    reader = csv.DictReader(handle)
    columns = reader.fieldnames or []
    if DYNAST_ARCH in columns and DYNAST_ACCURACY in columns:
        arch_column, accuracy_column, scale, parse = DYNAST_ARCH, DYNAST_ACCURACY, 0.01, _python_literal
    elif NB201_ACCURACY in columns and any(c in columns for c in NB201_ARCH):
        arch_column = next(c for c in NB201_ARCH if c in columns)
        accuracy_column, scale, parse = NB201_ACCURACY, 0.01, str
    elif "arch" in columns:  # the accuracy column is optional: archs to predict need none
        arch_column, accuracy_column, scale, parse = "arch", "accuracy", 1.0, json.loads
    else:
        raise DataError(f"{source}: unknown CSV format; expected columns {DYNAST_ARCH!r} and {DYNAST_ACCURACY!r} "
                        f"(DyNAS-T), {NB201_ARCH[0]!r} and {NB201_ACCURACY!r} (NAS-Bench-201), or 'arch' (and "
                        f"'accuracy'); found {', '.join(columns) or 'none'}")
    for number, row in enumerate(reader, start=2):
        try:
            arch = parse(row[arch_column])
        except (ValueError, SyntaxError, TypeError):
            yield number, None, None, f"unreadable arch {str(row[arch_column])[:60]!r}"
            continue
        try:
            accuracy: Any = float(row.get(accuracy_column)) * scale
        except (TypeError, ValueError):
            accuracy = row.get(accuracy_column)
        yield number, arch, accuracy, None


def _python_literal(text: str) -> Any:
    """DyNAS-T writes the arch with Python's repr (single quotes, ``None``); ``wid`` is unused by OFA-MBv3."""
    value = ast.literal_eval(text)
    if isinstance(value, dict):
        value.pop("wid", None)
    return value


def _job_records(job_id: str) -> Iterator[Record]:
    from api.store import TrialStore

    store = TrialStore()
    try:
        if store.get_job(job_id) is None:
            raise DataError(f"no job {job_id!r} in the store {store.url}")
        for number, trial in enumerate(store.all_trials(job_id), start=1):
            yield number, trial.arch, trial.metrics.get("accuracy"), None
    finally:
        store.close()
