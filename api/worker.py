"""The worker: claims queued (or abandoned) jobs from the store and runs them on an executor.

Every generation is stored in one transaction with the job's progress, so a worker killed at any
moment loses at most the generation in flight; the next worker to claim the job replays the stored
trials into a fresh searcher and carries on without losing or duplicating a trial.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import uuid
from typing import Any

import numpy as np

from api.store import TrialRow, TrialStore
from api.tables import Job, JobStatus
from nas.executors import Executor
from nas.jobs import JobSpec, build_problem, build_searcher
from nas.search import Progress, run_search
from searchspaces.base import SearchSpace, arch_keys

log = logging.getLogger("nas.worker")


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(self, store: TrialStore, executor: Executor, worker_id: str | None = None,
                 poll_seconds: float = 0.5, stale_after: float = 30.0) -> None:
        self.store = store
        self.executor = executor
        self.worker_id = worker_id or new_worker_id()
        self.poll_seconds = poll_seconds
        self.stale_after = stale_after
        self.stopping = threading.Event()

    def run_forever(self, stop_after_idle: float | None = None) -> None:
        """Run jobs until stopped (or until idle for ``stop_after_idle`` seconds)."""
        log.info("worker %s polling %s", self.worker_id, self.store.engine.url.render_as_string())
        idle_since = time.monotonic()
        while not self.stopping.is_set():
            if self.run_one():
                idle_since = time.monotonic()
            elif stop_after_idle is not None and time.monotonic() - idle_since > stop_after_idle:
                return
            else:
                self.stopping.wait(self.poll_seconds)

    def run_one(self) -> bool:
        """Claim and run one job; ``False`` if there was none."""
        job = self.store.claim_job(self.worker_id, self.stale_after)
        if job is None:
            return False
        log.info("running job %s", job.id)
        try:
            status = self.run_job(job)
        except Exception as exc:  # a job's failure is recorded on the job, never kills the worker
            log.exception("job %s failed", job.id)
            self.store.finish_job(job.id, self.worker_id, JobStatus.failed, f"{type(exc).__name__}: {exc}")
            return True
        if status is not None:
            self.store.finish_job(job.id, self.worker_id, status)
        return True

    def run_job(self, job: Job) -> JobStatus | None:
        """Run to a limit; the final status, or ``None`` if the lease was lost to another worker."""
        spec = JobSpec.from_json(job.request)
        problem = build_problem(spec)
        searcher = build_searcher(spec, problem)
        genes, metrics = self._stored(job, problem.space)
        resume = Progress(generations=job.generations, evaluated=len(genes), seconds=job.search_seconds)
        if len(genes):
            resume.best_accuracy = float(metrics["accuracy"].max())
            log.info("job %s resumes from %d stored trials", job.id, len(genes))
        writer = GenerationWriter(self.store, job.id, self.worker_id, problem.space, problem.predictor.name)
        try:
            def store_generation(progress: Progress, new: np.ndarray, values: dict[str, np.ndarray]) -> bool:
                return writer.submit(new, values, {
                    "evaluated": progress.evaluated, "generations": progress.generations,
                    "search_seconds": progress.seconds, "best_accuracy": progress.best_accuracy,
                    "searcher_state": searcher.rng_state(),
                })

            if spec.islands > 1:
                from nas.executors.islands import run_islands

                run_islands(spec, spec.islands, on_epoch=store_generation, stored=(genes, metrics), resume=resume)
            else:
                if len(genes):
                    searcher.replay(genes, metrics)
                if job.searcher_state:
                    searcher.set_rng_state(job.searcher_state)
                run_search(problem, searcher, spec.limits, store_generation, self.executor.evaluator(spec, problem),
                           resume)
        finally:
            writer.close()
        if writer.accepted and not resume.stopped:
            return JobStatus.succeeded
        current = self.store.get_job(job.id)
        if current is None or current.worker_id != self.worker_id:
            return None  # another worker holds the job now
        return JobStatus.cancelled if current.cancel_requested else None

    def _stored(self, job: Job, space: SearchSpace) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The job's stored trials as gene rows and metric columns (empty for a new job)."""
        stored = self.store.all_trials(job.id)
        genes = space.to_genes([space.from_json(t.arch) for t in stored])
        names = stored[0].metrics if stored else ["accuracy"]
        return genes, {name: np.array([t.metrics[name] for t in stored], dtype=np.float64) for name in names}


class GenerationWriter:
    """Stores generations from a background thread, so the search does not wait on the database.

    Each generation is written in one transaction with the job's progress. ``submit`` returns
    ``False`` once a write was refused (job cancelled, lease lost): the search must stop.
    """

    def __init__(self, store: TrialStore, job_id: str, worker_id: str, space: SearchSpace, predictor: str) -> None:
        self.store, self.job_id, self.worker_id = store, job_id, worker_id
        self.space, self.predictor = space, predictor
        self.accepted = True
        self._error: BaseException | None = None
        self._queue: queue.Queue[tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]] | None] = queue.Queue(4)
        self._thread = threading.Thread(target=self._drain, name=f"nas-writer-{job_id[:8]}", daemon=True)
        self._thread.start()

    def submit(self, genes: np.ndarray, metrics: dict[str, np.ndarray], progress: dict[str, Any]) -> bool:
        if self._error:
            raise self._error
        if self.accepted:
            self._queue.put((genes, metrics, progress))
        return self.accepted

    def close(self) -> None:
        """Wait until every submitted generation is stored; re-raise a write failure."""
        self._queue.put(None)
        self._thread.join()
        if self._error:
            raise self._error

    def _drain(self) -> None:
        while (item := self._queue.get()) is not None:
            if not self.accepted or self._error:
                continue
            try:
                self.accepted = self._write(*item)
            except BaseException as exc:  # handed to the search thread by submit/close
                self._error = exc

    def _write(self, genes: np.ndarray, metrics: dict[str, np.ndarray], progress: dict[str, Any]) -> bool:
        columns = {name: values.tolist() for name, values in metrics.items()}
        keys, archs = arch_keys(self.space.name, genes), self.space.to_json_batch(genes)
        rows = [TrialRow(key, arch, {name: column[i] for name, column in columns.items()})
                for i, (key, arch) in enumerate(zip(keys, archs))]
        return self.store.record_generation(self.job_id, self.worker_id, rows, progress["generations"],
                                            self.predictor, progress)
