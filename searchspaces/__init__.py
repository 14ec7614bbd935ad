"""Search spaces and their registry (names resolved only at the CLI/API edge)."""

from __future__ import annotations

from searchspaces.base import Arch, SearchSpace
from searchspaces.nb201 import NB201
from searchspaces.ofa_mbv3 import W10, W10_CIFAR10, W12

SPACES: dict[str, SearchSpace] = {}


def register(space: SearchSpace) -> SearchSpace:
    if space.name in SPACES:
        raise ValueError(f"search space {space.name!r} is already registered")
    SPACES[space.name] = space
    return space


def get_space(name: str) -> SearchSpace:
    if name not in SPACES:
        raise KeyError(f"unknown search space {name!r}; choose from {', '.join(sorted(SPACES))}")
    return SPACES[name]


register(W10)
register(W12)
register(W10_CIFAR10)
register(NB201)

__all__ = ["SPACES", "Arch", "SearchSpace", "get_space", "register"]
