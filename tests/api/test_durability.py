"""Durability: a `nas worker` process killed with SIGKILL five times mid-job; the job still finishes
with every stored trial kept, none doubled, and a Pareto front equal to one recomputed from the store."""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.store import Constraint, TrialStore
from api.tables import JobStatus

from .conftest import API_KEY
from .helpers import assert_is_pareto_front, job_request

REPO = Path(__file__).resolve().parents[2]
KILLS = 5
TIME_LIMIT = 20.0
pytestmark = pytest.mark.slow


def _start_worker(env: dict[str, str], log: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "nas", "worker", "--executor", "local", "--stale-after", "2", "--poll", "0.2",
               *extra]
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


def _arch_keys(store: TrialStore, job_id: str) -> list[str]:
    with store.engine.connect() as connection:
        return list(connection.scalars(text("SELECT arch_key FROM trials WHERE job_id = :job"), {"job": job_id}))


def _wait(predicate, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout} s; worker log:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


def test_killed_worker_loses_and_doubles_nothing(store_url: str, data_dir: Path, tmp_path: Path) -> None:
    seed = int(os.environ.get("NAS_DURABILITY_SEED", random.randrange(10**6)))
    rng = random.Random(seed)
    store = TrialStore(store_url)
    job, _ = store.create_job(job_request(time_limit=TIME_LIMIT, generations=100_000, batch_size=256))
    env = {**os.environ, "NAS_DATABASE_URL": store_url, "NAS_DATA_DIR": str(data_dir)}
    log = tmp_path / "worker.log"
    snapshots: list[set[str]] = []
    try:
        for kill in range(KILLS):
            process = _start_worker(env, log)
            evaluated = store.get_job(job.id).evaluated
            _wait(lambda p=process, e=evaluated: f"-{p.pid}-" in (store.get_job(job.id).worker_id or "")
                  and store.get_job(job.id).evaluated > e, 60, f"worker {kill} made no progress", log)
            time.sleep(rng.uniform(0.1, 2.0))
            snapshots.append(set(_arch_keys(store, job.id)))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            assert store.get_job(job.id).status == JobStatus.running, f"job finished before kill {kill + 1}"
        final = _start_worker(env, log, "--exit-when-idle", "2")
        _wait(lambda: store.get_job(job.id).status.finished, 120, "the job did not finish", log)
        assert final.wait(timeout=30) == 0, log.read_text()[-3000:]
    finally:
        for process in (p for p in [locals().get("process"), locals().get("final")] if p and p.poll() is None):
            process.kill()

    done = store.get_job(job.id)
    keys = _arch_keys(store, job.id)
    lost = set().union(*snapshots) - set(keys)
    print(f"\n[{store.engine.dialect.name}] seed {seed}: {len(keys)} trials, snapshots "
          f"{[len(s) for s in snapshots]}, lost {len(lost)}, duplicated {len(keys) - len(set(keys))}")
    assert done.status == JobStatus.succeeded, done.error
    assert done.search_seconds >= TIME_LIMIT
    assert len(keys) == len(set(keys)), "duplicated trials"
    assert not lost, f"{len(lost)} trials stored before a kill are missing"
    assert done.evaluated == len(keys)
    assert len(snapshots) == KILLS and all(a < b for a, b in itertools.pairwise(snapshots))

    with TestClient(create_app(store=store, api_key=API_KEY), headers={"X-API-Key": API_KEY}) as client:
        pareto = client.get(f"/v1/jobs/{job.id}/pareto").json()
    assert pareto["metrics"] == ["accuracy", "macs"] and pareto["items"]
    with store.engine.connect() as connection:
        rows = connection.execute(text("SELECT id, accuracy, macs FROM trials WHERE job_id = :job"), {"job": job.id})
        trials = {row.id: {"accuracy": row.accuracy, "macs": row.macs} for row in rows}
    assert_is_pareto_front(trials, [t["id"] for t in pareto["items"]], ["accuracy", "macs"],
                           [Constraint("macs", 600e6)])
    store.close()
