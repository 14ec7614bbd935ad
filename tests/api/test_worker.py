"""The worker with the in-process executor: a job runs to its limit, fails cleanly, is cancelled
promptly, and resumes after a crash without losing or doubling trials."""

from __future__ import annotations

import threading
import time

import pytest

from api.store import Constraint, TrialStore
from api.tables import JobStatus
from api.worker import Worker
from nas.executors import Executor, LocalExecutor
from nas.jobs import JobSpec
from nas.problem import Problem
from nas.search import Evaluate

from .helpers import assert_is_pareto_front, job_request

pytestmark = pytest.mark.usefixtures("data_dir")  # the OFA predictor comes from $NAS_DATA_DIR


def _trials(store: TrialStore, job_id: str) -> dict[int, dict[str, float]]:
    return {t.id: {**t.metrics, "arch_key": t.arch_key} for t in
            (t for offset in range(0, store.count_trials(job_id), 1000)
             for t in store.list_trials(job_id, limit=1000, offset=offset))}


def _wait_for(predicate, timeout: float, poll: float = 0.02) -> float:
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, f"condition not met within {timeout} s"
        time.sleep(poll)
    return time.monotonic() - start


def test_local_worker_runs_a_job_to_its_generation_limit(store: TrialStore) -> None:
    job, _ = store.create_job(job_request(budgets=["450M-MACs"], generations=4, batch_size=256, time_limit=60))
    worker = Worker(store, LocalExecutor(), worker_id="local-1")
    assert worker.run_one()
    done = store.get_job(job.id)
    assert done.status == JobStatus.succeeded, done.error
    assert done.generations == 4 and done.searcher_state
    trials = _trials(store, job.id)
    assert len(trials) == store.count_trials(job.id) == done.evaluated == 4 * 256
    assert len({t["arch_key"] for t in trials.values()}) == len(trials)
    assert all(t["macs"] <= 450e6 for t in trials.values()), "a trial over the MACs budget"
    assert done.best_accuracy == pytest.approx(max(t["accuracy"] for t in trials.values()))
    front = store.pareto(job.id, ["accuracy", "macs"], [Constraint("macs", 450e6)])
    assert len(front) > 3
    assert_is_pareto_front(trials, [t.id for t in front], ["accuracy", "macs"], [Constraint("macs", 450e6)])
    assert not worker.run_one(), "no job is left"


def test_a_note10_latency_job_stores_latency_and_its_front(store: TrialStore) -> None:
    job, _ = store.create_job(job_request(budgets=["20ms-latency@note10"], generations=3, batch_size=256))
    assert Worker(store, LocalExecutor(), worker_id="local-1").run_one()
    done = store.get_job(job.id)
    assert done.status == JobStatus.succeeded, done.error
    latencies = [t["latency@note10"] for t in _trials(store, job.id).values()]
    assert len(latencies) == 3 * 256 and max(latencies) <= 20
    front = store.pareto(job.id, ["accuracy", "latency@note10"], [Constraint("latency@note10", 20)])
    assert len(front) > 2 and all(t.metrics["latency@note10"] <= 20 for t in front)


def test_a_job_that_cannot_run_fails_with_its_error(store: TrialStore) -> None:
    job, _ = store.create_job(job_request(budgets=["20ms-latency@nowhere"]))
    assert Worker(store, LocalExecutor()).run_one()
    failed = store.get_job(job.id)
    assert failed.status == JobStatus.failed
    assert "nowhere" in failed.error  # names the budget it cannot model
    assert store.count_trials(job.id) == 0


def test_cancelling_a_running_job_stops_it_within_two_seconds(store: TrialStore) -> None:
    job, _ = store.create_job(job_request(time_limit=120, generations=100_000, batch_size=1024))
    worker = Worker(store, LocalExecutor())
    thread = threading.Thread(target=worker.run_one, daemon=True)
    thread.start()
    _wait_for(lambda: store.get_job(job.id).evaluated >= 2048, timeout=60)
    store.request_cancel(job.id)
    elapsed = _wait_for(lambda: store.get_job(job.id).status == JobStatus.cancelled, timeout=10)
    print(f"\n[{store.engine.dialect.name}] cancelled {elapsed:.2f} s after the request")
    assert elapsed < 2.0, f"cancellation took {elapsed:.2f} s"
    thread.join(timeout=2)
    assert not thread.is_alive()
    cancelled = store.get_job(job.id)
    assert store.count_trials(job.id) == cancelled.evaluated and cancelled.evaluated % 1024 == 0


class _Crash(BaseException):
    """Stands for the process dying: not an Exception, so the worker does not record a failure."""


class CrashingExecutor(Executor):
    def __init__(self, generations: int) -> None:
        self.generations = generations

    def evaluator(self, spec: JobSpec, problem: Problem) -> Evaluate:
        calls = 0

        def evaluate(genes):
            nonlocal calls
            calls += 1
            if calls > self.generations:
                raise _Crash
            return problem.evaluate(genes)

        return evaluate


def test_a_crashed_job_resumes_without_losing_or_doubling_trials(store: TrialStore) -> None:
    job, _ = store.create_job(job_request(generations=8, batch_size=256, time_limit=60))
    with pytest.raises(_Crash):
        Worker(store, CrashingExecutor(generations=3), worker_id="dies").run_one()
    crashed = store.get_job(job.id)
    assert crashed.status == JobStatus.running and crashed.worker_id == "dies"
    before = {t["arch_key"] for t in _trials(store, job.id).values()}
    assert len(before) == crashed.evaluated == 3 * 256

    assert not Worker(store, LocalExecutor(), stale_after=30).run_one(), "a live lease was taken"
    time.sleep(0.3)
    assert Worker(store, LocalExecutor(), worker_id="heir", stale_after=0.2).run_one()
    done = store.get_job(job.id)
    assert done.status == JobStatus.succeeded and done.worker_id == "heir"
    after = [t["arch_key"] for t in _trials(store, job.id).values()]
    assert before <= set(after), "trials stored before the crash are gone"
    assert len(after) == len(set(after)) == done.evaluated == 8 * 256
    assert done.generations == 8
