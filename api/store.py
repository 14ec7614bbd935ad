"""TrialStore: the only code that talks SQL. Jobs, their trials, leases, progress and Pareto queries."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

import numpy as np
from cachetools import TTLCache
from sqlalchemy import Engine, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from api.database import default_url, make_engine, upgrade, writer
from api.tables import Job, JobKind, JobStatus, Trial, utcnow
from nas.errors import NasError
from nas.pareto import pareto_mask

METRIC_COLUMNS = {"accuracy": Trial.accuracy, "macs": Trial.macs, "params": Trial.params}
MAXIMIZED = {"accuracy"}
SORTABLE = {"id": Trial.id, "generation": Trial.generation, **METRIC_COLUMNS}
# how stale a job row read by ``recent_job`` may be; writes through the same store are seen at once
RECENT_JOB_MAX_AGE_S = 0.5

# a lock that outlives SQLite's busy timeout, or a serialization failure, is retried rather than surfaced
_retry_locked = retry(retry=retry_if_exception_type(OperationalError), stop=stop_after_attempt(8),
                      wait=wait_random_exponential(multiplier=0.05, max=2), reraise=True)


@dataclass(frozen=True)
class TrialRow:
    arch_key: str
    arch: Any
    metrics: dict[str, float]


@dataclass(frozen=True)
class Constraint:
    metric: str
    limit: float  # metric <= limit for minimized metrics, metric >= limit for maximized ones


class TrialStore:
    def __init__(self, url: str | None = None, migrate: bool = True) -> None:
        self.url = url or default_url()
        try:
            self.engine: Engine = make_engine(self.url)
            self._writer = writer(self.engine)
            if migrate:
                upgrade(self._writer)
        except SQLAlchemyError as exc:  # a bad URL or a database that is down: one line, not a traceback
            raise NasError(f"cannot open the store (NAS_DATABASE_URL): {str(exc).strip().splitlines()[0]}") from None
        self._recent_jobs: TTLCache[str, Job] = TTLCache(maxsize=4096, ttl=RECENT_JOB_MAX_AGE_S)
        self._recent_lock = threading.Lock()

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    def _read(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # -- jobs ----------------------------------------------------------------------------------
    @_retry_locked
    def create_job(self, request: dict[str, Any], idempotency_key: str | None = None) -> tuple[Job, bool]:
        """Queue a job; with an idempotency key already used, return that job and ``False``."""
        if idempotency_key:
            existing = self._job_by_key(idempotency_key)
            if existing:
                return existing, False
        job = Job(id=uuid.uuid4().hex, status=JobStatus.queued, request=request, idempotency_key=idempotency_key)
        try:
            with self._write() as session:
                session.add(job)
        except IntegrityError:  # a concurrent request with the same key won the race
            existing = self._job_by_key(idempotency_key or "")
            if existing is None:
                raise
            return existing, False
        return job, True

    @_retry_locked
    def start_collection(self, request: dict[str, Any], worker_id: str) -> Job:
        """A running job of kind ``collect`` held by ``worker_id``: trials measured outside the search
        workers (``nas predictor collect``), which no worker ever claims."""
        job = Job(id=uuid.uuid4().hex, kind=JobKind.collect, status=JobStatus.running, request=request,
                  worker_id=worker_id, heartbeat_at=utcnow())
        with self._write() as session:
            session.add(job)
        return job

    def _job_by_key(self, key: str) -> Job | None:
        with self._read() as session:
            return session.scalars(select(Job).where(Job.idempotency_key == key)).first()

    def get_job(self, job_id: str) -> Job | None:
        with self._read() as session:
            return session.get(Job, job_id)

    def recent_job(self, job_id: str) -> Job | None:
        """The job's row as read at most ``RECENT_JOB_MAX_AGE_S`` ago: for read paths that many clients
        poll (the Pareto view), where a database round trip per request would be most of the cost."""
        with self._recent_lock:
            job = self._recent_jobs.get(job_id)
        if job is not None:
            return job
        with _job_lock(self, job_id, "recent"):  # when the entry expires, one reader refreshes it, the others wait
            with self._recent_lock:
                job = self._recent_jobs.get(job_id)
            if job is None:
                job = self.get_job(job_id)
                if job is not None:
                    with self._recent_lock:
                        self._recent_jobs[job_id] = job
        return job

    def _forget_recent(self, job_id: str) -> None:
        with self._recent_lock:
            self._recent_jobs.pop(job_id, None)

    def list_jobs(self, limit: int = 50, offset: int = 0, status: JobStatus | None = None) -> tuple[list[Job], int]:
        query = select(Job)
        if status:
            query = query.where(Job.status == status)
        with self._read() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            jobs = session.scalars(query.order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset)).all()
            return list(jobs), total

    @_retry_locked
    def request_cancel(self, job_id: str) -> Job | None:
        """Flag a job for cancellation; a queued job is cancelled at once, a running one by its worker."""
        try:
            with self._write() as session:
                job = session.get(Job, job_id)
                if job is None or job.status.finished:
                    return job
                job.cancel_requested = True
                if job.status == JobStatus.queued:
                    job.status = JobStatus.cancelled
                return job
        finally:
            self._forget_recent(job_id)

    @_retry_locked
    def claim_job(self, worker_id: str, stale_after: float = 30.0) -> Job | None:
        """Lease the oldest queued job, or a running job whose worker stopped heart-beating."""
        stale = utcnow() - timedelta(seconds=stale_after)
        with self._write() as session:
            candidates = (
                select(Job.id)
                .where(Job.kind == JobKind.search)
                .where(or_(Job.status == JobStatus.queued,
                           (Job.status == JobStatus.running) & (Job.heartbeat_at < stale)))
                .order_by(Job.created_at).limit(1)
            )
            if self.engine.dialect.name == "postgresql":
                candidates = candidates.with_for_update(skip_locked=True)
            job_id = session.scalar(candidates)
            if job_id is None:
                return None
            self._forget_recent(job_id)
            session.execute(update(Job).where(Job.id == job_id).values(
                status=JobStatus.running, worker_id=worker_id, heartbeat_at=utcnow()))
            return session.get(Job, job_id)

    @_retry_locked
    def record_generation(self, job_id: str, worker_id: str, trials: Sequence[TrialRow], generation: int,
                          predictor: str, progress: dict[str, Any]) -> bool:
        """Store a generation's trials and the job's progress in one transaction.

        Returns ``False`` (and writes nothing) if the worker no longer holds the job's lease or the
        job was cancelled: the caller must stop. Trials already stored are skipped, never doubled.
        """
        try:
            with self._write() as session:
                job = session.get(Job, job_id, with_for_update=self.engine.dialect.name == "postgresql")
                if job is None or job.worker_id != worker_id or job.status != JobStatus.running or job.cancel_requested:
                    return False
                self._insert_trials(session, job_id, trials, generation, predictor)
                for name, value in progress.items():
                    setattr(job, name, value)
                job.heartbeat_at = utcnow()
                return True
        finally:
            self._forget_recent(job_id)

    def _insert_trials(self, session: Session, job_id: str, trials: Sequence[TrialRow], generation: int,
                       predictor: str) -> None:
        if not trials:
            return
        now = utcnow()
        rows = [{
            "job_id": job_id, "arch_key": t.arch_key, "arch": t.arch, "generation": generation,
            "accuracy": t.metrics["accuracy"], "macs": t.metrics.get("macs"), "params": t.metrics.get("params"),
            "metrics": t.metrics, "predictor": predictor, "created_at": now,
        } for t in trials]
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        table = Trial.__table__  # Core, not the ORM unit of work: thousands of rows per call
        statement = dialect.insert(table).on_conflict_do_nothing(index_elements=["job_id", "arch_key"])
        session.connection().execute(statement, rows)

    @_retry_locked
    def add_trials(self, job_id: str, trials: Sequence[TrialRow], generation: int = 0,
                   predictor: str = "external") -> None:
        """Append trials to a job outside a worker lease (imports, external evaluations)."""
        try:
            with self._write() as session:
                self._insert_trials(session, job_id, trials, generation, predictor)
                # a new version of the job's trials (see ``pareto``); last, so the row lock is held briefly
                session.execute(update(Job).where(Job.id == job_id).values(updated_at=utcnow()))
        finally:
            self._forget_recent(job_id)

    @_retry_locked
    def finish_job(self, job_id: str, worker_id: str, status: JobStatus, error: str | None = None) -> None:
        try:
            with self._write() as session:
                session.execute(update(Job).where(Job.id == job_id, Job.worker_id == worker_id)
                                .values(status=status, error=error, heartbeat_at=utcnow()))
        finally:
            self._forget_recent(job_id)

    @_retry_locked
    def heartbeat(self, job_id: str, worker_id: str) -> bool:
        with self._write() as session:
            result = session.execute(update(Job).where(Job.id == job_id, Job.worker_id == worker_id)
                                     .values(heartbeat_at=utcnow()))
            return result.rowcount == 1

    # -- trials --------------------------------------------------------------------------------
    def count_trials(self, job_id: str) -> int:
        with self._read() as session:
            return session.scalar(select(func.count()).where(Trial.job_id == job_id)) or 0

    def all_trials(self, job_id: str) -> list[TrialRow]:
        """Every trial of a job in insertion order (to resume a search from what is stored)."""
        with self._read() as session:
            rows = session.execute(select(Trial.arch_key, Trial.arch, Trial.metrics)
                                   .where(Trial.job_id == job_id).order_by(Trial.id)).all()
        return [TrialRow(*row) for row in rows]

    def list_trials(self, job_id: str, limit: int = 100, offset: int = 0, sort: str = "id",
                    descending: bool = False) -> list[Trial]:
        column = SORTABLE[sort]
        order = (column.desc(), Trial.id.desc()) if descending else (column.asc(), Trial.id.asc())
        with self._read() as session:
            query = select(Trial).where(Trial.job_id == job_id).order_by(*order).limit(limit).offset(offset)
            return list(session.scalars(query).all())

    def pareto(self, job_id: str, metrics: Sequence[str], constraints: Sequence[Constraint] = (),
               job: Job | None = None) -> list[Trial]:
        """Trials not dominated on ``metrics`` (accuracy maximized, costs minimized) among those
        meeting every constraint, ordered by the first cost metric.

        Cached per version of the job's trials: every write of trials also updates the job row
        (``record_generation`` its progress, ``add_trials`` its ``updated_at``), so the job row read
        here (or passed as ``job``, read just before) names the version without counting trials.
        """
        job = job or self.get_job(job_id)
        if job is None:
            return []
        version = (job.updated_at, job.evaluated, job.generations)
        with _job_lock(self, job_id, "pareto"):  # concurrent readers of a new version wait for one computation
            return list(_pareto_trials(self, job_id, version, tuple(metrics), tuple(constraints)))

    def _metric_matrix(self, job_id: str, metrics: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        columns = [METRIC_COLUMNS.get(m) for m in metrics]
        plain = [c for c in columns if c is not None]
        query = select(Trial.id, *plain)
        if len(plain) < len(columns):
            query = query.add_columns(Trial.metrics)
        with self.engine.connect() as connection:  # Core rows: no ORM bookkeeping on 10^5 rows
            rows = connection.execute(query.where(Trial.job_id == job_id)).all()
        ids = np.array([row[0] for row in rows], dtype=np.int64)
        values = np.full((len(rows), len(metrics)), np.nan)
        stored = np.array([row[1:1 + len(plain)] for row in rows], dtype=float).reshape(len(rows), len(plain))
        column_index = 0
        for j, column in enumerate(columns):
            if column is not None:
                values[:, j] = stored[:, column_index]  # NULL became NaN
                column_index += 1
            else:
                values[:, j] = [row[-1].get(metrics[j], np.nan) for row in rows]
        return ids, values


@lru_cache(maxsize=1024)
def _job_lock(store: TrialStore, job_id: str, purpose: str) -> threading.Lock:
    return threading.Lock()


@lru_cache(maxsize=256)
def _pareto_trials(store: TrialStore, job_id: str, version: tuple[Any, ...], metrics: tuple[str, ...],
                   constraints: tuple[Constraint, ...]) -> tuple[Trial, ...]:
    """The front's trials (stored trials never change, so caching the rows is safe)."""
    del version  # part of the cache key only: a new trial changes it
    ids = _pareto_ids(store, job_id, metrics, constraints)
    with store._read() as session:
        trials = session.scalars(select(Trial).where(Trial.id.in_(ids))).all()
    order = {trial_id: i for i, trial_id in enumerate(ids)}
    return tuple(sorted(trials, key=lambda t: order[t.id]))


def _pareto_ids(store: TrialStore, job_id: str, metrics: tuple[str, ...],
                constraints: tuple[Constraint, ...]) -> list[int]:
    needed = list(dict.fromkeys([*metrics, *(c.metric for c in constraints)]))
    ids, values = store._metric_matrix(job_id, needed)
    keep = ~np.isnan(values).any(axis=1)
    for constraint in constraints:
        column = values[:, needed.index(constraint.metric)]
        keep &= column >= constraint.limit if constraint.metric in MAXIMIZED else column <= constraint.limit
    points = values[keep][:, [needed.index(m) for m in metrics]]
    signs = np.array([-1.0 if m in MAXIMIZED else 1.0 for m in metrics])
    on_front = pareto_mask(points * signs) if len(points) else np.zeros(0, dtype=bool)
    front = ids[keep][on_front]
    costs = [m for m in metrics if m not in MAXIMIZED]
    if costs:
        front = front[np.argsort(values[keep][on_front, needed.index(costs[0])], kind="stable")]
    return [int(i) for i in front]


__all__ = ["Constraint", "JobStatus", "TrialRow", "TrialStore"]
