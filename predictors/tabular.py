"""Table lookups for NAS-Bench-201: measured accuracy as a Predictor, measured latency as a CostModel.

Both read a CSV with one row per arch string once, into an array over all 15,625 archs indexed by
``NB201Space.arch_index`` (the genes as a base-5 number), so a batch is looked up with one take.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from nas.artifacts import ArtifactError, data_dirs
from nas.errors import NasError
from predictors.base import CostModel, Predictor
from searchspaces.base import SearchSpace
from searchspaces.nb201 import N_ARCHS, NB201Space

ACCURACY_COLUMN = "CIFAR10TestAccuracy200Epochs"
ARCH_COLUMNS = ("ArchitectureString", "arch_str")
LATENCY_SUFFIX = "_ms"
NB201_ACCURACY_CSV = "nb201/nb201_test_accuracy.csv"
NB201_LATENCY_CSV = "nb201/help_latency_27devices.csv"


class TableError(NasError, ValueError):
    """A results table that cannot be used, or archs it does not hold; the message says which."""


class ArchTable:
    """Values of one column of a CSV table per arch of ``space``, looked up by batches of gene rows."""

    def __init__(self, space: NB201Space, path: str | Path, column: str) -> None:
        self.space, self.path, self.column = space, Path(path), column
        header = read_header(self.path)
        arch_column = next((c for c in ARCH_COLUMNS if c in header), None)
        if arch_column is None or column not in header:
            missing = column if arch_column else " or ".join(ARCH_COLUMNS)
            raise TableError(f"{path} has no column {missing}; its columns are: {', '.join(header)}")
        strings, values = read_columns(self.path, [header.index(arch_column), header.index(column)])
        try:
            genes = space.genes_from_strings(strings)
            numbers = np.array(values, dtype=np.float64)
        except ValueError as exc:
            raise TableError(f"{path} is not a NAS-Bench-201 table: {exc}") from None
        indices = space.arch_index(genes)
        if len(np.unique(indices)) != len(indices):
            raise TableError(f"{path} lists some archs more than once")
        self.values = np.full(N_ARCHS, np.nan)
        self.values[indices] = numbers

    def lookup(self, genes: np.ndarray) -> np.ndarray:
        out = self.values[self.space.arch_index(genes)]
        missing = np.isnan(out)
        if missing.any():
            first = self.space.to_json_batch(np.asarray(genes)[missing][:1])[0]
            raise TableError(f"{int(missing.sum())} arch(s) have no {self.column} value in {self.path}, e.g. {first}")
        return out


def read_header(path: Path) -> list[str]:
    try:
        with path.open(newline="") as handle:
            header = next(csv.reader(handle), None)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise TableError(f"cannot read table {path}: {exc}") from None
    if not header:
        raise TableError(f"{path} is empty; expected a CSV header and one row per NAS-Bench-201 arch")
    return header


def read_columns(path: Path, columns: list[int]) -> list[list[str]]:
    """The fields of the given columns of every data row (only as many fields as needed are split
    off each line unless the file quotes fields, which needs the csv module)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise TableError(f"cannot read table {path}: {exc}") from None
    lines = [line for line in text.splitlines()[1:] if line]
    quoted = '"' in text
    rows = list(csv.reader(lines)) if quoted else [line.split(",", max(columns) + 1) for line in lines]
    if not rows:
        raise TableError(f"{path} has a header but no rows")
    short = next((i for i, row in enumerate(rows, start=2) if len(row) <= max(columns)), None)
    if short is not None:
        raise TableError(f"{path} line {short} has fewer fields than its header")
    return [[row[c] for row in rows] for c in columns]


def locate_table(relative_path: str) -> Path:
    """A published table (file or folder of tables) under the data folder (``$NAS_DATA_DIR``); tables
    are not downloaded."""
    for folder in data_dirs():
        if (folder / relative_path).exists():
            return folder / relative_path
    raise ArtifactError(f"{relative_path} not found under {', '.join(map(str, data_dirs()))}; "
                        f"set NAS_DATA_DIR to a folder holding {relative_path}")


def table_devices(latency_csv: Path) -> list[str]:
    """Device names of a latency table: its ``<device>_ms`` column names."""
    return [c.removesuffix(LATENCY_SUFFIX) for c in read_header(latency_csv) if c.endswith(LATENCY_SUFFIX)]


def _nb201(space: SearchSpace) -> NB201Space:
    if not isinstance(space, NB201Space):
        raise ValueError(f"NAS-Bench-201 tables describe the nb201 space, not {space.name}")
    return space


class TabularAccuracy(Predictor):
    """Measured accuracy of each arch from ``column`` of ``results_csv``, as a fraction like every
    predictor's (``percent``: the file holds percentages, as NAS-Bench-201's do)."""

    def __init__(self, space: SearchSpace, results_csv: str | Path, column: str = ACCURACY_COLUMN,
                 name: str = "tabular", percent: bool = True) -> None:
        self.space = _nb201(space)
        self.name = name
        self.table = ArchTable(self.space, results_csv, column)
        self.scale = 0.01 if percent else 1.0

    def predict(self, genes: np.ndarray) -> np.ndarray:
        return self.table.lookup(genes) * self.scale


class TabularLatency(CostModel):
    """Measured latency in ms on ``device`` (the ``<device>_ms`` column of ``latency_csv``)."""

    def __init__(self, space: SearchSpace, latency_csv: str | Path, device: str) -> None:
        self.space = _nb201(space)
        devices = table_devices(Path(latency_csv))
        if device not in devices:
            available = ", ".join(devices) or "none"
            raise TableError(f"no latency for device {device!r} in {latency_csv}; available: {available}")
        self.device = device
        self.metric = f"latency@{device}"
        self.table = ArchTable(self.space, latency_csv, device + LATENCY_SUFFIX)

    def cost(self, genes: np.ndarray) -> np.ndarray:
        return self.table.lookup(genes)
