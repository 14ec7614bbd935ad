"""Property-based fuzzing of the /v1 API from its own OpenAPI document (schemathesis): no input,
valid or not, may get a 5xx. Half of the cases on job routes hit a real job holding trials."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error

from api.app import create_app
from api.store import TrialStore

from .conftest import API_KEY
from .helpers import job_request, random_trials

MAX_EXAMPLES = 150  # per operation and phase; about 1,500 cases over the 11 operations
MIN_CASES = 1000
CASES: collections.Counter[str] = collections.Counter()
pytestmark = pytest.mark.slow


@pytest.fixture
def seeded_store(tmp_path: Path) -> Iterator[TrialStore]:
    store = TrialStore(f"sqlite:///{tmp_path / 'fuzz.db'}")
    job, _ = store.create_job(job_request(budgets=["600M-MACs", "9M-params"]))
    store.add_trials(job.id, random_trials(300, seed=11, latency=True))
    yield store
    store.close()


@pytest.fixture
def api_schema(seeded_store: TrialStore):
    app = create_app(store=seeded_store, api_key=API_KEY)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.config.generation.update(max_examples=MAX_EXAMPLES)
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_no_server_errors(case: schemathesis.Case, seeded_store: TrialStore) -> None:
    if "job_id" in (case.path_parameters or {}) and sum(CASES.values()) % 2 == 0:
        case.path_parameters["job_id"] = seeded_store.list_jobs(limit=1)[0][0].id
    CASES[f"{case.method} {case.path}"] += 1
    case.call_and_validate(headers={"X-API-Key": API_KEY}, checks=[not_a_server_error])


def test_fuzzing_ran_enough_cases() -> None:
    total = sum(CASES.values())
    print(f"\nschemathesis cases executed: {total} ({dict(sorted(CASES.items()))})")
    assert total >= MIN_CASES, f"only {total} cases ran (run with test_no_server_errors); {dict(CASES)}"
    assert len(CASES) >= 10, f"operations not exercised: {sorted(CASES)}"
