"""The base of every error a user can cause or fix; front ends print its message, not a traceback."""

from __future__ import annotations


class NasError(Exception):
    """A user-facing failure whose message says what is wrong and how to fix it."""
