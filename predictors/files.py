"""Predictor files written by ``nas predictor fit``: one JSON document per fitted predictor.

Every document names its ``format`` (which class reads it), its ``feature_schema`` version and the
``space`` it predicts for; a file is refused when loaded for another space or written under another
schema. ``load_predictor_file`` picks the class from the format, so the CLI, ``nas search
--predictor`` and ``$NAS_PREDICTOR_DIR`` read every kind through one path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from nas.errors import NasError

if TYPE_CHECKING:
    from predictors.base import Predictor
    from searchspaces.base import SearchSpace


class PredictorFileError(NasError):
    """A predictor file cannot be used: unreadable, another format, or made for another space."""


class FileBacked(Protocol):
    FORMAT: str
    FEATURE_SCHEMA: int

    @classmethod
    def from_document(cls, document: dict[str, Any], space: SearchSpace) -> Any: ...


T = TypeVar("T", bound=FileBacked)


def _formats() -> dict[str, type[FileBacked]]:
    from predictors.gbdt import GBDTPredictor
    from predictors.mlp import MLPPredictor

    return {GBDTPredictor.FORMAT: GBDTPredictor, MLPPredictor.FORMAT: MLPPredictor}


def load_predictor_file(path: str | Path, space: SearchSpace | None = None) -> Predictor:
    """Any fitted predictor file; with ``space``, refuse a file made for another space."""
    document = read_predictor_file(path)
    cls = _formats().get(document.get("format"))  # type: ignore[arg-type]
    if cls is None:
        raise PredictorFileError(f"{path} is not a predictor file (format {document.get('format')!r})")
    return from_document(cls, document, path, space)


def load_as(cls: type[T], path: str | Path, space: SearchSpace | None = None) -> T:
    """A file of ``cls``'s format, checked like ``load_predictor_file``."""
    return from_document(cls, read_predictor_file(path), path, space)


def from_document(cls: type[T], document: dict[str, Any], path: str | Path, space: SearchSpace | None) -> T:
    from searchspaces import SPACES, get_space

    if document.get("format") != cls.FORMAT:
        raise PredictorFileError(f"{path} is not a {cls.FORMAT} predictor file (format {document.get('format')!r})")
    if document.get("feature_schema") != cls.FEATURE_SCHEMA:
        raise PredictorFileError(f"{path} has feature schema {document.get('feature_schema')}; this version "
                                 f"reads {cls.FEATURE_SCHEMA}: fit it again")
    if space is None and document.get("space") not in SPACES:
        raise PredictorFileError(f"{path} names an unknown space {document.get('space')!r}")
    space = space or get_space(document["space"])
    if document.get("space") != space.name:
        raise PredictorFileError(f"{path} predicts for space {document.get('space')!r}, not {space.name!r}")
    return cls.from_document(document, space)


def read_predictor_file(path: str | Path) -> dict[str, Any]:
    try:
        document = json.loads(Path(path).read_text())
    except OSError as exc:
        raise PredictorFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise PredictorFileError(f"{path} is not a JSON predictor file") from None
    if not isinstance(document, dict):
        raise PredictorFileError(f"{path} is not a predictor file")
    return document


def write_predictor_file(path: str | Path, document: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(document) + "\n")
