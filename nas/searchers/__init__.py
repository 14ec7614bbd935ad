"""Search strategies, registered by name; import a module here to register it."""

from __future__ import annotations

from nas.searchers import evolution, nsga2, optuna_search, random_search, surrogate
from nas.searchers.base import SEARCHERS, Searcher, register

__all__ = ["SEARCHERS", "Searcher", "evolution", "nsga2", "optuna_search", "random_search", "register", "surrogate"]
