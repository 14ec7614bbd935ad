"""RayExecutor on a real local Ray runtime: a job end to end, with the same metrics as in-process."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from api.store import TrialStore
from api.tables import JobStatus
from api.worker import Worker
from nas.executors import LocalExecutor
from nas.jobs import JobSpec, build_problem

from .helpers import job_request

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.usefixtures("data_dir")]


@pytest.fixture
def ray_executor(ray_runtime: None) -> Iterator[object]:
    from nas.executors.ray_executor import RayExecutor

    executor = RayExecutor()
    yield executor
    executor.shutdown()


def test_ray_and_local_give_the_same_metrics(ray_executor) -> None:
    spec = JobSpec(budgets=("600M-MACs", "9M-params"))
    problem = build_problem(spec)
    genes = problem.space.sample(700, np.random.default_rng(5))
    remote = ray_executor.evaluator(spec, problem)(genes)
    local = LocalExecutor().evaluator(spec, problem)(genes)
    assert set(remote) == set(local) == {"accuracy", "macs", "params"}
    for name in local:
        np.testing.assert_allclose(remote[name], local[name], rtol=1e-6, err_msg=name)
    assert np.ptp(remote["accuracy"]) > 0.01  # distinct archs, distinct predictions


def test_worker_on_ray_runs_a_job_end_to_end(ray_executor, sqlite_store: TrialStore) -> None:
    job, _ = sqlite_store.create_job(job_request(generations=3, batch_size=256, time_limit=60))
    assert Worker(sqlite_store, ray_executor).run_one()
    done = sqlite_store.get_job(job.id)
    assert done.status == JobStatus.succeeded, done.error
    trials = sqlite_store.list_trials(job.id, limit=1000)
    assert len(trials) == done.evaluated == 3 * 256

    problem = build_problem(JobSpec.from_json(done.request))
    genes = problem.space.to_genes([problem.space.from_json(t.arch) for t in trials])
    local = problem.evaluate(genes)
    for name in ("accuracy", "macs", "params"):
        np.testing.assert_allclose([t.metrics[name] for t in trials], local[name], rtol=1e-6, err_msg=name)
