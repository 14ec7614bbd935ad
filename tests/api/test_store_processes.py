"""Several processes on one store: each queued job is claimed once, concurrent writers lose nothing."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

import pytest

from api.store import TrialStore

from .helpers import claim_until_empty, job_request, write_trials

PROCESSES = 4


def _warm(_: int) -> float:
    import api.store  # noqa: F401 - the import is the warm-up

    time.sleep(0.2)  # keeps this process busy so the pool starts all of them
    return time.time()


@pytest.fixture(scope="module")
def process_pool() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(PROCESSES, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_warm, range(PROCESSES)))
        yield pool


def test_processes_claim_each_job_exactly_once(store: TrialStore, process_pool: ProcessPoolExecutor) -> None:
    job_ids = {store.create_job(job_request(seed=i))[0].id for i in range(16)}
    futures = [process_pool.submit(claim_until_empty, store.url, f"proc{i}") for i in range(PROCESSES)]
    claims = [future.result(timeout=120) for future in futures]
    flat = [job_id for claimed in claims for job_id in claimed]
    assert sorted(flat) == sorted(job_ids), "a job was claimed twice or never"
    for i, claimed in enumerate(claims):
        assert all(store.get_job(job_id).worker_id == f"proc{i}" for job_id in claimed)


def test_concurrent_writers_store_every_row_once(store: TrialStore, process_pool: ProcessPoolExecutor) -> None:
    job, _ = store.create_job(job_request())
    futures = [process_pool.submit(write_trials, store.url, job.id, i, 500, 50) for i in range(PROCESSES)]
    results = [future.result(timeout=300) for future in futures]
    errors = [error for _, errs in results for error in errs]
    assert errors == []
    assert sum(sent for sent, _ in results) == PROCESSES * 500
    assert store.count_trials(job.id) == PROCESSES * 500
    trials = store.list_trials(job.id, limit=1000) + store.list_trials(job.id, limit=1000, offset=1000)
    assert len({t.arch_key for t in trials}) == len(trials) == PROCESSES * 500
