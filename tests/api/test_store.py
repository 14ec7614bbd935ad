"""TrialStore on SQLite and PostgreSQL: schema, jobs, leases, generations, trials and Pareto fronts."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from api.database import MIGRATIONS
from api.store import RECENT_JOB_MAX_AGE_S, SORTABLE, Constraint, TrialRow, TrialStore
from api.tables import JobKind, JobStatus
from nas.errors import NasError
from tests.cli import nas

from .helpers import assert_front_matches, brute_force_front, job_request, random_trials


def _head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def _running_job(store: TrialStore, worker: str = "w1") -> str:
    job, _ = store.create_job(job_request())
    claimed = store.claim_job(worker)
    assert claimed is not None and claimed.id == job.id
    return job.id


def _progress(evaluated: int, generations: int = 1) -> dict[str, object]:
    return {"evaluated": evaluated, "generations": generations, "search_seconds": 0.5, "best_accuracy": 0.7}


# -- opening ---------------------------------------------------------------------------------------
UNREACHABLE = "postgresql://127.0.0.1:1/none"  # nothing listens on port 1


@pytest.mark.parametrize("url", [UNREACHABLE, "nonsense://"])
def test_a_store_that_cannot_be_opened_is_refused_in_one_line(url: str) -> None:
    with pytest.raises(NasError, match=r"cannot open the store \(NAS_DATABASE_URL\): "):
        TrialStore(url)


def test_the_command_line_says_so_without_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAS_DATABASE_URL", UNREACHABLE)
    run = nas("predictor", "collect", "--supernet", "s.pt", "--data", "d", "--samples", "1")
    assert run.returncode != 0
    assert "cannot open the store" in run.stderr and "Traceback" not in run.stderr
    assert run.stderr.strip().count("\n") == 0


# -- schema ---------------------------------------------------------------------------------------
def test_migrations_create_tables_at_head(store_url: str) -> None:
    store = TrialStore(store_url)
    try:
        inspector = inspect(store.engine)
        assert {"jobs", "trials", "alembic_version"} <= set(inspector.get_table_names())
        trial_indexes = {ix["name"]: ix for ix in inspector.get_indexes("trials")}
        assert trial_indexes["ix_trials_job_arch"]["unique"]
        assert trial_indexes["ix_trials_job_arch"]["column_names"] == ["job_id", "arch_key"]
        with store.engine.connect() as connection:
            assert connection.scalar(text("SELECT version_num FROM alembic_version")) == _head_revision()
    finally:
        store.close()


def test_migrating_again_keeps_data(store: TrialStore) -> None:
    job, _ = store.create_job(job_request())
    again = TrialStore(store.url)
    try:
        assert again.get_job(job.id) is not None
    finally:
        again.close()


def test_upgrading_a_0001_database_keeps_its_jobs_as_searches(store_url: str) -> None:
    from alembic import command
    from api.database import make_engine

    engine = make_engine(store_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(text(
            "INSERT INTO jobs (id, created_at, updated_at, status, request, cancel_requested, evaluated, "
            "generations, search_seconds) VALUES ('old', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'queued', "
            "'{}', false, 0, 0, 0)"))
    engine.dispose()
    store = TrialStore(store_url)
    try:
        claimed = store.claim_job("worker")
        assert claimed is not None and claimed.id == "old" and claimed.kind == JobKind.search
    finally:
        store.close()


# -- jobs and idempotency -------------------------------------------------------------------------
def test_jobs_without_key_are_distinct(store: TrialStore) -> None:
    first, created_first = store.create_job(job_request())
    second, created_second = store.create_job(job_request())
    assert created_first and created_second and first.id != second.id
    assert first.status == JobStatus.queued


def test_same_idempotency_key_returns_the_first_job(store: TrialStore) -> None:
    first, created = store.create_job(job_request(seed=1), "key-1")
    again, created_again = store.create_job(job_request(seed=2), "key-1")
    assert created and not created_again
    assert again.id == first.id and again.request["seed"] == 1
    assert store.list_jobs()[1] == 1


def test_concurrent_creation_with_one_key_makes_one_job(store: TrialStore) -> None:
    threads = 8
    barrier = threading.Barrier(threads)

    def submit(seed: int) -> tuple[str, bool]:
        barrier.wait()
        job, created = store.create_job(job_request(seed=seed), "same-key")
        return job.id, created

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(submit, range(threads)))
    assert len({job_id for job_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert store.list_jobs()[1] == 1


def test_list_jobs_newest_first_and_filtered(store: TrialStore) -> None:
    ids = [store.create_job(job_request(seed=i))[0].id for i in range(4)]
    store.request_cancel(ids[1])
    jobs, total = store.list_jobs()
    assert [j.id for j in jobs] == ids[::-1] and total == 4
    cancelled, total_cancelled = store.list_jobs(status=JobStatus.cancelled)
    assert [j.id for j in cancelled] == [ids[1]] and total_cancelled == 1
    page, _ = store.list_jobs(limit=2, offset=1)
    assert [j.id for j in page] == ids[::-1][1:3]


# -- leases ---------------------------------------------------------------------------------------
def test_claim_takes_oldest_queued_job_once(store: TrialStore) -> None:
    ids = [store.create_job(job_request(seed=i))[0].id for i in range(2)]
    first = store.claim_job("w1")
    second = store.claim_job("w2")
    assert first is not None and second is not None
    assert (first.id, second.id) == (ids[0], ids[1])
    assert first.status == JobStatus.running and first.worker_id == "w1"
    assert store.claim_job("w3") is None


def test_concurrent_thread_claims_give_each_job_to_one_worker(store: TrialStore) -> None:
    job_ids = {store.create_job(job_request(seed=i))[0].id for i in range(12)}
    barrier = threading.Barrier(6)

    def claim_all(worker: int) -> list[str]:
        barrier.wait()
        claimed = []
        while (job := store.claim_job(f"w{worker}", stale_after=3600)) is not None:
            claimed.append(job.id)
        return claimed

    with ThreadPoolExecutor(6) as pool:
        claims = list(pool.map(claim_all, range(6)))
    flat = [job_id for claimed in claims for job_id in claimed]
    assert sorted(flat) == sorted(job_ids)
    for worker, claimed in enumerate(claims):
        assert all(store.get_job(job_id).worker_id == f"w{worker}" for job_id in claimed)


def test_cancelled_queued_job_is_never_claimed(store: TrialStore) -> None:
    job, _ = store.create_job(job_request())
    cancelled = store.request_cancel(job.id)
    assert cancelled is not None and cancelled.status == JobStatus.cancelled
    assert store.claim_job("w1") is None


def test_live_lease_is_not_taken_over(store: TrialStore) -> None:
    _running_job(store, "w1")
    assert store.claim_job("w2", stale_after=30) is None


def test_stale_lease_is_taken_over_and_old_worker_is_refused(store: TrialStore) -> None:
    job_id = _running_job(store, "w1")
    time.sleep(0.3)
    taken = store.claim_job("w2", stale_after=0.1)
    assert taken is not None and taken.id == job_id and taken.worker_id == "w2"
    assert not store.record_generation(job_id, "w1", random_trials(3), 1, "p", _progress(3))
    assert not store.heartbeat(job_id, "w1")
    store.finish_job(job_id, "w1", JobStatus.failed, "late")
    assert store.count_trials(job_id) == 0
    job = store.get_job(job_id)
    assert job.status == JobStatus.running and job.evaluated == 0 and job.error is None
    assert store.record_generation(job_id, "w2", random_trials(3), 1, "p", _progress(3))
    assert store.count_trials(job_id) == 3


def test_heartbeat_keeps_a_lease(store: TrialStore) -> None:
    job_id = _running_job(store, "w1")
    time.sleep(0.3)
    assert store.heartbeat(job_id, "w1")
    assert store.claim_job("w2", stale_after=0.25) is None


# -- generations ----------------------------------------------------------------------------------
def test_record_generation_stores_trials_and_progress(store: TrialStore) -> None:
    job_id = _running_job(store)
    assert store.record_generation(job_id, "w1", random_trials(5), 1, "ofa-mlp", _progress(5))
    job = store.get_job(job_id)
    assert (job.evaluated, job.generations, job.best_accuracy) == (5, 1, 0.7)
    assert store.count_trials(job_id) == 5
    assert {t.predictor for t in store.list_trials(job_id)} == {"ofa-mlp"}


def test_record_generation_refused_after_cancel_writes_nothing(store: TrialStore) -> None:
    job_id = _running_job(store)
    assert store.record_generation(job_id, "w1", random_trials(5), 1, "p", _progress(5))
    requested = store.request_cancel(job_id)
    assert requested.cancel_requested and requested.status == JobStatus.running
    assert not store.record_generation(job_id, "w1", random_trials(5, seed=1, prefix="b"), 2, "p",
                                       _progress(10, 2))
    job = store.get_job(job_id)
    assert store.count_trials(job_id) == 5
    assert (job.evaluated, job.generations) == (5, 1)


def test_record_generation_refused_for_finished_job(store: TrialStore) -> None:
    job_id = _running_job(store)
    store.finish_job(job_id, "w1", JobStatus.succeeded)
    assert not store.record_generation(job_id, "w1", random_trials(2), 1, "p", _progress(2))
    assert store.count_trials(job_id) == 0


def test_record_generation_for_unknown_job_is_refused(store: TrialStore) -> None:
    assert not store.record_generation("0" * 32, "w1", random_trials(2), 1, "p", _progress(2))


def test_duplicate_trials_are_stored_once(store: TrialStore) -> None:
    job_id = _running_job(store)
    first = random_trials(6)
    assert store.record_generation(job_id, "w1", first, 1, "p", _progress(6))
    changed = [TrialRow(t.arch_key, t.arch, {**t.metrics, "accuracy": 0.99}) for t in first[:3]]
    assert store.record_generation(job_id, "w1", changed + random_trials(2, prefix="n"), 2, "p", _progress(8, 2))
    store.add_trials(job_id, [first[0], first[0], *random_trials(1, prefix="x")])
    trials = store.list_trials(job_id, limit=100)
    assert len(trials) == store.count_trials(job_id) == 9
    assert len({t.arch_key for t in trials}) == 9
    assert max(t.accuracy for t in trials) < 0.99  # the first stored copy wins


def test_trials_of_other_jobs_are_separate(store: TrialStore) -> None:
    a, _ = store.create_job(job_request(seed=1))
    b, _ = store.create_job(job_request(seed=2))
    store.add_trials(a.id, random_trials(4))
    store.add_trials(b.id, random_trials(4))  # same arch keys, another job
    assert store.count_trials(a.id) == store.count_trials(b.id) == 4


# -- trial listing --------------------------------------------------------------------------------
@pytest.mark.parametrize("sort", sorted(SORTABLE))
@pytest.mark.parametrize("descending", [False, True])
def test_list_trials_pages_follow_the_sort(store: TrialStore, sort: str, descending: bool) -> None:
    job, _ = store.create_job(job_request())
    store.add_trials(job.id, random_trials(23, seed=3)[:13], generation=2)
    store.add_trials(job.id, random_trials(23, seed=3)[13:], generation=1)
    everything = store.list_trials(job.id, limit=1000)
    expected = sorted(everything, key=lambda t: (getattr(t, sort), t.id), reverse=descending)
    pages = [store.list_trials(job.id, limit=5, offset=offset, sort=sort, descending=descending)
             for offset in range(0, 25, 5)]
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [t.id for page in pages for t in page] == [t.id for t in expected]


# -- Pareto fronts --------------------------------------------------------------------------------
PARETO_CASES = {
    "2d": (["accuracy", "macs"], []),
    "2d-budget": (["accuracy", "macs"], [Constraint("macs", 600e6)]),
    "3d": (["accuracy", "macs", "params"], []),
    "3d-constraints": (["accuracy", "macs", "params"],
                       [Constraint("macs", 700e6), Constraint("accuracy", 0.65), Constraint("params", 9e6)]),
    "3d-json-metric": (["accuracy", "macs", "latency@note10"], [Constraint("latency@note10", 40.0)]),
    "2d-costs-only": (["macs", "params"], [Constraint("accuracy", 0.7)]),
}


def _stored_pareto_trials(store: TrialStore, job_id: str) -> list[tuple[int, dict[str, float]]]:
    return [(t.id, t.metrics) for t in store.list_trials(job_id, limit=1000)]


@pytest.mark.parametrize("case", sorted(PARETO_CASES))
def test_pareto_equals_brute_force(store: TrialStore, case: str) -> None:
    metrics, constraints = PARETO_CASES[case]
    job, _ = store.create_job(job_request())
    rows = random_trials(250, seed=7, latency=True)
    rows += [TrialRow(f"dup{i}", {}, dict(rows[i].metrics)) for i in range(0, 250, 25)]  # exact duplicates
    rows += [TrialRow(f"nolat{i}", {}, {"accuracy": 0.85, "macs": 1e8 + i, "params": 1e6}) for i in range(3)]
    store.add_trials(job.id, rows)
    other, _ = store.create_job(job_request())
    store.add_trials(other.id, [TrialRow("best", {}, {"accuracy": 0.99, "macs": 1.0, "params": 1.0})])
    front = store.pareto(job.id, metrics, constraints)
    assert front, "an empty front proves nothing"
    expected = brute_force_front(_stored_pareto_trials(store, job.id), metrics, constraints)
    assert_front_matches([(t.id, t.metrics) for t in front], expected, metrics)


def test_pareto_follows_new_trials(store: TrialStore) -> None:
    job, _ = store.create_job(job_request())
    store.add_trials(job.id, random_trials(50))
    before = store.pareto(job.id, ["accuracy", "macs"])
    assert len(before) > 1
    store.add_trials(job.id, [TrialRow("dominant", {}, {"accuracy": 0.95, "macs": 1e6, "params": 1e6})])
    after = store.pareto(job.id, ["accuracy", "macs"])
    assert [t.arch_key for t in after] == ["dominant"]


def test_pareto_follows_recorded_generations(store: TrialStore) -> None:
    job_id = _running_job(store)
    assert store.record_generation(job_id, "w1", random_trials(40), 1, "p", _progress(40))
    before = store.pareto(job_id, ["accuracy", "macs"])
    dominant = TrialRow("dominant", {}, {"accuracy": 0.95, "macs": 1e6, "params": 1e6})
    assert store.record_generation(job_id, "w1", [dominant], 2, "p", _progress(41, 2))
    assert [t.arch_key for t in store.pareto(job_id, ["accuracy", "macs"])] == ["dominant"] != before


def test_recent_job_sees_own_writes_at_once_and_others_within_max_age(store: TrialStore) -> None:
    job, _ = store.create_job(job_request())
    first = store.recent_job(job.id).updated_at
    store.add_trials(job.id, random_trials(5))  # through this store: seen at once
    own = store.recent_job(job.id).updated_at
    assert own > first
    other = TrialStore(store.url, migrate=False)
    try:
        other.add_trials(job.id, random_trials(5, prefix="b"))  # another process's write: seen after the max age
        assert store.recent_job(job.id).updated_at == own
        time.sleep(RECENT_JOB_MAX_AGE_S + 0.1)
        assert store.recent_job(job.id).updated_at > own
    finally:
        other.close()
    assert store.recent_job("no-such-job") is None


def test_concurrent_pareto_readers_agree(store: TrialStore) -> None:
    job, _ = store.create_job(job_request())
    store.add_trials(job.id, random_trials(400, seed=2))
    barrier = threading.Barrier(8)

    def read(_: int) -> list[int]:
        barrier.wait()
        return [t.id for t in store.pareto(job.id, ["accuracy", "macs", "params"])]

    with ThreadPoolExecutor(8) as pool:
        fronts = list(pool.map(read, range(8)))
    assert fronts[0] and all(front == fronts[0] for front in fronts)


def test_pareto_of_empty_or_infeasible_job_is_empty(store: TrialStore) -> None:
    job, _ = store.create_job(job_request())
    assert store.pareto(job.id, ["accuracy", "macs"]) == []
    store.add_trials(job.id, random_trials(10))
    assert store.pareto(job.id, ["accuracy", "macs"], [Constraint("macs", 1.0)]) == []
