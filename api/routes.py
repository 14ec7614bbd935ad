"""The ``/v1`` routes: jobs, trials, Pareto fronts, spaces, predictors."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Header, HTTPException, Query, Request, Response, status

from api.schemas import (
    JobProgress,
    JobRequest,
    JobView,
    Page,
    ParetoView,
    PredictorView,
    SpaceView,
    TrialView,
)
from api.store import SORTABLE, Constraint, TrialStore
from api.tables import Job, JobKind, JobStatus, Trial

router = APIRouter(prefix="/v1")
_CONSTRAINT = re.compile(r"^\s*([A-Za-z0-9_@.\-]{1,64})\s*(<=|>=)\s*([-+0-9.eE]{1,32})\s*$")
NOT_FOUND = {404: {"description": "no job with this id"}}


def _store(request: Request) -> TrialStore:
    return request.app.state.store


def _job_or_404(store: TrialStore, job_id: str, recent: bool = False) -> Job:
    """The job (with ``recent``, as read at most ``RECENT_JOB_MAX_AGE_S`` ago), or a 404."""
    read = store.recent_job if recent else store.get_job
    job = read(job_id) if len(job_id) <= 64 else None
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id[:64]!r} not found")
    return job


def job_view(job: Job) -> JobView:
    request = job.request
    if job.kind == JobKind.collect:
        fraction = job.evaluated / request["samples"]
    else:
        fraction = max(job.search_seconds / request["time_limit"], job.generations / request["generations"])
    return JobView(
        id=job.id, kind=job.kind, status=job.status, created_at=job.created_at, updated_at=job.updated_at,
        request=request,
        progress=JobProgress(evaluated=job.evaluated, generations=job.generations,
                             search_seconds=job.search_seconds, best_accuracy=job.best_accuracy,
                             fraction=1.0 if job.status == JobStatus.succeeded else min(fraction, 1.0)),
        cancel_requested=job.cancel_requested, error=job.error,
    )


def trial_view(trial: Trial) -> TrialView:
    return TrialView(id=trial.id, arch=trial.arch, metrics=trial.metrics, generation=trial.generation,
                     predictor=trial.predictor, created_at=trial.created_at)


@router.post("/jobs", status_code=status.HTTP_201_CREATED, response_model=JobView, tags=["jobs"],
             responses={200: {"model": JobView, "description": "the job an earlier request with this key created"}})
def submit_job(body: JobRequest, request: Request, response: Response,
               idempotency_key: Annotated[str | None, Header(max_length=128)] = None) -> JobView:
    """Queue a search. Resubmitting with the same ``Idempotency-Key`` returns the original job."""
    job, created = _store(request).create_job(body.model_dump(), idempotency_key)
    if not created:
        response.status_code = status.HTTP_200_OK
    return job_view(job)


@router.get("/jobs", response_model=Page[JobView], tags=["jobs"])
def list_jobs(request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 50,
              offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
              status_filter: Annotated[JobStatus | None, Query(alias="status")] = None) -> Page[JobView]:
    """Jobs, newest first."""
    jobs, total = _store(request).list_jobs(limit, offset, status_filter)
    return Page[JobView](items=[job_view(j) for j in jobs], total=total, limit=limit, offset=offset)


@router.get("/jobs/{job_id}", response_model=JobView, tags=["jobs"], responses=NOT_FOUND)
def get_job(job_id: str, request: Request) -> JobView:
    return job_view(_job_or_404(_store(request), job_id))


@router.post("/jobs/{job_id}/cancel", response_model=JobView, tags=["jobs"], responses=NOT_FOUND)
def cancel_job(job_id: str, request: Request) -> JobView:
    """Cancel a job: a queued one at once, a running one at its next generation."""
    store = _store(request)
    _job_or_404(store, job_id)
    job = store.request_cancel(job_id)
    assert job is not None
    return job_view(job)


@router.get("/jobs/{job_id}/trials", response_model=Page[TrialView], tags=["trials"], responses=NOT_FOUND)
def list_trials(job_id: str, request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
                sort: Annotated[Literal[tuple(SORTABLE)], Query()] = "id",  # type: ignore[valid-type]
                order: Annotated[Literal["asc", "desc"], Query()] = "asc") -> Page[TrialView]:
    store = _store(request)
    _job_or_404(store, job_id)
    trials = store.list_trials(job_id, limit, offset, sort, order == "desc")
    return Page[TrialView](items=[trial_view(t) for t in trials], total=store.count_trials(job_id),
                           limit=limit, offset=offset)


@router.get("/jobs/{job_id}/pareto", response_model=ParetoView, tags=["trials"], responses=NOT_FOUND)
def pareto(job_id: str, request: Request,
           metrics: Annotated[str | None, Query(max_length=256, description=(
               "comma-separated metrics to trade off (accuracy is maximized, the others minimized); "
               "default: accuracy and the job's budgeted metrics"), examples=["accuracy,macs"])] = None,
           constraint: Annotated[list[str] | None, Query(max_length=16, description=(
               "filters such as macs<=600e6 or accuracy>=0.8; default: the job's budgets"))] = None,
           ) -> Response:
    """The Pareto-optimal trials of a job over two or three stored metrics.

    Polled by dashboards, so the job's state is re-read at most every 0.5 s: a front may lag trials
    stored in the last half second."""
    store = _store(request)
    job = _job_or_404(store, job_id, recent=True)
    names = _metric_list(metrics, job)
    constraints = [_parse_constraint(c) for c in constraint] if constraint is not None else _budget_constraints(job)
    front = store.pareto(job_id, names, constraints, job=job)
    texts = tuple(f"{c.metric}{'>=' if c.metric == 'accuracy' else '<='}{c.limit:g}" for c in constraints)
    return Response(_pareto_json(job_id, tuple(names), texts, tuple(front)), media_type="application/json")


@lru_cache(maxsize=64)
def _pareto_json(job_id: str, metrics: tuple[str, ...], constraints: tuple[str, ...],
                 front: tuple[Trial, ...]) -> bytes:
    """The body of a Pareto response, cached per front (stored trials never change; the store
    returns the same trial objects while a job's trials stay the same)."""
    view = ParetoView(job_id=job_id, metrics=list(metrics), constraints=list(constraints),
                      items=[trial_view(t) for t in front])
    return view.model_dump_json().encode()


def _metric_list(text: str | None, job: Job) -> list[str]:
    if text is None:
        from nas.budgets import parse_budgets

        budgeted = [b.metric for b in parse_budgets(job.request.get("budgets", []))]
        return list(dict.fromkeys(["accuracy", "macs", *budgeted]))
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not 2 <= len(names) <= 3 or len(set(names)) != len(names):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "metrics: give two or three distinct metric names")
    if any(not re.fullmatch(r"[A-Za-z0-9_@.\-]{1,64}", n) for n in names):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "metrics: names are letters, digits, _@.-")
    return names


