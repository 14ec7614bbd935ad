"""SQLAlchemy tables: jobs and their trials. Alembic migrations in ``alembic/`` create them."""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, DateTime, Enum, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class JobStatus(str, enum.Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled)


class JobKind(str, enum.Enum):
    search = "search"
    collect = "collect"


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    status: Mapped[JobStatus] = mapped_column(Enum(JobStatus, native_enum=False, length=16), index=True)
    # "search" (run by workers) or "collect" (subnets measured by `nas predictor collect`, never claimed)
    kind: Mapped[JobKind] = mapped_column(Enum(JobKind, native_enum=False, length=16, create_constraint=False),
                                          default=JobKind.search, server_default=JobKind.search.value)
    request: Mapped[dict[str, Any]]
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    worker_id: Mapped[str | None] = mapped_column(String(64))
    heartbeat_at: Mapped[datetime | None]
    evaluated: Mapped[int] = mapped_column(Integer, default=0)
    generations: Mapped[int] = mapped_column(Integer, default=0)
    search_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    best_accuracy: Mapped[float | None] = mapped_column(Float)
    searcher_state: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)


class Trial(Base):
    __tablename__ = "trials"
    __table_args__ = (
        Index("ix_trials_job_arch", "job_id", "arch_key", unique=True),
        Index("ix_trials_job_accuracy", "job_id", "accuracy"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    arch_key: Mapped[str] = mapped_column(String(256))
    arch: Mapped[Any] = mapped_column(JSON)
    generation: Mapped[int] = mapped_column(Integer)
    accuracy: Mapped[float] = mapped_column(Float)
    macs: Mapped[float | None] = mapped_column(Float)
    params: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any]]
    predictor: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
