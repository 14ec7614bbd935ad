"""Locating published artefacts: an explicit path, ``$NAS_DATA_DIR``, the cache, or a verified download."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from nas.errors import NasError


class ArtifactError(NasError):
    """An artefact could not be found or fetched; the message says where it was looked for."""


@dataclass(frozen=True)
class Artifact:
    relative_path: str  # under a data folder, e.g. "ofa/acc_predictor_mbv3_w1.2.pth"
    url: str
    sha256: str


def data_dirs() -> list[Path]:
    """Folders searched for artefacts: ``$NAS_DATA_DIR`` if set, else ``../shared/data`` beside the checkout."""
    if os.environ.get("NAS_DATA_DIR"):
        return [Path(os.environ["NAS_DATA_DIR"]).expanduser()]
    return [Path(__file__).resolve().parents[2] / "shared" / "data"]


def cache_dir() -> Path:
    return Path(os.environ.get("NAS_CACHE_DIR") or Path.home() / ".cache" / "nas").expanduser()


def locate(artifact: Artifact, download: bool = True) -> Path:
    """The local path of ``artifact``; downloads it into the cache once if no data folder has it."""
    for folder in data_dirs():
        candidate = folder / artifact.relative_path
        if candidate.is_file():
            return candidate
    cached = cache_dir() / artifact.relative_path
    if cached.is_file() and sha256_of(cached) == artifact.sha256:
        return cached
    if download:
        try:
            return _download(artifact, cached)
        except (OSError, ArtifactError) as exc:
            reason = str(exc)
    else:
        reason = "downloads disabled"
    raise ArtifactError(
        f"{artifact.relative_path} not found under NAS_DATA_DIR ({', '.join(map(str, data_dirs()))}) "
        f"or {cache_dir()}, and downloading {artifact.url} failed ({reason}); "
        f"set NAS_DATA_DIR to a folder holding {artifact.relative_path}"
    )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(artifact: Artifact, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    with urllib.request.urlopen(artifact.url, timeout=30) as response, partial.open("wb") as out:
        while chunk := response.read(1 << 20):
            out.write(chunk)
    if sha256_of(partial) != artifact.sha256:
        partial.unlink()
        raise ArtifactError(f"checksum mismatch for {artifact.url}")
    partial.replace(target)
    return target