def _parse_constraint(text: str) -> Constraint:
    match = _CONSTRAINT.match(text)
    if not match:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"constraint {text[:80]!r}: expected METRIC<=NUMBER or METRIC>=NUMBER")
    metric, operator, number = match.groups()
    try:
        limit = float(number)
    except ValueError:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"constraint {text[:80]!r}: bad number") from None
    if not np.isfinite(limit) or (operator == ">=") != (metric == "accuracy"):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"constraint {text[:80]!r}: use accuracy>=X and <cost><=X with a finite X")
    return Constraint(metric, limit)


def _budget_constraints(job: Job) -> list[Constraint]:
    from nas.budgets import parse_budgets

    return [Constraint(b.metric, b.limit) for b in parse_budgets(job.request.get("budgets", []))]


@router.get("/spaces", response_model=list[SpaceView], tags=["catalogue"])
def spaces() -> list[SpaceView]:
    from searchspaces import SPACES

    views = []
    for name, space in sorted(SPACES.items()):
        smallest = np.zeros((1, space.n_genes), dtype=np.int16)
        largest = (space.gene_sizes - 1).astype(np.int16)[None]
        views.append(SpaceView(
            name=name, genes=space.n_genes, metrics=["accuracy", "macs", "params"],
            smallest={"macs": float(space.macs(smallest)[0]), "params": float(space.params(smallest)[0])},
            largest={"macs": float(space.macs(largest)[0]), "params": float(space.params(largest)[0])},
        ))
    return views


@router.get("/predictors", response_model=list[PredictorView], tags=["catalogue"])
def predictors() -> list[PredictorView]:
    from predictors import PREDICTORS

    return [PredictorView(name=p.name, description=p.description, spaces=list(p.spaces), evaluation=p.evaluation)
            for p in PREDICTORS.values()]
