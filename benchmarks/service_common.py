"""Helpers of the service benchmarks: a throw-away PostgreSQL database and realistic trial rows."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from api.store import TrialRow

POSTGRES_URL = os.environ.get("NAS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def scratch_postgres(prefix: str, server_url: str = POSTGRES_URL) -> Iterator[str]:
    """A database created on ``server_url`` for one run, dropped afterwards; yields its URL."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def synthetic_trials(count: int, seed: int, prefix: str) -> list[TrialRow]:
    """Rows shaped like an OFA MobileNetV3 trial (20 kernel sizes, 20 expands, 5 depths, resolution)."""
    rng = np.random.default_rng(seed)
    ks, es, ds = rng.choice([3, 5, 7], (count, 20)), rng.choice([3, 4, 6], (count, 20)), rng.integers(2, 5, (count, 5))
    macs = rng.uniform(150e6, 900e6, count)
    accuracy = 0.70 + 0.08 * np.log(macs / 150e6) / np.log(6) + rng.normal(0, 0.01, count)
    params = rng.uniform(4e6, 11e6, count)
    return [TrialRow(f"{prefix}{i}", {"ks": ks[i].tolist(), "e": es[i].tolist(), "d": ds[i].tolist(), "r": 224},
                     {"accuracy": float(accuracy[i]), "macs": float(macs[i]), "params": float(params[i])})
            for i in range(count)]
