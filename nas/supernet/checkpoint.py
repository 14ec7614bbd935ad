"""Supernet checkpoint files: OFA's layout (a dict holding ``state_dict``) plus our metadata.

OFA's released files load as they are; the newer OFA code names a block's layer ``conv`` instead of
``mobile_inverted_conv`` and DataParallel prefixes ``module.``, and both spellings are accepted.
Our own files add ``nas`` (space and its stage strides, classes, input size, normalization) and,
while training, ``training`` (epoch, settings, optimizer and schedule state) for ``--resume``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nas.errors import NasError
from nas.supernet.elastic import ElasticMobileNetV3
from searchspaces import get_space
from searchspaces.ofa_mbv3 import OFAMobileNetV3Space

FORMAT = "nas-supernet/1"
_NEW_OFA_BLOCK = re.compile(r"^blocks\.(\d+)\.conv\.")


@dataclass
class Checkpoint:
    state_dict: dict[str, torch.Tensor]
    meta: dict[str, Any]  # empty for OFA's own files
    training: dict[str, Any] | None


def save_checkpoint(path: Path, net: ElasticMobileNetV3, meta: dict[str, Any],
                    training: dict[str, Any] | None = None) -> None:
    """Write atomically: a run killed while saving keeps its previous checkpoint."""
    payload = {"state_dict": net.state_dict(), "nas": {"format": FORMAT, **meta}}
    if training is not None:
        payload["training"] = training
    partial = path.with_name(path.name + ".partial")
    torch.save(payload, partial)
    os.replace(partial, path)


def load_checkpoint(path: str | Path) -> Checkpoint:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise NasError(f"no checkpoint at {path}") from None
    except Exception as exc:  # torch raises many types for a file that is not a checkpoint
        raise NasError(f"{path} is not a readable torch checkpoint: {str(exc).splitlines()[0]}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("state_dict", payload), dict):
        raise NasError(f"{path} holds no state_dict")
    state = payload.get("state_dict", payload)
    state = {_NEW_OFA_BLOCK.sub(r"blocks.\1.mobile_inverted_conv.", key.removeprefix("module.")): value
             for key, value in state.items()}
    return Checkpoint(state, payload.get("nas", {}), payload.get("training"))


def load_supernet(path: str | Path, space_name: str | None = None) -> tuple[ElasticMobileNetV3, Checkpoint]:
    """The supernet a checkpoint holds, for the space it records (or ``space_name`` for OFA's files)."""
    checkpoint = load_checkpoint(path)
    return supernet_of(checkpoint, path, space_name), checkpoint


def supernet_of(checkpoint: Checkpoint, path: str | Path, space_name: str | None = None) -> ElasticMobileNetV3:
    """The supernet of a loaded checkpoint (read from ``path``, which errors name)."""
    recorded = checkpoint.meta.get("space")
    if space_name and recorded and space_name != recorded:
        raise NasError(f"{path} is a supernet of {recorded}, not {space_name}")
    name = recorded or space_name
    if name is None:
        raise NasError(f"{path} does not record its search space; pass --space")
    space = get_space(name)
    if not isinstance(space, OFAMobileNetV3Space):
        raise NasError(f"supernets exist for the OFA MobileNetV3 spaces only, not {name}")
    classifier = checkpoint.state_dict.get("classifier.linear.weight")
    if classifier is not None and classifier.shape[0] != space.n_classes:
        space = with_classes(space, classifier.shape[0])
    check_layout(checkpoint, space, path)
    net = ElasticMobileNetV3(space)
    expected = net.state_dict()
    missing = sorted(expected.keys() - checkpoint.state_dict.keys())
    unexpected = sorted(checkpoint.state_dict.keys() - expected.keys())
    if missing or unexpected:
        detail = f"missing {missing[:2]}" if missing else f"unexpected {unexpected[:2]}"
        raise NasError(f"{path} is not an {name} supernet: {len(missing)} missing and "
                       f"{len(unexpected)} unexpected tensors ({detail})")
    wrong = [key for key, value in expected.items() if value.shape != checkpoint.state_dict[key].shape]
    if wrong:
        raise NasError(f"{path} does not fit {name}: {wrong[0]} has shape "
                       f"{tuple(checkpoint.state_dict[wrong[0]].shape)}, expected {tuple(expected[wrong[0]].shape)}")
    net.load_state_dict(checkpoint.state_dict)
    return net.eval()


def check_layout(checkpoint: Checkpoint, space: OFAMobileNetV3Space, path: str | Path) -> None:
    """Strides change no tensor shape, so a checkpoint of another layout would load and compute wrongly."""
    recorded = checkpoint.meta.get("stage_strides")
    if recorded is not None and tuple(recorded) != space.stage_strides:
        raise NasError(f"{path} was trained with stage strides {tuple(recorded)}; {space.name} now has "
                       f"{space.stage_strides}, so its weights do not fit")


def with_classes(space: OFAMobileNetV3Space, n_classes: int) -> OFAMobileNetV3Space:
    """The same space with another classifier size (a supernet trained on a user's dataset)."""
    return OFAMobileNetV3Space(space.name, space.width_mult, space.resolutions, space.stage_strides, n_classes)
