"""Image datasets in the ImageFolder layout (``train/<class>/*.jpg``, ``test/<class>/*.jpg``), from a
folder or a tar of one, decoded once into uint8 tensors held in memory.

Holding decoded images suits CIFAR-sized data (60,000 32x32 images are 180 MB) and makes a CPU
epoch cost nothing but the network; datasets that do not fit in memory are out of scope here.
"""

from __future__ import annotations

import io
import tarfile
import zlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from nas.errors import NasError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
SPLITS = ("train", "test")


@dataclass
class ImageSplit:
    images: torch.Tensor  # uint8, (n, 3, size, size)
    labels: torch.Tensor  # int64, (n,)


@dataclass
class ImageDataset:
    classes: list[str]
    train: ImageSplit
    test: ImageSplit

    def normalization(self) -> tuple[list[float], list[float]]:
        """Per-channel mean and standard deviation of the training images, in [0, 1] units."""
        pixels = self.train.images.float().div_(255).transpose(0, 1).reshape(3, -1)
        return pixels.mean(1).tolist(), pixels.std(1).tolist()


def load_image_dataset(path: str | Path, size: int, max_per_class: int | None = None) -> ImageDataset:
    """Read both splits, resizing every image to ``size`` x ``size`` RGB.

    ``max_per_class`` keeps the first images (in name order) of each class and split.
    """
    path = Path(path)
    if not path.exists():
        raise NasError(f"no dataset at {path}")
    files = _tar_members(path) if path.is_file() else _folder_files(path)
    by_split: dict[str, dict[str, list[tuple[str, bytes | Path]]]] = {s: defaultdict(list) for s in SPLITS}
    for relative, source in files:
        parts = PurePosixPath(relative).parts
        if len(parts) >= 3 and parts[-3] in SPLITS and PurePosixPath(relative).suffix.lower() in IMAGE_SUFFIXES:
            by_split[parts[-3]][parts[-2]].append((relative, source))
    classes = sorted(by_split["train"])
    if not classes:
        raise NasError(f"{path} has no train/<class>/<image> files (ImageFolder layout)")
    missing = sorted(set(by_split["test"]) - set(classes))
    if missing:
        raise NasError(f"{path}: test classes {missing[:3]} have no training images")
    splits = {split: _decode(by_split[split], classes, size, max_per_class) for split in SPLITS}
    if len(splits["test"].labels) == 0:
        raise NasError(f"{path} has no test/<class>/<image> files")
    return ImageDataset(classes, splits["train"], splits["test"])


def _decode(files: dict[str, list[tuple[str, bytes | Path]]], classes: list[str], size: int,
            max_per_class: int | None) -> ImageSplit:
    chosen = [(label, item) for label, name in enumerate(classes)
              for item in sorted(files.get(name, []), key=lambda f: f[0])[:max_per_class]]
    images = np.empty((len(chosen), size, size, 3), dtype=np.uint8)
    for i, (_, (relative, source)) in enumerate(chosen):
        try:
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
                image = image.convert("RGB")
                if image.size != (size, size):
                    image = image.resize((size, size), Image.BILINEAR)
                images[i] = np.asarray(image)
        except (UnidentifiedImageError, OSError) as exc:
            raise NasError(f"cannot decode {relative}: {exc}") from None
    labels = torch.tensor([label for label, _ in chosen], dtype=torch.int64)
    return ImageSplit(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), labels)


def _folder_files(root: Path) -> Iterator[tuple[str, Path]]:
    for file in root.rglob("*"):
        if file.is_file():
            yield file.relative_to(root).as_posix(), file


def _tar_members(path: Path) -> Iterator[tuple[str, bytes]]:
    try:
        with tarfile.open(path) as archive:
            for member in archive:
                if member.isfile() and PurePosixPath(member.name).suffix.lower() in IMAGE_SUFFIXES:
                    yield member.name, archive.extractfile(member).read()
    except (tarfile.TarError, EOFError, zlib.error) as exc:  # EOFError: a compressed tar cut short
        raise NasError(f"{path} is neither a folder nor a readable tar: {exc}") from None
